"""Pack a root directory into a reproducible .tar.xz with a manifest and a sha256 file.

The same tree gives the same bytes, whoever owns its files and whenever they were written:
entries are sorted bytewise by path and named relative to the root without a leading "./"
(`usr/bin/sh`; the root itself is `.`), owned by 0:0 "root", with mtimes clamped to
SOURCE_DATE_EPOCH, in PAX format with no atime/ctime records, compressed single-threaded by
liblzma with the fixed preset XZ_PRESET. A file with several links is stored once, at the
path that sorts first; the others are hard links to it. Sockets are skipped, as tar does.

Outputs land by rename: the manifest, then the tarball, then the .sha256 file. An old
.sha256 file is removed first, so a set without one is not finished.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import shutil
import stat
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..core.errors import RootfsError
from ..core.fsutil import sha256_file

XZ_PRESET = 6  # xz's default: 8 MiB dictionary, ~94 MiB to compress, ~9 MiB to unpack
MANIFEST_HEADER = ("path", "type", "mode", "size", "sha256", "link")
KINDS = {
    stat.S_IFREG: ("file", tarfile.REGTYPE),
    stat.S_IFDIR: ("dir", tarfile.DIRTYPE),
    stat.S_IFLNK: ("symlink", tarfile.SYMTYPE),
    stat.S_IFCHR: ("char", tarfile.CHRTYPE),
    stat.S_IFBLK: ("block", tarfile.BLKTYPE),
    stat.S_IFIFO: ("fifo", tarfile.FIFOTYPE),
}
SHA_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)\n?")
HOSTILE_FIX = "the tarball is unsafe to unpack: check where it comes from and its checksum"
# Python >= 3.11.4 has extraction filters; Debian 12's 3.11.2 has none. The checks in
# _MemberGuard are the safety either way; "fully_trusted" keeps owners, modes and devices.
TRUSTED: dict[str, Any] = (
    {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
)


@dataclass(frozen=True)
class RootfsArtifacts:
    tarball: Path
    sha256_file: Path
    manifest: Path
    sha256: str
    entries: int


@dataclass(frozen=True)
class _Row:
    """One manifest line."""

    path: str
    kind: str
    mode: int
    size: int = 0
    sha256: str = "-"
    link: str = "-"


def pack_rootfs(
    root: Path,
    out_dir: Path,
    name: str,
    source_date_epoch: int,
    exclude: Sequence[str] = (),
    empty: Sequence[str] = (),
) -> RootfsArtifacts:
    """Pack `root` into out_dir/<name>.tar.xz, <name>.tar.xz.sha256 and <name>.manifest.tsv.

    `exclude`: paths below root (e.g. "serpent", "var/cache/x") left out with everything in
    them. `empty`: directories (mount points such as "proc", "tmp") kept without contents.
    """
    root, out_dir = Path(root), Path(out_dir)
    if not name or "/" in name or name.startswith("."):
        raise RootfsError(f"invalid name {name!r}", fix="use a plain file name like 'rootfs'")
    if root.is_symlink() or not root.is_dir():
        raise RootfsError("not a directory", where=str(root), fix="build the root first")
    skip, keep_empty = _rel_paths(exclude, "exclude"), _rel_paths(empty, "empty")
    tarball = out_dir / f"{name}.tar.xz"
    sha_file, manifest = out_dir / f"{tarball.name}.sha256", out_dir / f"{name}.manifest.tsv"
    temps = {
        path: path.with_name(f".{path.name}.tmp-{os.getpid()}")
        for path in (manifest, tarball, sha_file)
    }
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        sha_file.unlink(missing_ok=True)
        rows = _write_tar(root, _walk(root, skip, keep_empty), temps[tarball], source_date_epoch)
        _write_manifest(rows, temps[manifest])
        digest = sha256_file(temps[tarball])
        temps[sha_file].write_text(f"{digest}  {tarball.name}\n")
        for final, tmp in temps.items():  # manifest, tarball, then the .sha256 file
            os.replace(tmp, final)
    except OSError as exc:
        raise RootfsError(f"cannot pack: {exc}", where=str(root)) from None
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    return RootfsArtifacts(tarball, sha_file, manifest, digest, len(rows))


def _rel_paths(paths: Sequence[str], what: str) -> frozenset[str]:
    result = set()
    for raw in (paths,) if isinstance(paths, str) else paths:
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if not parts or raw.startswith("/") or ".." in parts:
            fix = "give a path relative to the root, e.g. 'proc' or 'var/cache'"
            raise RootfsError(f"invalid {what} path {raw!r}", fix=fix)
        result.add("/".join(parts))
    return frozenset(result)


def _walk(root: Path, skip: frozenset[str], keep_empty: frozenset[str]) -> list[str]:
    """Every path below root, never following links, sorted bytewise; the root first."""
    names: list[str] = []
    todo = [""]
    while todo:
        rel = todo.pop()
        with os.scandir(root / rel) as entries:
            for entry in entries:
                path = f"{rel}/{entry.name}" if rel else entry.name
                if path in skip:
                    continue
                names.append(path)
                if entry.is_dir(follow_symlinks=False) and path not in keep_empty:
                    todo.append(path)
    return [".", *sorted(names, key=os.fsencode)]


def _write_tar(root: Path, names: list[str], dest: Path, epoch: int) -> list[_Row]:
    rows: list[_Row] = []
    linked: dict[tuple[int, int], _Row] = {}  # (dev, inode) of a multiply-linked file
    with (
        lzma.open(dest, "wb", check=lzma.CHECK_CRC64, preset=XZ_PRESET) as xz,
        tarfile.open(fileobj=xz, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tf,
    ):
        for name in names:
            if row := _add(tf, root / name, name, epoch, linked):
                rows.append(row)
    return rows


def _add(
    tf: tarfile.TarFile, path: Path, name: str, epoch: int, linked: dict[tuple[int, int], _Row]
) -> _Row | None:
    st = os.lstat(path)
    if stat.S_IFMT(st.st_mode) not in KINDS:
        return None  # a socket: tar cannot store it
    kind, info = _tarinfo(name, st, epoch)
    key = (st.st_dev, st.st_ino)
    if kind == "file" and key in linked:
        info.type, info.linkname = tarfile.LNKTYPE, linked[key].path
        tf.addfile(info)
        return replace(linked[key], path=name)
    if kind != "file":
        info.linkname = os.readlink(path) if kind == "symlink" else ""
        tf.addfile(info)
        return _Row(name, kind, info.mode, link=info.linkname or "-")
    info.size = st.st_size
    with path.open("rb") as fh:
        reader = _HashingReader(fh)
        tf.addfile(info, reader)  # type: ignore[arg-type]
    row = _Row(name, kind, info.mode, info.size, reader.hash.hexdigest())
    if st.st_nlink > 1:
        linked[key] = row
    return row


def _tarinfo(name: str, st: os.stat_result, epoch: int) -> tuple[str, tarfile.TarInfo]:
    kind, tar_type = KINDS[stat.S_IFMT(st.st_mode)]
    info = tarfile.TarInfo(name)
    info.type, info.mode = tar_type, stat.S_IMODE(st.st_mode)
    info.mtime = min(int(st.st_mtime), epoch)  # an int: no PAX mtime record
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if kind in ("char", "block"):
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return kind, info


class _HashingReader:
    """Hash what tarfile reads, so the manifest describes exactly the bytes stored."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.hash = raw, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        return data


