"""Merging a staged DESTDIR into a root and taking it back out, also after a crash."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bootstrap.core.errors import BootstrapError
from bootstrap.core.fsutil import checkout_digest, copy_checkout, remove_tree


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


def test_a_checkout_dir_is_known_by_paths_exec_bits_and_contents(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "tests").mkdir(parents=True)
    (src / "a.c").write_text("int a;\n")
    (src / "tests" / "run.sh").write_text("exit 0\n")
    first = checkout_digest(src)
    (src / "a.c").chmod(0o600)  # a clone's umask: not part of what the checkout says
    (src / "tests").chmod(0o700)
    assert checkout_digest(src) == first
    (src / "tests" / "run.sh").chmod(0o755)
    assert checkout_digest(src) != first
    (src / "tests" / "run.sh").chmod(0o644)
    (src / "a.c").write_text("int b;\n")
    assert checkout_digest(src) != first


def test_a_checkout_copy_gets_plain_modes_and_refuses_links(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    (src / "a.c").write_text("int a;\n")
    (src / "a.c").chmod(0o600)
    (src / "run.sh").write_text("exit 0\n")
    (src / "run.sh").chmod(0o700)
    copy_checkout(src, dest)
    assert (dest / "a.c").stat().st_mode & 0o777 == 0o644
    assert (dest / "run.sh").stat().st_mode & 0o777 == 0o755
    (src / "link").symlink_to("a.c")
    with pytest.raises(BootstrapError, match="not a regular file"):
        checkout_digest(src)
