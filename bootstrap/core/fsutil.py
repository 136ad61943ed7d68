"""Small filesystem helpers: atomic writes, tree removal, the one sha256 of a file."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
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


def checkout_files(directory: Path) -> list[tuple[str, Path]]:
    """The regular files under `directory` (a directory of this checkout), sorted by
    relative path; anything else there (links, sockets) is an error."""
    files = []
    for path in sorted(directory.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise BootstrapError(
                f"{path} is not a regular file or directory",
                fix="a source directory of the checkout holds plain files only",
            )
        if path.is_file():
            files.append((path.relative_to(directory).as_posix(), path))
    return files


def checkout_digest(directory: Path) -> str:
    """What a checkout directory's files say, as git keeps them: relative paths, the
    executable bit and contents (not the modes or times a clone happens to give them)."""
    total = hashlib.sha256()
    for rel, path in checkout_files(directory):
        executable = "x" if os.access(path, os.X_OK) else "-"
        total.update(f"{rel} {executable} {sha256_file(path)}".encode() + b"\0")
    return total.hexdigest()


def copy_checkout(directory: Path, dest: Path) -> None:
    """Copy a checkout directory's files into `dest` with plain modes (0755 or 0644)."""
    for rel, path in checkout_files(directory):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.chmod(0o755 if os.access(path, os.X_OK) else 0o644)
