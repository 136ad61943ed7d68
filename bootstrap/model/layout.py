"""Where each target's trees, work dirs, logs and stamps live under build/<arch>/; a
component built once for every target (a `shared` recipe) lives under build/shared/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SHARED = "shared"  # build/shared/: what every target's stage1 uses


@dataclass(frozen=True)
class Layout:
    base: Path  # build/<arch>
    triplet: str
    shared: frozenset[str] = frozenset()  # "<stage>/<component>" built once, in build/shared

    def home(self, stage: str, component: str) -> Path:
        """build/<arch>, or build/shared for a component every target shares."""
        return self.base.with_name(SHARED) if f"{stage}/{component}" in self.shared else self.base

    @property
    def toolchain(self) -> Path:
        """The stage1 toolchain prefix (bin/, lib/clang/, sysroot/); relocatable as a whole."""
        return self.base / "stage1"

    @property
    def sysroot(self) -> Path:
        return self.toolchain / "sysroot"

    @property
    def cross_files(self) -> Path:
        """Generated CMake toolchain file and meson cross file."""
        return self.toolchain / "share" / "serpent"

    @property
    def cmake_toolchain(self) -> Path:
        return self.cross_files / f"{self.triplet}.cmake"

    @property
    def meson_cross(self) -> Path:
        return self.cross_files / f"{self.triplet}.meson"

    def stage_root(self, stage: str) -> Path:
        """The tree a stage produces: the sysroot for stage1, a root fs for stage2/3."""
        return self.sysroot if stage == "stage1" else self.base / stage

    def tree(self, stage: str) -> Path:
        """Where the union of a stage's layers is assembled: stage1's toolchain prefix (its
        root is the sysroot inside), the root fs for stage2/3."""
        return self.toolchain if stage == "stage1" else self.base / stage

    def workdir(self, stage: str, component: str) -> Path:
        return self.home(stage, component) / "work" / stage / component

    def log(self, stage: str, component: str, kind: str = "") -> Path:
        suffix = f".{kind}" if kind else ""
        return self.home(stage, component).joinpath("logs", stage, f"{component}{suffix}.log")

    def stamp(self, stage: str, component: str, kind: str) -> Path:
        # one joinpath, not three `/`: a no-op run builds thousands of stamp paths
        return self.home(stage, component).joinpath("stamps", stage, f"{component}.{kind}")

    def layers(self, stage: str, component: str) -> Path:
        """Where a component's published layers live, one directory per build key."""
        return self.home(stage, component).joinpath("layers", stage, component)

    def view(self, stage: str, component: str) -> Path:
        """The union a host build compiles against: its dependencies' layers (in stage1 a
        toolchain prefix, later a root)."""
        return self.workdir(stage, component) / "view"

    def union_stamp(self, stage: str) -> Path:
        """Key and digest of the stage's tree, the union of all its layers."""
        return self.base / "stamps" / stage / ".union"
