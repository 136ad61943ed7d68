"""Recipes: one YAML file per component in stages/recipes/, resolved per stage and mode.

A recipe is data. `stages:` holds per-stage overrides and `modes:` per-toolchain-mode
overrides of the same fields; `resolve_recipe` merges them into one plain dict (later wins:
base < stage < mode), and a build style fills only the fields still unset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from .schema import Field, list_of, load_yaml, matches, one_of, validate

STAGES = ("stage1", "stage2", "stage3")
MODES = ("host", "llvm")
STYLES = ("autotools", "cmake", "meson", "make", "custom")
INSTALL_ROOTS = ("root", "toolchain")

COMMAND_PHASES = ("configure", "build", "install")
HOOK_NAMES = tuple(f"{when}_{phase}" for phase in COMMAND_PHASES for when in ("pre", "post"))


def _commands(value: Any) -> str | None:
    """A list of commands; each command is an argv list of strings."""
    for cmd in value:
        if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
            return (
                f"each command must be a non-empty list of strings (an argv), got {cmd!r}; "
                "write shell snippets as [sh, -c, '...']"
            )
    return None


def _command_map(value: Any) -> str | None:
    bad = sorted(set(value) - set(COMMAND_PHASES))
    if bad:
        return f"unknown phase(s) {bad}; phases are {', '.join(COMMAND_PHASES)}"
    for phase, cmds in value.items():
        if not isinstance(cmds, list) or (problem := _commands(cmds)):
            return f"{phase}: {problem or 'must be a list of commands'}"
    return None


def _fixpoint(value: Any) -> str | None:
    bad = sorted(set(value) - {"env", "compare"})
    if bad:
        return f"unknown key(s) {bad}; use env (a mapping) and compare (a list of paths)"
    if not isinstance(value.get("compare"), list) or not value["compare"]:
        return "compare must be a non-empty list of paths relative to the root"
    return _str_map(value.get("env", {}))


def _str_map(value: Any) -> str | None:
    bad = {k: v for k, v in value.items() if not isinstance(k, str) or not isinstance(v, str)}
    return f"keys and values must be strings, got {bad}" if bad else None


OVERRIDABLE_FIELDS: tuple[Field, ...] = (
    Field("doc", str, "one line saying what this component is"),
    Field("source", str, "name of the source in sources.yml (none for generated content)"),
    Field("style", str, f"build style: {', '.join(STYLES)}", check=one_of(STYLES)),
    Field(
        "depends",
        list,
        "components of the same stage this one builds against (their installs are all it "
        "sees of the stage)",
        check=list_of(str),
    ),
    Field(
        "replaces",
        list,
        "components of the same stage whose files this one may overwrite in the stage's tree",
        check=list_of(str),
    ),
    Field(
        "source_dir",
        str,
        "instead of a source: a directory of this checkout holding the code (our own, e.g. "
        "src/musl-tools); its files' contents enter the prepare signature",
        check=matches(r"[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*", "a relative path in the checkout"),
    ),
    Field("subtrees", list, "only extract these top-level paths of the source", check=list_of(str)),
    Field("srcdir", str, "subdirectory of the source tree to configure/build"),
    Field("out_of_tree", bool, "build in a separate build dir (style default)"),
    Field("prefix", str, "install prefix"),
    Field(
        "install_root",
        str,
        f"where the staged install is merged: {', '.join(INSTALL_ROOTS)}",
        check=one_of(INSTALL_ROOTS),
    ),
    Field(
        "where",
        str,
        "stage3 only: run in the chroot or on the host",
        check=one_of(("chroot", "host")),
    ),
    Field(
        "cmake_caches",
        list,
        "cmake style: initial-cache files toolchain/cmake/<name>.cmake loaded with -C, for "
        "settings several recipes share",
        check=list_of(str),
    ),
    Field("configure_args", list, "extra configure/cmake/meson arguments", check=list_of(str)),
    Field(
        "make_args", list, "extra make/ninja arguments for build and install", check=list_of(str)
    ),
    Field("build_targets", list, "targets to build (style default: all)", check=list_of(str)),
    Field("install_targets", list, "install targets (style default: install)", check=list_of(str)),
    Field(
        "post_patch",
        list,
        "host commands run in the patched source tree when it is prepared (e.g. autoreconf)",
        check=_commands,
    ),
    Field("env", dict, "extra environment for every command", check=_str_map),
    Field(
        "fixpoint",
        dict,
        "stage3: rebuild with `env` on top (its own output as compiler); the `compare` "
        "paths must come out byte-identical",
        check=_fixpoint,
    ),
    Field("steps", dict, "custom style: commands per phase", check=_command_map),
    *(Field(h, list, f"commands run {h.replace('_', ' ')}", check=_commands) for h in HOOK_NAMES),
)

RECIPE_FIELDS: tuple[Field, ...] = (
    *OVERRIDABLE_FIELDS,
    Field(
        "shared",
        bool,
        "stage1 only: built once, for the build machine, and used by every target (its "
        "commands may not name target variables such as ${triplet})",
    ),
    Field("stages", dict, "per-stage overrides: stage name -> fields"),
    Field("modes", dict, "per-toolchain-mode overrides: host/llvm -> fields"),
    Field(
        "host_markers_allowed",
        dict,
        "audits: root-relative glob -> why its files may contain host toolchain markers "
        "(`/usr/lib/gcc`, ...); never build paths. Not part of the build signature",
        check=_str_map,
    ),
)
# Fields about checking the output, not producing it: kept out of the resolved recipe, so
# changing one re-runs the checks and no build.
CHECK_FIELDS = ("host_markers_allowed",)


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    base: dict[str, Any]
    stage_overrides: dict[str, dict[str, Any]]
    mode_overrides: dict[str, dict[str, Any]]
    host_markers_allowed: dict[str, str]


EXTEND = "+"  # `field+:` in an override appends to a list field instead of replacing it


def _overrides(raw: Any, allowed: tuple[str, ...], kind: str, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"'{kind}' must be a mapping", where=where)
    result = {}
    for key, fields in raw.items():
        if key not in allowed:
            raise ConfigError(
                f"unknown {kind[:-1]} '{key}'", where=where, fix=f"use one of: {', '.join(allowed)}"
            )
        here = f"{where} ({kind}.{key})"
        if not isinstance(fields, dict):
            raise ConfigError("expected a mapping of fields", where=here)
        plain = {k: v for k, v in fields.items() if not str(k).endswith(EXTEND)}
        checked = validate(plain, OVERRIDABLE_FIELDS, here)
        result[key] = {k: v for k, v in checked.items() if v is not None}
        result[key].update(_extensions(fields, here))
    return result


def _extensions(fields: dict[str, Any], where: str) -> dict[str, Any]:
    """`configure_args+: [...]`: items appended to the field's value so far."""
    extended = {str(k)[: -len(EXTEND)]: v for k, v in fields.items() if str(k).endswith(EXTEND)}
    lists = {f.name for f in OVERRIDABLE_FIELDS if f.type is list}
    if bad := sorted(set(extended) - lists):
        raise ConfigError(
            f"only list fields can be extended with '{EXTEND}': {', '.join(bad)}",
            where=where,
            fix=f"list fields: {', '.join(sorted(lists))}",
        )
    checked = validate(extended, OVERRIDABLE_FIELDS, where)
    return {f"{k}{EXTEND}": v for k, v in checked.items() if k in extended}


