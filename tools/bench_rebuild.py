#!/usr/bin/env python3
"""Benchmark: what a change to one tcc patch rebuilds, and how long it takes.

On a finished smoke bootstrap of one target (run `doit stage3 --target <arch> --profile
smoke` first; its report gives the clean run's wall time unless --clean-seconds says it):

1. a comment added to a tcc patch (tcc's output stays the same): only tcc's own tasks may
   run, in stage2 and stage3;
2. a new tcc patch that changes tcc's binary (one more string in tcc.c): tcc and what
   depends on its bytes rebuild, nothing else (musl, busybox, the kernel headers stay);
3. both reverted: the rootfs sha256 must be the clean build's again.

Prints the tasks each step ran, its wall time and its share of the clean run. Exit 1 when a
step ran something it must not, or the sha256 differs.

    .venv/bin/python tools/bench_rebuild.py --target aarch64 [--clean-seconds 926]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("SERPENT_BUILD_DIR") or REPO / "build")
OUT = REPO / "out" if BUILD.resolve() == (REPO / "build").resolve() else BUILD / "out"
PATCHES = REPO / "patches" / "tcc"
BENCH_PATCH = PATCHES / "9999-serpent-bench.patch"
# never rebuilt by a change to tcc: they do not see tcc (nor does anything in stage1)
UNRELATED = ("musl", "busybox", "linux-headers", "root-layout", "llvm-runtimes")


def run(arch: str) -> tuple[float, list[str]]:
    start = time.perf_counter()
    doit = [str(REPO / ".venv" / "bin" / "doit"), "stage3", "--target", arch]
    # without the component cache: the reverted change must rebuild, not restore
    subprocess.run(
        [*doit, "--profile", "smoke", "--cache-dir", "off"],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    report = json.loads((BUILD / "reports" / "latest.json").read_text())
    ran = sorted(n for n, t in report["tasks"].items() if t["status"] != "up-to-date")
    return wall, ran


def rootfs_sha256(arch: str) -> str:
    return (OUT / arch / f"serpent-rootfs-{arch}.tar.xz.sha256").read_text().split()[0]


def output_changing_patch(arch: str) -> str:
    """A patch adding one exported string to tcc.c, made against the prepared tcc source."""
    src = BUILD / arch / "work" / "stage2" / "tcc" / "src"
    original = (src / "tcc.c").read_text()
    changed = original + 'const char serpent_bench_marker[] = "bench";\n'
    scratch = BUILD / "bench-rebuild"
    for side, text in (("a", original), ("b", changed)):
        (scratch / side).mkdir(parents=True, exist_ok=True)
        (scratch / side / "tcc.c").write_text(text)
    diff = subprocess.run(
        ["diff", "-u", "a/tcc.c", "b/tcc.c"], cwd=scratch, capture_output=True, text=True
    )
    return diff.stdout


def unrelated(ran: list[str], arch: str) -> list[str]:
    """Tasks that ran although they have nothing to do with tcc."""
    return [
        n
        for n in ran
        if n.partition(":")[2].startswith(f"{arch}/stage1/") or n.split("/")[-1] in UNRELATED
    ]


def step(name: str, arch: str, clean: float, allowed: set[str] | None) -> bool:
    wall, ran = run(arch)
    share = 100 * wall / clean
    print(f"{name}: {wall:.0f} s = {share:.1f} % of the clean run; ran {len(ran)} task(s)")
    for task in ran:
        print(f"    {task}")
    bad = unrelated(ran, arch)
    if allowed is not None:
        bad += [n for n in ran if n not in allowed and not n.startswith("fetch:")]
    if bad:
        print(f"  FAILED: must not have run: {sorted(set(bad))}")
    return not bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="aarch64")
    parser.add_argument("--clean-seconds", type=float, help="wall time of a clean smoke run")
    args = parser.parse_args()
    arch = args.target
    clean = args.clean_seconds
    if clean is None:
        report = json.loads((BUILD / "reports" / "latest.json").read_text())
        clean = float(report["duration"])
    run(arch)  # up to date first
    first = rootfs_sha256(arch)
    patch = sorted(PATCHES.glob("0*.patch"))[0]
    original = patch.read_text()
    ok = True
    try:
        patch.write_text("A comment for the benchmark; no hunk changes.\n" + original)
        tcc_only = {f"build:{arch}/{s}/tcc" for s in ("stage2", "stage3")}
        ok &= step("comment in a tcc patch", arch, clean, tcc_only)
    finally:
        patch.write_text(original)
    try:
        BENCH_PATCH.write_text(output_changing_patch(arch))
        ok &= step("tcc's output changed", arch, clean, None)
    finally:
        BENCH_PATCH.unlink(missing_ok=True)
    step("both reverted", arch, clean, None)
    last = rootfs_sha256(arch)
    print(f"rootfs sha256: clean {first}, after the changes and their revert {last}")
    if last != first:
        print("  FAILED: an incremental build differs from the clean one")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
