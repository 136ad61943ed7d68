"""Profiles (stages/profiles.yml): which components each stage builds, and what every
component of a stage builds against (`base`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from .recipes import MODES, STAGES, Recipe
from .schema import Field, list_of, load_yaml, one_of, validate

CHECKS = (
    "stage1-acceptance",
    "stage2-audit",
    "stage2-chroot",
    "stage3-fixpoint",
    "stage3-equivalence",
    "stage3-compiler-equivalence",
    "rootfs-toolchain",
)

PROFILE_FIELDS: tuple[Field, ...] = (
    Field("doc", str, "one line saying what the profile is for", required=True),
    Field(
        "toolchain",
        str,
        "default stage1 toolchain mode: host or llvm",
        required=True,
        check=one_of(MODES),
    ),
    *(
        Field(s, list, f"components of {s} (any order)", default=list, check=list_of(str))
        for s in STAGES
    ),
    Field(
        "base",
        dict,
        "stage -> components every other component of that stage depends on (the root "
        "layout, the libc)",
        default=dict,
    ),
    Field("checks", list, f"checks to run: {', '.join(CHECKS)}", default=list, check=list_of(str)),
    Field(
        "verify_package",
        str,
        "a stage3 component whose source the rootfs-toolchain check builds and tests inside "
        "the rootfs with its own cmake, ninja and clang",
        default="",
    ),
    Field(
        "equivalence",
        list,
        "stage3 components the stage3-equivalence checks build again: with the emulated "
        "compiler (where a foreign target ran the build machine's LLVM), with the other clang",
        default=list,
        check=list_of(str),
    ),
)


@dataclass(frozen=True)
class Profile:
    name: str
    doc: str
    toolchain: str
    stages: dict[str, tuple[str, ...]]
    checks: tuple[str, ...] = ()
    base: dict[str, tuple[str, ...]] = field(default_factory=dict)
    equivalence: tuple[str, ...] = ()
    verify_package: str = ""

    def components(self, stage: str) -> tuple[str, ...]:
        return self.stages.get(stage, ())


def load_profiles(path: Path, recipes: dict[str, Recipe]) -> dict[str, Profile]:
    data = load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
        raise ConfigError("expected a top-level 'profiles:' mapping", where=str(path))
    profiles = {}
    for name, raw in data["profiles"].items():
        where = f"{path}: profile '{name}'"
        entry: dict[str, Any] = validate(raw, PROFILE_FIELDS, where)
        for stage in STAGES:
            _check_components(entry[stage], recipes, f"{where}, {stage}")
        profiles[name] = Profile(
            name=name,
            doc=entry["doc"],
            toolchain=entry["toolchain"],
            stages={s: tuple(entry[s]) for s in STAGES},
            checks=tuple(entry["checks"]),
            base=_base(entry["base"], entry, where),
            equivalence=tuple(entry["equivalence"]),
            verify_package=entry["verify_package"],
        )
        named = {*entry["equivalence"], entry["verify_package"]} - {""}
        if stray := sorted(named - set(entry["stage3"])):
            raise ConfigError(
                f"equivalence or verify_package names {', '.join(stray)}, which stage3 does "
                "not build",
                where=where,
                fix="list stage3 components only",
            )
        unknown = sorted(set(entry["checks"]) - set(CHECKS))
        if unknown:
            raise ConfigError(
                f"unknown check(s): {', '.join(unknown)}",
                where=where,
                fix=f"known checks: {', '.join(CHECKS)}",
            )
    return profiles


def _check_components(names: list[str], recipes: dict[str, Recipe], where: str) -> None:
    missing = [n for n in names if n not in recipes]
    if missing:
        raise ConfigError(
            f"no recipe for component(s): {', '.join(missing)}",
            where=where,
            fix="add stages/recipes/<component>.yml or fix the name",
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"component(s) listed twice: {', '.join(dupes)}", where=where)


def _base(raw: dict[str, Any], entry: dict[str, Any], where: str) -> dict[str, tuple[str, ...]]:
    base = {}
    for stage, names in raw.items():
        if stage not in STAGES or not isinstance(names, list):
            raise ConfigError(
                f"base: '{stage}' must be a stage ({', '.join(STAGES)}) with a list of components",
                where=where,
            )
        missing = [n for n in names if n not in entry[stage]]
        if missing:
            raise ConfigError(
                f"base.{stage} names component(s) {stage} does not build: {', '.join(missing)}",
                where=where,
                fix=f"add them to {stage} or remove them from base.{stage}",
            )
        base[stage] = tuple(names)
    return base
