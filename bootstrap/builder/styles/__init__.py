"""Build styles: each fills the recipe fields it cares about and lists commands per phase.

A style module has `VERSION` (bump to rebuild everything built with it), `DEFAULTS` (applied
only to fields the recipe left unset) and `commands(recipe) -> {phase: [argv, ...]}`. Commands
use ${variables} that the build driver expands (see bootstrap.builder.buildenv.variables).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ...model.recipes import COMMAND_PHASES
from . import autotools, cmake, custom, make, meson

Commands = dict[str, list[list[str]]]

STYLES: dict[str, ModuleType] = {
    "autotools": autotools,
    "cmake": cmake,
    "meson": meson,
    "make": make,
    "custom": custom,
}

COMMON_DEFAULTS: dict[str, Any] = {
    "prefix": "/usr",
    "configure_args": [],
    "make_args": [],
    "build_targets": [],
    "env": {},
    "subtrees": [],
    "srcdir": "",
    "depends": [],
    "replaces": [],
}


def apply_style(recipe: dict[str, Any]) -> dict[str, Any]:
    """Fill style and common defaults into a resolved recipe (never overwriting)."""
    style = STYLES[recipe["style"]]
    filled = dict(recipe)
    for defaults in (style.DEFAULTS, COMMON_DEFAULTS):
        for key, value in defaults.items():
            filled.setdefault(key, value)
    filled["style_version"] = f"{recipe['style']}/{style.VERSION}"
    return filled


def style_commands(recipe: dict[str, Any], cross: bool) -> Commands:
    """configure/build/install commands, with the recipe's pre_/post_ hooks around each.
    `cross`: built for the target on the build machine (not natively in the chroot, nor
    for the build machine itself)."""
    main = STYLES[recipe["style"]].commands(recipe, cross)
    return {
        phase: [
            *recipe.get(f"pre_{phase}", []),
            *main.get(phase, []),
            *recipe.get(f"post_{phase}", []),
        ]
        for phase in COMMAND_PHASES
    }
