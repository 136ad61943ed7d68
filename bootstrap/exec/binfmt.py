"""Running foreign-arch code: qemu-user-static through binfmt_misc.

With the F flag the kernel opens the interpreter once, at registration, so it works inside
any chroot and nothing needs copying into the roots. `ensure_binfmt` accepts such an entry,
registers one when it is missing and this process may (root, qemu installed), and otherwise
fails before any work starts, with the fix for the cause: mount binfmt_misc, enable the
entry, install qemu, or re-register it with F.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NamedTuple

from ..core.elf import MACHINES
from ..core.errors import BootstrapError
from ..model.targets import Target
from . import runner

BINFMT = Path("/proc/sys/fs/binfmt_misc")
# 64-bit little-endian ELF, ET_EXEC or ET_DYN (the mask clears e_type's low bit).
MAGIC = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00"
MASK = b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
INSTALL_FIX = "apt-get install qemu-user-static binfmt-support (Debian registers it with F)"


class BinfmtStatus(NamedTuple):
    ok: bool
    why: str
    fix: str = ""  # what to do about this particular cause


def binfmt_status(target: Target) -> BinfmtStatus:
    """Whether `target` code runs here and, if not, why and the fix for that cause; changes
    nothing."""
    if target.is_native():
        return cpu_status(target)
    if not (BINFMT / "status").exists():
        return BinfmtStatus(
            False,
            f"binfmt_misc is not mounted at {BINFMT}",
            f"mount it: mount -t binfmt_misc binfmt_misc {BINFMT} (doit does this itself "
            "when run as root; in a container, mount it on the host)",
        )
    entry = BINFMT / target.qemu
    if not entry.exists():
        return _no_entry(target)
    try:
        lines = entry.read_text().splitlines()
    except OSError as err:
        lines = [f"unreadable ({err.strerror})"]
    if not lines or lines[0] not in ("enabled", "disabled"):
        return BinfmtStatus(
            False,
            f"binfmt_misc entry '{target.qemu}' is empty or not in the kernel's format",
            f"remove it (echo -1 > {entry}), then run doit as root: it registers "
            f"{target.qemu} with the F flag",
        )
    if lines[0] != "enabled":
        return BinfmtStatus(
            False,
            f"binfmt_misc entry '{target.qemu}' is disabled",
            f"enable it: echo 1 > {entry}",
        )
    flags = next((ln.partition(":")[2].strip() for ln in lines if ln.startswith("flags:")), "")
    if "F" not in flags:
        return BinfmtStatus(
            False,
            f"'{target.qemu}' is registered without the F flag, so it cannot run inside a chroot",
            f"re-register it: echo -1 > {entry}, then run doit as root (it registers "
            f"{target.qemu} with F)" + _install_hint(target),
        )
    return BinfmtStatus(True, f"'{target.qemu}' registered with flags {flags}")


CPUINFO = Path("/proc/cpuinfo")


def cpu_status(target: Target, cpuinfo: Path = CPUINFO) -> BinfmtStatus:
    """Native target code runs on this CPU only if it has the features the target's flags
    build for (x86-64-v3: AVX2, BMI2, FMA, ...)."""
    try:
        flags = next(
            set(line.partition(":")[2].split())
            for line in cpuinfo.read_text().splitlines()
            if line.startswith(("flags", "Features"))
        )
    except (OSError, StopIteration):
        flags = set()
    lacking = [f for f in target.cpu_features if f not in flags]
    if lacking:
        return BinfmtStatus(
            False,
            f"this CPU lacks {', '.join(lacking)}, which {target.arch} code built with "
            f"'{target.cflags}' uses",
            f"run the stage3 of {target.arch} on a machine whose CPU has "
            f"{', '.join(target.cpu_features)} (toolchain/{target.arch}.yml, cpu_features)",
        )
    return BinfmtStatus(True, "native on this host (no emulation needed; CPU features ok)")


def _interpreter(target: Target) -> str | None:
    return shutil.which(f"{target.qemu}-static")


def _install_hint(target: Target) -> str:
    if _interpreter(target):
        return ""
    return f"; that needs {target.qemu}-static: {INSTALL_FIX}"


def _no_entry(target: Target) -> BinfmtStatus:
    interpreter = _interpreter(target)
    if interpreter is None:
        return BinfmtStatus(
            False,
            f"no binfmt_misc entry '{target.qemu}', and {target.qemu}-static is not installed",
            INSTALL_FIX,
        )
    return BinfmtStatus(
        False,
        f"no binfmt_misc entry '{target.qemu}' ({interpreter} is installed)",
        f"run doit as root: it registers {interpreter} with the F flag",
    )


def ensure_binfmt(target: Target) -> None:
    """Make `target` binaries runnable in chroots, or raise with the fix for the cause."""
    status = binfmt_status(target)
    if status.ok:
        return
    if os.geteuid() == 0 and not target.is_native():  # never route native code through qemu
        _mount_binfmt()
        if not (BINFMT / target.qemu).exists() and (problem := _register(target)):
            raise BootstrapError(
                f"cannot run {target.arch} code here: registering {target.qemu} failed: {problem}",
                fix=f"register it by hand, or check why {BINFMT / 'register'} refuses it (dmesg)",
            )
        status = binfmt_status(target)
    if not status.ok:
        raise BootstrapError(f"cannot run {target.arch} code here: {status.why}", fix=status.fix)


def _mount_binfmt() -> None:
    if not (BINFMT / "status").exists():
        runner.query(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])


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


def _register(target: Target) -> str | None:
    """Register `target`'s qemu with F; the write's error, if any. Nothing to register with
    (no qemu, no register file) is left to the status check that follows."""
    interpreter = _interpreter(target)
    if interpreter is None or not (BINFMT / "register").exists():
        return None
    try:
        (BINFMT / "register").write_bytes(registration(target, interpreter))
    except OSError as err:
        return err.strerror or str(err)
    return None
