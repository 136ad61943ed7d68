#!/usr/bin/env python3
"""Benchmark: one stage of one target built again from scratch, on top of the earlier
stages of an existing build dir, for a clean timing of that stage alone.

A long bootstrap resumes across sessions and shares its cores with tests and CI, so the
times in its run reports are not clean. This copies what the stage builds on (the earlier
stages' stamps, layers and trees, the shared stage1 components, the prepared sources) into
a scratch build dir as hard links, leaves the stage itself out, and builds it there with
the component cache off (`doit union:<arch>/<stage>`: every build of the stage, none of its
checks, no rootfs). The earlier stages' checks run again first (their keys name the build
dir), and the fetches are checked; that is outside the stage's wall time, and any earlier
build that ran is listed (`earlier_rebuilt`: it should be empty). The original build dir
is only read. Prints each component's time, the sum, the stage's wall time (first build
start to last build end), and whether the rebuilt tree is byte for byte the original's (the
digests of the two union stamps), and writes them as JSON.

    .venv/bin/python tools/bench_stage.py --target x86_64 --stage stage3 --profile full \
        --scratch /work/bench-x86_64-stage3 --out docs/runs/<date>-x86_64-stage3-bench.json

Run it on an otherwise idle machine; it says so when it is not. Sources come as for any
run (e.g. SERPENT_SOURCES_OVERRIDE is passed on).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from bootstrap.builder.keys import read_stamp
from bootstrap.core.errors import BootstrapError, run_main
from bootstrap.model.layout import SHARED, Layout
from bootstrap.model.recipes import STAGES
from bootstrap.pipeline.report import stage_wall_seconds

REPO = Path(__file__).resolve().parent.parent


def union_stamp(build: Path, arch: str, stage: str) -> Path:
    return Layout(build / arch, triplet="").union_stamp(stage)  # no path needs the triplet


def copy_earlier_stages(build: Path, scratch: Path, arch: str, stage: str) -> None:
    """Hard-link what `stage` of `arch` builds on into `scratch`: nothing of the stage itself
    or of later ones, no work dirs, no other target."""
    earlier = STAGES[: STAGES.index(stage)]
    # the prepared source trees, not their logs or locks (which a prepare writes in place)
    parts = [p for p in (build / "prepared").glob("*") if p.is_dir()]
    for home in (build / arch, build / SHARED):
        for kind in ("stamps", "layers"):
            parts += [home / kind / s for s in earlier]
        parts += [home / s for s in earlier]  # the stage trees (stage1 is the toolchain)
    for part in parts:
        if part.exists():
            target = scratch / part.relative_to(build)
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-al", str(part), str(target)], check=True)


def build_stage(scratch: Path, arch: str, stage: str, profile: str, log: Path) -> int:
    env = {
        **os.environ,
        "SERPENT_BUILD_DIR": str(scratch),
        "SERPENT_TARGET": arch,
        "SERPENT_PROFILE": profile,
        "SERPENT_CACHE_DIR": "off",
    }
    doit = REPO / ".venv" / "bin" / "doit"
    with log.open("w") as out:
        run = subprocess.run(
            [str(doit), f"union:{arch}/{stage}"], cwd=REPO, env=env, stdout=out, stderr=out
        )
    return run.returncode


def stage_times(report: Path, arch: str, stage: str) -> dict[str, object]:
    if not report.is_file():  # doit stopped before its reporter started
        return {}
    tasks = json.loads(report.read_text())["tasks"]
    prefix = f"build:{arch}/{stage}/"
    built = {n[len(prefix) :]: t for n, t in tasks.items() if n.startswith(prefix) and "start" in t}
    earlier = tuple(f"/{s}/" for s in STAGES[: STAGES.index(stage)])
    rebuilt = sorted(
        n
        for n, t in tasks.items()
        if n.startswith("build:") and "start" in t and any(s in n for s in earlier)
    )
    if not built:
        return {"earlier_rebuilt": rebuilt}
    return {
        "wall_seconds": stage_wall_seconds(report.parent, arch, stage),
        "sum_seconds": round(sum(t["duration"] for t in built.values()), 1),
        "components": {n: round(t["duration"], 1) for n, t in sorted(built.items())},
        "earlier_rebuilt": rebuilt,
    }


def same_tree(build: Path, scratch: Path, arch: str, stage: str) -> bool | None:
    """Is the rebuilt stage tree the original's, byte for byte? None: one is not built."""
    ours, theirs = (read_stamp(union_stamp(d, arch, stage)) for d in (scratch, build))
    return None if not ours or not theirs else ours["digest"] == theirs["digest"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="x86_64 or aarch64")
    parser.add_argument("--stage", default="stage3", choices=STAGES[1:])
    parser.add_argument("--profile", default="full")
    parser.add_argument("--build-dir", type=Path, default=REPO / "build")
    parser.add_argument("--scratch", type=Path, required=True, help="a new dir for the copy")
    parser.add_argument("--out", type=Path, help="the JSON results (default: in --scratch)")
    args = parser.parse_args()
    # doit runs from the checkout: relative paths would name other dirs there
    args.build_dir, args.scratch = args.build_dir.resolve(), args.scratch.resolve()
    previous = STAGES[STAGES.index(args.stage) - 1]
    if not union_stamp(args.build_dir, args.target, previous).is_file():
        raise BootstrapError(
            f"{args.target}'s {previous} is not built in {args.build_dir}",
            fix=f"build it first (doit {previous} --target {args.target})",
        )
    if args.scratch.exists():
        raise BootstrapError(f"{args.scratch} exists", fix="remove it, or name a new --scratch")
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: load average {load:.2f}: the machine is not idle, times will show it")
    copy_earlier_stages(args.build_dir, args.scratch, args.target, args.stage)
    log = args.scratch / "bench.log"
    start = time.monotonic()
    rc = build_stage(args.scratch, args.target, args.stage, args.profile, log)
    elapsed = time.monotonic() - start
    results = {
        "target": args.target,
        "stage": args.stage,
        "profile": args.profile,
        "returncode": rc,
        "run_seconds": round(elapsed, 1),
        "load_before": round(load, 2),
        **stage_times(args.scratch / "reports" / "latest.json", args.target, args.stage),
        "same_tree": same_tree(args.build_dir, args.scratch, args.target, args.stage),
    }
    out = args.out or args.scratch / "bench-stage.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    for name, seconds in results.get("components", {}).items():
        print(f"{name:24} {seconds / 60:7.1f} min")
    if "wall_seconds" in results:
        print(
            f"{args.target} {args.stage}: wall {results['wall_seconds'] / 60:.1f} min, "
            f"sum of builds {results['sum_seconds'] / 60:.1f} min; the same tree as "
            f"{args.build_dir}'s: {results['same_tree']}; {out}"
        )
    if results.get("earlier_rebuilt"):
        print(f"note: earlier builds ran again: {', '.join(results['earlier_rebuilt'])}")
    if rc:
        raise BootstrapError(f"the build failed (exit {rc})", fix=f"read {log}")
    return 0


if __name__ == "__main__":
    run_main(main)
