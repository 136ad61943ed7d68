"""Merging a staged DESTDIR into a root and taking it back out, also after a crash."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bootstrap.fsutil import apply_merge, plan_merge, remove_tree, withdraw_merge


def tree(root: Path) -> dict[str, str]:
    """Every file and link under root: contents, or '-> target' for a link."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = f"-> {os.readlink(path)}"
            elif path.is_file():
                found[rel] = path.read_text()
    return found


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "lib").symlink_to("usr/lib")
    (root / "usr" / "lib").mkdir()
    (root / "usr" / "bin" / "ar").symlink_to("busybox")
    (root / "usr" / "bin" / "busybox").write_text("busybox")
    return root


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    staged = tmp_path / "destdir"
    (staged / "usr" / "bin").mkdir(parents=True)
    (staged / "usr" / "bin" / "ar").symlink_to("llvm-ar")
    (staged / "usr" / "bin" / "llvm-ar").write_text("llvm-ar")
    (staged / "lib" / "clang").mkdir(parents=True)  # through the lib -> usr/lib link
    (staged / "lib" / "clang" / "rt.a").write_text("rt")
    return staged


def test_merge_places_everything_and_names_what_it_replaces(
    root: Path, staged: Path, tmp_path: Path
) -> None:
    plan = plan_merge(staged, root)
    assert plan.replaced == ["usr/bin/ar"]
    assert plan.dirs == ["lib/clang"]
    apply_merge(plan, staged, root, tmp_path / "aside")
    assert os.readlink(root / "usr/bin/ar") == "llvm-ar"
    assert (root / "usr/lib/clang/rt.a").read_text() == "rt"
    assert (root / "lib").is_symlink()  # merged through the usr-merge link, not replaced
    assert os.readlink(tmp_path / "aside" / "usr/bin/ar") == "busybox"


def test_withdraw_restores_the_root_exactly(root: Path, staged: Path, tmp_path: Path) -> None:
    before = tree(root)
    plan = plan_merge(staged, root)
    apply_merge(plan, staged, root, tmp_path / "aside")
    withdraw_merge(plan, root, tmp_path / "aside")
    assert tree(root) == before
    assert not (tmp_path / "aside").exists()


def test_withdraw_after_a_merge_cut_short(
    root: Path, staged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(root)
    plan = plan_merge(staged, root)
    real_replace, calls = os.replace, []

    def crash_on_second_placement(src: object, dst: object) -> None:
        if str(src).startswith(str(staged)):
            calls.append(dst)
            if len(calls) == 2:
                raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_second_placement)
    with pytest.raises(OSError):
        apply_merge(plan, staged, root, tmp_path / "aside")
    monkeypatch.setattr(os, "replace", real_replace)
    assert tree(root) != before
    withdraw_merge(plan, root, tmp_path / "aside")
    assert tree(root) == before


def make_locked_tree(top: Path) -> None:
    """A tree as unpacking kept an archive's directory modes: read-only, not even searchable."""
    (top / "ro" / "deeper").mkdir(parents=True)
    (top / "ro" / "deeper" / "f").write_text("f")
    (top / "none").mkdir()
    (top / "none" / "g").write_text("g")
    for path, mode in ((top / "ro" / "deeper", 0o555), (top / "ro", 0o555), (top / "none", 0)):
        os.chmod(path, mode)
    os.chmod(top, 0o555)


def as_unprivileged_user(work: Callable[[], bool]) -> bool:
    """Run `work` in a forked child that is not root (root would not notice the modes)."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        ok = False
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            ok = work()
        finally:
            os._exit(0 if ok else 1)
    return os.waitpid(pid, 0)[1] == 0


def test_remove_tree_takes_directories_the_owner_cannot_write_or_enter() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        os.chmod(scratch, 0o777)
        top = Path(scratch) / "tree"

        def make_and_remove() -> bool:
            make_locked_tree(top)
            remove_tree(top)
            return not top.exists()

        assert as_unprivileged_user(make_and_remove)
        assert not top.exists()
