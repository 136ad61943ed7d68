"""What the fetch (which tries place after place) and the HTTP download share: why one
place (cache, mirror dir, URL) did not yield a source file, and the progress callback."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int | None], None]  # (bytes so far, total if known)


class Miss(Exception):
    """One place did not yield the file; the message says why."""


class Mismatch(Miss):
    """The place had a file, but not the pinned one."""


def mismatch(where: str, expected: str, actual: str) -> Mismatch:
    return Mismatch(f"sha256 mismatch for {where}: expected {expected}, got {actual}")