def _write_manifest(rows: list[_Row], dest: Path) -> None:
    lines = ["\t".join(MANIFEST_HEADER)]
    for r in rows:
        fields = (_tsv(r.path), r.kind, f"{r.mode:04o}", str(r.size), r.sha256, _tsv(r.link))
        lines.append("\t".join(fields))
    dest.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))


def _tsv(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def verify_checksum(tarball: Path, sha_file: Path) -> None:
    """Raise RootfsError unless `sha_file` (a sha256sum line) matches `tarball`."""
    tarball, sha_file = Path(tarball), Path(sha_file)
    try:
        text = sha_file.read_text()
        actual = sha256_file(tarball)
    except OSError as exc:
        what = f"cannot read: {exc.strerror}"
        raise RootfsError(what, where=str(exc.filename), fix="pack the rootfs first") from None
    line = SHA_LINE.fullmatch(text)
    if not line:
        what = f"not a sha256sum line: {text[:80]!r}"
        raise RootfsError(what, where=str(sha_file), fix="pack the rootfs again")
    expected, listed = line.groups()
    if listed != tarball.name:
        what = f"the checksum is for {listed}, not {tarball.name}"
        raise RootfsError(what, where=str(sha_file), fix="use the .sha256 file of this tarball")
    if actual != expected:
        what = f"sha256 mismatch: the tarball has {actual}, {sha_file.name} says {expected}"
        fix = "it is corrupt or was changed after packing: pack (or download) it again"
        raise RootfsError(what, where=str(tarball), fix=fix)


def unpack_rootfs(tarball: Path, dest: Path) -> None:
    """Extract a rootfs tarball into the new directory `dest`, with owners, modes and device
    nodes (as root). Names must be relative, without '..', unique and not through a symlink;
    hard links must point to an earlier file; relative symlinks must not climb above dest.
    Absolute symlinks are kept: they point into the rootfs once it is "/", and extraction
    never follows a link.
    """
    tarball, dest = Path(tarball), Path(dest)
    if dest.exists() or dest.is_symlink():
        raise RootfsError("destination already exists", where=str(dest), fix="remove it first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        _extract(tarball, tmp)
        os.replace(tmp, dest)
    except (OSError, EOFError, lzma.LZMAError, tarfile.TarError) as exc:
        fix = "check it with verify_checksum, or pack it again"
        raise RootfsError(f"cannot unpack: {exc}", where=str(tarball), fix=fix) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _extract(tarball: Path, tmp: Path) -> None:
    guard, dirs = _MemberGuard(tarball), list[tarfile.TarInfo]()
    with tarfile.open(tarball, "r|xz", errorlevel=2) as tf:
        while (member := tf.next()) is not None:
            tf.members.clear()  # a stream: do not keep every member in memory
            guard.check(member)
            attrs = not member.isdir()  # a directory's: once its contents are in
            tf.extract(member, tmp, set_attrs=attrs, numeric_owner=True, **TRUSTED)
            if member.issym():  # tarfile leaves a symlink's mtime alone
                os.utime(tmp / member.name, (member.mtime,) * 2, follow_symlinks=False)
            if member.isdir():
                dirs.append(member)
    for d in sorted(dirs, key=lambda d: d.name, reverse=True):
        path = tmp / d.name
        os.chown(path, d.uid, d.gid)
        os.chmod(path, d.mode)
        os.utime(path, (d.mtime, d.mtime))


class _MemberGuard:
    """Check each member, in archive order, before it is extracted."""

    def __init__(self, tarball: Path):
        self.tarball = tarball
        self.seen: set[str] = set()
        self.symlinks: set[str] = set()
        self.files: set[str] = set()  # regular files and hard links

    def fail(self, name: str, problem: str) -> RootfsError:
        return RootfsError(f"member {name!r}: {problem}", where=str(self.tarball), fix=HOSTILE_FIX)

    def check(self, m: tarfile.TarInfo) -> None:
        path = self.path(m.name, m.name)
        known = m.isreg() or m.isdir() or m.issym() or m.islnk() or m.isdev()
        if not known or (not path and not m.isdir()):
            raise self.fail(m.name, "unsupported member type")
        if path in self.seen:
            raise self.fail(m.name, "appears twice")
        if m.issym():
            self.check_symlink(m, path)
        if m.islnk() and self.path(m.linkname, m.name) not in self.files:
            raise self.fail(m.name, f"hard link to {m.linkname!r}, not to an earlier file")
        self.seen.add(path)
        if m.issym():
            self.symlinks.add(path)
        elif m.isreg() or m.islnk():
            self.files.add(path)

    def path(self, name: str, member: str) -> str:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if name.startswith("/"):
            raise self.fail(member, f"{name!r} is absolute")
        if ".." in parts:
            raise self.fail(member, f"{name!r} contains '..'")
        for i in range(1, len(parts)):
            if (prefix := "/".join(parts[:i])) in self.symlinks:
                raise self.fail(member, f"{name!r} goes through the symlink {prefix!r}")
        return "/".join(parts)

    def check_symlink(self, m: tarfile.TarInfo, path: str) -> None:
        if m.linkname.startswith("/"):
            return
        depth = path.count("/")  # directories between dest and the link
        for part in m.linkname.split("/"):
            if part == "..":
                depth -= 1
            elif part not in ("", "."):
                depth += 1
            if depth < 0:
                raise self.fail(m.name, f"symlink to {m.linkname!r} leads outside the tree")


# What never belongs in the base rootfs: the bootstrap's own mounts (whole), and the
# contents of the mount points the running system fills.
BOOTSTRAP_MOUNTS = ("serpent", "build")
MOUNT_POINTS = ("proc", "sys", "dev", "tmp", "run")


@dataclass(frozen=True)
class RootfsSpec:
    root: Path
    out_dir: Path
    name: str
    source_date_epoch: int

    @property
    def tarball(self) -> Path:
        return self.out_dir / f"{self.name}.tar.xz"

    @property
    def checksum(self) -> Path:
        return self.out_dir / f"{self.name}.tar.xz.sha256"

    @property
    def manifest(self) -> Path:
        return self.out_dir / f"{self.name}.manifest.tsv"

    @property
    def outputs(self) -> tuple[Path, ...]:
        return self.tarball, self.checksum, self.manifest


def pack_stage_root(spec: RootfsSpec) -> None:
    made = pack_rootfs(
        spec.root,
        spec.out_dir,
        spec.name,
        spec.source_date_epoch,
        exclude=BOOTSTRAP_MOUNTS,
        empty=MOUNT_POINTS,
    )
    print(f"{made.tarball}: {made.entries} entries, sha256 {made.sha256}")
