"""A plain Makefile in the source tree: no configure step."""

from __future__ import annotations

from typing import Any

VERSION = 1
DEFAULTS: dict[str, Any] = {"out_of_tree": False, "install_targets": ["install"]}


def commands(r: dict[str, Any], cross: bool) -> dict[str, list[list[str]]]:
    return {
        "build": [["make", "-j${jobs}", *r["make_args"], *r["build_targets"]]],
        "install": [
            [
                "make",
                "DESTDIR=${destdir}",
                "PREFIX=${prefix}",
                *r["make_args"],
                *r["install_targets"],
            ]
        ],
    }
