#!/usr/bin/env python3
"""Benchmark: a foreign target's stage3 against the build machine's own, from the runs'
reports. Goal (issue 14): aarch64's stage3 at most 1.5x x86_64's on the same machine.

Per stage3 component: x86_64 built natively, aarch64 built with the build machine's LLVM
(native-exec, the default), and, for the equivalence check's sample, aarch64 built again
fully emulated (`twin_seconds` in build/aarch64/reports/stage3-equivalence.json). Times are
summed over every run report in build/reports (a build resumed across runs counts all its
runs; time a run spent suspended, e.g. SIGSTOPped for a CI run, is not counted); the
totals are the sums of the stage3 build tasks, so both targets are measured the same way
whatever ran beside them. The goal itself is about wall time: each side's stage3 wall
(`stage_wall_seconds`: first build start to last build end in each run, pauses and the
time between runs left out) is printed too, and where both are known their ratio decides.
Exit 1 when a total is missing or the ratio is above the goal.

The native side can come from elsewhere: `--native-bench` from tools/bench_stage.py's JSON
(a clean run of the stage alone on this machine: components and wall), `--native-run` from
a recorded run's durations.json (tools/record_run.py; build times only, maybe another
machine's, which the output says). When a stage was built again (its keys changed),
`--since` leaves the earlier runs out.

    .venv/bin/python tools/stage3_speed.py [--build-dir build] [--foreign aarch64] [--since T]
        [--native-bench docs/runs/<date>-x86_64-stage3-bench.json]
        [--native-run docs/runs/<date>-x86_64-full/durations.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bootstrap.core.errors import BootstrapError, run_main
from bootstrap.pipeline.report import report_time, stage_wall_seconds, task_seconds

REPO = Path(__file__).resolve().parent.parent
GOAL = 1.5


def stage3_seconds(build: Path, arch: str, since: str | None) -> dict[str, float]:
    tasks, _ = task_seconds(build / "reports", (arch,), since)
    return stage3_builds(tasks, arch)


def recorded_stage3_seconds(durations: Path, arch: str) -> dict[str, float]:
    """From a durations.json of tools/record_run.py; empty if it is missing or not one."""
    try:
        tasks = json.loads(durations.read_text())["tasks"]
        return stage3_builds(tasks, arch)
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def bench_stage3(bench: Path) -> tuple[dict[str, float], float | None]:
    """Components and wall from a tools/bench_stage.py JSON; empty if it is not one."""
    try:
        results = json.loads(bench.read_text())
        if results.get("stage") != "stage3" or results.get("returncode"):
            return {}, None
        return dict(results["components"]), results.get("wall_seconds")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, None


def stage3_builds(tasks: list[dict[str, Any]], arch: str) -> dict[str, float]:
    """Seconds of each finished stage3 build of `arch` (one still running counts later)."""
    prefix = f"build:{arch}/stage3/"
    return {
        t["task"][len(prefix) :]: t["seconds"]
        for t in tasks
        if t["task"].startswith(prefix) and t.get("status", "ok") == "ok"
    }


def emulated_seconds(build: Path, arch: str) -> dict[str, float]:
    results = build / arch / "reports" / "stage3-equivalence.json"
    if not results.is_file():
        return {}
    components = json.loads(results.read_text())["components"]
    return {n: c["twin_seconds"] for n, c in components.items() if "twin_seconds" in c}


def cell(seconds: float | None) -> str:
    return f"{seconds / 60:.1f} min" if seconds is not None else "-"


def native_side(args: argparse.Namespace) -> tuple[dict[str, float], float | None]:
    """The build machine's stage3 builds and wall: from a benchmark, a recorded run (no
    wall) or this build dir; a BootstrapError when a given file holds none."""
    if args.native_bench:
        native, wall = bench_stage3(args.native_bench)
        origin = f"the benchmark {args.native_bench}"
        what = f"{args.native_bench} is no finished stage3 benchmark"
        fix = "give the --out JSON of tools/bench_stage.py --stage stage3 (returncode 0)"
    elif args.native_run:
        native, wall = recorded_stage3_seconds(args.native_run, args.native), None
        origin = f"the recorded run {args.native_run} (its machine's times)"
        what = f"{args.native_run} holds no stage3 build times of {args.native}"
        fix = (
            "give a durations.json written by tools/record_run.py for that target "
            "(docs/runs/<date>-<arch>-full/)"
        )
    else:
        wall = stage_wall_seconds(args.build_dir / "reports", args.native, "stage3", args.since)
        return stage3_seconds(args.build_dir, args.native, args.since), wall
    if not native:
        raise BootstrapError(what, fix=fix)
    print(f"{args.native} from {origin}\n")
    return native, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=REPO / "build")
    parser.add_argument("--native", default="x86_64", help="the build machine's target")
    parser.add_argument("--foreign", default="aarch64")
    parser.add_argument(
        "--since",
        type=report_time,
        help="only the runs started at or after this time (as in the reports' names, "
        "e.g. 20261205T0100): leaves out the runs of a stage built before with other keys",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--native-bench", type=Path, help="the native side from a tools/bench_stage.py JSON"
    )
    source.add_argument(
        "--native-run", type=Path, help="the native side from a recorded durations.json"
    )
    args = parser.parse_args()
    native, native_wall = native_side(args)
    foreign = stage3_seconds(args.build_dir, args.foreign, args.since)
    foreign_wall = stage_wall_seconds(
        args.build_dir / "reports", args.foreign, "stage3", args.since
    )
    emulated = emulated_seconds(args.build_dir, args.foreign)
    print(f"| component | {args.native} | {args.foreign} | {args.foreign} emulated | ratio |")
    print("|---|---|---|---|---|")
    for name in sorted(native.keys() | foreign.keys()):
        a, b = native.get(name), foreign.get(name)
        ratio = f"{b / a:.2f}x" if a and b else "-"
        print(f"| {name} | {cell(a)} | {cell(b)} | {cell(emulated.get(name))} | {ratio} |")
    if not native or not foreign:
        raise BootstrapError(
            f"no stage3 build times of {args.native} or {args.foreign} in "
            f"{args.build_dir / 'reports'}",
            fix="run doit stage3 for both targets first",
        )
    both = native.keys() & foreign.keys()
    total_native = sum(native[n] for n in both)
    total_foreign = sum(foreign[n] for n in both)
    ratio = total_foreign / total_native
    print(
        f"\nstage3 builds of both: {args.native} {cell(total_native)}, {args.foreign} "
        f"{cell(total_foreign)}: {ratio:.2f}x (goal <= {GOAL}x)"
    )
    if native_wall and foreign_wall:
        ratio = foreign_wall / native_wall
        print(
            f"stage3 wall: {args.native} {cell(native_wall)}, {args.foreign} "
            f"{cell(foreign_wall)}: {ratio:.2f}x (goal <= {GOAL}x)"
        )
    if missing := sorted(native.keys() ^ foreign.keys()):
        print(
            f"incomplete: {len(both)} components built for both, {len(missing)} for one "
            f"only ({', '.join(missing)}): the ratio is not the stage's yet",
            file=sys.stderr,
        )
        return 1
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    run_main(main)
