#!/usr/bin/env python3
"""The nightly job's cache and drift path, rehearsed on one machine against a real OCI
registry on loopback (Debian's docker-registry), from layers an earlier run built.

`.github/workflows/nightly.yml` can only run on GitHub. What it relies on can run here:

1. seed: a fresh build dir fed by an existing local cache (`--seed-cache`, e.g. the
   `./cache` of a finished run) runs the job's command with `--cache-remote` and
   `--cache-push`: every component is restored from the local cache, and what the registry
   lacks is uploaded (what the default branch's job does after building).
2. nightly: another fresh build dir with an empty local cache runs the job's command with
   `--cache-remote` only, and `--baseline` = the seed run's `out/` when the entry task makes
   a rootfs: every component must come from the registry, none may be built; the rootfs is
   verified and the drift check compares the two lockfiles.

Prints and writes (`--out`) each run's wall time, how many build tasks ran and where their
layers came from, the registry's size, the rootfs sha256s and the drift verdicts. Exit 1 if
a run fails, any layer of the nightly run came from elsewhere than the registry, the
sha256s differ, or drift finds anything but "unchanged".

    .venv/bin/python tools/rehearse_nightly.py --target all --profile smoke \\
        --seed-cache /path/to/finished/checkout/cache --scratch /tmp/rehearsal
    .venv/bin/python tools/rehearse_nightly.py --target aarch64 --profile full --entry stage1 \\
        --seed-cache cache --scratch /work/rehearsal-full

The entry task is any of the job's (`stage3`, the default, ends in a verified rootfs and
drift; `stage1`/`stage2` exercise the cache alone). Sources come as for any run
(SERPENT_SOURCES_OVERRIDE and SERPENT_OFFLINE are passed on, no other SERPENT_ setting).
The seed cache is the seed run's local cache: its entries' times are touched, and what it
lacks is built and added. The scratch dir is emptied first, so it must be new, empty, or
an earlier rehearsal's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bootstrap.builder.component import RESTORED
from bootstrap.core.errors import BootstrapError, run_main

REPO = Path(__file__).resolve().parent.parent
REPOSITORY = "serpent/layers"
MARKER = ".rehearse-nightly"  # in a scratch dir this tool made (and may empty again)
PASSED_ON = ("SERPENT_SOURCES_OVERRIDE", "SERPENT_OFFLINE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_registry(scratch: Path) -> tuple[subprocess.Popen[bytes], str]:
    """docker-registry serving `scratch/registry` on a free loopback port; its address."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise BootstrapError(
            "no docker-registry", fix="apt-get install docker-registry (tools/setup-host does)"
        )
    host = f"127.0.0.1:{free_port()}"
    config = scratch / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {scratch / 'registry'}\nhttp:\n  addr: {host}\n"
    )
    with (scratch / "registry.log").open("w") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
            return proc, host
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise BootstrapError(
                    "the registry did not start", fix=f"see {scratch / 'registry.log'}"
                ) from None
            time.sleep(0.1)


def run_job(name: str, args: argparse.Namespace, cache: Path, extra: list[str]) -> dict:
    """One job's `doit <entry>` into `scratch/<name>`; its wall time and build tasks."""
    build = args.scratch / name
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERPENT_") or k in PASSED_ON}
    env |= {"SERPENT_BUILD_DIR": str(build), "SERPENT_CACHE_DIR": str(cache)}
    command = [
        str(REPO / ".venv/bin/doit"),
        args.entry,
        "--target",
        args.target,
        "--profile",
        args.profile,
        *extra,
    ]
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    start = time.monotonic()
    with (args.scratch / f"{name}.log").open("w") as log:
        rc = subprocess.run(command, cwd=REPO, env=env, stdout=log, stderr=log).returncode
    wall = time.monotonic() - start
    if rc != 0:
        raise BootstrapError(
            f"the {name} run failed (exit {rc})", fix=f"read {args.scratch / f'{name}.log'}"
        )
    report = json.loads((build / "reports" / "latest.json").read_text())
    builds = sorted(n for n in report["tasks"] if n.startswith("build:"))
    came_from = {n: layer_origin(build, n) for n in builds}
    return {
        "command": " ".join(command[1:]),
        "wall_s": round(wall, 1),
        "build_tasks": len(builds),
        "built": sorted(n for n, origin in came_from.items() if origin == "built"),
        "restored_from": _count(came_from.values()),
        "rootfs": rootfs_sums(build),
        "drift": drift_verdicts(build),
    }


