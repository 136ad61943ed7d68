"""Where a component's commands run, and the variables and environment they see.

Two places: the **host** (stage1, stage2, and stage3 components marked `where: host`), where
the stage1 cross tools build against the stage's tree; and the **chroot** (the rest of
stage3), where the new root is `/`, the stage2 tree is mounted read-only at `/serpent`, and
the component's work dir at `/build`. Recipes use the same `${names}` in both; a name that
means nothing in the chroot (the cross toolchain's paths) is an error there, not a host path
silently baked into a native build.
"""

from __future__ import annotations

import os
import platform
import shlex
import string
import sys
from pathlib import Path
from typing import Any

from ..core.errors import BuildError, ConfigError
from ..exec import runner
from ..exec.binfmt import ensure_binfmt
from ..exec.sandbox import Bind, Sandbox
from ..model.recipes import COMMAND_PHASES
from . import relocate
from .spec import ComponentSpec
from .styles import style_commands

REPO = Path(__file__).resolve().parents[2]
CHROOT_WORK = "/build"  # the component's work dir, inside the chroot
STAGE2_MOUNT = "/serpent"  # the stage2 tree, read-only, inside the chroot
CHROOT_PATH = ("/usr/bin", "/usr/sbin", f"{STAGE2_MOUNT}/usr/bin", f"{STAGE2_MOUNT}/usr/sbin")
# A foreign target's chroot may get the stage1 toolchain (the build machine's build of the
# same LLVM) read-only here, with native-exec's entry points (cc, ld.lld, ar, ...) first in
# PATH: they run it natively where the emulated compiler would run under qemu.
NATIVE_MOUNT = "/native"
NATIVE_EXEC_PATH = f"{NATIVE_MOUNT}/libexec/serpent-native"

# Variables built from others: the C/C++ compiler commands (the cross driver against the
# stage's tree on the host, the root's own in the chroot) and the flags. Build paths must
# not leak into binaries (__FILE__, debug info), so on the host they are mapped away in
# every compile. In the chroot the paths are already neutral (/build/...), and the smoke
# compiler (tcc) has no such option.
DERIVED = {
    "cc": "${triplet}-clang --sysroot=${root}",
    "cxx": "${triplet}-clang++ --sysroot=${root}",
    "cflags": "${target_cflags} -ffile-prefix-map=${workdir}=/usr/src/${name}",
    "cxxflags": "${target_cxxflags} -ffile-prefix-map=${workdir}=/usr/src/${name}",
    "ldflags": "${target_ldflags}",
}
CHROOT_DERIVED = {
    "cc": "cc",
    "cxx": "c++",
    "cflags": "${target_cflags}",
    "cxxflags": "${target_cxxflags}",
    "ldflags": "${target_ldflags}",
}

# Both places: tools that run on the build machine, and the target flags.
COMMON_ENV = {
    "HOSTCC": "cc",
    "BUILD_CC": "cc",
    "CC_FOR_BUILD": "cc",
    "CFLAGS": "${cflags}",
    "CXXFLAGS": "${cxxflags}",
    "LDFLAGS": "${ldflags}",
    # builds run side by side: no new job while the machine is busy (-j stays per build)
    "MAKEFLAGS": "-l${load}",
}

# The environment of every host build command, before expansion; a recipe's `env` wins.
BASE_ENV = {
    # Compile against the stage's own tree: stage1's sysroot, or the stage2/3 root.
    "CC": "${cc}",
    "CXX": "${cxx}",
    "CPP": "${cc} -E",
    "LD": "${triplet}-ld.lld",
    "AR": "${triplet}-ar",
    "NM": "${triplet}-nm",
    "RANLIB": "${triplet}-ranlib",
    "STRIP": "${triplet}-strip",
    "OBJCOPY": "${triplet}-objcopy",
    "OBJDUMP": "${triplet}-objdump",
    "READELF": "${triplet}-readelf",
    **COMMON_ENV,
    "PKG_CONFIG_SYSROOT_DIR": "${root}",
    "PKG_CONFIG_LIBDIR": "${root}/usr/lib/pkgconfig:${root}/usr/share/pkgconfig",
}

