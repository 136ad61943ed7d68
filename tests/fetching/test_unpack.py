"""unpack(): real archives built in tmp_path, every format, hostile members, corruption."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from conftest import BIG, MTIME, Members, killed_unpack, make_tar, truncate

from bootstrap.core.errors import UnpackError
from bootstrap.core.fsutil import remove_tree
from bootstrap.fetching.unpack import unpack

PROJECT: Members = [
    ("pkg-1.0", "dir"),
    ("pkg-1.0/README", b"hello\n"),
    ("pkg-1.0/bin", "dir"),
    ("pkg-1.0/bin/run", (b"#!/bin/sh\n", 0o755)),
    ("pkg-1.0/src", "dir"),
    ("pkg-1.0/src/a.c", b"int a;\n"),
]


def make_zip(path: Path, members: Members) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, spec in members:
            info = zipfile.ZipInfo(name + "/" if spec == "dir" else name, (2020, 9, 13, 12, 26, 40))
            if spec == "dir":
                info.external_attr = (stat.S_IFDIR | 0o755) << 16
                zf.writestr(info, b"")
            elif isinstance(spec, tuple) and spec[0] == "sym":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, spec[1])
            else:
                data, mode = spec if isinstance(spec, tuple) else (spec, 0o644)
                info.external_attr = (stat.S_IFREG | mode) << 16
                zf.writestr(info, data)
    return path


def make_archive(tmp_path: Path, fmt: str, members: Members) -> Path:
    path = tmp_path / f"src.{fmt}"
    if fmt == "zip":
        return make_zip(path, members)
    if fmt == "tar.zst":
        plain = make_tar(tmp_path / "plain.tar", members)
        subprocess.run(["zstd", "-q", str(plain), "-o", str(path)], check=True)
        plain.unlink()
        return path
    mode = {"tar": "w", "tgz": "w:gz", "tar.gz": "w:gz", "tar.xz": "w:xz", "tar.bz2": "w:bz2"}
    return make_tar(path, members, mode[fmt])


def leftovers(tmp_path: Path) -> list[str]:
    return [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]


def expect_error(archive: Path, dest: Path, *words: str, **kw: object) -> UnpackError:
    with pytest.raises(UnpackError) as info:
        unpack(archive, dest, **kw)  # type: ignore[arg-type]
    for word in (archive.name, *words):
        assert word in str(info.value)
    assert not dest.exists()
    assert leftovers(dest.parent) == []
    return info.value


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "tgz", "tar.xz", "tar.bz2", "tar.zst", "zip"])
def test_each_format_strips_single_top_dir(tmp_path: Path, fmt: str) -> None:
    dest = tmp_path / "out"
    assert unpack(make_archive(tmp_path, fmt, PROJECT), dest) == dest
    assert sorted(p.name for p in dest.iterdir()) == ["README", "bin", "src"]
    assert (dest / "README").read_bytes() == b"hello\n"
    assert os.access(dest / "bin/run", os.X_OK)
    assert (dest / "src/a.c").stat().st_mode & 0o777 == 0o644
    if fmt != "zip":  # zip stores local time, two-second resolution
        assert (dest / "src/a.c").stat().st_mtime == MTIME
        assert (dest / "src").stat().st_mtime == MTIME
    assert leftovers(tmp_path) == []


def test_top_dir_without_its_own_entry_and_dot_slash(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar", [("./pkg/x", b"1"), ("./pkg/d/y", b"2")])
    dest = unpack(archive, tmp_path / "out")
    assert (dest / "x").read_bytes() == b"1" and (dest / "d/y").is_file()


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_tarbomb_kept_as_is(tmp_path: Path, fmt: str) -> None:
    members: Members = [("a.txt", b"a"), ("b", "dir"), ("b/c.txt", b"c")]
    dest = unpack(make_archive(tmp_path, fmt, members), tmp_path / "out")
    assert (dest / "a.txt").read_bytes() == b"a"
    assert (dest / "b/c.txt").read_bytes() == b"c"


def test_plain_tar_whose_first_name_looks_like_a_magic(tmp_path: Path) -> None:
    members: Members = [("PK\3\4-notes", b"p"), ("BZh9", b"b")]
    dest = unpack(make_tar(tmp_path / "a.tar.zip", members), tmp_path / "out")
    assert (dest / "PK\3\4-notes").read_bytes() == b"p"


def test_single_top_file_is_not_stripped(tmp_path: Path) -> None:
    dest = unpack(make_tar(tmp_path / "a.tar", [("README", b"r")]), tmp_path / "out")
    assert (dest / "README").read_bytes() == b"r"


MONOREPO: Members = [
    ("llvm-project-17", "dir"),
    ("llvm-project-17/compiler-rt/lib/x.c", b"x"),
    ("llvm-project-17/llvm/lib/y.cpp", b"y"),
    ("llvm-project-17/llvm/cmake/m.cmake", b"m"),
    ("llvm-project-17/cmake/Modules/z.cmake", b"z"),
    ("llvm-project-17/runtimes", "dir"),
    ("llvm-project-17/runtimes/CMakeLists.txt", b"r"),
    ("llvm-project-17/runtimes-extra/no.txt", b"no"),
]


@pytest.mark.parametrize("fmt", ["tar.xz", "tar.zst", "zip"])
def test_subtrees_only_extracts_requested(tmp_path: Path, fmt: str) -> None:
    archive = make_archive(tmp_path, fmt, MONOREPO)
    dest = unpack(archive, tmp_path / "out", ("compiler-rt", "cmake", "runtimes", "llvm/cmake"))
    assert sorted(p.name for p in dest.iterdir()) == ["cmake", "compiler-rt", "llvm", "runtimes"]
    assert (dest / "compiler-rt/lib/x.c").read_bytes() == b"x"
    assert (dest / "runtimes/CMakeLists.txt").is_file()
    assert [p.name for p in (dest / "llvm").iterdir()] == ["cmake"]


def test_unknown_subtree_is_named(tmp_path: Path) -> None:
    archive = make_archive(tmp_path, "tar.gz", MONOREPO)
    err = expect_error(
        archive, tmp_path / "out", "compiler-rtt", subtrees=["compiler-rtt", "cmake"]
    )
    assert "cmake," not in str(err)


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.zst", "zip"])
def test_subtrees_of_tarbomb_found_late(tmp_path: Path, fmt: str) -> None:
    """The top dir guessed from the first member is wrong: a second pass reads it as is."""
    members: Members = [("a/x", b"x"), ("a/y", b"y"), ("b/z", b"z")]
    dest = unpack(make_archive(tmp_path, fmt, members), tmp_path / "out", ["a"])
    assert sorted(p.name for p in dest.iterdir()) == ["a"]
    assert (dest / "a/x").read_bytes() == b"x"


def test_dest_exists(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(UnpackError, match="already exists"):
        unpack(make_archive(tmp_path, "tar", PROJECT), tmp_path / "out")


def test_modes_links_and_duplicates(tmp_path: Path) -> None:
    members: Members = [
        ("p/suid", (b"s", 0o4755)),
        ("p/sgid", (b"g", 0o2750)),
        ("p/target", b"t"),
        ("p/rel", ("sym", "target")),
        ("p/sub/up", ("sym", "../target")),
        ("p/hard", ("hard", "p/target")),
        ("p/over", ("sym", "target")),
        ("p/over", b"replaced"),  # a later duplicate replaces the link, not its target
    ]
    dest = unpack(make_tar(tmp_path / "a.tar", members), tmp_path / "out")
    assert stat.S_IMODE((dest / "suid").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "sgid").stat().st_mode) == 0o750
    assert os.readlink(dest / "rel") == "target" and (dest / "sub/up").read_bytes() == b"t"
    assert (dest / "hard").stat().st_ino == (dest / "target").stat().st_ino
    assert (dest / "target").read_bytes() == b"t"
    assert not (dest / "over").is_symlink() and (dest / "over").read_bytes() == b"replaced"


HOSTILE: dict[str, tuple[Members, str]] = {
    "absolute": ([("p/a", b"a"), ("/etc/evil", b"x")], "/etc/evil"),
    "dotdot": ([("../escape", b"x")], "../escape"),
    "inner-dotdot": ([("p/a", b"a"), ("p/../../escape", b"x")], "p/../../escape"),
    "symlink-absolute": ([("p/l", ("sym", "/etc/passwd"))], "/etc/passwd"),
    "symlink-up": ([("p/a", b"a"), ("p/d/l", ("sym", "../../x"))], "p/d/l"),
    "symlink-out-of-stripped-top": ([("p/a", b"a"), ("p/l", ("sym", "../x"))], "p/l"),
    "symlink-chain": (
        [("p/d/a", ("sym", "..")), ("p/d/b", ("sym", "a/../.."))],
        "p/d/b",
    ),
    "hardlink-absolute": ([("p/h", ("hard", "/etc/passwd"))], "/etc/passwd"),
    "hardlink-up": ([("p/h", ("hard", "../x"))], "p/h"),
    "hardlink-through-symlink": (
        [("p/d", "dir"), ("p/d/f", b"f"), ("p/l", ("sym", "d")), ("p/h", ("hard", "p/l/f"))],
        "p/h",
    ),
    "hardlink-non-member": ([("p/a", b"a"), ("p/h", ("hard", "p/nothere"))], "p/nothere"),
    "char-device": ([("p/a", b"a"), ("p/null", ("chr",))], "p/null"),
    "fifo": ([("p/a", b"a"), ("p/fifo", ("fifo",))], "p/fifo"),
    "through-outside-symlink": (
        [("p/link", ("sym", "/tmp")), ("p/link/evil", b"x")],
        "p/link",
    ),
    "through-inside-symlink": (
        [("p/inner", "dir"), ("p/link", ("sym", "inner")), ("p/link/evil", b"x")],
        "p/link/evil",
    ),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_tar(tmp_path: Path, case: str) -> None:
    members, word = HOSTILE[case]
    archive = make_tar(tmp_path / "evil.tar", members)
    err = expect_error(archive, tmp_path / "out", word)
    assert err.fix and "unsafe" in err.fix
    assert not Path("/tmp/evil").exists()


def test_hostile_tar_with_subtrees(tmp_path: Path) -> None:
    members: Members = [("p/ok/a", b"a"), ("p/ok/l", ("sym", "../../../etc"))]
    expect_error(
        make_tar(tmp_path / "evil.tar", members), tmp_path / "out", "p/ok/l", subtrees=["ok"]
    )


@pytest.mark.parametrize(
    ("members", "word"),
    [
        ([("p/a", b"a"), ("/abs", b"x")], "/abs"),
        ([("p/a", b"a"), ("p/../../up", b"x")], "p/../../up"),
        ([("p/l", ("sym", "/etc/passwd"))], "/etc/passwd"),
        ([("p/a", b"a"), ("p/l", ("sym", "../../x"))], "p/l"),
    ],
)
def test_hostile_zip(tmp_path: Path, members: Members, word: str) -> None:
    expect_error(make_zip(tmp_path / "evil.zip", members), tmp_path / "out", word)


SECOND = 512 + 512 + 3072  # offset of the second file's header in a plain tar of BIG


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "tar.xz", "tar.bz2", "tar.zst", "zip"])
def test_truncated_archive(tmp_path: Path, fmt: str) -> None:
    archive = truncate(make_archive(tmp_path, fmt, BIG), 0.55)
    err = expect_error(archive, tmp_path / "out", "corrupt")
    assert err.fix and "download cache" in err.fix


def test_truncated_in_a_header(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar", BIG)
    data = archive.read_bytes()
    archive.write_bytes(data[: SECOND + 200])  # cut inside the second file's header
    expect_error(archive, tmp_path / "out", "corrupt")


def test_bad_header_in_the_middle(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar", BIG)
    data = bytearray(archive.read_bytes())
    data[SECOND + 148 : SECOND + 156] = b"garbage!"  # its header checksum
    archive.write_bytes(bytes(data))
    expect_error(archive, tmp_path / "out", "corrupt")


@pytest.mark.parametrize("content", [b"", b"this is not an archive at all" * 40])
def test_garbage_archive(tmp_path: Path, content: bytes) -> None:
    archive = tmp_path / "junk.tar.gz"
    archive.write_bytes(content)
    expect_error(archive, tmp_path / "out", "corrupt")


def test_missing_archive(tmp_path: Path) -> None:
    expect_error(tmp_path / "nothere.tar", tmp_path / "out", "cannot read")


def test_tar_cut_at_a_member_boundary(tmp_path: Path) -> None:
    """No end-of-archive marker: tarfile would take it for a complete archive."""
    archive = make_tar(tmp_path / "a.tar", BIG)
    archive.write_bytes(archive.read_bytes()[:SECOND])
    expect_error(archive, tmp_path / "out", "corrupt")


def test_corrupt_archive_that_matches_its_pin_blames_the_pin(tmp_path: Path) -> None:
    """Fetching again gives the same bytes: only a cache copy that differs is worth it."""
    archive = truncate(make_archive(tmp_path, "tar.gz", BIG), 0.55)
    pin = hashlib.sha256(archive.read_bytes()).hexdigest()
    err = expect_error(archive, tmp_path / "out", "corrupt", pinned_sha256=pin)
    assert err.fix and "matches the pin" in err.fix and "download cache" not in err.fix
    err = expect_error(archive, tmp_path / "out", "corrupt", pinned_sha256="0" * 64)
    assert err.fix and f"not the pinned {'0' * 64}" in err.fix and "download cache" in err.fix


def test_directories_always_let_their_owner_in(tmp_path: Path) -> None:
    members: Members = [
        ("p", ("dir", 0o555)),
        ("p/locked", ("dir", 0o000)),
        ("p/locked/a.c", b"a"),
        ("p/ro", ("dir", 0o555)),
        ("p/ro/b.c", (b"b", 0o444)),
        ("p/sgid", ("dir", 0o2775)),
        ("p/open", ("dir", 0o777)),
        ("p/sticky", ("dir", 0o1777)),
    ]
    dest = unpack(make_tar(tmp_path / "a.tar", members), tmp_path / "out")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [dest, *dest.iterdir()]}
    assert modes == {
        "out": 0o755,
        "locked": 0o700,
        "ro": 0o755,
        "sgid": 0o775,
        "open": 0o775,
        "sticky": 0o1775,
    }
    assert stat.S_IMODE((dest / "ro/b.c").stat().st_mode) == 0o444  # files as before
    remove_tree(dest)
    assert not dest.exists()


def test_a_killed_unpack_leaves_nothing_after_the_next(tmp_path: Path) -> None:
    dest = tmp_path / "work" / "out"
    leftover = killed_unpack(dest, tmp_path / "scratch")
    assert (leftover / "p" / "f0").is_file()  # what a kill -9 leaves
    unpack(make_archive(tmp_path, "tar.gz", PROJECT), dest)
    assert (dest / "README").is_file()
    assert leftovers(dest.parent) == []
