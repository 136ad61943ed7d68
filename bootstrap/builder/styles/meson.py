"""Meson; cross builds get the target's generated cross file."""

from __future__ import annotations

from typing import Any

VERSION = 1
DEFAULTS: dict[str, Any] = {"out_of_tree": True, "install_targets": []}


def commands(r: dict[str, Any], cross: bool) -> dict[str, list[list[str]]]:
    return {
        "configure": [
            [
                "meson",
                "setup",
                *(["--cross-file", "${meson_cross}"] if cross else []),
                "--prefix",
                "${prefix}",
                "--buildtype",
                "release",
                *r["configure_args"],
                "${builddir}",
                "${srcdir}",
            ]
        ],
        "build": [["meson", "compile", "-C", "${builddir}", "-j", "${jobs}", *r["build_targets"]]],
        "install": [["meson", "install", "-C", "${builddir}", "--destdir", "${destdir}"]],
    }
