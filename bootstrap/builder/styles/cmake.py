"""CMake with Ninja; cross builds get the target's generated toolchain file (native ones,
for the build machine or in the chroot, need none)."""

from __future__ import annotations

from typing import Any

VERSION = 3
DEFAULTS: dict[str, Any] = {"out_of_tree": True, "install_targets": [], "cmake_caches": []}
CROSS_ARGS = ["-DCMAKE_TOOLCHAIN_FILE=${cmake_toolchain}", "-DSERPENT_SYSROOT=${root}"]
CACHE_DIR = "cmake-caches"  # in the work dir, written from the plan before configure


def cache_file(name: str) -> str:
    """Where a `cmake_caches` entry lies, relative to the build's work dir."""
    return f"{CACHE_DIR}/{name}.cmake"


def commands(r: dict[str, Any], cross: bool) -> dict[str, list[list[str]]]:
    targets = [arg for t in r["build_targets"] for arg in ("--target", t)]
    install = (
        [
            [
                "env",
                "DESTDIR=${destdir}",
                "ninja",
                "-C",
                "${builddir}",
                *r["make_args"],
                *r["install_targets"],
            ]
        ]
        if r["install_targets"]
        else [["env", "DESTDIR=${destdir}", "cmake", "--install", "${builddir}"]]
    )
    return {
        "configure": [
            [
                "cmake",
                "-S",
                "${srcdir}",
                "-B",
                "${builddir}",
                "-G",
                "Ninja",
                "-DCMAKE_BUILD_TYPE=Release",
                "-DCMAKE_INSTALL_PREFIX=${prefix}",
                *(CROSS_ARGS if cross else []),
                *(a for c in r["cmake_caches"] for a in ("-C", f"${{workdir}}/{cache_file(c)}")),
                *r["configure_args"],
            ]
        ],
        "build": [
            ["cmake", "--build", "${builddir}", "-j", "${jobs}", *targets, "--", "-l", "${load}"]
        ],
        "install": install,
    }