# A `shared` component is built for the build machine, once for every target: only what
# keeps the machine's load in check; the recipe names its own compilers.
SHARED_ENV = {"MAKEFLAGS": "-l${load}"}

# Inside the chroot everything is native: the root's own tools first, then /serpent's.
CHROOT_ENV = {
    "CC": "${cc}",
    "CXX": "${cxx}",
    "AR": "ar",
    **COMMON_ENV,
    "CONFIG_SHELL": "/bin/sh",
    # stage2 binaries find their C++ runtime in /serpent until the new root has its own.
    "LD_LIBRARY_PATH": f"/usr/lib:{STAGE2_MOUNT}/usr/lib",
}

# The build machine's C compiler, for what runs on the build machine itself.
HOST_CC = "cc"

# Host-only variables: the cross toolchain, this checkout, the build machine's compiler.
HOST_ONLY = (
    "toolchain",
    "sysroot",
    "cmake_toolchain",
    "meson_cross",
    "resource_dir",
    "python",
    "repo",
    "host_cc",
)


# What differs per target: a `shared` component's plan may not use any of these.
TARGET_VARIABLES = (
    "triplet",
    "arch",
    "musl_arch",
    "kernel_arch",
    "llvm_backend",
    "loader",
    "toolchain",
    "sysroot",
    "root",
    "cmake_toolchain",
    "meson_cross",
    "resource_dir",
    "target_cflags",
    "target_cxxflags",
    "target_ldflags",
    "cc",
    "cxx",
    "cflags",
    "cxxflags",
    "ldflags",
)


class RecipeTemplate(string.Template):
    """Only `${name}` is substituted (and `$$` is a literal `$`): shell `$1`/`$HOME` in
    recipe commands pass through untouched."""

    pattern = (
        r"\$(?:(?P<escaped>\$)|\{(?P<braced>[a-z_][a-z0-9_]*)\}|(?P<named>(?!))|(?P<invalid>(?!)))"
    )


def in_chroot(stage: str, recipe: dict[str, Any]) -> bool:
    return stage == "stage3" and recipe.get("where", "chroot") == "chroot"


def build_triplet() -> str:
    return f"{platform.machine()}-pc-linux-gnu"


def work_paths(spec: ComponentSpec) -> dict[str, str]:
    """The work dir, source dir, build dir and DESTDIR as the commands see them."""
    work = CHROOT_WORK if in_chroot(spec.stage, spec.recipe) else str(spec.work)
    src = f"{work}/src/{spec.recipe['srcdir']}" if spec.recipe["srcdir"] else f"{work}/src"
    build = f"{work}/build"
    return {
        "workdir": work,
        "srcdir": src,
        # What configure scripts record as their srcdir (VPATH, baked into e.g. libpython):
        # relative to the build dir, every command's cwd, so no absolute work path leaks.
        "srcdir_rel": os.path.relpath(src, build),
        "builddir": build,
        "destdir": f"{work}/destdir",
    }


GIB_PER_LINK = 4  # what one LLVM link (clang, lld) may take, with headroom


