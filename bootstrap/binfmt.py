"""Running foreign-arch code: qemu-user-static through binfmt_misc.

With the F flag the kernel opens the interpreter once, at registration, so it works inside
any chroot and nothing needs copying into the roots. `ensure_binfmt` accepts such an entry,
registers one when it is missing and this process may (root, qemu installed), and otherwise
fails before any work starts, with the exact fix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

from .elf import MACHINES
from .errors import BootstrapError
from .targets import Target

BINFMT = Path("/proc/sys/fs/binfmt_misc")
# 64-bit little-endian ELF, ET_EXEC or ET_DYN (the mask clears e_type's low bit).
MAGIC = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00"
MASK = b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
INSTALL_FIX = "apt-get install qemu-user-static binfmt-support (Debian registers it with F)"


def binfmt_status(target: Target) -> tuple[bool, str]:
    """(usable, why) for running `target` code here, without changing anything."""
    if target.is_native():
        return True, "native on this host (no emulation needed)"
    entry = BINFMT / target.qemu
    if not (BINFMT / "status").exists():
        return False, f"binfmt_misc is not mounted (mount -t binfmt_misc binfmt_misc {BINFMT})"
    if not entry.exists():
        return False, f"no binfmt_misc entry '{target.qemu}': {INSTALL_FIX}"
    lines = entry.read_text().splitlines()
    if lines[0] != "enabled":
        return False, f"binfmt_misc entry '{target.qemu}' is disabled (echo 1 > {entry})"
    flags = next((ln.partition(":")[2].strip() for ln in lines if ln.startswith("flags:")), "")
    if "F" not in flags:
        return False, (
            f"'{target.qemu}' is registered without the F flag, so it cannot run inside a "
            f"chroot; re-register it: echo -1 > {entry}, then re-run (doit registers it with F)"
        )
    return True, f"'{target.qemu}' registered with flags {flags}"


def ensure_binfmt(target: Target) -> None:
    """Make `target` binaries runnable in chroots, or raise with the fix."""
    ok, why = binfmt_status(target)
    if ok:
        return
    if os.geteuid() == 0:
        _mount_binfmt()
        if not (BINFMT / target.qemu).exists():
            _register(target)
        ok, why = binfmt_status(target)
    if not ok:
        raise BootstrapError(f"cannot run {target.arch} code here: {why}", fix=INSTALL_FIX)


def _mount_binfmt() -> None:
    if not (BINFMT / "status").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=False)


def registration(target: Target, interpreter: str) -> bytes:
    """The line written to binfmt_misc/register for `target`, with the F flag."""
    machine = MACHINES[target.elf_machine].to_bytes(2, "little")
    magic, mask = MAGIC + machine, MASK
    return b":%s:M::%s:%s:%s:FP" % (
        target.qemu.encode(),
        _escape(magic),
        _escape(mask),
        interpreter.encode(),
    )


def _escape(data: bytes) -> bytes:
    return b"".join(b"\\x%02x" % b for b in data)


def _register(target: Target) -> None:
    interpreter = shutil.which(f"{target.qemu}-static")
    if interpreter is None or not (BINFMT / "register").exists():
        return
    with contextlib.suppress(OSError):  # reported by the status check that follows
        (BINFMT / "register").write_bytes(registration(target, interpreter))
