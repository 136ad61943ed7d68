"""Make a staged install describe the root it lands in, not the cross build that made it.

Build-configuration files (`.pc` files, `*-config` scripts, bash's `Makefile.inc`, python's
sysconfig data, generated comments) record the cross build: the stage root as `--sysroot`
or as a path prefix, the component's work dir, the cross compiler's `<triplet>-` names.
Inside the root those mean nothing, and the audit rightly rejects them. Before a host build
is merged into a stage root, every *text* file of its staged DESTDIR gets them rewritten:
work dir -> `/usr/src/<name>` (as `-ffile-prefix-map` does for compiled code), sysroot
flag dropped, root prefix dropped, `<triplet>-clang` -> `cc` and `<triplet>-<tool>` ->
`<tool>`. Binary files are never edited: a build path inside one stays an audit failure.

Libtool archives (`*.la`) are dropped, as Chimera's cbuild does: they record library
paths, and a later libtool link that finds one under the stage root warns that it "was
moved" and works from the recorded paths. Nothing in the roots loads modules through them.
(Dropping them did not cure file's RUNPATH into the stage root: that one is still open,
see docs/stage2.md.)
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.fsutil import write_bytes_atomic
from .driver import TOOLS

VERSION = 3  # part of the signature of every component it applies to


def build_path_rewrites(
    root: str, workdir: str, name: str, triplet: str
) -> list[tuple[bytes, bytes]]:
    """The rewrites, in the order they must be applied (longest, most specific first)."""
    paths = sorted([(root, ""), (workdir, f"/usr/src/{name}")], key=lambda p: -len(p[0]))
    pairs = [
        (f" --sysroot={root}", ""),
        (f"--sysroot={root}", ""),
        *paths,  # the longer first: a build's view (its root) lies inside its work dir
        (f"{triplet}-clang++", "c++"),
        (f"{triplet}-clang", "cc"),
        *((f"{triplet}-{tool}", tool) for tool in sorted(TOOLS, key=len, reverse=True)),
    ]
    return [(old.encode(), new.encode()) for old, new in pairs]


def relocate_staged_install(tree: Path, rewrites: list[tuple[bytes, bytes]]) -> list[str]:
    """Apply `rewrites` to every text file under `tree` and remove libtool archives; return
    the changed and removed paths."""
    changed: list[str] = []
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            path = Path(dirpath, name)
            if name.endswith(".la") and not path.is_symlink():
                path.unlink()
                changed.append(str(path.relative_to(tree)))
                continue
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            if b"\0" in data:
                continue  # binary: ELF, archives, .pyc, compressed data
            new = data
            for old, replacement in rewrites:
                new = new.replace(old, replacement)
            if new != data:
                write_bytes_atomic(path, new, path.stat().st_mode & 0o7777)
                changed.append(str(path.relative_to(tree)))
    return sorted(changed)
