"""The component driver: prepare a source tree, then configure, build, install and merge.

Both entry points are module-level functions taking one frozen ComponentSpec, so doit can
run them in worker processes. A component counts as done only when its stamp is written,
which happens after the staged install was merged into its root.
"""

from __future__ import annotations

import platform
import shlex
import string
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import runner
from .errors import BuildError, ConfigError
from .fsutil import fresh_dir, merge_tree, remove_tree, write_atomic
from .layout import Layout
from .patch import apply_patches
from .styles import style_commands
from .targets import Target
from .unpack import unpack

PHASES = ("configure", "build", "install")

# Variables built from others. Build paths must not leak into binaries (__FILE__, debug
# info), so they are mapped away in every compile.
DERIVED = {
    "cflags": "${target_cflags} -ffile-prefix-map=${workdir}=/usr/src/${name}",
    "cxxflags": "${target_cxxflags} -ffile-prefix-map=${workdir}=/usr/src/${name}",
    "ldflags": "${target_ldflags}",
}

# The environment of every build command, before expansion; a recipe's `env` overrides it.
BASE_ENV = {
    # Compile against the stage's own tree: stage1's sysroot, or the stage2/3 root.
    "CC": "${triplet}-clang --sysroot=${root}",
    "CXX": "${triplet}-clang++ --sysroot=${root}",
    "CPP": "${triplet}-clang --sysroot=${root} -E",
    "LD": "${triplet}-ld.lld",
    "AR": "${triplet}-ar",
    "NM": "${triplet}-nm",
    "RANLIB": "${triplet}-ranlib",
    "STRIP": "${triplet}-strip",
    "OBJCOPY": "${triplet}-objcopy",
    "OBJDUMP": "${triplet}-objdump",
    "READELF": "${triplet}-readelf",
    "HOSTCC": "cc",
    "BUILD_CC": "cc",
    "CC_FOR_BUILD": "cc",
    "CFLAGS": "${cflags}",
    "CXXFLAGS": "${cxxflags}",
    "LDFLAGS": "${ldflags}",
    "PKG_CONFIG_SYSROOT_DIR": "${root}",
    "PKG_CONFIG_LIBDIR": "${root}/usr/lib/pkgconfig:${root}/usr/share/pkgconfig",
    "MAKEFLAGS": "",
}


class RecipeTemplate(string.Template):
    """Only `${name}` is substituted (and `$$` is a literal `$`): shell `$1`/`$HOME` in
    recipe commands pass through untouched."""

    pattern = (
        r"\$(?:(?P<escaped>\$)|\{(?P<braced>[a-z_][a-z0-9_]*)\}|(?P<named>(?!))|(?P<invalid>(?!)))"
    )


REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ComponentSpec:
    """Everything prepare/build need; the signature is the task's chained input hash."""

    target: Target
    stage: str
    mode: str
    recipe: dict[str, Any]  # resolved, style defaults filled
    layout: Layout
    archive: Path | None
    patches: tuple[Path, ...]
    jobs: int
    source_date_epoch: int
    llvm_version: str
    prepare_signature: str
    signature: str

    @property
    def name(self) -> str:
        return self.recipe["name"]

    @property
    def label(self) -> str:
        return f"{self.target.arch}/{self.stage}/{self.name}"

    @property
    def work(self) -> Path:
        return self.layout.workdir(self.stage, self.name)


def prepare_component(spec: ComponentSpec) -> None:
    """Fresh unpack + patches into work/src; never leaves a half-patched tree behind."""
    src = spec.work / "src"
    log = spec.layout.log(spec.stage, spec.name, "prepare")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"prepare {spec.label}\n")
    remove_tree(src)
    staging = spec.work / ".src.tmp"
    remove_tree(staging)
    try:
        if spec.archive is None:
            staging.mkdir(parents=True)
        else:
            unpack(spec.archive, staging, spec.recipe["subtrees"])
        with log.open("a") as fh:
            apply_patches(staging, spec.patches, fh)
    except BaseException:
        remove_tree(staging)
        raise
    staging.rename(src)
    write_atomic(
        spec.layout.stamp(spec.stage, spec.name, "prepared"), spec.prepare_signature + "\n"
    )


def build_component(spec: ComponentSpec) -> None:
    """configure -> build -> install into a staging DESTDIR -> merge -> stamp."""
    if spec.stage == "stage3" and spec.recipe.get("where", "chroot") == "chroot":
        raise BuildError(
            f"{spec.label}: in-chroot builds are not implemented yet",
            fix="set `where: host` in the recipe's stage3 override",
        )
    log = spec.layout.log(spec.stage, spec.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"build {spec.label} (signature {spec.signature})\n")
    builddir = _build_dir(spec)
    destdir = fresh_dir(spec.work / "destdir")
    values = variables(spec, builddir, destdir)
    env = build_env(spec, values)
    commands = style_commands(spec.recipe)
    for phase in PHASES:
        for argv in commands[phase]:
            runner.run(expand(argv, values, spec), cwd=builddir, env=env, log=log)
    root = spec.layout.install_root(spec.stage, spec.recipe.get("install_root", "root"))
    files = merge_tree(destdir, root)
    manifest = spec.layout.stamp(spec.stage, spec.name, "files")
    write_atomic(manifest, "".join(f"{f}\n" for f in files))
    write_atomic(spec.layout.stamp(spec.stage, spec.name, "built"), spec.signature + "\n")


