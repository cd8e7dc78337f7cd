"""`make plan` against the bare-SDK floor, each timed as a whole process of its own.

For N in 1, 100 and 500 functions it runs, alternately and --repeat times each:
- the floor, `python bench/sdk_floor.py N`: N Deployments under Pulumi's standard mocks, no
  code of ours (not even tools/harness.py);
- the command `make plan` runs, `python -m tools.plan`, for the example stack (oslo) with a
  functions file of N functions (edition `pro`, so CE's limit of 15 does not apply);
and prints the median wall time of each (interpreter start to exit, as a user waits for it),
the median CPU time (user + system: steadier when other work shares the machine) and the
ratios. Alternating the two keeps whatever else the machine does from favouring one.
Run: `make bench`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.plan_speed import stack_file
from tools.harness import PROJECT_DIR

SIZES = (1, 100, 500)
TARGET = 1.5  # issue 17, item 7: `make plan` at most 1.5x the floor


def floor_command(count: int) -> list[str]:
    return [sys.executable, str(PROJECT_DIR / "bench" / "sdk_floor.py"), str(count)]


def plan_command(functions: Path, out: Path) -> list[str]:
    """What `make plan SET="functionsFile=... openfaasEdition=pro" SECRET=openfaasLicense=bench` runs."""
    return [
        sys.executable, "-m", "tools.plan", "--stack", "oslo", "--out", str(out),
        "--set", f"functionsFile={functions.relative_to(PROJECT_DIR)}",
        "--set", "openfaasEdition=pro",
        "--set-secret", "openfaasLicense=bench",
    ]


@dataclass
class Timing:
    wall: float  # seconds from start to exit
    cpu: float  # user + system seconds: what the process itself spent, whatever else runs


def timed(command: list[str]) -> Timing:
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            sys.exit(f"{' '.join(command)} failed ({child.returncode}):\n{errors.read().decode()}")
    return Timing(elapsed, usage.ru_utime + usage.ru_stime)


def median(samples: list[Timing]) -> Timing:
    return Timing(statistics.median(t.wall for t in samples), statistics.median(t.cpu for t in samples))


def measure(count: int, folder: Path, repeat: int) -> tuple[Timing, Timing]:
    """The floor's and the plan's median timings for `count` functions."""
    floor_cmd = floor_command(count)
    plan_cmd = plan_command(stack_file(folder, count), folder / f"plan-{count}")
    for command in (floor_cmd, plan_cmd):  # a first run of each reads the files into the page cache
        timed(command)
    floors, plans = [], []
    for _ in range(repeat):
        floors.append(timed(floor_cmd))
        plans.append(timed(plan_cmd))
    return median(floors), median(plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="runs of each per size; the median counts")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), metavar="N")
    args = parser.parse_args()
    scratch = PROJECT_DIR / "build"  # the functions file must be inside the project
    scratch.mkdir(exist_ok=True)
    print(f"whole processes, median of {args.repeat} runs each (alternating floor and plan)")
    print(f"{'':>9} {'---------- wall ----------':>28} {'---------- cpu -----------':>28}")
    print(f"{'functions':>9} {'floor s':>9} {'make plan s':>11} {'ratio':>6} {'floor s':>9} {'make plan s':>11} {'ratio':>6}")
    worst = 0.0
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        for count in args.sizes:
            floor, plan = measure(count, Path(tmp), args.repeat)
            worst = max(worst, plan.wall / floor.wall)
            print(
                f"{count:>9} {floor.wall:>9.3f} {plan.wall:>11.3f} {plan.wall / floor.wall:>6.2f}"
                f" {floor.cpu:>9.3f} {plan.cpu:>11.3f} {plan.cpu / floor.cpu:>6.2f}",
                flush=True,
            )
    print(f"\nworst make plan/floor (wall): {worst:.2f} (target <= {TARGET})")


if __name__ == "__main__":
    main()
