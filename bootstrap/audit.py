"""Output audits: ELF machine, musl interpreter, RPATH/RUNPATH, and no host or build paths.

Used on single binaries (stage1 acceptance) and on whole trees (stage2, the rootfs): every
regular file is scanned for forbidden strings (so `.pc` files, libtool archives, scripts and
static archives are covered too), and every ELF file is parsed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .elf import ELF_MAGIC, MACHINES, parse_elf
from .errors import BuildError
from .fsutil import write_atomic
from .targets import Target


def audit_binary(
    path: Path, target: Target, forbidden: tuple[str, ...], static: bool | None = None
) -> list[str]:
    """Problems with one ELF file. `static`: True/False to require (no) PT_INTERP;
    None to accept either, but a present PT_INTERP must be the musl loader."""
    return _audit_elf(path.read_bytes(), str(path), target, forbidden, static)


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
    forbidden: tuple[str, ...]
    results: Path
    signature: str


def scan_tree(
    root: Path, target: Target, forbidden: tuple[str, ...]
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
            if data[:4] == ELF_MAGIC:
                counts["elf"] += 1
                found = _audit_elf(data, str(path), target, forbidden, None)
            else:
                found = _forbidden(data, forbidden)
            if found:
                problems[str(path.relative_to(root))] = found
    return counts, problems


def audit_tree(spec: TreeAuditSpec) -> None:
    """Audit every file under the root; write the results; fail naming each problem."""
    counts, problems = scan_tree(spec.root, spec.target, spec.forbidden)
    write_atomic(
        spec.results,
        json.dumps(
            {"root": str(spec.root), "passed": not problems, **counts, "problems": problems},
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
