"""The one table of run options: it drives doit's task params, argv parsing and env defaults.

doit hands task options only to the task named on the command line, but the options choose
the whole graph (which targets, which components). So `selection_from_argv` reads the same
options from the full command line before the graph is built, and the entry tasks declare
them as `params` so that doit validates them and `doit help stage3` documents them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    name: str
    type: type
    default: Any
    help: str
    env: str
    choices: tuple[str, ...] = ()


OPTIONS: tuple[Option, ...] = (
    Option(
        "target",
        str,
        "x86_64",
        "target arch from toolchain/ (x86_64, aarch64) or 'all'",
        "SERPENT_TARGET",
    ),
    Option(
        "profile",
        str,
        "full",
        "package set from stages/profiles.yml (full, smoke)",
        "SERPENT_PROFILE",
    ),
    Option(
        "toolchain",
        str,
        "",
        "stage1 toolchain: 'llvm' (build LLVM) or 'host' (installed LLVM); default: the profile's",
        "SERPENT_TOOLCHAIN",
        ("", "host", "llvm"),
    ),
    Option("jobs", int, 0, "parallel jobs per build (0 = all cores)", "SERPENT_JOBS"),
    Option(
        "offline",
        bool,
        False,
        "never touch the network; use the cache and mirror dirs",
        "SERPENT_OFFLINE",
    ),
    Option(
        "mirror_dir",
        str,
        "",
        "local source mirror dirs, ':'-separated (default: ./mirror if it exists)",
        "SERPENT_MIRROR",
    ),
    Option(
        "sources_override",
        str,
        "",
        "YAML files (':'-separated) replacing url/sha256/file of named sources, "
        "applied after ./mirror/sources-override.yml",
        "SERPENT_SOURCES_OVERRIDE",
    ),
)


@dataclass(frozen=True)
class Selection:
    """The options of one run, resolved from argv > environment > defaults."""

    target: str = "x86_64"
    profile: str = "full"
    toolchain: str = ""
    jobs: int = 0
    offline: bool = False
    mirror_dir: str = ""
    sources_override: str = ""


def _flag(opt: Option) -> str:
    return "--" + opt.name.replace("_", "-")


def _env_value(opt: Option, environ: Mapping[str, str]) -> Any:
    raw = environ.get(opt.env)
    if raw is None or raw == "":
        return opt.default
    if opt.type is bool:
        return raw.lower() in ("1", "yes", "true", "on")
    return opt.type(raw)


def selection_from_argv(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> Selection:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for opt in OPTIONS:
        default = _env_value(opt, environ)
        if opt.type is bool:
            parser.add_argument(_flag(opt), dest=opt.name, action="store_true", default=default)
        else:
            parser.add_argument(_flag(opt), dest=opt.name, type=opt.type, default=default)
    known, _ = parser.parse_known_args(list(argv))
    return Selection(**vars(known))


def doit_params() -> list[dict[str, Any]]:
    """The same options as doit task params (for entry tasks like stage3, fetch, verify)."""
    params = []
    for opt in OPTIONS:
        param = {
            "name": opt.name,
            "long": opt.name.replace("_", "-"),
            "type": opt.type,
            "default": opt.default,
            "help": f"{opt.help} [env {opt.env}]",
        }
        if opt.choices:
            param["choices"] = tuple((c, "") for c in opt.choices)
        params.append(param)
    return params
