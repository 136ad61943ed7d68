#!/usr/bin/env python3
"""Copy a finished run's small text outputs into docs/runs/ so it can be audited without
rebuilding it: the rootfs manifest and sha256, verify.json/JUnit, bootstrap.lock, every
check's results (build/<arch>/reports/*.json) and the time each task took.

A long build spans several doit runs (it resumes where the last one stopped), so a task's
time is the sum over every run report in build/reports/ where it ran; `runs` says how
many (`--since` leaves out the runs before a rebuild with other keys). Tarballs, layers
and bootstrap.lock.files (per-file manifests of every layer) stay out.

    .venv/bin/python tools/record_run.py --target x86_64 docs/runs/2026-12-04-x86_64-full
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from bootstrap.core.errors import BootstrapError, run_main
from bootstrap.model.config import Paths
from bootstrap.pipeline.report import report_time, task_seconds

REPO = Path(__file__).resolve().parent.parent
OUT_FILES = ("*.manifest.tsv", "*.tar.xz.sha256", "verify.json", "verify.junit.xml")
OUT_FILES += ("bootstrap.lock", "drift.json")


def record(arch: str, dest: Path, build: Path, since: str | None = None) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    out = Paths.under(REPO, {"SERPENT_BUILD_DIR": str(build)}).out / arch  # ./out or build/out
    sources = [p for pattern in OUT_FILES for p in sorted(out.glob(pattern))]
    sources += sorted((build / arch / "reports").glob("*.json"))
    for path in sources:
        copied.append(Path(shutil.copy2(path, dest / path.name)))
    tasks, runs = task_seconds(build / "reports", (arch, "shared"), since)
    times = dest / "durations.json"
    times.write_text(json.dumps({"tasks": tasks, "runs": runs}, indent=1) + "\n")
    return [*copied, times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="x86_64 or aarch64")
    parser.add_argument("--build-dir", type=Path, default=REPO / "build")
    parser.add_argument(
        "--since",
        type=report_time,
        help="only the runs started at or after this time (e.g. 20261205T0300)",
    )
    parser.add_argument("dest", type=Path, help="e.g. docs/runs/<date>-<arch>-full")
    args = parser.parse_args()
    if not (args.build_dir / args.target).is_dir():
        raise BootstrapError(
            f"no build of {args.target} in {args.build_dir}",
            fix="run the bootstrap first, or pass --build-dir",
        )
    for path in record(args.target, args.dest, args.build_dir, args.since):
        print(path)
    return 0


if __name__ == "__main__":
    run_main(main)
