"""Small filesystem helpers: atomic writes, tree removal, merging a DESTDIR into a root
and taking it back out."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import BootstrapError


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks (the one helper for it)."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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
    """Remove a file, link or whole tree, also one with directories its owner may not
    write or enter (a `0555` or `000` directory from an archive)."""
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            try:
                shutil.rmtree(path)
            except PermissionError:
                _let_owner_in(path)
                shutil.rmtree(path)
    except OSError as err:
        raise BootstrapError(
            f"cannot remove: {err.strerror or err}",
            where=str(err.filename or path),
            fix="remove it by hand (immutable files: lsattr/chattr -i; a mount: umount), "
            "then re-run",
        ) from None


def _let_owner_in(top: Path) -> None:
    """Give the owner write and search permission on every directory below `top`,
    parents before children, so that it can be emptied."""
    _owner_rwx(top)
    for dirpath, dirnames, _ in os.walk(top):
        for name in dirnames:
            _owner_rwx(Path(dirpath, name))  # before os.walk enters it


def _owner_rwx(path: Path) -> None:
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o700 != 0o700:
        os.chmod(path, stat.S_IMODE(st.st_mode) | 0o700)


def fresh_dir(path: Path) -> Path:
    remove_tree(path)
    path.mkdir(parents=True)
    return path


@dataclass(frozen=True)
class MergePlan:
    """What merging a staged DESTDIR into a root does, as paths relative to the root."""

    files: list[str]  # files and links placed
    dirs: list[str]  # directories created, parents first
    replaced: list[str]  # existing entries moved aside for one of ours (see withdraw_merge)


def plan_merge(staged: Path, root: Path) -> MergePlan:
    """A directory in `staged` that is a symlink to a directory in `root` (usr-merge:
    lib -> usr/lib) is merged through the link; a link to a directory is placed like a file."""
    files: list[str] = []
    dirs: list[str] = []
    replaced: list[str] = []
    for dirpath, dirnames, filenames in os.walk(staged):
        rel = Path(dirpath).relative_to(staged)
        for name in sorted(dirnames):
            src, dest = Path(dirpath, name), root / rel / name
            if src.is_symlink():
                filenames.append(name)
            elif not dest.is_dir():
                dirs.append(str(rel / name))
                if os.path.lexists(dest):
                    replaced.append(str(rel / name))
        dirnames[:] = sorted(d for d in dirnames if not Path(dirpath, d).is_symlink())
        for name in sorted(filenames):
            files.append(str(rel / name))
            if os.path.lexists(root / rel / name):
                replaced.append(str(rel / name))
    return MergePlan(sorted(files), dirs, sorted(replaced))


def apply_merge(plan: MergePlan, staged: Path, root: Path, aside: Path) -> None:
    """Carry out `plan`: replaced entries move to `aside` first, then every file or link
    lands by rename, so a reader never sees a half-written file."""
    replaced = set(plan.replaced)
    root.mkdir(parents=True, exist_ok=True)
    for rel in plan.dirs:
        if rel in replaced:
            _move(root / rel, aside / rel)
        (root / rel).mkdir()
        shutil.copystat(staged / rel, root / rel)
    for rel in plan.files:
        if rel in replaced:
            _move(root / rel, aside / rel)
        os.replace(staged / rel, root / rel)


def withdraw_merge(plan: MergePlan, root: Path, aside: Path) -> None:
    """Undo `apply_merge`, also one that stopped half-way: our files go, our directories go
    when empty, and what we moved aside comes back. An entry to be replaced that is not
    aside yet was never touched."""
    replaced = set(plan.replaced)
    for rel in plan.files:
        path = root / rel
        if rel not in replaced and (path.is_symlink() or path.is_file()):
            path.unlink()
    for rel in reversed(plan.dirs):  # deepest first
        path = root / rel
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()
    for rel in plan.replaced:
        if os.path.lexists(aside / rel):
            remove_tree(root / rel)
            os.replace(aside / rel, root / rel)
    remove_tree(aside)


def _move(path: Path, to: Path) -> None:
    to.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, to)
