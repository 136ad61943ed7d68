"""Load every data file once, validate it, and derive each component's chained signature.

A component's build signature hashes its own inputs (source sha256, patch contents, resolved
recipe, style version, target file, toolchain mode) together with the signature of the
component before it, so a change re-runs that component and everything after it in its stage
and in later stages, and nothing else (BitBake's task-hash idea, checked by doit's
config_changed). Absolute paths, job counts and wall-clock time stay out of it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .audit import ForbiddenStrings
from .build import ComponentSpec
from .buildenv import build_inputs, without_install
from .config import Config
from .errors import ConfigError
from .fetch import cache_path
from .layout import Layout
from .patch import patch_digest, patch_series
from .profiles import Profile, load_profiles
from .recipes import STAGES, Recipe, load_recipes, resolve_recipe
from .sources import Source, load_sources
from .styles import apply_style
from .targets import Target, load_targets, select_targets

LLVM_SOURCE = "llvm-project"


def digest(data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Project:
    config: Config
    sources: dict[str, Source]
    targets: dict[str, Target]
    recipes: dict[str, Recipe]
    profiles: dict[str, Profile]

    @classmethod
    def load(cls, config: Config) -> Project:
        paths = config.paths
        recipes = load_recipes(paths.recipe_dir)
        project = cls(
            config=config,
            sources=load_sources(paths.sources_file, config.sources_overrides),
            targets=load_targets(paths.toolchain_dir),
            recipes=recipes,
            profiles=load_profiles(paths.profiles_file, recipes),
        )
        project._check_recipe_sources()
        project.patches  # noqa: B018 - a broken series is an error before any task runs
        return project

    def _check_recipe_sources(self) -> None:
        for recipe in self.recipes.values():
            variants = [
                recipe.base,
                *recipe.stage_overrides.values(),
                *recipe.mode_overrides.values(),
            ]
            for fields in variants:
                name = fields.get("source")
                if name and name not in self.sources:
                    raise ConfigError(
                        f"source '{name}' is not in sources.yml",
                        where=str(recipe.path),
                        fix=f"known sources: {', '.join(sorted(self.sources))}",
                    )

    @cached_property
    def patches(self) -> dict[str, tuple[Path, ...]]:
        """Each source's patch series (patches/<source>/)."""
        patch_dir = self.config.paths.patch_dir
        return {name: tuple(patch_series(patch_dir / name)) for name in self.sources}

    # -- the selection ---------------------------------------------------------------------
    @cached_property
    def profile(self) -> Profile:
        name = self.config.selection.profile
        if name not in self.profiles:
            raise ConfigError(
                f"unknown profile '{name}'", fix=f"use one of: {', '.join(self.profiles)}"
            )
        return self.profiles[name]

    @property
    def mode(self) -> str:
        return self.config.selection.toolchain or self.profile.toolchain

    @cached_property
    def selected_targets(self) -> list[Target]:
        return select_targets(self.targets, self.config.selection.target)

    @property
    def llvm_version(self) -> str:
        return self.sources[LLVM_SOURCE].version if LLVM_SOURCE in self.sources else "0"

    def layout(self, target: Target) -> Layout:
        return Layout(self.config.paths.build / target.arch, target.triplet)

    def selected_sources(self) -> list[Source]:
        """Sources the selected profile's components need (the same for every target)."""
        names: set[str] = set()
        for stage in STAGES:
            for comp in self.profile.components(stage):
                if source := resolve_recipe(self.recipes[comp], stage, self.mode).get("source"):
                    names.add(source)
        return [self.sources[n] for n in sorted(names)]

    def forbidden_strings(self) -> ForbiddenStrings:
        """Build and host paths that must not appear in outputs, with the files the
        selected profile's recipes vouch for."""
        paths = self.config.paths
        names = sorted({c for stage in STAGES for c in self.profile.components(stage)})
        allowed = {
            glob: f"{name}: {why}"
            for name in names
            for glob, why in self.recipes[name].host_markers_allowed.items()
        }
        return ForbiddenStrings(
            paths=(str(paths.build), str(paths.repo)),
            host_markers=("/usr/lib/llvm-", "/usr/lib/gcc", "-linux-gnu/"),
            markers_allowed=tuple(sorted(allowed.items())),
        )

    @cached_property
    def acceptance_digest(self) -> str:
        files = sorted((self.config.paths.repo / "toolchain" / "acceptance").glob("*"))
        return digest({f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files})

    # -- components and signatures --------------------------------------------------------
    @cached_property
    def engine_digest(self) -> str:
        """Engine files whose output lands in the trees: the driver setup and its templates."""
        repo = self.config.paths.repo
        files = [
            Path(__file__).with_name("driver.py"),
            *sorted((repo / "toolchain" / "templates").glob("*")),
        ]
        return digest(
            {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}
        )

    def components(self, target: Target) -> list[ComponentSpec]:
        """Every component of every stage for one target, in build order, signatures chained."""
        specs: list[ComponentSpec] = []
        previous = digest(
            {"mode": self.mode, "target": target.signature(), "engine": self.engine_digest}
        )
        for stage in STAGES:
            names = self.profile.components(stage)
            for i, name in enumerate(names):
                spec = self._component(target, stage, name, previous, tuple(names[i + 1 :]))
                specs.append(spec)
                previous = spec.signature
        return specs

    def _component(
        self, target: Target, stage: str, name: str, previous: str, successors: tuple[str, ...]
    ) -> ComponentSpec:
        recipe = apply_style(resolve_recipe(self.recipes[name], stage, self.mode))
        source = self.sources[recipe["source"]] if recipe.get("source") else None
        patches = self.patches[source.name] if source else ()
        prepare = self.prepare_signature(recipe, source, patches)
        return ComponentSpec(
            target=target,
            stage=stage,
            mode=self.mode,
            recipe=recipe,
            layout=self.layout(target),
            archive=cache_path(source, self.config.fetch_policy) if source else None,
            archive_sha256=source.sha256 if source else None,
            patches=patches,
            jobs=self.config.jobs,
            source_date_epoch=self.config.source_date_epoch,
            llvm_version=self.llvm_version,
            prepare_signature=prepare,
            successors=successors,
            signature=digest(
                {
                    "previous": previous,
                    "prepare": prepare,
                    "recipe": recipe,
                    "inputs": build_inputs(stage, recipe),
                    "llvm": self.llvm_version,
                }
            ),
            build_dir_signature=digest(
                {
                    "previous": previous,
                    "prepare": prepare,
                    "recipe": without_install(recipe),
                    "inputs": build_inputs(stage, recipe, ("configure", "build")),
                    "llvm": self.llvm_version,
                }
            ),
        )

    @staticmethod
    def prepare_signature(
        recipe: dict[str, Any], source: Source | None, patches: tuple[Path, ...]
    ) -> str:
        inputs = {
            "sha256": source.sha256 if source else None,
            "subtrees": recipe["subtrees"],
            "patches": patch_digest(patches),
        }
        if recipe.get("post_patch"):
            inputs["post_patch"] = recipe["post_patch"]
        return digest(inputs)
