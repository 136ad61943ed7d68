"""GNU configure + make, out of tree, cross-configured from the target triplet."""

from __future__ import annotations

from typing import Any

VERSION = 2  # 2: configure through the relative ${srcdir_rel}
DEFAULTS: dict[str, Any] = {"out_of_tree": True, "install_targets": ["install"]}


def commands(r: dict[str, Any], cross: bool) -> dict[str, list[list[str]]]:
    return {
        "configure": [
            [
                "${srcdir_rel}/configure",
                "--prefix=${prefix}",
                "--host=${triplet}",
                "--build=${build_triplet}",
                *r["configure_args"],
            ]
        ],
        "build": [["make", "-j${jobs}", *r["make_args"], *r["build_targets"]]],
        "install": [["make", "DESTDIR=${destdir}", *r["make_args"], *r["install_targets"]]],
    }
