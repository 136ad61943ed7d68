"""The component cache on real trees, real tarballs and a real registry on loopback: what
goes in comes out with the same digest; anything else is rejected, reported and removed."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from conftest import Registry, free_port

from bootstrap.builder.cache import META, TARBALL, entry_path, restore_layer, store_layer
from bootstrap.builder.layers import tree_digest
from bootstrap.core.fsutil import sha256_file
from bootstrap.model.config import CachePolicy

KEY, OTHER = "a" * 64, "b" * 64
LABEL = "x86_64/stage2/zlib"
EPOCH = 1_700_000_000
ENTRY = f"{KEY}-{EPOCH}"  # the entry's directory and registry tag


def layer(root: Path) -> Path:
    """Every kind of entry a layer holds, with modes a careless tar would lose."""
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/su").write_text("su")
    os.chmod(root / "usr/bin/su", 0o4755)
    os.link(root / "usr/bin/su", root / "usr/bin/su-again")
    (root / "usr/bin/old").write_text("from a source tarball")
    os.utime(root / "usr/bin/old", (1_500_000_000, 1_500_000_000))
    (root / "usr/bin/cc").symlink_to("/usr/bin/clang")
    (root / "bin").symlink_to("usr/bin")
    (root / "empty").mkdir()
    (root / "locked").mkdir()
    (root / "locked/f").write_text("f")
    os.chmod(root / "locked", 0o555)
    os.mkfifo(root / "fifo")
    return root


def policy(tmp_path: Path, remote: str = "", **more: object) -> CachePolicy:
    insecure = remote.startswith("http://")
    bare = remote.removeprefix("http://")
    return CachePolicy(local=tmp_path / "cache", remote=bare, insecure=insecure, **more)


class Warnings(list[str]):
    def __call__(self, text: str) -> None:
        self.append(text)


def restore(p: CachePolicy, dest: Path, key: str = KEY) -> tuple[str | None, Warnings]:
    warnings = Warnings()
    return restore_layer(p, key, LABEL, dest, EPOCH, warnings), warnings


def test_a_stored_layer_comes_back_with_its_digest_modes_and_links(tmp_path: Path) -> None:
    built = layer(tmp_path / "layer")
    p = policy(tmp_path)
    store_layer(p, KEY, LABEL, built, EPOCH, Warnings())
    where, warnings = restore(p, tmp_path / "restored")
    assert (where, warnings) == (str(p.local), [])
    back = tmp_path / "restored"
    assert tree_digest(back) == tree_digest(built)
    assert os.stat(back / "usr/bin/su").st_mode & 0o7777 == 0o4755
    assert os.stat(back / "usr/bin/su").st_ino == os.stat(back / "usr/bin/su-again").st_ino
    assert os.stat(back / "locked").st_mode & 0o777 == 0o555
    # mtimes as the rootfs stores them: clamped to the epoch, an older one kept
    assert os.stat(back / "usr/bin/su").st_mtime == EPOCH
    assert os.stat(back / "usr/bin/old").st_mtime == 1_500_000_000
    meta = (entry_path(p, KEY, EPOCH) / META).read_text()
    assert f"key {KEY}\nlabel {LABEL}\ndigest {tree_digest(built)}\n" in meta
    assert "f usr/bin/su 4755 " in meta


def test_the_entry_is_the_same_bytes_whenever_it_is_made(tmp_path: Path) -> None:
    first = layer(tmp_path / "first")
    store_layer(policy(tmp_path / "one"), KEY, LABEL, first, EPOCH, Warnings())
    time.sleep(0.01)
    second = layer(tmp_path / "second")  # later mtimes, other inodes
    store_layer(policy(tmp_path / "two"), KEY, LABEL, second, EPOCH, Warnings())
    for name in (TARBALL, META):
        one = (tmp_path / "one/cache" / ENTRY / name).read_bytes()
        assert one == (tmp_path / "two/cache" / ENTRY / name).read_bytes()


def test_a_miss_is_none_and_says_nothing(tmp_path: Path) -> None:
    assert restore(policy(tmp_path), tmp_path / "restored") == (None, [])
    assert restore_layer(None, KEY, LABEL, tmp_path / "r", EPOCH, Warnings()) is None  # off


def test_another_epoch_is_another_entry_beside_the_first(tmp_path: Path) -> None:
    p = policy(tmp_path)
    built = layer(tmp_path / "layer")
    store_layer(p, KEY, LABEL, built, EPOCH, Warnings())
    warnings = Warnings()
    assert restore_layer(p, KEY, LABEL, tmp_path / "r", EPOCH + 1, warnings) is None
    assert warnings == []
    store_layer(p, KEY, LABEL, built, EPOCH + 1, warnings)
    assert restore_layer(p, KEY, LABEL, tmp_path / "r", EPOCH + 1, warnings) == str(p.local)
    assert restore_layer(p, KEY, LABEL, tmp_path / "r0", EPOCH, warnings) == str(p.local)
    assert warnings == []


def test_beyond_the_size_limit_the_least_recently_used_entries_go(tmp_path: Path) -> None:
    one, two, three = "1" * 64, "2" * 64, "3" * 64
    built = layer(tmp_path / "layer")
    unlimited = policy(tmp_path)
    store_layer(unlimited, one, LABEL, built, EPOCH, Warnings())
    entry_size = sum(f.stat().st_size for f in entry_path(unlimited, one, EPOCH).iterdir())
    limited = policy(tmp_path, max_size=2 * entry_size)
    (limited.local / "notes").mkdir()  # not an entry: never evicted, never counted
    (limited.local / "notes" / "big").write_bytes(bytes(4 * entry_size))
    for when, key in enumerate((one, two), start=1):  # one stored first, two after it
        store_layer(limited, key, LABEL, built, EPOCH, Warnings())
        os.utime(entry_path(limited, key, EPOCH), (when, when))
    assert restore(limited, tmp_path / "r", one)[0] == str(limited.local)  # one: used now
    store_layer(limited, three, LABEL, built, EPOCH, Warnings())  # one entry too many
    kept = sorted(p.name for p in limited.local.iterdir())
    assert kept == [f"{one}-{EPOCH}", f"{three}-{EPOCH}", "notes"]  # two: least recently used


def flip_a_byte(entry: Path) -> None:
    data = bytearray((entry / TARBALL).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (entry / TARBALL).write_bytes(bytes(data))


def truncate(entry: Path) -> None:
    data = (entry / TARBALL).read_bytes()
    (entry / TARBALL).write_bytes(data[: len(data) // 2])


def other_key(entry: Path) -> None:
    meta = entry / META
    meta.write_text(meta.read_text().replace(f"key {KEY}", f"key {OTHER}"))


def other_epoch(entry: Path) -> None:
    meta = entry / META
    meta.write_text(meta.read_text().replace(f"epoch {EPOCH}", f"epoch {EPOCH + 1}"))


@pytest.mark.parametrize(
    ("damage", "reported"),
    [
        (flip_a_byte, "the tarball's sha256 is "),
        (truncate, "the tarball's sha256 is "),
        (lambda entry: (entry / META).unlink(), "its metadata layer.meta is missing"),
        (lambda entry: (entry / TARBALL).unlink(), "its tarball layer.tar.zst is missing"),
        (other_key, f"its metadata is for the key {OTHER}"),
        (other_epoch, f"its metadata is for SOURCE_DATE_EPOCH {EPOCH + 1}"),
    ],
)
def test_a_damaged_entry_is_rejected_reported_and_removed(
    tmp_path: Path, damage, reported: str
) -> None:
    p = policy(tmp_path)
    store_layer(p, KEY, LABEL, layer(tmp_path / "layer"), EPOCH, Warnings())
    damage(entry_path(p, KEY, EPOCH))
    where, warnings = restore(p, tmp_path / "restored")
    assert where is None
    assert len(warnings) == 1 and warnings[0].startswith(f"{LABEL}: the cached layer from ")
    assert reported in warnings[0]
    assert not (entry_path(p, KEY, EPOCH)).exists()
    assert not (tmp_path / "restored").exists()


def swap_tarball(p: CachePolicy, tmp_path: Path) -> None:
    """KEY's entry with another layer's tarball, and that tarball's sha256 in its metadata:
    consistent bytes that are not the recorded layer."""
    built = layer(tmp_path / "layer")
    store_layer(p, KEY, LABEL, built, EPOCH, Warnings())
    (built / "usr/bin/old").write_text("changed")
    store_layer(p, OTHER, LABEL, built, EPOCH, Warnings())
    entry, other = entry_path(p, KEY, EPOCH), entry_path(p, OTHER, EPOCH)
    meta = (entry / META).read_text()
    old_sha = sha256_file(entry / TARBALL)
    (entry / TARBALL).write_bytes((other / TARBALL).read_bytes())
    (entry / META).write_text(meta.replace(old_sha, sha256_file(other / TARBALL)))


def test_an_entry_whose_files_differ_from_its_manifest_names_them(tmp_path: Path) -> None:
    p = policy(tmp_path)
    swap_tarball(p, tmp_path)
    where, warnings = restore(p, tmp_path / "restored")
    assert where is None
    assert warnings == [
        f"{LABEL}: the cached layer from {p.local} is rejected: the unpacked layer differs "
        "from its metadata at usr/bin/old"
    ]
    assert not (entry_path(p, KEY, EPOCH)).exists()


def hostile_entry(p: CachePolicy, members: list[tarfile.TarInfo]) -> None:
    """An entry whose metadata vouches for a hand-made tarball."""
    store_layer(p, KEY, LABEL, layer(p.local.parent / "layer"), EPOCH, Warnings())
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(b"x" * member.size))
    tarball = entry_path(p, KEY, EPOCH) / TARBALL
    zstd = subprocess.run(["zstd", "-q", "-c"], input=raw.getvalue(), capture_output=True)
    tarball.write_bytes(zstd.stdout)
    meta = (entry_path(p, KEY, EPOCH) / META).read_text().splitlines()
    meta = [f"tarball {sha256_file(tarball)}" if m.startswith("tarball ") else m for m in meta]
    (entry_path(p, KEY, EPOCH) / META).write_text("\n".join(meta) + "\n")


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    ("members", "reported"),
    [
        (lambda outside: [member("../escaped")], "'../escaped' is no plain relative path"),
        (lambda outside: [member(f"{outside}/escaped")], "/escaped' is no plain relative path"),
        (
            lambda outside: [member("out", tarfile.SYMTYPE, outside), member("out/escaped")],
            "'out/escaped' is a duplicate or below a symlink",
        ),
        (lambda outside: [member("hosts", tarfile.LNKTYPE, "/etc/hosts")], "no earlier file"),
    ],
)
def test_a_hostile_tarball_writes_nothing_outside(tmp_path: Path, members, reported: str) -> None:
    p = policy(tmp_path)
    outside = tmp_path / "deep"  # where an unguarded extraction would write "escaped"
    hostile_entry(p, members(str(outside)))
    where, warnings = restore(p, outside / "restored")
    assert where is None and len(warnings) == 1 and reported in warnings[0]
    assert not (outside / "escaped").exists()
    assert not (outside / "restored").exists()


# -- against a real registry -----------------------------------------------------------------


def test_a_pushed_layer_is_pulled_into_an_empty_local_cache(
    tmp_path: Path, registry: Registry
) -> None:
    built = layer(tmp_path / "layer")
    pushing = policy(tmp_path / "a", registry.repository(), push=True)
    store_layer(pushing, KEY, LABEL, built, EPOCH, Warnings())
    tags = registry.get("/v2/serpent/layers/tags/list")["tags"]
    assert tags == [ENTRY]
    fresh = policy(tmp_path / "b", registry.repository())
    where, warnings = restore(fresh, tmp_path / "restored")
    assert (where, warnings) == (f"{registry.host}/serpent/layers", [])
    assert tree_digest(tmp_path / "restored") == tree_digest(built)
    assert (entry_path(fresh, KEY, EPOCH) / TARBALL).is_file()  # pulled through the local cache
    assert restore(fresh, tmp_path / "again", OTHER) == (None, [])  # a miss is quiet


def test_a_layer_of_llvm_size_goes_through_the_registry_intact(
    tmp_path: Path, registry: Registry
) -> None:
    """The shared LLVM's layer is ~260 MB: here 256 MiB that zstd cannot shrink, one blob."""
    built = tmp_path / "layer"
    (built / "usr/lib").mkdir(parents=True)
    for i in range(4):
        (built / f"usr/lib/part{i}").write_bytes(os.urandom(64 << 20))
    pushing = policy(tmp_path / "a", registry.repository(), push=True)
    pushed = Warnings()
    store_layer(pushing, KEY, LABEL, built, EPOCH, pushed)
    assert pushed == []  # a failed upload is only a warning: say why here, not as a 404 below
    manifest = registry.get(f"/v2/serpent/layers/manifests/{ENTRY}")
    [size] = [blob["size"] for blob in manifest["layers"] if blob["size"] > 256 << 20]
    fresh = policy(tmp_path / "b", registry.repository())
    where, warnings = restore(fresh, tmp_path / "restored")
    assert (where, warnings) == (f"{registry.host}/serpent/layers", [])
    assert (entry_path(fresh, KEY, EPOCH) / TARBALL).stat().st_size == size
    assert tree_digest(tmp_path / "restored") == tree_digest(built)


