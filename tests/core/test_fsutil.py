"""Merging a staged DESTDIR into a root and taking it back out, also after a crash."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from bootstrap.core.fsutil import remove_tree


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
