"""Why one place (cache, mirror dir, URL) did not yield a source file: raised by the
download code, collected by the fetch that tries place after place."""

from __future__ import annotations


class Miss(Exception):
    """One place did not yield the file; the message says why."""


class Mismatch(Miss):
    """The place had a file, but not the pinned one."""


def mismatch(where: str, expected: str, actual: str) -> Mismatch:
    return Mismatch(f"sha256 mismatch for {where}: expected {expected}, got {actual}")
