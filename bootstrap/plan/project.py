"""Load every data file once, validate it, and resolve each component into its plan.

A component's key hashes its plan (source sha256, patch contents, resolved recipe, style
version, expanded commands and environment in template form, mounts, target file, toolchain
mode) with the digests of what its inputs produced: the layers of its dependency closure
and the earlier stage's tree it uses. So a change rebuilds exactly the components whose
inputs' bytes changed (early cutoff). Absolute paths, job counts and wall-clock time stay
out of it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from ..builder import driver
from ..builder.buildenv import (
    HOST_CC,
    NATIVE_EXEC_PATH,
    component_plan,
    in_chroot,
    without_install,
)
from ..builder.keys import BuildKey, digest
from ..builder.spec import ComponentSpec, SourceTree
from ..builder.styles import apply_style
from ..builder.styles import cmake as cmake_style
from ..checks.audit import ForbiddenStrings
from ..core.errors import ConfigError
from ..core.fsutil import checkout_digest
from ..exec import runner
from ..fetching.fetch import cache_path
from ..fetching.patch import patch_digest, patch_series
from ..model.config import Config
from ..model.layout import Layout
from ..model.profiles import Profile, load_profiles
from ..model.recipes import STAGES, Recipe, load_recipes, resolve_recipe
from ..model.sources import Source, load_sources
from ..model.targets import Target, load_targets, select_targets
from .graph import Node, StageGraph, stage_graph

LLVM_SOURCE = "llvm-project"
DRIVER_MODULE = driver.__name__  # bootstrap.builder.driver: recipes run it with -m
# stage3's own compiler: its clang and what clang's resource dir holds beside its headers
# (the builtins and crt files a link needs), each with what it depends on
STAGE3_COMPILER = ("llvm", "compiler-rt-builtins")


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
        return Layout(self.config.paths.build / target.arch, target.triplet, self.shared)

    @cached_property
    def shared(self) -> frozenset[str]:
        """`<stage>/<component>` built once for every target (recipes marked `shared`)."""
        shared = set()
        for stage in STAGES:
            for name in self.profile.components(stage):
                if not self.recipes[name].base.get("shared"):
                    continue
                if stage != "stage1":
                    raise ConfigError(
                        f"shared component '{name}' is listed in {stage}",
                        where=str(self.config.paths.profiles_file),
                        fix="only stage1 builds tools for the build machine: move it to stage1",
                    )
                if self.recipes[name].base.get("install_root") != "toolchain":
                    raise ConfigError(
                        f"shared component '{name}' installs into the stage root",
                        where=str(self.recipes[name].path),
                        fix="a tool for the build machine goes into the toolchain prefix: "
                        "add `install_root: toolchain`",
                    )
                shared.add(f"{stage}/{name}")
        return frozenset(shared)

    @property
    def host_llvm(self) -> str:
        """Host mode's LLVM: the option, or the installed one matching the pinned source."""
        major = self.llvm_version.split(".")[0]
        return self.config.selection.host_llvm or f"/usr/lib/llvm-{major}"

    @cached_property
    def host_llvm_build(self) -> list[int] | None:
        """Host mode's installed LLVM, as its clang's size and mtime: a package installs the
        same file with the same mtime on every machine (so a shared cache stays shared), and
        another build or release of it makes other keys. None when it is missing (the
        preflight and the toolchain build say so)."""
        try:
            found = (Path(self.host_llvm) / "bin" / "clang").stat()
        except OSError:
            return None
        return [found.st_size, int(found.st_mtime)]

    @cached_property
    def host_cc_build(self) -> list[str]:
        """The build machine's C compiler and C library as they name themselves, with the
        distribution's revision (`gcc (Debian 12.2.0-14+deb12u1) 12.2.0`): what a program
        compiled and linked statically by them is made of. Empty where one is missing."""
        return [_first_line([HOST_CC, "--version"]), _first_line(["ldd", "--version"])]

    @cached_property
    def llvm_backends(self) -> str:
        """Every known target's LLVM backend: the shared LLVM serves them all, whichever are
        selected, so selecting fewer never rebuilds it."""
        return ";".join(sorted({t.llvm_backend for t in self.targets.values()}))

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
            host_markers=("/usr/lib/llvm-", "/usr/lib/gcc", "-linux-gnu/", NATIVE_EXEC_PATH),
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
            Path(driver.__file__),
            *sorted((repo / "toolchain" / "templates").glob("*")),
        ]
        return digest(
            {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}
        )

    def resolved(self, stage: str, name: str) -> dict[str, Any]:
        """The recipe for this stage and mode, style defaults filled, with the stage's
        shared dependencies (the profile's `base`, each member depending on the ones listed
        before it) added to its own."""
        recipe = apply_style(resolve_recipe(self.recipes[name], stage, self.mode))
        base = self.profile.base.get(stage, ())
        shared = base[: base.index(name)] if name in base else base  # base: in listed order
        recipe["depends"] = [*shared, *(d for d in recipe["depends"] if d not in shared)]
        return recipe

    def graph(self, stage: str) -> StageGraph:
        if stage not in self._graphs:
            resolved = {n: self.resolved(stage, n) for n in self.profile.components(stage)}
            nodes = [
                Node(
                    name=n,
                    depends=tuple(r["depends"]),
                    replaces=tuple(r["replaces"]),
                    recipe_path=self.recipes[n].path,
                )
                for n, r in resolved.items()
            ]
            self._graphs[stage] = stage_graph(
                stage, nodes, lambda n: self._later(stage, n), frozenset(self.recipes)
            )
        return self._graphs[stage]

    @cached_property
    def _graphs(self) -> dict[str, StageGraph]:
        return {}

    def _later(self, stage: str, name: str) -> str | None:
        later = STAGES[STAGES.index(stage) + 1 :]
        return next((s for s in later if name in self.profile.components(s)), None)

    def components(self, target: Target) -> list[ComponentSpec]:
        """Every component of every stage for one target, dependencies first (resolved
        once per target)."""
        if target.arch not in self._specs:
            self._specs[target.arch] = [
                self._component(target, stage, name)
                for stage in STAGES
                for name in self.graph(stage).order
            ]
        return self._specs[target.arch]

    @cached_property
    def _specs(self) -> dict[str, list[ComponentSpec]]:
        return {}

    def _component(self, target: Target, stage: str, name: str) -> ComponentSpec:
        recipe = self.resolved(stage, name)
        source = self.sources[recipe["source"]] if recipe.get("source") else None
        patches = self.patches[source.name] if source else ()
        checkout_dir = self.checkout_dir(name, recipe)
        prepare = self.prepare_signature(recipe, source, patches, checkout_dir)
        graph = self.graph(stage)
        closure = graph.closure(name)
        layout = self.layout(target)
        inputs = tuple(
            (f"{stage}/{dep}", layout.stamp(stage, dep, "built")) for dep in sorted(closure)
        )
        native = self.runs_native_llvm(target, stage, recipe)
        inputs += tuple(
            (f"{s} tree", layout.union_stamp(s)) for s in self.sees(stage, recipe, native)
        )
        shared = f"{stage}/{name}" in self.shared
        if shared and (per_target := [d for d in closure if f"{stage}/{d}" not in self.shared]):
            raise ConfigError(
                f"shared component '{name}' depends on {', '.join(per_target)}, which is "
                "built per target",
                where=str(self.recipes[name].path),
                fix="a shared component may depend only on other shared components",
            )
        plan = component_plan(stage, recipe, native=native)
        common = {
            "prepare": prepare,
            "closure": sorted(closure),  # what it sees, not the order of the profile's lists
            "files": self.work_files(name, recipe),
            "target": {"backends": self.llvm_backends} if shared else target.signature(),
            "mode": self.mode,
            "llvm": self.llvm_version,
            "engine": self.engine_digest if runs_driver(plan) else None,
            # in host mode every build is compiled by the host's LLVM; in llvm mode only a
            # build that runs its programs (stage1's LLVM is compiled by its clang, stage2's
            # cross LLVM runs its llvm-tblgen)
            **(
                {"host_llvm": self.host_llvm_build}
                if self.mode == "host" or uses(plan, "host_llvm")
                else {}
            ),
            # a program for the build machine, compiled by its C compiler (native-exec)
            **({"host_cc": self.host_cc_build} if uses(plan, "host_cc") else {}),
        }
        plan = {**plan, "files": common["files"]}
        return ComponentSpec(
            target=target,
            stage=stage,
            mode=self.mode,
            recipe=recipe,
            layout=layout,
            tree=SourceTree(
                label=(
                    cache_path(source, self.config.fetch_policy).name
                    if source
                    else recipe.get("source_dir", "no-source")
                ),
                source=source,
                policy=self.config.fetch_policy,
                archive=cache_path(source, self.config.fetch_policy) if source else None,
                archive_sha256=source.sha256 if source else None,
                checkout_dir=checkout_dir,
                subtrees=tuple(recipe["subtrees"]),
                patches=patches,
                post_patch=tuple(tuple(argv) for argv in recipe.get("post_patch", [])),
                signature=prepare,
                root=self.config.paths.build / "prepared" / prepare,
                source_date_epoch=self.config.source_date_epoch,
            ),
            jobs=self.config.jobs,
            load=self.config.load,
            source_date_epoch=self.config.source_date_epoch,
            llvm_version=self.llvm_version,
            llvm_backends=self.llvm_backends,
            host_llvm=self.host_llvm,
            prepare_signature=prepare,
            plan=plan,
            key=BuildKey(digest({**common, "plan": plan}), inputs),
            build_dir_key=BuildKey(
                digest(
                    {
                        **common,
                        "plan": {
                            **component_plan(stage, recipe, ("configure", "build"), native),
                            "recipe": without_install(recipe),
                        },
                    }
                ),
                inputs,
            ),
            closure=closure,
            replaces=tuple((n, graph.replaces[n]) for n in closure),
            note=self.emulation_note if self.emulates(target, stage, recipe) else "",
            cache=self.config.cache,
        )

    def work_files(self, name: str, recipe: dict[str, Any]) -> dict[str, str]:
        """Files of this checkout a build reads, by their place in its work dir, with their
        content (so it is part of the plan): the CMake caches it loads."""
        files = {}
        for cache in recipe.get("cmake_caches", []):
            path = self.config.paths.repo / "toolchain" / "cmake" / f"{cache}.cmake"
            if not path.is_file():
                raise ConfigError(
                    f"cmake_caches names '{cache}', but {path} does not exist",
                    where=str(self.recipes[name].path),
                    fix="add the file or fix the name (without .cmake)",
                )
            files[cmake_style.cache_file(cache)] = path.read_text()
        return files

    @staticmethod
    def sees(stage: str, recipe: dict[str, Any], native: bool = False) -> tuple[str, ...]:
        """The earlier stage trees a build uses: stage1's toolchain on the host, stage2's
        tree (at /serpent) in the chroot, and stage1's too when it runs its LLVM there."""
        if stage == "stage1":
            return ()
        if not in_chroot(stage, recipe):
            return ("stage1",)
        return ("stage2", "stage1") if native else ("stage2",)

    # -- foreign-arch chroot builds ---------------------------------------------------------
    def runs_native_llvm(self, target: Target, stage: str, recipe: dict[str, Any]) -> bool:
        """Does this chroot build of a foreign target run stage1's LLVM (built for this
        machine) in place of the emulated stage2 clang? Only where the two are the same
        LLVM, so the bytes are the same (the equivalence check proves it on a sample)."""
        return (
            in_chroot(stage, recipe)
            and not target.is_native()
            and not self.config.selection.emulate
            and not self.native_llvm_unlike
        )

    def emulates(self, target: Target, stage: str, recipe: dict[str, Any]) -> bool:
        """A foreign target's chroot build whose compiler runs under qemu."""
        native = self.runs_native_llvm(target, stage, recipe)
        return in_chroot(stage, recipe) and not target.is_native() and not native

    @cached_property
    def native_llvm_unlike(self) -> str:
        """Why stage1's LLVM is not the same as the one stage2 runs in the chroot ("" when
        it is: llvm mode, both built from the pinned source with the same CMake cache)."""
        if self.mode != "llvm":
            return "host mode's LLVM is not the pinned build that stage2's clang is"
        if "llvm" not in self.profile.components("stage2"):
            return "stage2 has no clang (this profile's compiler in the chroot is another)"
        if "native-exec" not in self.profile.components("stage1"):
            return "stage1 does not build native-exec, the chroot's entry points to it"
        cross = resolve_recipe(self.recipes["cross-llvm"], "stage1", self.mode)
        native = resolve_recipe(self.recipes["llvm"], "stage2", self.mode)
        if any(cross.get(f) != native.get(f) for f in ("source", "cmake_caches")):
            return "cross-llvm and llvm differ in their source or CMake cache"
        return ""

    def emulated_twin(self, spec: ComponentSpec, suffix: str = "-emulated") -> ComponentSpec:
        """`spec` built the reference way, its compiler under qemu, in its own work dir
        (the equivalence checks compare the two)."""
        plan = component_plan(spec.stage, spec.recipe, native=False)
        return replace(
            spec,
            recipe={**spec.recipe, "name": spec.name + suffix},
            plan={**plan, "files": spec.plan["files"]},
            note="",
        )

    def compiler_twin(self, spec: ComponentSpec) -> ComponentSpec:
        """`spec` built by the other clang of its stage: stage3's own (the `llvm` component,
        with the builtins and crt files `compiler-rt-builtins` puts in its resource dir)
        where it used /serpent's, /serpent's where it used stage3's; the clang in the
        chroot runs for real (under qemu for a foreign target)."""
        graph = self.graph(spec.stage)
        missing = [n for n in STAGE3_COMPILER if n not in graph.order]
        if missing:
            raise ConfigError(
                "stage3-compiler-equivalence needs stage3's own clang and its builtins, and "
                f"profile '{self.profile.name}' does not build {', '.join(missing)} in "
                f"{spec.stage}",
                where=str(self.config.paths.profiles_file),
                fix=f"add {', '.join(missing)} to stage3, or drop stage3-compiler-equivalence "
                "from checks",
            )
        compiler = {*STAGE3_COMPILER, *(d for n in STAGE3_COMPILER for d in graph.closure(n))}
        closure = (
            set(spec.closure) - {"llvm"} if "llvm" in spec.closure else set(spec.closure) | compiler
        ) - {spec.name}  # never its own output (llvm-runtimes is in llvm's closure)
        ordered = tuple(n for n in graph.order if n in closure)
        return replace(
            self.emulated_twin(spec, "-other-clang"),
            closure=ordered,
            replaces=tuple((n, graph.replaces[n]) for n in ordered),
        )

    @cached_property
    def emulation_note(self) -> str:
        """What a run says once about foreign chroot builds emulating their compiler."""
        if self.config.selection.emulate:
            return ""
        return (
            f"a foreign target's stage3 runs its compiler under qemu: {self.native_llvm_unlike} "
            "(with --toolchain llvm and the full profile it runs natively)"
        )

    def checkout_dir(self, name: str, recipe: dict[str, Any]) -> Path | None:
        """The checkout directory a recipe's `source_dir` names, checked."""
        if "source_dir" not in recipe:
            return None
        where = str(self.recipes[name].path)
        if recipe.get("source"):
            raise ConfigError(
                "a recipe has either `source` or `source_dir`, not both",
                where=where,
                fix="drop one of them",
            )
        directory = self.config.paths.repo / recipe["source_dir"]
        if ".." in Path(recipe["source_dir"]).parts or not directory.is_dir():
            raise ConfigError(
                f"source_dir '{recipe['source_dir']}' is not a directory of this checkout",
                where=where,
                fix="name a directory relative to the checkout's top, e.g. src/musl-tools",
            )
        return directory

    @staticmethod
    def prepare_signature(
        recipe: dict[str, Any],
        source: Source | None,
        patches: tuple[Path, ...],
        checkout_dir: Path | None = None,
    ) -> str:
        inputs = {
            "sha256": source.sha256 if source else None,
            "subtrees": recipe["subtrees"],
            "patches": patch_digest(patches),
        }
        if checkout_dir is not None:
            inputs["checkout"] = checkout_digest(checkout_dir)
        if recipe.get("post_patch"):
            inputs["post_patch"] = recipe["post_patch"]
        return digest(inputs)


def _first_line(argv: list[str]) -> str:
    try:
        return runner.query(argv).stdout.partition("\n")[0]
    except OSError:
        return ""


def uses(plan: dict[str, Any], variable: str) -> bool:
    """Does the build's environment or a command of it name ${variable} (a tool of the
    build machine whose build then is an input)?"""
    commands = plan["commands"].values()
    texts = [*plan["env"].values(), *(arg for phase in commands for argv in phase for arg in argv)]
    return any(f"${{{variable}}}" in text for text in texts)


def runs_driver(plan: dict[str, Any]) -> bool:
    """Does the build run the engine's driver setup (whose code and templates then are
    inputs of its output)?"""
    commands = plan["commands"].values()
    return any(DRIVER_MODULE in arg for phase in commands for argv in phase for arg in argv)
