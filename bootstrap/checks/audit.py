"""Output audits: ELF machine, musl interpreter, RPATH/RUNPATH, and no host or build paths.

Used on single binaries (stage1 acceptance) and on whole trees (stage2, the rootfs): every
ELF file is parsed, and every regular file is scanned for the build tree's and this
checkout's paths (so `.pc` files, libtool archives, scripts and static archives are covered
too). Host toolchain markers (`/usr/lib/gcc`, `-linux-gnu/`) are leaks only where a program
or a later build would use them: binaries, archives, scripts and build metadata. In
documentation and CMake's find modules they are prose or search logic, not paths taken.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from fnmatch import fnmatch
from pathlib import Path

from ..builder.keys import BuildKey
from ..core.elf import ELF_MAGIC, MACHINES, parse_elf
from ..core.errors import BuildError
from ..core.fsutil import write_atomic
from ..model.targets import Target

# Files later builds read their settings from (pkg-config, libtool, CMake packages,
# *-config scripts, Makefiles, python's sysconfig), matched against the file name.
BUILD_METADATA = (
    "*.pc",
    "*.la",
    "*.prl",
    "*Config.cmake",
    "*-config.cmake",
    "*Targets*.cmake",
    "*-config",
    "Makefile*",
    "_sysconfigdata*.py",
)
# Contents that are a program or code a program links: ELF, ar archives, scripts.
EXECUTABLE_MAGIC = (ELF_MAGIC, b"!<arch>\n", b"#!")


@dataclass(frozen=True)
class ForbiddenStrings:
    """What no output may contain: `paths` (the build tree, this checkout) anywhere;
    `host_markers` (host toolchain directories) in binaries and build metadata, except in
    files a recipe vouches for (`markers_allowed`: root-relative glob, reason), such as
    clang's driver, whose GCC-installation search list names `/usr/lib/gcc`."""

    paths: tuple[str, ...]
    host_markers: tuple[str, ...]
    markers_allowed: tuple[tuple[str, str], ...] = ()

    @property
    def everything(self) -> tuple[str, ...]:
        return self.paths + self.host_markers

    def for_file(self, relpath: str, data: bytes) -> tuple[str, ...]:
        """The strings the file at `relpath` (relative to the root) with contents `data`
        must not contain."""
        runs_or_configures = data.startswith(EXECUTABLE_MAGIC) or any(
            fnmatch(Path(relpath).name, p) for p in BUILD_METADATA
        )
        if runs_or_configures and not self._vouched_for(relpath):
            return self.everything
        return self.paths

    def _vouched_for(self, relpath: str) -> bool:
        return any(fnmatch(relpath, glob) for glob, _why in self.markers_allowed)

    def digest_input(self) -> dict[str, object]:
        """For check signatures: the strings and the rule that scopes them."""
        return {
            **asdict(self),
            "metadata": BUILD_METADATA,
            "magic": [m.hex() for m in EXECUTABLE_MAGIC],
        }


def audit_binary(
    path: Path, target: Target, forbidden: ForbiddenStrings, static: bool | None = None
) -> list[str]:
    """Problems with one ELF file. `static`: True/False to require (no) PT_INTERP;
    None to accept either, but a present PT_INTERP must be the musl loader."""
    return _audit_elf(path.read_bytes(), str(path), target, forbidden.everything, static)


def _audit_elf(
    data: bytes, name: str, target: Target, forbidden: tuple[str, ...], static: bool | None
) -> list[str]:
    info = parse_elf(data, name)
    problems = []
    if info.machine != MACHINES[target.elf_machine]:
        problems.append(f"ELF machine {info.machine}, expected {target.elf_machine}")
    dynamic = info.interpreter is not None if static is None else not static
    want_interp = target.interpreter if dynamic else None
    if info.interpreter != want_interp:
        problems.append(f"PT_INTERP {info.interpreter!r}, expected {want_interp!r}")
    problems += [
        f"RPATH/RUNPATH {p!r} points outside the root"
        for p in info.rpath
        if not (p.startswith("$ORIGIN") or p in ("/usr/lib", "/lib"))
    ]
    return problems + _forbidden(data, forbidden)


def _forbidden(data: bytes, forbidden: tuple[str, ...]) -> list[str]:
    return [f"contains host/build path {s!r}" for s in forbidden if s.encode() in data]


@dataclass(frozen=True)
class TreeAuditSpec:
    target: Target
    root: Path
    forbidden: ForbiddenStrings
    results: Path
    key: BuildKey  # the checked tree's digest and the check's own inputs


def scan_tree(
    root: Path, target: Target, forbidden: ForbiddenStrings
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """(counts, problems by relative path) for every file under `root`."""
    problems: dict[str, list[str]] = {}
    counts = {"files": 0, "elf": 0}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath, name)
            if path.is_symlink() or not path.is_file():
                continue
            counts["files"] += 1
            data = path.read_bytes()  # once per file: ELF parse and path scan share it
            relpath = str(path.relative_to(root))
            strings = forbidden.for_file(relpath, data)
            if data[:4] == ELF_MAGIC:
                counts["elf"] += 1
                found = _audit_elf(data, str(path), target, strings, None)
            else:
                found = _forbidden(data, strings)
            if found:
                problems[relpath] = found
    return counts, problems


def audit_tree(spec: TreeAuditSpec) -> None:
    """Audit every file under the root; write the results; fail naming each problem."""
    counts, problems = scan_tree(spec.root, spec.target, spec.forbidden)
    write_atomic(
        spec.results,
        json.dumps(
            {
                "root": str(spec.root),
                "passed": not problems,
                **counts,
                "problems": problems,
                "host_markers_allowed": dict(spec.forbidden.markers_allowed),
            },
            indent=2,
            sort_keys=True,
        )
        + "\n",
    )
    if problems:
        listing = "\n  ".join(f"/{f}: {'; '.join(p)}" for f, p in sorted(problems.items())[:40])
        raise BuildError(
            f"audit of {spec.root} found {len(problems)} bad file(s):\n  {listing}",
            fix=f"see {spec.results}",
        )