def load_recipe(path: Path) -> Recipe:
    where = str(path)
    data = load_yaml(path)
    entry = validate(data, RECIPE_FIELDS, where)
    kept_apart = ("stages", "modes", *CHECK_FIELDS)
    base = {k: v for k, v in entry.items() if v is not None and k not in kept_apart}
    if "style" not in base:
        raise ConfigError(
            "missing required key 'style'",
            where=where,
            fix=f"set style to one of: {', '.join(STYLES)}",
        )
    return Recipe(
        name=path.stem,
        path=path,
        base=base,
        stage_overrides=_overrides(entry["stages"], STAGES, "stages", where),
        mode_overrides=_overrides(entry["modes"], MODES, "modes", where),
        host_markers_allowed=entry["host_markers_allowed"] or {},
    )


def load_recipes(recipe_dir: Path) -> dict[str, Recipe]:
    return {r.name: r for r in map(load_recipe, sorted(recipe_dir.glob("*.yml")))}


def resolve_recipe(recipe: Recipe, stage: str, mode: str) -> dict[str, Any]:
    """One plain dict for this stage and toolchain mode: base < stage < mode; a `field+`
    override appends to the list so far."""
    resolved = dict(recipe.base)
    for overrides in (recipe.stage_overrides.get(stage, {}), recipe.mode_overrides.get(mode, {})):
        for key, value in overrides.items():
            if key.endswith(EXTEND):
                field = key[: -len(EXTEND)]
                resolved[field] = [*resolved.get(field, []), *value]
            else:
                resolved[key] = value
    resolved["name"] = recipe.name
    return resolved
