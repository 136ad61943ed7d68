"""Verify a rootfs tarball the way a user would meet it: checksum, unpack into a fresh dir,
then inside it (sandboxed, qemu for a foreign arch) run the shell and core tools and compile
and run a C program with its own cc; audit every file. Results go to JSON and JUnit XML
beside the tarball for nightly jobs; any failure fails the task, naming it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..builder.component import ensure_prepared_tree
from ..builder.spec import SourceTree
from ..checks.audit import ForbiddenStrings, scan_tree
from ..checks.chrootcheck import RootProbe, probe_root
from ..core.errors import BootstrapError, BuildError
from ..core.fsutil import remove_tree
from ..model.targets import Target
from .results import CheckResult, write_results
from .rootfs import unpack_rootfs, verify_checksum

BOOTSTRAP_ONLY = ("/serpent", "/build", "/native")  # links must not point into the build's mounts


@dataclass(frozen=True)
class VerifySpec:
    target: Target
    tarball: Path
    checksum: Path
    workdir: Path  # scratch: the unpacked tree, the probe's dir
    forbidden: ForbiddenStrings
    results_json: Path
    results_junit: Path
    log: Path
    # the full profile's rootfs builds software: stage1's acceptance matrix with its own
    # clang, this package (a prepared source tree) with its cmake/ninja and tests, python3
    toolchain_checks: bool = False
    package: tuple[str, SourceTree] | None = None  # (name, its prepared source)

    @property
    def suite(self) -> str:
        return f"rootfs-{self.target.arch}"


def timed(name: str, check: Callable[[], list[str]]) -> CheckResult:
    start = time.monotonic()
    try:
        problems = check()
    except BootstrapError as err:
        problems = [err.what]
    return CheckResult(name, not problems, "\n".join(problems), time.monotonic() - start)


def stray_links(root: Path) -> list[str]:
    """Symlinks left pointing into the bootstrap's own mounts (e.g. the borrowed /bin/sh)."""
    found = []
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(dirpath, name)
            if path.is_symlink() and os.readlink(path).startswith(BOOTSTRAP_ONLY):
                found.append(f"/{path.relative_to(root)} -> {os.readlink(path)}")
    return found


def audit(root: Path, spec: VerifySpec) -> list[str]:
    counts, problems = scan_tree(root, spec.target, spec.forbidden)
    if counts["elf"] == 0:
        return ["no ELF file at all in the rootfs"]
    return [f"/{path}: {'; '.join(found)}" for path, found in sorted(problems.items())]


def package_check(probe: RootProbe, name: str, source: SourceTree) -> CheckResult:
    def check() -> list[str]:
        ensure_prepared_tree(source)
        return probe.builds_package(source.root)

    return timed(f"builds-and-tests-{name}", check)


def run_verify(spec: VerifySpec) -> None:
    root, scratch = spec.workdir / "root", spec.workdir / "scratch"
    remove_tree(spec.workdir)
    spec.workdir.mkdir(parents=True)
    results = [timed("checksum", lambda: verify_checksum(spec.tarball, spec.checksum) or [])]
    results.append(timed("unpack", lambda: unpack_rootfs(spec.tarball, root) or []))
    if all(r.passed for r in results):
        probe = probe_root(root, spec.target, scratch, spec.log)
        results += [
            timed("shell-and-core-tools", probe.core_tools),
            timed("cc-compiles-and-runs-c", lambda: probe.compiler(spec.forbidden)),
            timed("getconf-and-getent", probe.musl_tools),
            *(
                [
                    timed("clang-acceptance-matrix", lambda: probe.acceptance(spec.forbidden)),
                    timed("python3-runs", probe.python),
                ]
                if spec.toolchain_checks
                else []
            ),
            *([package_check(probe, *spec.package)] if spec.package else []),
            timed("elf-and-path-audit", lambda: audit(root, spec)),
            timed("no-links-into-bootstrap-mounts", lambda: stray_links(root)),
        ]
    write_results(results, spec.suite, spec.results_json, spec.results_junit)
    remove_tree(spec.workdir)
    failed = [r for r in results if not r.passed]
    if failed:
        detail = "\n  ".join(f"{r.name}: {r.detail.splitlines()[0]}" for r in failed)
        raise BuildError(
            f"rootfs verification of {spec.tarball.name} failed {len(failed)} check(s):\n  "
            + detail,
            fix=f"details in {spec.results_json} and {spec.log}",
        )
    print(f"{spec.tarball.name}: {len(results)} checks passed")
