"""pack_rootfs / verify_checksum / unpack_rootfs on real trees built in tmp_path (as root)."""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from bootstrap.core.errors import RootfsError
from bootstrap.image import rootfs
from bootstrap.image.rootfs import RootfsArtifacts, pack_rootfs, unpack_rootfs, verify_checksum

EPOCH = 1_700_000_000
OLD = 1_000_000_000
EXCLUDE = ("serpent", "build", "var/cache/pkgs")
EMPTY = ("proc", "sys", "tmp", "run")
LONG = "usr/share/" + "long-name-" * 12 + "end"  # > 100 bytes: needs a PAX path record
BUSYBOX = "#!/bin/sh\n"
FILES = {
    "etc/hostname": "serpent\n",
    "etc/old": "old\n",
    "etc/future": "future\n",
    "etc/ünïcode": "utf-8 name\n",
    LONG: "long\n",
    "var/cache/keep": "kept\n",
    "var/cache/pkgs/x.pkg": "excluded\n",
    "serpent/recipe.yml": "excluded\n",
    "build/log": "excluded\n",
    "proc/cpuinfo": "emptied\n",
    "tmp/scratch/file": "emptied\n",
}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown)")


def make_tree(root: Path, *, reverse: bool = False, owner: int = 1000) -> Path:
    """The same tree whichever `reverse` (creation order) and `owner` are."""
    for rel, text in sorted(FILES.items(), reverse=reverse):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    root.chmod(0o755)
    (root / "sys").mkdir()
    (root / "run").mkdir()
    (root / "usr/bin").mkdir()
    first, second = (
        ("usr/bin/sh", "usr/bin/busybox") if reverse else ("usr/bin/busybox", "usr/bin/sh")
    )
    (root / first).write_text(BUSYBOX)
    os.link(root / first, root / second)
    (root / "usr/bin/busybox").chmod(0o755)
    (root / "bin").symlink_to("usr/bin")
    (root / "etc/mtab").symlink_to("/proc/self/mounts")
    os.mkfifo(root / "var/initctl")
    os.chown(root / "etc/hostname", owner, owner)
    os.chown(root / "bin", owner, owner, follow_symlinks=False)
    os.utime(root / "etc/old", (OLD, OLD))
    os.utime(root / "bin", (OLD, OLD), follow_symlinks=False)
    os.utime(root / "etc/future", (EPOCH + 10**6, EPOCH + 10**6))
    return root