def test_a_pushing_run_uploads_a_local_hit_the_registry_lacks_once(
    tmp_path: Path, registry: Registry
) -> None:
    reading = policy(tmp_path, registry.repository())
    store_layer(reading, KEY, LABEL, layer(tmp_path / "layer"), EPOCH, Warnings())
    pushing = policy(tmp_path, registry.repository(), push=True)
    assert restore(pushing, tmp_path / "restored") == (str(pushing.local), [])
    assert registry.get("/v2/serpent/layers/tags/list")["tags"] == [ENTRY]
    tag = registry.storage / "docker/registry/v2/repositories/serpent/layers/_manifests/tags"
    pushed = (tag / ENTRY / "current/link").stat().st_mtime_ns
    time.sleep(0.05)
    assert restore(pushing, tmp_path / "again") == (str(pushing.local), [])
    assert (tag / ENTRY / "current/link").stat().st_mtime_ns == pushed  # there: not again


def test_a_tampered_blob_in_the_registry_is_rejected(tmp_path: Path, registry: Registry) -> None:
    built = layer(tmp_path / "layer")
    pushing = policy(tmp_path / "a", registry.repository(), push=True)
    store_layer(pushing, KEY, LABEL, built, EPOCH, Warnings())
    manifest = registry.get(f"/v2/serpent/layers/manifests/{ENTRY}")
    digest = next(
        blob["digest"]
        for blob in manifest["layers"]
        if blob["annotations"]["org.opencontainers.image.title"] == TARBALL
    )
    flip_a_byte_of = registry.blob_file(digest)
    data = bytearray(flip_a_byte_of.read_bytes())
    data[-20] ^= 0xFF
    flip_a_byte_of.write_bytes(bytes(data))
    fresh = policy(tmp_path / "b", registry.repository())
    where, warnings = restore(fresh, tmp_path / "restored")
    assert where is None
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{LABEL}: the cached layer from {registry.host}/serpent/layers")
    assert "the tarball's sha256 is" in warnings[0]
    assert not (entry_path(fresh, KEY, EPOCH)).exists()


def test_an_unreachable_registry_is_reported_once_per_run(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/serpent/layers"
    p = policy(tmp_path, dead, push=True, run="run-1")
    all_warnings = Warnings()
    start = time.monotonic()
    for key in (KEY, OTHER):
        assert restore_layer(p, key, LABEL, tmp_path / key, EPOCH, all_warnings) is None
        store_layer(p, key, LABEL, layer(tmp_path / f"layer-{key}"), EPOCH, all_warnings)
    assert time.monotonic() - start < 30  # no retry loop sleeping for minutes
    assert len(all_warnings) == 1, all_warnings
    assert all_warnings[0].startswith("cache remote 127.0.0.1:")
    assert "Connection refused" in all_warnings[0] and "goes on without it" in all_warnings[0]
    assert (entry_path(p, KEY, EPOCH) / TARBALL).is_file()  # the local cache still works
    next_run = policy(tmp_path, dead, run="run-2")
    assert restore(next_run, tmp_path / "next", "c" * 64)[1][0].startswith("cache remote")
