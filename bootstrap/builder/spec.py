"""What the component driver runs: one component resolved into its plan and keys
(`ComponentSpec`), and the prepared source tree it builds from (`SourceTree`).

The project resolves them (plan layer); the driver and its environment read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model.config import CachePolicy, FetchPolicy
from ..model.layout import SHARED, Layout
from ..model.sources import Source
from ..model.targets import Target
from .keys import BuildKey


@dataclass(frozen=True)
class SourceTree:
    """An unpacked and patched source tree, identified by its prepare inputs."""

    label: str  # the archive it comes from, for messages
    source: Source | None  # to fetch the archive again if its cached bytes changed
    policy: FetchPolicy
    archive: Path | None
    archive_sha256: str | None  # the pin
    checkout_dir: Path | None  # or a directory of this checkout (a recipe's `source_dir`)
    subtrees: tuple[str, ...]
    patches: tuple[Path, ...]
    post_patch: tuple[tuple[str, ...], ...]
    signature: str
    root: Path  # build/prepared/<signature>
    source_date_epoch: int

    @property
    def log(self) -> Path:
        return self.root.with_name(f"{self.root.name}.log")


@dataclass(frozen=True)
class ComponentSpec:
    """One component of one target and stage, resolved once: its plan (what runs, where,
    with which environment and mounts, against which dependencies) and the keys derived
    from it. The executor runs this plan and nothing else."""

    target: Target
    stage: str
    mode: str
    recipe: dict[str, Any]  # resolved, style defaults filled
    layout: Layout
    tree: SourceTree  # its prepared source, shared with every component that has the same
    jobs: int
    load: int  # no new make/ninja job while the load average is above this
    source_date_epoch: int
    llvm_version: str
    llvm_backends: str  # every target's LLVM backend, `;`-separated (${llvm_backends})
    host_llvm: str  # host mode: the installed LLVM's prefix (${host_llvm})
    prepare_signature: str
    plan: dict[str, Any]  # template form: no absolute paths, no job count
    # the key: the plan's digest plus what its dependencies' layers and the earlier stages'
    # trees actually contain, read when the build is about to run (early cutoff)
    key: BuildKey
    # the same minus the install phase: a build dir made for it can be reused, so a change
    # to an install step does not rebuild LLVM from scratch
    build_dir_key: BuildKey
    closure: tuple[str, ...]  # the stage's components it builds against, in union order
    replaces: tuple[tuple[str, tuple[str, ...]], ...]  # for the closure's union
    note: str = ""  # what the run says once when it builds (e.g. why it emulates)
    cache: CachePolicy | None = None  # where finished layers are kept by key; not in any key

    @property
    def name(self) -> str:
        return self.recipe["name"]

    @property
    def shared(self) -> bool:
        """Built once for every target (build/shared/...)."""
        return bool(self.recipe.get("shared"))

    @property
    def label(self) -> str:
        owner = SHARED if self.shared else self.target.arch
        return f"{owner}/{self.stage}/{self.name}"

    @property
    def work(self) -> Path:
        return self.layout.workdir(self.stage, self.name)

    @property
    def in_chroot(self) -> bool:
        return self.plan["place"] == "chroot"

    @property
    def native_llvm(self) -> bool:
        """A foreign chroot build running the build machine's LLVM (stage1's, mounted)."""
        return any(m["what"] == "stage1" for m in self.plan.get("mounts", ()))
