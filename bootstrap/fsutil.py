"""Small filesystem helpers: atomic writes, tree removal, merging a DESTDIR into a root."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_bytes_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with `data` (permission bits `mode`) in one rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def fresh_dir(path: Path) -> Path:
    remove_tree(path)
    path.mkdir(parents=True)
    return path


def merge_tree(staged: Path, root: Path) -> tuple[list[str], list[str]]:
    """Move everything under `staged` into `root`, replacing files; return the relative
    paths of the files placed and of the directories created.

    Each file or link lands by rename, so a reader never sees a half-written file. A
    directory in `staged` that is a symlink to a directory in `root` (usr-merge: lib ->
    usr/lib) is merged through the link.
    """
    merged: list[str] = []
    created: list[str] = []
    root.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(staged):
        rel = Path(dirpath).relative_to(staged)
        dest_dir = root / rel
        for name in sorted(dirnames):
            src, dest = Path(dirpath, name), dest_dir / name
            if src.is_symlink():
                filenames.append(name)  # a link to a dir: place it like a file
            elif not dest.is_dir():
                remove_tree(dest)
                dest.mkdir()
                shutil.copystat(src, dest)
                created.append(str(rel / name))
        dirnames[:] = [d for d in dirnames if not Path(dirpath, d).is_symlink()]
        for name in sorted(filenames):
            src, dest = Path(dirpath, name), dest_dir / name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(src, dest)
            merged.append(str(rel / name))
    return sorted(merged), sorted(created)
