"""Commands written out in the recipe's `steps:` mapping."""

from __future__ import annotations

from typing import Any

VERSION = 1
DEFAULTS: dict[str, Any] = {"out_of_tree": False, "steps": {}}


def commands(r: dict[str, Any], cross: bool) -> dict[str, list[list[str]]]:
    return {phase: list(cmds) for phase, cmds in r["steps"].items()}
