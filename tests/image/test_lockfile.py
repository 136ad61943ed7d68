"""The lockfile, through the real doit CLI on the mini repo: what it records, that it is the
same for the same bytes in another build dir, that a no-op run leaves it alone, and that a
run packing a rootfs records the tarball."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from conftest import MiniRepo

from bootstrap.builder.layers import manifest_digest
from bootstrap.core.errors import BootstrapError
from bootstrap.core.fsutil import sha256_file
from bootstrap.image.lockfile import (
    ComponentLock,
    Lock,
    RootfsLock,
    StageLock,
    parse_lock,
    render_lock,
)
from bootstrap.image.manifest import parse_manifests

A64 = "aarch64"


def lockfile(repo: MiniRepo, out: Path | None = None) -> Path:
    return (out or repo.root / "out") / A64 / "bootstrap.lock"


def add_host_stage3(repo: MiniRepo) -> None:
    """A stage3 component built on the host: the profile then packs a rootfs (no root)."""
    recipes = repo.root / "stages" / "recipes"
    (recipes / "a3.yml").write_text((recipes / "a1.yml").read_text().replace("a1", "a3"))
    (recipes / "a3.yml").write_text((recipes / "a3.yml").read_text() + "where: host\n")
    profiles = repo.root / "stages" / "profiles.yml"
    profiles.write_text(profiles.read_text().replace("stage3: []", "stage3: [a3]"))


def test_lock_records_every_component_stage_and_layer(mini_repo: MiniRepo) -> None:
    mini_repo.doit("lock", "--target", A64)
    text = lockfile(mini_repo).read_text()
    data = tomllib.loads(text)
    assert data["arch"] == A64 and data["profile"] == "test" and data["toolchain"] == "host"
    assert sorted(data["components"]) == [
        "aarch64/stage1/a1",
        "aarch64/stage1/b1",
        "aarch64/stage2/a2",
    ]
    assert sorted(data["stages"]) == ["aarch64/stage1", "aarch64/stage2"]  # stage3 is empty
    assert "rootfs" not in data  # the profile packs none
    build = mini_repo.root / "build" / A64
    b1 = data["components"]["aarch64/stage1/b1"]
    assert b1["key"] in (build / "stamps" / "stage1" / "b1.built").read_text()
    assert b1["patches"] != data["components"]["aarch64/stage1/a1"]["patches"]  # beta's patch
    a2 = data["components"]["aarch64/stage2/a2"]
    assert a2["inputs"] == {"stage1 tree": data["stages"]["aarch64/stage1"]["digest"]}
    assert str(mini_repo.root) not in text  # no paths: another build dir writes the same

    files = lockfile(mini_repo).with_name("bootstrap.lock.files")
    assert sha256_file(files) == data["manifests"]
    manifests = parse_manifests(files.read_text(), str(files))
    digest, entries = manifests["aarch64/stage1/b1"]
    assert digest == b1["digest"] == manifest_digest(entries)
    assert b1["files"] == len(entries)
    assert "sysroot/usr/share/b1/file.txt" in {e.path for e in entries}


def test_a_noop_run_does_not_rewrite_the_lockfile(mini_repo: MiniRepo) -> None:
    mini_repo.doit("lock", "--target", A64)
    before = lockfile(mini_repo).stat().st_mtime_ns
    mini_repo.doit("lock", "--target", A64)
    assert mini_repo.ran() == set()
    assert lockfile(mini_repo).stat().st_mtime_ns == before


def test_a_change_rewrites_it_and_another_build_dir_writes_the_same(
    mini_repo: MiniRepo, tmp_path: Path
) -> None:
    mini_repo.doit("lock", "--target", A64)
    first = lockfile(mini_repo).read_text()
    mini_repo.write_patch("beta original", "beta patched again")
    mini_repo.doit("lock", "--target", A64)
    assert "lock:aarch64" in mini_repo.ran()
    assert lockfile(mini_repo).read_text() != first

    mini_repo.write_patch("beta original", "beta patched")  # back as it was
    other = tmp_path / "other"
    mini_repo.doit("lock", "--target", A64, env={"SERPENT_BUILD_DIR": str(other)})
    assert lockfile(mini_repo, other / "out").read_text() == first
    files = "bootstrap.lock.files"
    assert (other / "out" / A64 / files).read_bytes() != b""
    mini_repo.doit("lock", "--target", A64)
    assert lockfile(mini_repo).read_text() == first
    assert (other / "out" / A64 / files).read_bytes() == (
        lockfile(mini_repo).with_name(files)
    ).read_bytes()


def test_a_rootfs_run_writes_the_lockfile_with_the_tarball(mini_repo: MiniRepo) -> None:
    add_host_stage3(mini_repo)
    proc = mini_repo.doit("rootfs", "--target", A64)
    assert "bootstrap.lock: 4 components, rootfs sha256" in proc.stdout
    data = tomllib.loads(lockfile(mini_repo).read_text())
    out = mini_repo.root / "out" / A64
    tarball = out / f"serpent-rootfs-{A64}.tar.xz"
    rows = (out / f"serpent-rootfs-{A64}.manifest.tsv").read_text().splitlines()
    assert data["rootfs"] == {
        "file": tarball.name,
        "key": data["rootfs"]["key"],
        "sha256": sha256_file(tarball),
        "entries": len(rows) - 1,
    }
    assert "aarch64/stage3" in data["stages"] and "aarch64/stage3/a3" in data["components"]


def test_a_layer_changed_after_publishing_is_refused(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage2", "--target", A64)
    layers = mini_repo.root / "build" / A64 / "layers" / "stage1" / "a1"
    [layer] = layers.iterdir()
    (layer / "sysroot" / "usr" / "share" / "a1" / "file.txt").write_text("written through\n")
    proc = mini_repo.doit("lock", "--target", A64, check=False)
    assert proc.returncode == 1
    assert "aarch64/stage1/a1: its layer no longer has the content it was published with" in (
        proc.stdout
    )
    assert "fix: something wrote into it: delete" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


LOCK = Lock(
    arch="x86_64",
    profile="smoke",
    toolchain="host",
    source_date_epoch=1700000000,
    manifests="m" * 64,
    components=(
        ComponentLock(
            label='x86_64/stage2/we"ird',
            key="k",
            digest="d",
            files=3,
            source="-",
            patches="p",
            prepare="r",
            recipe="c",
            plan="l",
            depends=("musl", "root-layout"),
            inputs=(("stage1 tree", "t"), ("stage2/musl", "m")),
        ),
    ),
    stages=(StageLock("x86_64/stage2", "s"),),
    rootfs=RootfsLock("serpent-rootfs-x86_64.tar.xz", "rk", "f" * 64, 12),
)


def test_the_text_is_toml_and_reads_back() -> None:
    text = render_lock(LOCK)
    assert parse_lock(text, "x") == LOCK
    assert text == render_lock(parse_lock(text, "x"))  # stable


def test_a_foreign_lockfile_is_an_error_naming_it() -> None:
    text = render_lock(LOCK).replace("format = 1", "format = 99")
    with pytest.raises(BootstrapError) as err:
        parse_lock(text, "https://ci.example/out/x86_64/bootstrap.lock")
    assert "format 99" in err.value.what
    assert err.value.where == "https://ci.example/out/x86_64/bootstrap.lock"
    with pytest.raises(BootstrapError):
        parse_lock("not = [toml", "x")