def link_jobs(jobs: int) -> int:
    """How many big links may run at once: as many as the available memory allows."""
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kib = int(next(ln.split()[1] for ln in meminfo.splitlines() if ln.startswith("MemAvail")))
    except (OSError, StopIteration, ValueError):
        return 1
    return max(1, min(jobs, kib // (GIB_PER_LINK << 20)))


def tool_paths(spec: ComponentSpec) -> tuple[Path, Path]:
    """(toolchain prefix, root) a host build uses: in stage1 its view is the toolchain (its
    root the view's sysroot); later stages use the finished stage1 toolchain and build
    against their view."""
    view = spec.layout.view(spec.stage, spec.name)
    if spec.stage == "stage1":
        return view, view / "sysroot"
    return spec.layout.toolchain, view


def variables(spec: ComponentSpec) -> dict[str, str]:
    """The ${names} recipes and styles may use."""
    t = spec.target
    chroot = in_chroot(spec.stage, spec.recipe)
    major = spec.llvm_version.split(".")[0]
    toolchain, root = tool_paths(spec)
    cross_files = toolchain / "share" / "serpent"
    values = {
        **work_paths(spec),
        "prefix": spec.recipe["prefix"],
        "jobs": str(spec.jobs),
        "load": str(spec.load),
        "link_jobs": str(link_jobs(spec.jobs)),
        "triplet": t.triplet,
        "arch": t.arch,
        "musl_arch": t.musl_arch,
        "kernel_arch": t.kernel_arch,
        "llvm_backend": t.llvm_backend,
        "llvm_backends": spec.llvm_backends,
        "host_llvm": spec.host_llvm,
        "host_cc": HOST_CC,
        "loader": t.loader,
        "build_triplet": t.triplet if chroot else build_triplet(),
        "toolchain": str(toolchain),
        "sysroot": str(toolchain / "sysroot"),
        "root": "/" if chroot else str(root),
        "cmake_toolchain": str(cross_files / f"{t.triplet}.cmake"),
        "meson_cross": str(cross_files / f"{t.triplet}.meson"),
        "resource_dir": str(toolchain / "lib" / "clang" / major),
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
    if chroot:
        values = {k: v for k, v in values.items() if k not in HOST_ONLY}
    if spec.shared:
        values = {k: v for k, v in values.items() if k not in TARGET_VARIABLES}
    else:
        for key, template in (CHROOT_DERIVED if chroot else DERIVED).items():
            values[key] = RecipeTemplate(template).substitute(values).strip()
    values["prefix"] = RecipeTemplate(values["prefix"]).substitute(values)
    return values


def expand(argv: list[str], values: dict[str, str], name: str) -> list[str]:
    try:
        return [RecipeTemplate(arg).substitute(values) for arg in argv]
    except (KeyError, ValueError) as err:
        raise ConfigError(
            f"unknown or malformed variable {err} in command {shlex.join(argv)}",
            where=f"recipe {name}",
            fix=f"available variables here: {', '.join(sorted(values))}",
        ) from None


def env_template(stage: str, recipe: dict[str, Any]) -> dict[str, str]:
    """The build environment before expansion: the place's base with the recipe's on top."""
    if recipe.get("shared"):
        base = SHARED_ENV
    else:
        base = CHROOT_ENV if in_chroot(stage, recipe) else BASE_ENV
    return {**base, **recipe["env"]}


def relocates(stage: str, recipe: dict[str, Any]) -> bool:
    """Host builds merged into a root get their recorded build paths rewritten
    (`relocate`); the chroot's paths are the root's own already."""
    return not in_chroot(stage, recipe) and recipe.get("install_root", "root") == "root"


INSTALL_FIELDS = ("pre_install", "post_install", "install_targets", "install_root")
# Fields that say something about a recipe but do not change what its build runs: its
# description, and what the stage3 fixpoint check does with it afterwards.
NOT_INPUTS = ("doc", "fixpoint")


def full_env(stage: str, recipe: dict[str, Any], native: bool = False) -> dict[str, str]:
    """The complete environment of every command, in template form: what the runner adds
    (runner.clean_env), PATH, the place's base and the recipe's own on top."""
    extra = env_template(stage, recipe)
    if in_chroot(stage, recipe):
        env = runner.clean_env(source_date_epoch="${source_date_epoch}", home="/tmp", extra=extra)
        env["PATH"] = ":".join([NATIVE_EXEC_PATH, *CHROOT_PATH] if native else CHROOT_PATH)
        return env
    return runner.clean_env(
        path=[] if recipe.get("shared") else ["${toolchain}/bin"],
        source_date_epoch="${source_date_epoch}",
        home="${workdir}",
        extra=extra,
    )


def component_plan(
    stage: str,
    recipe: dict[str, Any],
    phases: tuple[str, ...] = COMMAND_PHASES,
    native: bool = False,
) -> dict[str, Any]:
    """What the build executes in `phases`, where, with which environment and mounts, in
    template form (no absolute paths). Its digest is the static part of the build key.
    `native`: a foreign chroot build that runs the stage1 LLVM natively (NATIVE_MOUNT)."""
    chroot = in_chroot(stage, recipe)
    commands = style_commands(recipe, cross=not chroot and not recipe.get("shared"))
    env = full_env(stage, recipe, native)
    texts = [*env.values(), *(a for p in phases for c in commands[p] for a in c)]
    derived = CHROOT_DERIVED if chroot else DERIVED
    plan: dict[str, Any] = {
        "place": "chroot" if chroot else "host",
        "recipe": {k: v for k, v in recipe.items() if k not in NOT_INPUTS},
        "commands": {p: commands[p] for p in phases},
        "env": env,
        "derived": {k: v for k, v in derived.items() if any(f"${{{k}}}" in t for t in texts)},
    }
    if chroot:
        plan["mounts"] = [
            {"what": "stage2", "at": STAGE2_MOUNT, "writable": False},
            {"what": "workdir", "at": CHROOT_WORK, "writable": True},
            {"what": "source", "at": f"{CHROOT_WORK}/src", "writable": False},
            {"what": "view", "at": "/", "writable": False},
        ]
        if native:
            plan["mounts"].append({"what": "stage1", "at": NATIVE_MOUNT, "writable": False})
    if relocates(stage, recipe):
        plan["relocate"] = relocate.VERSION
    if recipe.get("shared"):
        _check_target_free(recipe["name"], texts)
    return plan


def _check_target_free(name: str, texts: list[str]) -> None:
    """A shared component is built once for every target: nothing in it may differ per
    target, which a target variable would."""
    used = sorted({v for v in TARGET_VARIABLES for t in texts if f"${{{v}}}" in t})
    if used:
        raise ConfigError(
            f"shared component '{name}' uses target variable(s) {', '.join(used)}",
            where=f"stages/recipes/{name}.yml",
            fix="a shared build is the same for every target: drop `shared: true` or the "
            "per-target values (${llvm_backends} names every target's LLVM backend)",
        )


class CommandRunner:
    """Runs a component's expanded commands in its place, all output to its log."""

    def __init__(self, spec: ComponentSpec, values: dict[str, str], log: Path) -> None:
        self.spec, self.values, self.log = spec, values, log
        self.chroot = spec.in_chroot
        self.env = {
            k: " ".join(expand([v], values, spec.name)) for k, v in spec.plan["env"].items()
        }
        if self.chroot:
            if os.geteuid() != 0:
                raise BuildError(
                    f"{spec.label} builds inside a chroot, which needs root "
                    "(mount namespaces, chroot)",
                    fix="run doit as root; `doit check` lists what stage3 needs",
                )
            ensure_binfmt(spec.target)
            self.sandbox = Sandbox(
                root=spec.layout.view(spec.stage, spec.name),
                binds=tuple(chroot_binds(spec)),
                readonly_root=True,
            )

    def run(self, argv: list[str]) -> None:
        command = expand(argv, self.values, self.spec.name)
        builddir = self.values["builddir"]
        if self.chroot:
            command = self.sandbox.command(command, cwd=builddir)
            builddir = str(self.spec.work / "build")
        runner.run(command, cwd=Path(builddir), env=self.env, log=self.log)


def chroot_binds(spec: ComponentSpec) -> list[Bind]:
    """The plan's mounts (but the view, which is the root) as the host paths they name."""
    sources = {
        "stage2": spec.layout.stage_root("stage2"),
        "workdir": spec.work,
        "source": spec.work / "src",  # links into the shared prepared tree: never written
        "stage1": spec.layout.tree("stage1"),
    }
    return [
        Bind(sources[m["what"]], m["at"], m["writable"])
        for m in spec.plan["mounts"]
        if m["what"] != "view"
    ]


def without_install(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe minus what only its install phase uses: what a build dir depends on."""
    kept = {k: v for k, v in recipe.items() if k not in (*INSTALL_FIELDS, *NOT_INPUTS)}
    if "install" in kept.get("steps", {}):
        kept["steps"] = {k: v for k, v in kept["steps"].items() if k != "install"}
    return kept
