"""One doit run per build dir: doit writes its whole state DB at the end of a run, so two
concurrent runs on one DB silently lose each other's results."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from .errors import BootstrapError

READ_ONLY_COMMANDS = {"list", "help", "info", "graph", "dumpdb", "tabcompletion", "strace"}


def writes_state(argv: Sequence[str]) -> bool:
    """True unless the doit command is one that only reads (list, help, info, ...)."""
    return not any(a in READ_ONLY_COMMANDS or a == "--help" for a in argv)


def lock_build_dir(build: Path) -> IO[str]:
    """Hold an exclusive lock on build/.doit.lock for the life of this process."""
    build.mkdir(parents=True, exist_ok=True)
    path = build / ".doit.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
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
