#!/usr/bin/env python3
"""Benchmark: a no-op `doit` run over a full-sized graph for both targets must take < 1 s.

Builds a synthetic repo shaped like the full profile (toolchain/ copied from this repo,
one real tarball source, COMPONENTS components per target across stage1 and stage2, each
with its prepare and build task, each depending on the one before it, so every key reads
a long closure: the worst case), runs the whole graph once, then times RUNS no-op runs of
`doit stage2 --target all` through the real CLI and engine. Exit 1 if the median >= LIMIT.
The package is byte-compiled first, as tools/setup-host does: with PYTHONDONTWRITEBYTECODE
set (as on CI machines), every run would otherwise compile ~55 modules again (~0.15 s).

    .venv/bin/python tools/bench_noop.py [--components 80] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIMIT = 1.0
RECIPE = (
    "doc: synthetic component {i}\nsource: pkg\nstyle: custom\ndepends: {depends}\n"
    'steps: {{install: [["true"]]}}\n'
)


def make_repo(root: Path, components: int) -> None:
    tarball = root / "pkg-1.0.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        info = tarfile.TarInfo("pkg-1.0/README")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    source = {"version": "1.0", "url": tarball.as_uri(), "sha256": sha}
    (root / "sources.yml").write_text(json.dumps({"sources": {"pkg": source}}))
    shutil.copytree(REPO / "toolchain", root / "toolchain")
    shutil.copy(REPO / "dodo.py", root / "dodo.py")
    recipes = root / "stages" / "recipes"
    recipes.mkdir(parents=True)
    names = [f"c{i:03d}" for i in range(components)]
    split = components // 4
    for i, name in enumerate(names):
        depends = [] if i in (0, split) else [names[i - 1]]  # a chain within each stage
        (recipes / f"{name}.yml").write_text(RECIPE.format(i=i, depends=json.dumps(depends)))
    profile = {
        "doc": "bench",
        "toolchain": "host",
        "stage1": names[:split],
        "stage2": names[split:],
        "stage3": [],
    }
    (root / "stages" / "profiles.yml").write_text(json.dumps({"profiles": {"bench": profile}}))


def compile_package(root: Path) -> None:
    targets = [str(REPO / "bootstrap"), str(root / "dodo.py")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *targets], check=True)


def doit(root: Path, *args: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERPENT_")}
    env.update(PYTHONPATH=str(REPO), SERPENT_PROFILE="bench")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(root / "dodo.py"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"doit {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=80, help="components per target")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_repo(root, args.components)
        compile_package(root)
        first = doit(root, "stage2", "--target", "all")
        report = json.loads((root / "build" / "reports" / "latest.json").read_text())
        tasks = len(report["tasks"])
        times = [doit(root, "stage2", "--target", "all") for _ in range(args.runs)]
        report = json.loads((root / "build" / "reports" / "latest.json").read_text())
        assert set(report["counts"]) == {"up-to-date"}, report["counts"]
    median = statistics.median(times)
    print(f"graph: 2 targets x {args.components} components = {tasks} tasks with actions")
    print(f"first (building) run: {first:.2f} s")
    print(
        f"no-op runs: {', '.join(f'{t:.3f}' for t in times)} s; median {median:.3f} s "
        f"(limit {LIMIT} s)"
    )
    return 0 if median < LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
