"""CI: a clean stage3 rebuild, killed with SIGKILL halfway, must leave nothing behind, resume
without redoing finished components, and end in a byte-identical rootfs tarball.

Usage: tools/ci_kill_resume.py <arch>   (after a complete `doit stage3 --target <arch>`)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# without the component cache: the stage3 components must really be built again
DOIT = [str(REPO / ".venv" / "bin" / "doit"), "stage3", "--profile", "smoke", "--cache-dir", "off"]
# Where the run keeps its state and outputs, as bootstrap.model.config.Paths decides.
BUILD = Path(os.environ.get("SERPENT_BUILD_DIR") or REPO / "build")
OUT = REPO / "out" if BUILD.resolve() == (REPO / "build").resolve() else BUILD / "out"
KILL_AFTER = "tcc"  # kill once this component's stamp exists and the next one runs


def sha256_of(arch: str) -> str:
    return (OUT / arch / f"serpent-rootfs-{arch}.tar.xz.sha256").read_text().split()[0]


def inside(base: Path) -> list[str]:
    """Processes whose root dir is under `base` (still running in a build's chroot view)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.readlink(proc / "root").startswith(f"{base}/"):
                found.append(proc.name)
        except OSError:
            continue
    return found


def fail(message: str) -> None:
    print(f"kill-resume: FAILED: {message}")
    sys.exit(1)


def main(arch: str) -> None:
    base = BUILD / arch
    first = sha256_of(arch)
    stage3 = ("stage3", "work/stage3", "stamps/stage3", "layers/stage3")
    for path in (base / p for p in stage3):
        shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(OUT / arch)
    log = (BUILD / f"kill-resume-{arch}.log").open("w")
    doit = subprocess.Popen([*DOIT, "--target", arch], cwd=REPO, stdout=log, stderr=log)
    stamp = base / "stamps" / "stage3" / f"{KILL_AFTER}.built"
    while not stamp.exists():
        if doit.poll() is not None:
            fail(f"doit exited ({doit.returncode}) before {KILL_AFTER} was built")
        time.sleep(0.5)
    time.sleep(3)  # let the next component get going inside the chroot
    running = inside(base)
    os.kill(doit.pid, signal.SIGKILL)
    doit.wait()
    time.sleep(2)
    print(f"kill-resume: killed doit with {len(running)} process(es) in the chroot")
    if left := inside(base):
        fail(f"processes still running in the chroot after kill -9: {left}")
    mounts = Path("/proc/self/mountinfo").read_text()
    if leaked := [line for line in mounts.splitlines() if str(base) in line]:
        fail("mounts left behind:\n" + "\n".join(leaked))
    subprocess.run([*DOIT, "--target", arch], cwd=REPO, check=True)
    report = json.loads((BUILD / "reports" / "latest.json").read_text())
    status = report["tasks"][f"build:{arch}/stage3/{KILL_AFTER}"]["status"]
    if status != "up-to-date":
        fail(f"build:{arch}/stage3/{KILL_AFTER} was redone after the kill ({status})")
    second = sha256_of(arch)
    if second != first:
        fail(f"rootfs not reproducible: {first} then {second}")
    print(f"kill-resume: no leftovers, {KILL_AFTER} not redone, same sha256 {second}")


if __name__ == "__main__":
    main(sys.argv[1])
