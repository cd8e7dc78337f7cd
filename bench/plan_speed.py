"""How fast the whole program runs under the mock engine, and how that grows with functions.

For 1, 15, 100 and 500 functions (edition `pro`, so CE's limit of 15 does not apply) it times
the program (`__main__.py` through tools/harness.py, as `make plan` runs it) and, in the same
run, two floors, the bare Pulumi SDK under the same mock engine with no logic of ours:
- "empty": the same number of resources, each with one small input;
- "same": the same resources with the very inputs our program registered, through the same
  provider SDK classes (what is left between it and ours is our own logic: reading stack.yml,
  validating, building manifests, parents, providers, dependencies).
It prints both ratios and the cost per function. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tests.conftest import stack
from tools.harness import PROJECT_DIR, StackRun, run_stack, unwrap

SIZES = (1, 15, 100, 500)

EMPTY_FLOOR = """
import pulumi

for i in range({count}):
    pulumi.CustomResource("bench:index:Plain", f"plain-{{i}}", {{"value": i}})
"""

SAME_FLOOR = """
import importlib
import json
import re

import pulumi
import pulumi_command
import pulumi_kubernetes
import pulumi_random

PACKAGES = {{"kubernetes": pulumi_kubernetes, "command": pulumi_command, "random": pulumi_random}}


def sdk_class(token):
    # "kubernetes:apps/v1:Deployment" -> pulumi_kubernetes.apps.v1.Deployment
    package, module, name = token.split(":")
    if package not in PACKAGES or module == "index/randomPassword":
        return getattr(pulumi_random, name, None) if package == "random" else None
    path = ".".join(p.replace(".", "_") for p in module.split("/") if p != "index")
    try:
        return getattr(importlib.import_module(f"{{PACKAGES[package].__name__}}.{{path}}"), name)
    except (ImportError, AttributeError):
        return None


def snake(key):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


for r in json.load(open({path!r})):
    cls = sdk_class(r["type"]) if r["custom"] else None
    args = {{snake(k): v for k, v in r["inputs"].items() if k not in ("apiVersion", "kind", "compat")}}
    if cls is None:
        (pulumi.CustomResource if r["custom"] else pulumi.ComponentResource)(r["type"], r["name"], r["inputs"])
    else:
        cls(r["name"], **args)
"""

def stack_file(folder: Path, count: int) -> Path:
    lines = ["version: 1.0", "provider: {name: openfaas}", "functions:"]
    for i in range(count):
        lines += [
            f"  fn-{i}:",
            f"    image: ghcr.io/acme/fn-{i}:1.0.{i}",
            "    environment: {mode: bench, retries: 3}",
            "    labels: {com.openfaas.scale.min: 1, com.openfaas.scale.max: 10}",
            "    limits: {memory: 256Mi, cpu: 500m}",
            "    readonly_root_filesystem: true",
        ]
    path = folder / f"stack-{count}.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def ours(folder: Path, count: int) -> tuple[float, StackRun]:
    config = stack(
        functionsFile=str(stack_file(folder, count)),
        openfaasEdition="pro",
        openfaasLicense={"secure": "bench"},
    )
    started = time.perf_counter()
    run = run_stack("bench", config)
    return time.perf_counter() - started, run


def floor(program: Path) -> float:
    started = time.perf_counter()
    run_stack("bench", stack(), program=program)
    return time.perf_counter() - started


def floor_programs(folder: Path, run: StackRun) -> tuple[Path, Path]:
    data = folder / f"registered-{len(run.resources)}.json"
    data.write_text(json.dumps([{"type": r.type, "name": r.name, "custom": r.custom, "inputs": unwrap(r.inputs)} for r in run.resources]))
    empty = folder / f"empty-{len(run.resources)}.py"
    empty.write_text(EMPTY_FLOOR.format(count=len(run.resources)))
    same = folder / f"same-{len(run.resources)}.py"
    same.write_text(SAME_FLOOR.format(path=str(data)))
    return empty, same


def best(samples: list[float]) -> float:
    # The minimum of a few runs is the least disturbed by whatever else the machine does.
    return min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the best counts")
    args = parser.parse_args()
    rows = []
    scratch = PROJECT_DIR / "build"  # the stack file must be inside the project
    scratch.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        folder = Path(tmp)
        ours(folder, 1)  # warm imports and caches once, outside the figures
        for count in SIZES:
            timings = [ours(folder, count) for _ in range(args.repeat)]
            run = timings[0][1]
            empty, same = floor_programs(folder, run)
            mine = best([t for t, _ in timings])
            bare = best([floor(empty) for _ in range(args.repeat)])
            full = best([floor(same) for _ in range(args.repeat)])
            rows.append((count, len(run.resources), mine, bare, full))
    print(f"{'functions':>9} {'resources':>9} {'ours s':>7} {'empty s':>8} {'same s':>7} {'ours/empty':>10} {'ours/same':>9} {'ms/fn':>7}")
    for count, resources, mine, bare, full in rows:
        print(f"{count:>9} {resources:>9} {mine:>7.3f} {bare:>8.3f} {full:>7.3f} {mine / bare:>10.2f} {mine / full:>9.2f} {1000 * mine / count:>7.2f}")
    by_size = {row[0]: row[2] for row in rows}
    print(f"\nworst ours/same-inputs floor: {max(r[2] / r[4] for r in rows):.2f} (target <= 1.5)")
    print(f"worst ours/empty floor: {max(r[2] / r[3] for r in rows):.2f} (the SDK's own cost of larger inputs included)")
    print(f"500 vs 100 functions: {by_size[500] / by_size[100]:.2f}x (linear is 5x; target <= 5.5x)")


if __name__ == "__main__":
    main()
