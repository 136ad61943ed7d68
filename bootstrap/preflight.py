"""Preflight (`doit check`): what this host lacks for the selection, with the package names.

It also says, before any build starts, whether stage3 can run here: root or working user
namespaces, and for a foreign target a binfmt_misc registration of qemu-user (ideally with
the F flag, so nothing needs copying into the chroot).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from .binfmt import binfmt_status
from .config import Config
from .errors import BootstrapError
from .targets import load_targets, normalise_arch


@dataclass(frozen=True)
class Need:
    tool: str  # a command on PATH or an absolute path
    package: str  # Debian/Ubuntu package providing it
    why: str


def needs(mode: str, llvm_major: str) -> list[Need]:
    llvm = f"/usr/lib/llvm-{llvm_major}/bin"
    common = [
        Need("make", "make", "kernel headers, musl, autotools builds"),
        Need("cc", "gcc", "host compiler for kernel header tools (HOSTCC)"),
        Need("patch", "patch", "applying patches/"),
        Need("autoreconf", "autoconf", "generating configure for repacks without one (make)"),
        Need("aclocal", "automake", "autoreconf of automake projects"),
        Need("autopoint", "autopoint", "autoreconf of gettext-using projects"),
        Need("unshare", "util-linux", "stage3's namespaced chroot"),
        Need("zstd", "zstd", "unpacking .tar.zst sources"),
        Need("cmake", "cmake", "compiler-rt, libunwind, libc++ (and LLVM)"),
        Need("ninja", "ninja-build", "CMake builds"),
        Need(f"{llvm}/clang", f"clang-{llvm_major}", "stage1 compiler"),
        Need(f"{llvm}/ld.lld", f"lld-{llvm_major}", "stage1 linker"),
        Need(f"{llvm}/llvm-ar", f"llvm-{llvm_major}", "stage1 binutils"),
    ]
    if mode == "llvm":
        common.append(Need("python3", "python3", "LLVM's CMake"))
    return common


def missing(requirements: list[Need]) -> list[Need]:
    return [n for n in requirements if not _have(n.tool)]


def _have(tool: str) -> bool:
    return os.access(tool, os.X_OK) if tool.startswith("/") else shutil.which(tool) is not None


def stage3_isolation() -> tuple[bool, str]:
    """Can this process make mount namespaces and chroot? (root, or user namespaces)"""
    if os.geteuid() == 0:
        return True, "running as root: mount namespaces and chroot available"
    probe = subprocess.run(["unshare", "-U", "-r", "-m", "true"], capture_output=True)
    if probe.returncode == 0:
        return True, "user namespaces work (unshare -U -r)"
    return False, "not root and user namespaces are unavailable"


def run_preflight(config: Config, arches: list[str], mode: str, llvm_major: str) -> None:
    lines = [f"toolchain mode: {mode}; LLVM {llvm_major}; targets: {', '.join(arches)}"]
    requirements = needs(mode, llvm_major)
    absent = missing(requirements)
    for need in requirements:
        state = "MISSING" if need in absent else "ok"
        lines.append(f"  [{state:7}] {need.tool:32} ({need.package}: {need.why})")
    ok, why = stage3_isolation()
    lines.append(f"  stage3 isolation: {'ok' if ok else 'NO'} - {why}")
    problems = [f"stage3 cannot run: {why}"] if not ok else []
    targets = load_targets(config.paths.toolchain_dir)
    for arch in arches:
        ok, why = binfmt_status(targets[arch])
        lines.append(f"  {arch} (host {normalise_arch(os.uname().machine)}): {why}")
        if not ok:
            problems.append(f"{arch} code cannot run here: {why}")
    print("\n".join(lines))
    if absent:
        packages = " ".join(sorted({n.package for n in absent}))
        problems.append(f"missing host tools; fix: apt-get install {packages}")
    if problems:
        raise BootstrapError(
            "preflight failed:\n  " + "\n  ".join(problems),
            fix="see above; tools/setup-host installs everything on Debian",
        )