def layer_origin(build: Path, task: str) -> str:
    """Where a build task's layer came from: after its key, the log says `restored from
    cache <where>` for a restored one (a local cache is a path, the registry is not)."""
    home, stage, name = task.removeprefix("build:").split("/")
    log = build / home / "logs" / stage / f"{name}.log"
    if not log.exists():
        return "up to date"
    with log.open(errors="replace") as lines:
        head = [lines.readline().rstrip("\n") for _ in range(2)]
    for line in head:
        if line.startswith(f"{RESTORED} "):
            where = line.removeprefix(f"{RESTORED} ")
            return "local cache" if where.startswith("/") else "registry"
    return "built"


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def rootfs_sums(build: Path) -> dict[str, str]:
    sums = sorted((build / "out").glob("*/serpent-rootfs-*.tar.xz.sha256"))
    return {s.parent.name: s.read_text().split()[0] for s in sums}


def drift_verdicts(build: Path) -> dict[str, dict[str, object]]:
    """Per target, the drift check's result: ok, how many components got each verdict,
    the rootfs's (from out/<arch>/drift.json)."""
    verdicts: dict[str, dict[str, object]] = {}
    for found in sorted((build / "out").glob("*/drift.json")):
        result = json.loads(found.read_text())
        verdicts[found.parent.name] = {
            "ok": result["ok"],
            "components": result["counts"],
            "rootfs": result["rootfs"].get("status"),
        }
    return verdicts


def registry_size(scratch: Path) -> int:
    blobs = scratch / "registry" / "docker" / "registry" / "v2" / "blobs"
    return sum(f.stat().st_size for f in blobs.rglob("data"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--profile", required=True)
    parser.add_argument("--entry", default="stage3", choices=["stage1", "stage2", "stage3"])
    parser.add_argument("--seed-cache", type=Path, required=True)
    parser.add_argument("--scratch", type=Path, required=True, help="emptied first")
    parser.add_argument("--out", type=Path, help="write the summary here as JSON")
    args = parser.parse_args()
    args.scratch = args.scratch.resolve()
    seed_cache = args.seed_cache.resolve()
    check_places(args.scratch, seed_cache)
    if not (REPO / ".venv" / "bin" / "doit").exists():
        raise BootstrapError("no .venv/bin/doit in this checkout", fix="run tools/setup-host")
    shutil.rmtree(args.scratch, ignore_errors=True)
    args.scratch.mkdir(parents=True)
    (args.scratch / MARKER).touch()
    registry, host = start_registry(args.scratch)
    remote = ["--cache-remote", f"http://{host}/{REPOSITORY}"]
    try:
        seed = run_job("seed", args, seed_cache, [*remote, "--cache-push"])
        pushed = registry_size(args.scratch)
        baseline = args.scratch / "seed" / "out"
        drift = ["--baseline", str(baseline)] if seed["rootfs"] else []
        nightly = run_job("nightly", args, args.scratch / "nightly-cache", [*remote, *drift])
    finally:
        registry.terminate()
        try:
            registry.wait(timeout=30)
        except subprocess.TimeoutExpired:
            registry.kill()
    summary = {"seed": seed, "registry_bytes": pushed, "nightly": nightly}
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.resolve().parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    problems = verdict(seed, nightly)
    for problem in problems:
        print(f"rehearse-nightly: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def check_places(scratch: Path, seed_cache: Path) -> None:
    """Nothing this tool empties may hold the checkout, the seed cache, or someone's files."""
    if not seed_cache.is_dir():
        raise BootstrapError(
            f"no cache at {seed_cache}", fix="name a finished run's ./cache (--seed-cache)"
        )
    for inside, what in ((REPO, "this checkout"), (seed_cache, "the seed cache")):
        if inside == scratch or scratch in inside.parents:
            raise BootstrapError(
                f"--scratch {scratch} holds {what}", fix="name a new directory for the rehearsal"
            )
    if scratch.exists() and any(scratch.iterdir()) and not (scratch / MARKER).exists():
        raise BootstrapError(
            f"--scratch {scratch} is not empty and not an earlier rehearsal's",
            fix="name a new or empty directory (it is emptied first)",
        )


def verdict(seed: dict, nightly: dict) -> list[str]:
    """What the nightly run did that a warm, unchanged night must not."""
    problems = []
    elsewhere = {o: n for o, n in nightly["restored_from"].items() if o != "registry"}
    if elsewhere or not nightly["build_tasks"]:
        problems.append(f"not every layer came from the registry: {elsewhere or 'no builds'}")
    if seed["rootfs"] != nightly["rootfs"]:
        problems.append("the two runs' rootfs sha256s differ")
    for arch, drift in nightly["drift"].items():
        if set(drift["components"]) != {"unchanged"} or drift["rootfs"] != "unchanged":
            problems.append(f"drift of {arch} is not all unchanged: {drift}")
    return problems


if __name__ == "__main__":
    run_main(main)