def touch_recent(root: Path, when: int) -> None:
    """Give every entry not older than EPOCH the mtime `when` (> EPOCH)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames, "."]:
            path = os.path.join(dirpath, name)
            if os.lstat(path).st_mtime >= EPOCH:
                os.utime(path, (when, when), follow_symlinks=False)


def pack(root: Path, out_dir: Path) -> RootfsArtifacts:
    return pack_rootfs(root, out_dir, "rootfs", EPOCH, exclude=EXCLUDE, empty=EMPTY)


@pytest.fixture
def packed(tmp_path: Path) -> RootfsArtifacts:
    return pack(make_tree(tmp_path / "root"), tmp_path / "out")


def members(tarball: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tarball, "r:xz") as tf:
        return {m.name: m for m in tf.getmembers()}


def manifest_rows(art: RootfsArtifacts) -> list[list[str]]:
    return [line.split("\t") for line in art.manifest.read_text().splitlines()]


def test_same_tree_packs_to_identical_bytes(tmp_path: Path) -> None:
    first = pack(make_tree(tmp_path / "a"), tmp_path / "out-a")
    other = make_tree(tmp_path / "b", reverse=True, owner=2000)
    touch_recent(other, EPOCH + 12345)
    second = pack(other, tmp_path / "out-b")
    assert first.tarball.read_bytes() == second.tarball.read_bytes()
    assert first.manifest.read_bytes() == second.manifest.read_bytes()
    assert first.sha256 == second.sha256
    assert first.sha256 == hashlib.sha256(first.tarball.read_bytes()).hexdigest()
    assert first.sha256_file.read_text() == f"{first.sha256}  rootfs.tar.xz\n"
    assert first.tarball == tmp_path / "out-a" / "rootfs.tar.xz"
    assert first.manifest == tmp_path / "out-a" / "rootfs.manifest.tsv"

    (other / "etc/hostname").write_text("changed\n")
    os.utime(other / "etc/hostname", (EPOCH + 1, EPOCH + 1))
    assert pack(other, tmp_path / "out-c").sha256 != first.sha256


def test_members_are_normalized(packed: RootfsArtifacts) -> None:
    found = members(packed.tarball)
    names = list(found)
    assert names[0] == "."
    assert names == [".", *sorted(names[1:], key=os.fsencode)]
    assert all(m.uid == 0 and m.gid == 0 for m in found.values())
    assert {(m.uname, m.gname) for m in found.values()} == {("root", "root")}
    assert all(m.mtime <= EPOCH for m in found.values())
    assert found["etc/future"].mtime == EPOCH
    assert found["etc/old"].mtime == OLD
    assert found["bin"].mtime == OLD
    assert found["etc/hostname"].mtime == EPOCH
    assert found["usr/bin/busybox"].isreg() and found["usr/bin/busybox"].mode == 0o755
    assert found["usr/bin/sh"].islnk() and found["usr/bin/sh"].linkname == "usr/bin/busybox"
    assert found["bin"].issym() and found["bin"].linkname == "usr/bin"
    assert found["etc/mtab"].linkname == "/proc/self/mounts"
    assert found["var/initctl"].isfifo()
    assert found["proc"].isdir() and found["."].mode == 0o755


def test_pax_format_without_time_records(packed: RootfsArtifacts) -> None:
    raw = lzma.decompress(packed.tarball.read_bytes())
    assert raw[257:265] == b"ustar\x0000"  # POSIX magic and version, not GNU's "ustar  \0"
    found = members(packed.tarball)
    assert found[LONG].pax_headers == {"path": LONG}
    assert found["etc/ünïcode"].pax_headers == {"path": "etc/ünïcode"}
    assert {k for m in found.values() for k in m.pax_headers} == {"path"}


def test_excluded_subtrees_absent_and_mount_points_empty(packed: RootfsArtifacts) -> None:
    names = set(members(packed.tarball))
    for top in ("serpent", "build", "var/cache/pkgs"):
        assert not any(n == top or n.startswith(top + "/") for n in names)
    assert "var/cache/keep" in names
    for mount in EMPTY:
        assert mount in names
        assert not any(n.startswith(mount + "/") for n in names)


def test_manifest(packed: RootfsArtifacts, tmp_path: Path) -> None:
    header, *rows = manifest_rows(packed)
    assert header == ["path", "type", "mode", "size", "sha256", "link"]
    assert [r[0] for r in rows] == list(members(packed.tarball))
    assert len(rows) == packed.entries
    by_path = {r[0]: r for r in rows}
    assert by_path["bin"] == ["bin", "symlink", "0777", "0", "-", "usr/bin"]
    content = (tmp_path / "root/etc/hostname").read_bytes()
    sha = hashlib.sha256(content).hexdigest()
    assert by_path["etc/hostname"] == ["etc/hostname", "file", "0644", str(len(content)), sha, "-"]
    assert by_path["usr/bin/sh"][1:] == by_path["usr/bin/busybox"][1:]
    assert by_path["usr/bin/sh"][1:3] == ["file", "0755"]
    assert by_path["proc"][1:] == ["dir", "0755", "0", "-", "-"]
    assert by_path["var/initctl"][1] == "fifo"


@pytest.mark.skipif(not shutil.which("sha256sum"), reason="needs sha256sum")
def test_sha256_file_works_with_sha256sum(packed: RootfsArtifacts) -> None:
    argv = ["sha256sum", "-c", packed.sha256_file.name]
    subprocess.run(argv, cwd=packed.tarball.parent, check=True, capture_output=True)


def test_verify_checksum(packed: RootfsArtifacts) -> None:
    verify_checksum(packed.tarball, packed.sha256_file)
    data = bytearray(packed.tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    packed.tarball.write_bytes(data)
    with pytest.raises(RootfsError, match="sha256 mismatch") as info:
        verify_checksum(packed.tarball, packed.sha256_file)
    assert info.value.where == str(packed.tarball)
    assert packed.sha256 in str(info.value) and info.value.fix


def test_verify_checksum_of_another_tarball(packed: RootfsArtifacts, tmp_path: Path) -> None:
    other = shutil.copy(packed.tarball, tmp_path / "other.tar.xz")
    with pytest.raises(RootfsError, match=r"is for rootfs\.tar\.xz, not other\.tar\.xz"):
        verify_checksum(Path(other), packed.sha256_file)
    with pytest.raises(RootfsError, match="cannot read"):
        verify_checksum(packed.tarball, tmp_path / "missing.sha256")


def test_failed_pack_leaves_no_temp_files_and_no_sha(
    packed: RootfsArtifacts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(rootfs, "_write_manifest", broken)
    with pytest.raises(RootfsError, match="disk full"):
        pack(tmp_path / "root", tmp_path / "out")
    left = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert left == ["rootfs.manifest.tsv", "rootfs.tar.xz"]  # the old set, now unfinished


@pytest.mark.parametrize("bad", ["../x", "/proc", "", "a/../b"])
def test_invalid_exclude_paths(tmp_path: Path, bad: str) -> None:
    with pytest.raises(RootfsError, match="invalid exclude path"):
        pack_rootfs(make_tree(tmp_path / "root"), tmp_path / "out", "r", EPOCH, exclude=[bad])


def test_unpack_round_trips(packed: RootfsArtifacts, tmp_path: Path) -> None:
    dest = tmp_path / "unpacked"
    unpack_rootfs(packed.tarball, dest)
    assert (dest / "usr/bin/busybox").read_text() == BUSYBOX
    assert (dest / "usr/bin/sh").stat().st_ino == (dest / "usr/bin/busybox").stat().st_ino
    assert (dest / "usr/bin/sh").stat().st_mode & 0o777 == 0o755
    assert (dest / "etc/hostname").stat().st_uid == 0
    assert (dest / "etc/future").stat().st_mtime == EPOCH
    assert os.readlink(dest / "etc/mtab") == "/proc/self/mounts"
    assert stat.S_ISFIFO(os.lstat(dest / "var/initctl").st_mode)
    assert list((dest / "proc").iterdir()) == []
    again = pack_rootfs(dest, tmp_path / "again", "rootfs", EPOCH)
    assert again.sha256 == packed.sha256
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_device_nodes_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    try:
        os.mknod(root / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(root / "dev/null", 0o666)
    except PermissionError:
        pytest.skip("no CAP_MKNOD here")
    art = pack_rootfs(root, tmp_path / "out", "dev", EPOCH)
    assert manifest_rows(art)[-1][:3] == ["dev/null", "char", "0666"]
    unpack_rootfs(art.tarball, tmp_path / "dest")
    st = os.lstat(tmp_path / "dest/dev/null")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def test_unpack_refuses_existing_dest(packed: RootfsArtifacts, tmp_path: Path) -> None:
    with pytest.raises(RootfsError, match="already exists"):
        unpack_rootfs(packed.tarball, tmp_path / "root")


def test_unpack_truncated(packed: RootfsArtifacts, tmp_path: Path) -> None:
    data = packed.tarball.read_bytes()
    packed.tarball.write_bytes(data[: len(data) // 2])
    with pytest.raises(RootfsError, match="cannot unpack"):
        unpack_rootfs(packed.tarball, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def hostile_tar(path: Path, entries: list[tuple[str, str, str]]) -> Path:
    """entries: (name, kind, link): kind "file", "sym" or "hard"."""
    types = {"file": tarfile.REGTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}
    with tarfile.open(path, "w:xz", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, link in entries:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = types[kind], link
            data = b"pwned\n" if kind == "file" else b""
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


HOSTILE = {
    "dotdot": ([("../evil", "file", "")], "contains '..'"),
    "absolute": ([("{outside}/evil", "file", "")], "is absolute"),
    "through symlink": (
        [("link", "sym", "{outside}"), ("link/evil", "file", "")],
        "goes through the symlink 'link'",
    ),
    "relative escape": ([("a/up", "sym", "../../outside")], "leads outside the tree"),
    "overwrite symlink": (
        [("evil", "sym", "{outside}/evil"), ("evil", "file", "")],
        "appears twice",
    ),
    "hard link out": ([("evil", "hard", "../outside/x")], "contains '..'"),
    "hard link to nothing": ([("evil", "hard", "etc/passwd")], "not to an earlier file"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_unpack_rejects_hostile_tarball(tmp_path: Path, case: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_text("victim\n")
    spec, problem = HOSTILE[case]
    entries = [(n.format(outside=outside), k, t.format(outside=outside)) for n, k, t in spec]
    tarball = hostile_tar(tmp_path / "evil.tar.xz", entries)
    dest = tmp_path / "work" / "dest"
    with pytest.raises(RootfsError, match=problem) as info:
        unpack_rootfs(tarball, dest)
    assert info.value.where == str(tarball) and info.value.fix
    assert sorted(p.name for p in outside.iterdir()) == ["x"]
    assert not (tmp_path / "evil").exists() and not (tmp_path / "work" / "evil").exists()
    assert list((tmp_path / "work").iterdir()) == []
