"""One doit run per build dir: doit writes its whole state DB at the end of a run, so two
concurrent runs on one DB silently lose each other's results."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ..core.errors import BootstrapError

READ_ONLY_COMMANDS = {"list", "help", "info", "graph", "dumpdb", "tabcompletion", "strace"}


def writes_state(argv: Sequence[str]) -> bool:
    """True unless the doit command is one that only reads (list, help, info, ...)."""
    return not any(a in READ_ONLY_COMMANDS or a == "--help" for a in argv)


def unwritable(path: Path, err: OSError) -> BootstrapError:
    return BootstrapError(
        f"cannot write the build dir: {err.strerror or err}",
        where=str(path),
        fix="make it writable for this user (chown/chmod), run as its owner, or set "
        "SERPENT_BUILD_DIR to a directory you can write",
    )


def make_build_dir(build: Path) -> None:
    try:
        build.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise unwritable(build, err) from None


def lock_build_dir(build: Path) -> IO[str]:
    """Hold an exclusive lock on build/.doit.lock for the life of this process."""
    make_build_dir(build)
    path = build / ".doit.lock"
    try:
        handle = path.open("a+")
    except OSError as err:
        raise unwritable(path, err) from None
    try:
        # a POSIX record lock: doit's forked worker processes do not inherit it
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        raise BootstrapError(
            f"another doit run (pid {owner}) is using {build}",
            fix="wait for it to finish, or set SERPENT_BUILD_DIR to use another build dir",
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
