"""Same inputs, same outputs: previews must show no spurious diffs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools.harness import PROJECT_DIR, run_stack
from tools.plan import plan_document

STACKS = sorted(p.name.split(".")[1] for p in PROJECT_DIR.glob("Pulumi.*.yaml"))


def test_there_are_example_stacks() -> None:
    assert {"oslo", "bergen"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_each_example_stack_plans_identically_in_two_processes(stack: str, tmp_path: Path) -> None:
    outputs = []
    for run in ("first", "second"):
        out = tmp_path / run
        subprocess.run(
            [sys.executable, "-m", "tools.plan", "--stack", stack, "--out", str(out)],
            cwd=PROJECT_DIR, check=True, capture_output=True, timeout=120,
        )
        outputs.append((out / "plan.json").read_bytes())
    assert outputs[0] == outputs[1]


def entries(monkeypatch: pytest.MonkeyPatch, registry: str) -> dict[str, dict]:
    monkeypatch.setenv("REGISTRY", registry)
    doc = plan_document(run_stack("oslo"))
    return {r["name"]: r for r in doc["resources"]}


def test_changing_one_image_changes_only_that_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    before = entries(monkeypatch, "ghcr.io/acme")
    after = entries(monkeypatch, "registry.example.no/acme")
    assert before.keys() == after.keys()
    changed = sorted(name for name in before if json.dumps(before[name]) != json.dumps(after[name]))
    assert changed == ["function-img-resize"]
    assert not [n for n in changed if n.startswith(("oslo-1", "cluster"))]  # nothing on the nodes
