"""Preflight (`doit check`): what this host lacks for the selection, with the package names.

It also says, before any build starts, whether the selection can run here: root when a
selected task needs it (chroot builds and checks, marked in their task meta), and for a
foreign target a binfmt_misc registration of qemu-user with the F flag (so nothing needs
copying into the chroot). `refusing_reporter` refuses, before the first task, a run that
needs root when not root: the same verdict as `doit check`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import BootstrapError, exit_with
from ..exec.binfmt import binfmt_status
from ..model.config import Config
from ..model.targets import load_targets, normalise_arch


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


ROOT_FIX = (
    "run doit as root (sudo); stage1 and stage2 builds run as any user, so `doit stage1` "
    "or `doit stage2` (without the stage2-chroot check) work without it"
)


def tasks_needing_root(tasks: Iterable[Any]) -> list[str]:
    """Names of the tasks whose meta says they need root (see `tasks.NEEDS_ROOT`)."""
    return [t.name for t in tasks if (t.meta or {}).get("needs_root")]


def root_status(needed_by: Sequence[str]) -> tuple[bool, str]:
    """(ok, why): can this process run the tasks `needed_by`, which need root? The runtime
    (`refusing_reporter`) and `doit check` both ask this, so they always agree."""
    if os.geteuid() == 0:
        return True, "running as root: mount namespaces and chroot available"
    if not needed_by:
        return True, "not root, and nothing selected needs root"
    names = sorted(needed_by)
    more = len(names) - 3
    shown = ", ".join(names[:3]) + (f" and {more} more" if more > 0 else "")
    return False, (
        f"not root, but {len(names)} selected task(s) need root for mount namespaces "
        f"and chroot: {shown}"
    )


def _closure(tasks: Mapping[str, Any], selected: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    stack = list(selected)
    while stack:
        name = stack.pop()
        if name in seen or name not in tasks:
            continue
        seen[name] = None
        stack.extend([*tasks[name].task_dep, *tasks[name].setup_tasks])
    return list(seen)


def check_privileges(tasks: Mapping[str, Any], selected: Sequence[str]) -> None:
    """Refuse a run whose selected tasks (with everything they depend on) need root, when
    this process is not root: before hours of stage1 work, not when stage3 starts."""
    names = _closure(tasks, selected)
    ok, why = root_status(tasks_needing_root(tasks[n] for n in names))
    if not ok:
        raise BootstrapError(why, fix=ROOT_FIX)


def refusing_reporter(base: type) -> type:
    """`base` (a doit reporter class) refusing, at the start of the run, what
    `check_privileges` refuses: doit hands the reporter the selected tasks before any runs."""

    class Refusing(base):  # type: ignore[misc, valid-type]
        refused = False

        def initialize(self, tasks: Mapping[str, Any], selected_tasks: list[str]) -> None:
            try:
                check_privileges(tasks, selected_tasks)
            except BootstrapError as err:
                self.refused = True
                exit_with(err)
            super().initialize(tasks, selected_tasks)

        def complete_run(self) -> None:
            if not self.refused:  # nothing ran: no report, no verdict
                super().complete_run()

    return Refusing


def run_preflight(
    config: Config, arches: list[str], mode: str, llvm_major: str, root_tasks: list[str]
) -> None:
    """`root_tasks`: the selection's tasks that need root (whatever `doit check` itself
    needs, the runs it prepares for will need these)."""
    lines = [f"toolchain mode: {mode}; LLVM {llvm_major}; targets: {', '.join(arches)}"]
    requirements = needs(mode, llvm_major)
    absent = missing(requirements)
    for need in requirements:
        state = "MISSING" if need in absent else "ok"
        lines.append(f"  [{state:7}] {need.tool:32} ({need.package}: {need.why})")
    ok, why = root_status(root_tasks)
    lines.append(f"  root (chroot builds and checks): {'ok' if ok else 'NO'} - {why}")
    problems = [f"{why}; fix: {ROOT_FIX}"] if not ok else []
    targets = load_targets(config.paths.toolchain_dir)
    for arch in arches:
        status = binfmt_status(targets[arch])
        lines.append(f"  {arch} (host {normalise_arch(os.uname().machine)}): {status.why}")
        if not status.ok:
            problems.append(f"{arch} code cannot run here: {status.why}; fix: {status.fix}")
    print("\n".join(lines))
    if absent:
        packages = " ".join(sorted({n.package for n in absent}))
        problems.append(f"missing host tools; fix: apt-get install {packages}")
    if problems:
        raise BootstrapError(
            "preflight failed:\n  " + "\n  ".join(problems),
            fix="see above; tools/setup-host installs everything on Debian",
        )
