"""Unpack tar (plain, gz, xz, bz2, zst via the `zstd` tool) or zip archives, safely.

A tar is read once, sequentially, into a hidden sibling of `dest` renamed into place on
success; siblings left by a killed run are removed first. A single top-level directory is
stripped; with `subtrees`, the first member's top directory is assumed to be it, and if a
later member contradicts that, the archive is read a second time as a tarbomb. Hostile
members and corrupt archives raise UnpackError. Directories always let their owner in.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import lzma
import os
import shutil
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..core.errors import BootstrapError, UnpackError
from ..core.fsutil import remove_tree, sha256_file
from ..exec import runner

Parts = tuple[str, ...]
HOSTILE_FIX = "the archive is unsafe to unpack: check where it comes from and its checksum"
CORRUPT_FIX = "delete it from the download cache and fetch it again"
# the owner may always write and enter what it unpacked; no setgid or world-writable dirs
DIR_MODE_KEEP, DIR_MODE_ADD = 0o1775, 0o700
OPENERS = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}


class _Corrupt(Exception): ...  # the archive data cannot be read


class _NotSingleTop(Exception): ...  # a member contradicts the assumed single top directory


@dataclass
class _Entry:
    name: str
    kind: str  # file, dir, symlink, hardlink, special
    mode: int
    mtime: float
    link: str = ""
    data: Callable[[], IO[bytes] | None] | None = None


def unpack(
    archive: Path,
    dest: Path,
    subtrees: Sequence[str] | None = (),
    pinned_sha256: str | None = None,
) -> Path:
    """Extract `archive` into the new directory `dest`, optionally only `subtrees`.

    One unpack into `dest` at a time (the build dir lock): temporary trees of earlier ones
    are leftovers of a killed run. `pinned_sha256` makes the fix for a corrupt archive say
    whether fetching it again can help."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists() or dest.is_symlink():
        raise UnpackError("destination already exists", where=str(dest), fix="remove it first")
    wanted = [_subtree(archive, s) for s in subtrees or ()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    for leftover in dest.parent.glob(f".{glob.escape(dest.name)}.tmp-*"):
        remove_tree(leftover)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    try:
        try:
            tree = _extract(archive, tmp, wanted, assume_top=bool(wanted), pin=pinned_sha256)
        except _NotSingleTop:
            remove_tree(tmp)
            tree = _extract(archive, tmp, wanted, assume_top=False, pin=pinned_sha256)
        os.replace(tree, dest)
    finally:
        with suppress(BootstrapError):  # never hide why it failed; the next run retries
            remove_tree(tmp)
    return dest


def _corrupt_fix(archive: Path, pinned_sha256: str | None) -> str:
    """Fetching again only helps if the cached bytes are not the pinned ones."""
    if pinned_sha256 is None:
        return CORRUPT_FIX
    actual = sha256_file(archive)
    if actual != pinned_sha256:
        return f"its sha256 is {actual}, not the pinned {pinned_sha256}: " + CORRUPT_FIX
    return (
        "its sha256 matches the pin, so fetching it again gives the same bytes: the pinned "
        "file itself is broken. Check the sha256 in sources.yml (or the override file) and "
        "the mirror the file came from against the upstream release, then fix the pin"
    )


def _subtree(archive: Path, subtree: str) -> Parts:
    parts = tuple(p for p in subtree.split("/") if p not in ("", "."))
    if not parts or ".." in parts or subtree.startswith("/"):
        raise UnpackError(f"invalid subtree {subtree!r}", where=str(archive), fix="fix the recipe")
    return parts


def _extract(
    archive: Path, tmp: Path, wanted: list[Parts], *, assume_top: bool, pin: str | None
) -> Path:
    tmp.mkdir()
    tree = _Tree(archive, tmp, wanted, assume_top)
    try:
        with closing(_entries(archive)) as entries:
            for entry in entries:
                tree.add(entry)
    except (_Corrupt, tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        what = f"archive is corrupt or truncated ({exc})"
        fix = _corrupt_fix(archive, pin)
        raise UnpackError(what, where=str(archive), fix=fix) from None
    return tree.finish()


def _entries(archive: Path) -> Iterator[_Entry]:
    try:
        with archive.open("rb") as fh:
            head = fh.read(262)
    except OSError as exc:
        raise UnpackError(f"cannot read archive: {exc}", where=str(archive)) from None
    plain = head[257:] == b"ustar"  # a plain tar's first member name may look like a magic
    if not plain and (head.startswith((b"PK\3\4", b"PK\5\6")) or archive.suffix == ".zip"):
        with zipfile.ZipFile(archive) as zf:
            yield from _zip_entries(zf)
    elif not plain and (head.startswith(b"\x28\xb5\x2f\xfd") or archive.suffix == ".zst"):
        yield from _zstd_entries(archive)
    else:
        found = (op for m, op in OPENERS.items() if not plain and head.startswith(m))
        opener = next(found, open)
        with opener(archive, "rb") as raw:
            yield from _tar_entries(raw)


def _zstd_entries(archive: Path) -> Iterator[_Entry]:
    try:
        proc = runner.stream(["zstd", "-dcq", "--", str(archive)])
    except FileNotFoundError:
        raise UnpackError("needs the zstd tool", where=str(archive), fix="install zstd") from None
    assert proc.stdout is not None and proc.stderr is not None
    with proc:
        try:
            yield from _tar_entries(proc.stdout)  # reads zstd's output to its end
        except BaseException:
            proc.kill()
            raise
        if proc.wait() != 0:
            raise _Corrupt(proc.stderr.read().decode(errors="replace").strip())


class _Guard:
    """Turn any error of the (decompressed) stream into _Corrupt."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw

    def read(self, size: int = -1) -> bytes:
        try:
            return self.raw.read(size)
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            raise _Corrupt(str(exc) or type(exc).__name__) from None


class _CheckedTarInfo(tarfile.TarInfo):
    """Remember why iteration stopped: tarfile takes a bad or cut header for the end."""

    @classmethod
    def fromtarfile(cls, tf: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tf)
        except tarfile.HeaderError as exc:
            tf.stop_reason = exc  # type: ignore[attr-defined]
            raise


def _tar_kind(m: tarfile.TarInfo) -> str:
    kinds = (("file", m.isreg), ("dir", m.isdir), ("symlink", m.issym), ("hardlink", m.islnk))
    return next((kind for kind, test in kinds if test()), "special")


def _tar_entries(raw: IO[bytes]) -> Iterator[_Entry]:
    guard = _Guard(raw)
    with tarfile.open(fileobj=guard, mode="r|", tarinfo=_CheckedTarInfo) as tf:  # type: ignore[call-overload]
        while (m := tf.next()) is not None:
            tf.members.clear()  # stream: do not keep every member in memory
            data = (lambda m=m: tf.extractfile(m)) if m.isreg() else None
            yield _Entry(m.name, _tar_kind(m), m.mode, m.mtime, m.linkname, data)
        stop = getattr(tf, "stop_reason", None)
        if not isinstance(stop, tarfile.EOFHeaderError):  # cut or garbled, not the end marker
            raise _Corrupt(f"no valid header at byte {tf.offset}: {stop}")
    while guard.read(1 << 16):  # to the end: the decompressor checks its trailer
        pass


def _zip_entries(zf: zipfile.ZipFile) -> Iterator[_Entry]:
    for info in zf.infolist():
        mode, name = info.external_attr >> 16, info.filename
        mtime = time.mktime((*info.date_time, 0, 0, -1))
        if info.is_dir():
            yield _Entry(name, "dir", stat.S_IMODE(mode) or 0o755, mtime)
        elif stat.S_ISLNK(mode):
            yield _Entry(name, "symlink", 0o777, mtime, zf.read(info).decode(errors="replace"))
        else:
            kind = "file" if stat.S_IFMT(mode) in (0, stat.S_IFREG) else "special"
            data = lambda i=info: zf.open(i)  # noqa: E731
            yield _Entry(name, kind, stat.S_IMODE(mode) or 0o644, mtime, data=data)


class _Tree:
    """One extraction pass into `root`."""

    def __init__(self, archive: Path, root: Path, wanted: list[Parts], assume_top: bool):
        self.archive, self.root, self.wanted, self.assume_top = archive, root, wanted, assume_top
        self.matched: set[Parts] = set()
        self.symlinks: set[Parts] = set()
        self.dirs: dict[Parts, tuple[int, float]] = {}
        self.made: set[Parts] = set()  # directories known to exist
        self.top: str | None = None
        self.single = True

    def fail(self, name: str, problem: str) -> UnpackError:
        return UnpackError(f"member {name!r}: {problem}", where=str(self.archive), fix=HOSTILE_FIX)

    def parts(self, name: str, link_of: str | None = None) -> Parts:
        what = f"hard link target {name!r}" if link_of else "path"
        member = link_of or name
        if name.startswith("/"):
            raise self.fail(member, f"{what} is absolute")
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if ".." in parts:
            raise self.fail(member, f"{what} contains '..'")
        for i in range(1, len(parts)):
            if parts[:i] in self.symlinks:
                raise self.fail(member, f"{what} goes through the symlink {'/'.join(parts[:i])}")
        return parts

    def add(self, e: _Entry) -> None:
        parts = self.parts(e.name)
        if not parts:
            return
        self.track_top(parts, e.kind)
        if not self.selected(parts[1:] if self.assume_top else parts):
            return
        if e.kind == "special":
            raise self.fail(e.name, "device, fifo or other special file")
        try:
            getattr(self, f"add_{e.kind}")(e, parts, self.prepare(e, parts))
        except OSError as exc:
            raise self.fail(e.name, f"cannot extract: {exc}") from None

    def track_top(self, parts: Parts, kind: str) -> None:
        self.top = self.top or parts[0]
        if parts[0] != self.top or (len(parts) == 1 and kind != "dir"):
            self.single = False
            if self.assume_top:
                raise _NotSingleTop

    def selected(self, rel: Parts) -> bool:
        hits = [w for w in self.wanted if rel[: len(w)] == w]
        self.matched.update(hits)
        return bool(hits) or not self.wanted

    def prepare(self, e: _Entry, parts: Parts) -> Path:
        path = self.root.joinpath(*parts)
        if parts[:-1] not in self.made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.made.update(parts[:i] for i in range(len(parts)))
        try:
            is_dir = stat.S_ISDIR(os.lstat(path).st_mode)
        except FileNotFoundError:
            return path
        if is_dir and e.kind != "dir":
            raise self.fail(e.name, "replaces a directory")
        if not is_dir:
            path.unlink()  # a later duplicate wins; never write through a link
            self.symlinks.discard(parts)
        return path

    def add_file(self, e: _Entry, parts: Parts, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(fd, "wb") as out:
            src = e.data() if e.data else None
            if src is not None:
                with src:
                    shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fchmod(out.fileno(), e.mode & 0o1777)  # drops setuid/setgid
            os.utime(out.fileno(), (e.mtime, e.mtime))

    def add_dir(self, e: _Entry, parts: Parts, path: Path) -> None:
        path.mkdir(exist_ok=True)
        self.dirs[parts] = (e.mode, e.mtime)

    def add_symlink(self, e: _Entry, parts: Parts, path: Path) -> None:
        if e.link.startswith("/"):
            raise self.fail(e.name, f"symlink to the absolute path {e.link}")
        os.symlink(e.link, path)
        self.symlinks.add(parts)  # checked against the final tree in finish()
        os.utime(path, (e.mtime, e.mtime), follow_symlinks=False)

    def add_hardlink(self, e: _Entry, parts: Parts, path: Path) -> None:
        target = self.root.joinpath(*self.parts(e.link, link_of=e.name))
        try:
            st = os.lstat(target)  # only members create non-directories in the tree
        except FileNotFoundError:
            raise self.fail(e.name, f"hard link to {e.link}, not an extracted member") from None
        if stat.S_ISDIR(st.st_mode):
            raise self.fail(e.name, f"hard link to the directory {e.link}")
        os.link(target, path, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            self.symlinks.add(parts)

    def finish(self) -> Path:
        missing = ", ".join("/".join(w) for w in self.wanted if w not in self.matched)
        if missing:
            what = f"subtree(s) not found in the archive: {missing}"
            raise UnpackError(what, where=str(self.archive), fix="fix the recipe's subtrees")
        strip = int(self.single and self.top is not None)
        tree = self.root / self.top if strip and self.top else self.root
        for link in sorted(self.symlinks):
            if _escapes(tree, link[strip:]):
                target = os.readlink(self.root.joinpath(*link))
                raise self.fail("/".join(link), f"symlink to {target} leads outside the tree")
        for parts, (mode, mtime) in sorted(self.dirs.items(), key=lambda d: -len(d[0])):
            os.chmod(self.root.joinpath(*parts), (mode & DIR_MODE_KEEP) | DIR_MODE_ADD)
            os.utime(self.root.joinpath(*parts), (mtime, mtime))
        return tree


def _escapes(root: Path, parts: Parts) -> bool:
    """Resolve `parts` below `root` one component at a time: does any step leave root?"""
    todo, done, hops = list(reversed(parts)), list[str](), 0
    while todo:
        part = todo.pop()
        if part == "..":
            if not done:
                return True
            done.pop()
        elif part not in ("", "."):
            done.append(part)
            if root.joinpath(*done).is_symlink():
                target, hops = os.readlink(root.joinpath(*done)), hops + 1
                if target.startswith("/"):
                    return True
                if hops > 40:
                    return False  # a loop inside the tree: broken, but it cannot leave it
                done.pop()
                todo.extend(reversed(target.split("/")))
    return False
