"""Targets: one YAML file per architecture in toolchain/, validated against TARGET_FIELDS."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from .schema import Field, list_of, load_yaml, matches, validate

NAME = matches(r"[a-z0-9_]+", "a lowercase identifier")

TARGET_FIELDS: tuple[Field, ...] = (
    Field("arch", str, "architecture name as `uname -m` prints it", required=True, check=NAME),
    Field(
        "aliases",
        list,
        "other names of this arch (e.g. Debian's)",
        default=list,
        check=list_of(str),
    ),
    Field("vendor", str, "vendor part of the triplet", default="serpent", check=NAME),
    Field("llvm_backend", str, "LLVM_TARGETS_TO_BUILD name", required=True),
    Field("musl_arch", str, "musl's ARCH (names ld-musl-<arch>.so.1)", required=True),
    Field("kernel_arch", str, "Linux ARCH= for headers_install", required=True),
    Field("qemu", str, "qemu-user binary name for running target code", required=True),
    Field("elf_machine", str, "ELF e_machine name (EM_*)", required=True),
    Field(
        "cpu_features",
        list,
        "CPU flags (/proc/cpuinfo) target code needs: a native stage3 runs it on this host",
        default=list,
        check=list_of(str),
    ),
    Field("cflags", str, "C compiler flags for target code", default=""),
    Field("cxxflags", str, "C++ compiler flags for target code", default=""),
    Field("ldflags", str, "linker flags for target code", default=""),
)

NOT_BUILD_INPUTS = ("cpu_features",)

ARCH_ALIASES = {"amd64": "x86_64", "x86-64": "x86_64", "arm64": "aarch64", "armv8": "aarch64"}


def normalise_arch(name: str) -> str:
    """Map `uname -m`/Debian/kernel spellings to one name (arm64 -> aarch64)."""
    return ARCH_ALIASES.get(name.lower(), name.lower())


@dataclass(frozen=True)
class Target:
    arch: str
    vendor: str
    llvm_backend: str
    musl_arch: str
    kernel_arch: str
    qemu: str
    elf_machine: str
    cflags: str
    cxxflags: str
    ldflags: str
    aliases: tuple[str, ...] = ()
    cpu_features: tuple[str, ...] = ()

    @property
    def triplet(self) -> str:
        return f"{self.arch}-{self.vendor}-linux-musl"

    @property
    def loader(self) -> str:
        """The musl dynamic loader file, at its usr-merged home (a relative link to libc.so)."""
        return f"/usr/lib/ld-musl-{self.musl_arch}.so.1"

    @property
    def interpreter(self) -> str:
        """PT_INTERP of dynamic executables: clang's musl default, valid through /lib -> usr/lib."""
        return f"/lib/ld-musl-{self.musl_arch}.so.1"

    def is_native(self, host_arch: str | None = None) -> bool:
        return normalise_arch(host_arch or platform.machine()) == self.arch

    def signature(self) -> dict[str, Any]:
        """What goes into every build task's up-to-date check: all but `cpu_features`,
        which says where the code may run, not how it is built."""
        return {k: v for k, v in asdict(self).items() if k not in NOT_BUILD_INPUTS}


def load_target(path: Path) -> Target:
    entry = validate(load_yaml(path), TARGET_FIELDS, str(path))
    if entry["arch"] != path.stem:
        raise ConfigError(
            f"arch '{entry['arch']}' does not match the file name",
            where=str(path),
            fix=f"rename the file to {entry['arch']}.yml",
        )
    entry["aliases"] = tuple(entry["aliases"])
    entry["cpu_features"] = tuple(entry["cpu_features"])
    return Target(**entry)


def load_targets(toolchain_dir: Path) -> dict[str, Target]:
    """Every toolchain/<arch>.yml, by arch name."""
    files = sorted(toolchain_dir.glob("*.yml"))
    if not files:
        raise ConfigError("no target files (<arch>.yml) found", where=str(toolchain_dir))
    return {t.arch: t for t in map(load_target, files)}


def select_targets(targets: dict[str, Target], wanted: str) -> list[Target]:
    """`all`, an arch name or an alias -> the matching targets."""
    if wanted == "all":
        return list(targets.values())
    arch = normalise_arch(wanted)
    for target in targets.values():
        if arch == target.arch or wanted in target.aliases:
            return [target]
    raise ConfigError(
        f"unknown target '{wanted}'",
        fix=f"use one of: {', '.join(targets)}, all (or add toolchain/{wanted}.yml)",
    )