def _build_dir(spec: ComponentSpec) -> Path:
    """Reuse a build dir only if it was made for exactly these inputs (resume), else start
    clean. In-tree styles get a pristine copy of the source tree."""
    builddir = spec.work / "build"
    marker = builddir / ".serpent-signature"
    if marker.is_file() and marker.read_text().strip() == spec.signature:
        return builddir
    remove_tree(builddir)
    src = spec.work / "src"
    if spec.recipe["out_of_tree"]:
        builddir.mkdir(parents=True)
    else:
        runner.run(
            ["cp", "-a", f"{src}/.", str(builddir)],
            cwd=spec.work,
            env=runner.clean_env(source_date_epoch=0, home=spec.work),
            log=spec.layout.log(spec.stage, spec.name),
        )
    marker.write_text(spec.signature + "\n")
    return builddir


def build_triplet() -> str:
    return f"{platform.machine()}-pc-linux-gnu"


def variables(spec: ComponentSpec, builddir: Path, destdir: Path) -> dict[str, str]:
    """The ${names} recipes and styles may use."""
    t, lay = spec.target, spec.layout
    srcdir = (
        spec.work / "src" / spec.recipe["srcdir"] if spec.recipe["srcdir"] else spec.work / "src"
    )
    major = spec.llvm_version.split(".")[0]
    values = {
        "srcdir": str(srcdir),
        "builddir": str(builddir),
        "destdir": str(destdir),
        "workdir": str(spec.work),
        "prefix": spec.recipe["prefix"],
        "jobs": str(spec.jobs),
        "triplet": t.triplet,
        "arch": t.arch,
        "musl_arch": t.musl_arch,
        "kernel_arch": t.kernel_arch,
        "llvm_backend": t.llvm_backend,
        "loader": t.loader,
        "build_triplet": build_triplet(),
        "toolchain": str(lay.toolchain),
        "sysroot": str(lay.sysroot),
        "root": str(lay.stage_root(spec.stage)),
        "cmake_toolchain": str(lay.cmake_toolchain),
        "meson_cross": str(lay.meson_cross),
        "resource_dir": str(lay.toolchain / "lib" / "clang" / major),
        "llvm_version": spec.llvm_version,
        "llvm_major": major,
        "mode": spec.mode,
        "python": sys.executable,
        "repo": str(REPO),
        "target_cflags": t.cflags,
        "target_cxxflags": t.cxxflags,
        "target_ldflags": t.ldflags,
        "name": spec.name,
        "source_date_epoch": str(spec.source_date_epoch),
    }
    for key, template in DERIVED.items():
        values[key] = RecipeTemplate(template).substitute(values).strip()
    values["prefix"] = RecipeTemplate(values["prefix"]).substitute(values)
    return values


def expand(argv: list[str], values: dict[str, str], spec: ComponentSpec) -> list[str]:
    try:
        return [RecipeTemplate(arg).substitute(values) for arg in argv]
    except (KeyError, ValueError) as err:
        raise ConfigError(
            f"unknown or malformed variable {err} in command {shlex.join(argv)}",
            where=f"recipe {spec.name}",
            fix=f"available variables: {', '.join(sorted(values))}",
        ) from None


def env_template(recipe: dict[str, Any]) -> dict[str, str]:
    """The build environment before expansion: BASE_ENV with the recipe's env on top."""
    return {**BASE_ENV, **recipe["env"]}


def build_inputs(recipe: dict[str, Any]) -> dict[str, Any]:
    """What the build executes, in template form (no absolute paths): its environment and
    the derived flags it references. Part of the component's signature."""
    env = env_template(recipe)
    texts = [
        *env.values(),
        *(a for cmds in style_commands(recipe).values() for c in cmds for a in c),
    ]
    used = {k: v for k, v in DERIVED.items() if any(f"${{{k}}}" in t for t in texts)}
    return {"env": env, "derived": used}


def build_env(spec: ComponentSpec, values: dict[str, str]) -> dict[str, str]:
    """Cross tools from the stage1 toolchain, target flags, pkg-config confined to the root."""
    extra = {k: " ".join(expand([v], values, spec)) for k, v in env_template(spec.recipe).items()}
    return runner.clean_env(
        path=[spec.layout.toolchain / "bin"],
        source_date_epoch=spec.source_date_epoch,
        home=spec.work,
        extra=extra,
    )
