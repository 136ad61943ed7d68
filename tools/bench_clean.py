#!/usr/bin/env python3
"""Benchmark: a clean smoke bootstrap of both targets, its wall time and how busy the CPU was.

Runs `doit stage3 --target all --profile smoke` into a fresh build dir (sources come from
the download cache and ./mirror as usual), and reads /proc/stat before and after: the CPU
is busy for whatever share of the time it was not idle or waiting for I/O. Prints the wall
time, the busy share and the sum of the task durations (more than the wall time when
tasks ran side by side). Exit 1 if the run fails, or the CPU was busy less than --min-busy %.

    .venv/bin/python tools/bench_clean.py [--build-dir /tmp/bench-build] [--min-busy 90]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cpu_times() -> tuple[int, int]:
    """(idle incl. iowait, total) jiffies of all CPUs."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default="/tmp/serpent-bench-build")
    parser.add_argument("--min-busy", type=float, default=90.0)
    args = parser.parse_args()
    build = Path(args.build_dir)
    shutil.rmtree(build, ignore_errors=True)
    env = {**os.environ, "SERPENT_BUILD_DIR": str(build)}
    env.setdefault("SERPENT_SOURCES_OVERRIDE", "overrides/debian12-llvm19.yml")
    # a clean run builds everything: no component cache (tools/bench-cache times that)
    env.setdefault("SERPENT_CACHE_DIR", "off")
    doit = [str(REPO / ".venv" / "bin" / "doit"), "stage3", "--target", "all"]
    idle0, total0 = cpu_times()
    start = time.perf_counter()
    proc = subprocess.run([*doit, "--profile", "smoke"], cwd=REPO, env=env, check=False)
    wall = time.perf_counter() - start
    idle1, total1 = cpu_times()
    busy = 100 * (1 - (idle1 - idle0) / (total1 - total0))
    if proc.returncode != 0:
        print(f"the run failed (exit {proc.returncode}) after {wall:.0f} s")
        return 1
    report = json.loads((build / "reports" / "latest.json").read_text())
    tasks = sum(t["duration"] for t in report["tasks"].values())
    print(
        f"clean smoke bootstrap, both targets: {wall:.0f} s wall, CPU busy {busy:.1f} %, "
        f"task time {tasks:.0f} s ({tasks / wall:.2f}x the wall time), exit {proc.returncode}"
    )
    return 0 if proc.returncode == 0 and busy >= args.min_busy else 1


if __name__ == "__main__":
    sys.exit(main())
