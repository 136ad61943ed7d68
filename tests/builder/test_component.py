"""prepare and build through the real doit CLI: stamps never outlive what they vouch for,
leftovers of a killed run go, and error texts point at the real cause."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from conftest import MiniRepo, killed_unpack

A64 = "aarch64"
NOT_APPLYING = "--- a/file.txt\n+++ b/file.txt\n@@ -1 +1 @@\n-no such line\n+whatever\n"


def work(repo: MiniRepo, name: str) -> Path:
    return repo.root / "build" / A64 / "work" / "stage1" / name


def stamp(repo: MiniRepo, name: str, kind: str) -> Path:
    return repo.root / "build" / A64 / "stamps" / "stage1" / f"{name}.{kind}"


def failed_run(repo: MiniRepo, *args: str) -> str:
    proc = repo.doit(*args, check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output
    return output


def prepared_trees(repo: MiniRepo) -> Path:
    return repo.root / "build" / "prepared"


def test_a_failed_prepare_leaves_no_tree_and_no_stamp_lies(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage1", "--target", A64)
    src, prepared = work(mini_repo, "b1") / "src", stamp(mini_repo, "b1", "prepared")
    trees = sorted(p.name for p in prepared_trees(mini_repo).iterdir() if p.is_dir())
    bad = mini_repo.root / "patches" / "beta" / "0002-bad.patch"
    bad.write_text(NOT_APPLYING)
    output = failed_run(mini_repo, "stage1", "--target", A64)
    # the shared tree for the new patch set never got its name: nothing half-patched
    assert sorted(p.name for p in prepared_trees(mini_repo).iterdir() if p.is_dir()) == trees
    # the reject names the source and the patch, not the temporary tree
    assert "does not apply to beta-1.0.tar.gz" in output and "0002-bad.patch" in output
    assert ".tmp" not in output
    bad.unlink()
    mini_repo.doit("stage1", "--target", A64)
    # back to the old inputs: the old tree and stamp are still right, nothing re-made
    assert prepared.is_file() and (src / "file.txt").read_text() == "beta patched\n"
    assert sorted(p.name for p in prepared_trees(mini_repo).iterdir() if p.is_dir()) == trees


def test_a_component_prepare_removes_its_stamp_first(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage1", "--target", A64)
    src, prepared = work(mini_repo, "b1") / "src", stamp(mini_repo, "b1", "prepared")
    for tree in prepared_trees(mini_repo).iterdir():
        if tree.is_dir():
            subprocess.run(["rm", "-rf", str(tree)], check=True)  # the shared trees vanish
    mini_repo.write_patch("beta original", "beta patched again")
    mini_repo.doit("stage1", "--target", A64)
    assert prepared.is_file() and (src / "file.txt").read_text() == "beta patched again\n"


def chattr(flag: str, *paths: Path) -> bool:
    proc = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, check=False)
    return proc.returncode == 0


def test_a_build_dir_removal_cut_short_leaves_no_marker(mini_repo: MiniRepo) -> None:
    """The marker vouches for the build dir: it goes before the tree does, so a removal
    that fails half-way never leaves a tree that a later run would reuse."""
    mini_repo.doit("stage1", "--target", A64)
    builddir = work(mini_repo, "a1") / "build"
    marker = builddir / ".serpent-signature"
    assert marker.is_file()
    # many undeletable files: removal stops at the first, whatever order it walks in
    locked = [builddir / f"d{i:02}" / "locked" for i in range(24)]
    for path in locked:
        path.parent.mkdir()
        path.write_text("x")
    if not chattr("+i", *locked):
        pytest.skip("needs root and a filesystem with immutable files (chattr +i)")
    try:
        recipe = mini_repo.root / "stages" / "recipes" / "a1.yml"
        recipe.write_text(recipe.read_text() + '  build:\n    - ["true"]\n')
        output = failed_run(mini_repo, "stage1", "--target", A64)
        assert "cannot remove" in output and "chattr -i" in output
        assert not marker.exists()
    finally:
        chattr("-i", *locked)
    mini_repo.doit("stage1", "--target", A64)
    assert not (builddir / "d00").exists() and marker.is_file()


def test_the_next_run_removes_what_a_killed_unpack_left(
    mini_repo: MiniRepo, tmp_path: Path
) -> None:
    mini_repo.doit("stage1", "--target", A64)
    trees = prepared_trees(mini_repo)
    beta = next(t for t in trees.glob("*.log") if "beta" in t.read_text()).with_suffix("")
    subprocess.run(["rm", "-rf", str(beta)], check=True)
    leftover = killed_unpack(beta.with_name(f".{beta.name}.tmp"), tmp_path / "scratch")
    assert leftover.name.startswith(f"..{beta.name}.tmp.tmp-") and leftover.is_dir()
    stamp(mini_repo, "b1", "built").unlink()  # so that b1 builds (not from the cache) ...
    stamp(mini_repo, "b1", "prepared").unlink()  # ... from a new link of the shared tree
    mini_repo.doit("stage1", "--target", A64, env={"SERPENT_CACHE_DIR": "off"})
    assert beta.is_dir()
    assert not [p.name for p in trees.iterdir() if p.name.startswith(".")]


def test_a_build_with_its_source_in_place_needs_no_shared_tree(mini_repo: MiniRepo) -> None:
    """A resumed build whose work/src is current does not unpack its source again (LLVM's
    would take minutes) when the shared prepared tree is gone."""
    mini_repo.doit("stage1", "--target", A64)
    trees = prepared_trees(mini_repo)
    beta = next(t for t in trees.glob("*.log") if "beta" in t.read_text()).with_suffix("")
    subprocess.run(["rm", "-rf", str(beta)], check=True)
    stamp(mini_repo, "b1", "built").unlink()
    mini_repo.doit("stage1", "--target", A64, env={"SERPENT_CACHE_DIR": "off"})
    assert "build:aarch64/stage1/b1" in mini_repo.ran()
    assert not beta.exists()
    assert (work(mini_repo, "b1") / "src" / "file.txt").read_text() == "beta patched\n"


@pytest.mark.parametrize("command", [("list",), ("stage1", "--target", A64)])
def test_a_series_naming_a_missing_patch(mini_repo: MiniRepo, command: tuple[str, ...]) -> None:
    series = mini_repo.root / "patches" / "beta" / "series"
    series.write_text("0001-change.patch\ngone.patch\n")
    proc = mini_repo.doit(*command, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {series}:2: lists the patch 'gone.patch'")
    assert "fix: add " in proc.stderr and "remove line 2" in proc.stderr


def test_a_corrupt_archive_that_matches_its_pin_blames_the_pin(mini_repo: MiniRepo) -> None:
    tarball = mini_repo.root / "upstream" / "beta-1.0.tar.gz"
    tarball.write_bytes(tarball.read_bytes()[:-30])
    sources_file = mini_repo.root / "sources.yml"
    sources = json.loads(sources_file.read_text())
    sources["sources"]["beta"]["sha256"] = hashlib.sha256(tarball.read_bytes()).hexdigest()
    sources_file.write_text(json.dumps(sources))
    output = failed_run(mini_repo, "stage1", "--target", A64)
    assert "FAILED build:aarch64/stage1/b1" in output and "corrupt" in output
    assert "matches the pin" in output and "download cache" not in output


def test_a_missing_configure_is_not_a_tool_to_install(mini_repo: MiniRepo) -> None:
    recipe = mini_repo.root / "stages" / "recipes" / "a1.yml"
    recipe.write_text("doc: alpha as autotools\nsource: alpha\nstyle: autotools\n")
    output = failed_run(mini_repo, "stage1", "--target", A64)
    assert "FAILED build:aarch64/stage1/a1" in output
    assert "cannot start '../src/configure'" in output
    assert "source tree lacks configure" in output and "install the missing tool" not in output
