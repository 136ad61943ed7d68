"""The doit command line on a mini repo: a user's mistake ends in `error:` + `fix:` and exit
1 before any work, never a traceback; runs that need root say so before stage1; outputs
follow the build dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, MiniRepo, clean_environ

A64 = "aarch64"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
can_drop_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run doit as an unprivileged user",
)


def doit(
    repo: MiniRepo, *args: str, env: dict[str, str] | None = None, as_nobody: bool = False
) -> subprocess.CompletedProcess[str]:
    """The real doit CLI on `repo`, with extra environment, optionally as user nobody."""
    environ = {**clean_environ(), "PYTHONPATH": str(REPO), "SERPENT_PROFILE": "test", **(env or {})}
    argv = [sys.executable, "-m", "doit", "-f", str(repo.root / "dodo.py"), *args]
    return subprocess.run(
        [*NOBODY, *argv] if as_nobody else argv,
        cwd=repo.root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_user_error(proc: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit 1 with `error:` and `fix:` lines, no traceback, and `expected` in the message."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: "), proc.stderr
    assert "\n  fix: " in proc.stderr, proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr


def nothing_built(repo: MiniRepo) -> bool:
    return not (repo.root / "build" / A64 / "stamps").exists()


def add_stage3(repo: MiniRepo, where: str = "chroot", checks: str = "[]") -> None:
    """Give the mini profile a stage3 component (built in a chroot unless `where`)."""
    recipes = repo.root / "stages" / "recipes"
    recipe = (recipes / "a1.yml").read_text().replace("a1", "a3")
    (recipes / "a3.yml").write_text(recipe + f"where: {where}\n")
    (repo.root / "stages" / "profiles.yml").write_text(
        "profiles:\n  test:\n    doc: test\n    toolchain: host\n"
        f"    stage1: [a1, b1]\n    stage2: [a2]\n    stage3: [a3]\n    checks: {checks}\n"
    )


@pytest.fixture
def shared_repo() -> Iterator[MiniRepo]:
    """A mini repo that user nobody can read and write (pytest's tmp dirs are private)."""
    base = Path(tempfile.mkdtemp(prefix="serpent-cli-"))
    try:
        base.chmod(0o755)
        repo = MiniRepo(base / "repo")
        yield repo
    finally:
        shutil.rmtree(base)


def give_to_nobody(repo: MiniRepo) -> None:
    subprocess.run(["chown", "-R", "65534:65534", str(repo.root)], check=True)


# -- item: bad options and environment ---------------------------------------------------


def test_unknown_profile_is_an_error_before_the_graph(mini_repo: MiniRepo) -> None:
    proc = doit(mini_repo, "stage1", "--target", A64, "--profile", "nosuch")
    assert_user_error(proc, "unknown profile 'nosuch'", "use one of: test")
    proc = doit(mini_repo, "stage1", "--target", A64, env={"SERPENT_PROFILE": "nosuch"})
    assert_user_error(proc, "unknown profile 'nosuch'")
    assert nothing_built(mini_repo)


def test_bad_jobs_name_the_variable_or_option(mini_repo: MiniRepo) -> None:
    proc = doit(mini_repo, "stage1", "--target", A64, env={"SERPENT_JOBS": "abc"})
    assert_user_error(proc, "SERPENT_JOBS: 'abc'")
    proc = doit(mini_repo, "stage1", "--target", A64, "--jobs", "-5")
    assert_user_error(proc, "--jobs: '-5'")
    assert nothing_built(mini_repo)


def test_offline_words_mean_offline_and_others_are_refused(mini_repo: MiniRepo) -> None:
    sources = mini_repo.root / "sources.yml"
    sources.write_text(
        sources.read_text().replace(
            (mini_repo.root / "upstream").as_uri(), "http://127.0.0.1:9/upstream"
        )
    )
    proc = doit(mini_repo, "fetch", "--target", A64, env={"SERPENT_OFFLINE": "y"})
    assert proc.returncode != 0
    assert "offline (no downloads)" in proc.stdout, proc.stdout
    proc = doit(mini_repo, "fetch", "--target", A64, env={"SERPENT_OFFLINE": "maybe"})
    assert_user_error(proc, "SERPENT_OFFLINE: 'maybe' is not a yes/no value")


def test_a_duplicate_key_in_a_data_file_names_file_and_line(mini_repo: MiniRepo) -> None:
    recipe = mini_repo.root / "stages" / "recipes" / "b1.yml"
    text = recipe.read_text()
    recipe.write_text(text + "style: make\n")
    line = text.count("\n") + 1
    proc = doit(mini_repo, "stage1", "--target", A64)
    assert_user_error(proc, f"{recipe}:{line}:1: duplicate key 'style' (first at line 3)")


def test_an_unusable_build_dir_is_an_error(mini_repo: MiniRepo) -> None:
    blocker = mini_repo.root / "not-a-dir"
    blocker.write_text("")
    proc = doit(mini_repo, "stage1", env={"SERPENT_BUILD_DIR": str(blocker / "build")})
    assert_user_error(proc, "cannot write the build dir", "SERPENT_BUILD_DIR")


@can_drop_root
def test_a_build_dir_the_user_cannot_write_is_an_error(shared_repo: MiniRepo) -> None:
    doit(shared_repo, "list")  # root creates build/ (and its lock)
    proc = doit(shared_repo, "stage1", "--target", A64, as_nobody=True)
    assert_user_error(proc, "cannot write the build dir: Permission denied", "chown")


# -- item: root is needed, and said so before any work -----------------------------------


@can_drop_root
def test_a_run_that_needs_root_is_refused_before_stage1(shared_repo: MiniRepo) -> None:
    add_stage3(shared_repo)
    give_to_nobody(shared_repo)
    proc = doit(shared_repo, "stage3", "--target", A64, as_nobody=True)
    assert_user_error(
        proc, "not root, but 2 selected task(s) need root", "build:aarch64/stage3/a3", "sudo"
    )
    assert nothing_built(shared_repo)
    assert not (shared_repo.root / "build" / "reports" / "latest.json").exists()

    # `doit check` says the same, and stage1 alone runs as any user
    check = doit(shared_repo, "check", "--target", A64, as_nobody=True)
    assert "root (chroot builds and checks): NO - not root, but 2" in check.stdout
    assert "build:aarch64/stage3/a3, verify:aarch64" in check.stdout
    assert check.returncode != 0
    proc = doit(shared_repo, "stage1", "--target", A64, as_nobody=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "build:aarch64/stage1/b1" in shared_repo.ran()


@can_drop_root
def test_the_stage2_chroot_check_needs_root_too(shared_repo: MiniRepo) -> None:
    add_stage3(shared_repo, where="host", checks="[stage2-chroot]")
    give_to_nobody(shared_repo)
    proc = doit(shared_repo, "stage2", "--target", A64, as_nobody=True)
    assert_user_error(proc, "1 selected task(s) need root", "check:aarch64/stage2")
    assert nothing_built(shared_repo)
    check = doit(shared_repo, "check", "--target", A64, as_nobody=True)
    assert "need root for mount namespaces and chroot: check:aarch64/stage2" in check.stdout


def test_root_runs_are_not_refused_and_check_agrees(mini_repo: MiniRepo) -> None:
    add_stage3(mini_repo, where="host")
    check = doit(mini_repo, "check", "--target", A64)
    if os.geteuid() == 0:
        assert "root (chroot builds and checks): ok - running as root" in check.stdout
    else:
        assert "NO - not root, but 1 selected task(s)" in check.stdout  # verify:aarch64


# -- item: outputs follow the build dir ---------------------------------------------------


def test_outputs_follow_the_build_dir(mini_repo: MiniRepo, tmp_path: Path) -> None:
    add_stage3(mini_repo, where="host")  # no chroot: the rootfs needs no root here
    tarball = f"{A64}/serpent-rootfs-{A64}.tar.xz"
    proc = doit(mini_repo, "rootfs", "--target", A64)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    default_out = mini_repo.root / "out" / tarball
    first = default_out.stat()

    other = tmp_path / "other-build"
    proc = doit(mini_repo, "rootfs", "--target", A64, env={"SERPENT_BUILD_DIR": str(other)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (other / "out" / tarball).is_file()
    assert str(other / "out" / tarball) in proc.stdout
    assert default_out.stat().st_mtime_ns == first.st_mtime_ns  # not overwritten
    assert (other / "reports" / "latest.json").is_file()

    # naming the default build dir explicitly is the default: ./out
    same = doit(
        mini_repo,
        "rootfs",
        "--target",
        A64,
        env={"SERPENT_BUILD_DIR": str(mini_repo.root / "build")},
    )
    assert str(default_out) in same.stdout or "up-to-date" in same.stdout
    assert not (mini_repo.root / "build" / "out").exists()
