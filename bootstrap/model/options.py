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
from typing import Any, NoReturn

from ..core.errors import BootstrapError


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
    Option(
        "host_llvm",
        str,
        "",
        "host mode: prefix of the installed LLVM to use (default: /usr/lib/llvm-<major> of the "
        "pinned llvm-project)",
        "SERPENT_HOST_LLVM",
    ),
    Option("jobs", int, 0, "parallel jobs per build (0 = all cores)", "SERPENT_JOBS"),
    Option(
        "builds",
        int,
        0,
        "components built at the same time (0 = one per core); each build's make/ninja "
        "also waits while the load is above a little more than the core count, so together "
        "they stay near it",
        "SERPENT_BUILDS",
    ),
    Option(
        "emulate",
        bool,
        False,
        "foreign-arch stage3: run the compilers under qemu too (about 10x slower), not the "
        "build machine's build of the same LLVM, which gives the same bytes; llvm mode only",
        "SERPENT_EMULATE",
    ),
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
    Option(
        "baseline",
        str,
        "",
        "drift: the lockfile to compare with: a bootstrap.lock, or a directory or http(s) URL "
        "holding <arch>/bootstrap.lock (e.g. the last good run's out/)",
        "SERPENT_BASELINE",
    ),
    Option(
        "cache_dir",
        str,
        "",
        "component cache: finished layers by build key, restored instead of built (default: "
        "./cache, shared by every build dir; 'off': no cache, not even --cache-remote)",
        "SERPENT_CACHE_DIR",
    ),
    Option(
        "cache_remote",
        str,
        "",
        "OCI registry repository of the component cache, tag = <build key>-<epoch>: "
        "host[:port]/repo (http://host... for a plain-http registry); credentials from the "
        "docker config.json or SERPENT_CACHE_USER/SERPENT_CACHE_PASSWORD",
        "SERPENT_CACHE_REMOTE",
    ),
    Option(
        "cache_push",
        bool,
        False,
        "upload the layers this run builds to --cache-remote, and what it restores from the "
        "local cache that the registry lacks",
        "SERPENT_CACHE_PUSH",
    ),
    Option(
        "cache_max_size",
        str,
        "",
        "size limit of the local component cache, e.g. 20G (K, M, G, T: powers of 1024): "
        "after each entry stored, the least recently used entries go until it fits "
        "(default: no limit)",
        "SERPENT_CACHE_MAX_SIZE",
    ),
)


@dataclass(frozen=True)
class Selection:
    """The options of one run, resolved from argv > environment > defaults."""

    target: str = "x86_64"
    profile: str = "full"
    toolchain: str = ""
    host_llvm: str = ""
    jobs: int = 0
    builds: int = 0
    emulate: bool = False
    offline: bool = False
    mirror_dir: str = ""
    sources_override: str = ""
    baseline: str = ""
    cache_dir: str = ""
    cache_remote: str = ""
    cache_push: bool = False
    cache_max_size: str = ""


TRUE_WORDS = ("1", "true", "yes", "on", "y")
FALSE_WORDS = ("0", "false", "no", "off", "n")


def _flag(opt: Option) -> str:
    return "--" + opt.name.replace("_", "-")


class _Parser(argparse.ArgumentParser):
    """argparse reports a bad command line by exiting 2 with its usage; we raise instead."""

    def error(self, message: str) -> NoReturn:
        raise BootstrapError(message, fix="`doit help stage3` lists the options and their values")


def _parse_bool(raw: str, source: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise BootstrapError(
        f"{raw!r} is not a yes/no value",
        where=source,
        fix=f"set {source} to one of {'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)}",
    )


def _parse_count(raw: str, source: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise BootstrapError(
            f"{raw!r} is not a number of jobs (a whole number >= 0)",
            where=source,
            fix=f"set {source} to a whole number >= 1, or 0 for all cores",
        )
    return value


def _convert(opt: Option, raw: str, source: str) -> Any:
    """`raw` (from the command line or the environment) as the option's type, or an error
    naming `source`, the flag or the variable it came from."""
    if opt.type is bool:
        return _parse_bool(raw, source)
    value = _parse_count(raw, source) if opt.type is int else raw
    if opt.choices and value not in opt.choices:
        raise BootstrapError(
            f"{raw!r} is not a valid value",
            where=source,
            fix=f"use one of: {', '.join(c for c in opt.choices if c)}",
        )
    return value


def _resolve(opt: Option, given: Any, environ: Mapping[str, str]) -> Any:
    if given is True:  # a boolean flag on the command line
        return True
    if given is not None:
        return _convert(opt, given, _flag(opt))
    raw = environ.get(opt.env)
    if raw is None or raw == "":
        return opt.default
    return _convert(opt, raw, opt.env)


def selection_from_argv(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> Selection:
    """The run's options; raises BootstrapError naming the flag or variable of a bad value."""
    parser = _Parser(add_help=False, allow_abbrev=False)
    for opt in OPTIONS:
        if opt.type is bool:
            parser.add_argument(_flag(opt), dest=opt.name, action="store_true", default=None)
        else:
            parser.add_argument(_flag(opt), dest=opt.name, default=None)
    known, _ = parser.parse_known_args(list(argv))
    return Selection(**{o.name: _resolve(o, getattr(known, o.name), environ) for o in OPTIONS})


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
