"""The output lockfile: what one target's run built, from what, and which bytes came out.

`<out>/<arch>/bootstrap.lock` is TOML, sorted and stable (no paths, no times): two build
dirs that built the same inputs into the same bytes write the same file. Per component of
every stage (shared ones included): its build key and layer digest (its stamp), the number
of files of its layer, and the inputs that make up its key, in a form a drift report can
explain (source, patches, prepare signature, recipe, the key's whole static part, the
digests of the dependencies it saw). Per stage: the digest of its tree. For the rootfs,
when one was packed: its key, sha256 and entry count. Beside it, `bootstrap.lock.files`
holds every layer's file manifest (`manifest`), whose sha256 the lockfile records.

Schema: docs/design.md, "Lockfile".
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..builder.keys import BuildKey, current_key, digest, read_stamp
from ..builder.spec import ComponentSpec
from ..core.errors import BootstrapError
from ..core.fsutil import write_atomic, write_bytes_atomic
from ..fetching.patch import patch_digest
from .manifest import Entry, layer_manifest, manifest_digest, parse_manifests, render_manifests
from .rootfs import SHA_LINE, RootfsSpec

FORMAT = 1
LOCK_NAME = "bootstrap.lock"
FILES_SUFFIX = ".files"
HEADER = "# serpent-bootstrap lockfile: what this run built, and from what (docs/design.md)\n"
NONE = "-"  # an input a component does not have (no source archive)


@dataclass(frozen=True)
class ComponentLock:
    label: str  # <arch or shared>/<stage>/<name>
    key: str
    digest: str  # of its layer
    files: int  # entries in its layer
    source: str  # the source archive's sha256
    patches: str  # digest of its patch series
    prepare: str  # the prepare signature: source, subtrees, patches, post_patch, ...
    recipe: str  # digest of its plan: resolved recipe, commands, environment, mounts
    plan: str  # the key's static part: the above plus target file, toolchain mode, ...
    depends: tuple[str, ...]  # what its recipe (and the profile's base) names
    inputs: tuple[tuple[str, str], ...]  # (what it saw, its digest), sorted


@dataclass(frozen=True)
class StageLock:
    label: str  # <arch>/<stage>
    digest: str  # of the stage's tree


@dataclass(frozen=True)
class RootfsLock:
    file: str
    key: str
    sha256: str
    entries: int


@dataclass(frozen=True)
class Lock:
    arch: str
    profile: str
    toolchain: str
    source_date_epoch: int
    manifests: str  # sha256 of bootstrap.lock.files
    components: tuple[ComponentLock, ...]  # sorted by label
    stages: tuple[StageLock, ...]
    rootfs: RootfsLock | None

    def component(self, label: str) -> ComponentLock | None:
        return next((c for c in self.components if c.label == label), None)


# -- writing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LockSpec:
    """What the `lock:<arch>` task writes, from the stamps of everything built."""

    arch: str
    profile: str
    toolchain: str
    source_date_epoch: int
    components: tuple[ComponentSpec, ...]
    stages: tuple[tuple[str, Path], ...]  # (label, the stage tree's stamp)
    rootfs: RootfsSpec | None
    rootfs_stamp: Path | None
    lockfile: Path
    key: BuildKey  # of the lockfile itself: every stamp it reads

    @property
    def files(self) -> Path:
        return files_path(self.lockfile)


def files_path(lockfile: Path) -> Path:
    return lockfile.with_name(lockfile.name + FILES_SUFFIX)


def write_lockfile(spec: LockSpec) -> Lock:
    """Write bootstrap.lock.files, then bootstrap.lock (which names the former's sha256)."""
    current_key(spec.key, str(spec.lockfile))  # every input is built
    known = _known_manifests(spec.files)
    manifests: dict[str, tuple[str, list[Entry]]] = {}
    components = []
    for comp in spec.components:
        locked, entries = _lock_component(comp, known)
        components.append(locked)
        manifests[locked.label] = (locked.digest, entries)
    data = render_manifests(manifests).encode("utf-8", "surrogateescape")
    write_bytes_atomic(spec.files, data, 0o644) if spec.files.parent.is_dir() else None
    if not spec.files.exists():
        spec.files.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(spec.files, data, 0o644)
    lock = Lock(
        arch=spec.arch,
        profile=spec.profile,
        toolchain=spec.toolchain,
        source_date_epoch=spec.source_date_epoch,
        manifests=hashlib.sha256(data).hexdigest(),
        components=tuple(sorted(components, key=lambda c: c.label)),
        stages=tuple(StageLock(label, _stamp(stamp, label)["digest"]) for label, stamp in spec.stages),
        rootfs=_lock_rootfs(spec.rootfs, spec.rootfs_stamp),
    )
    write_atomic(spec.lockfile, render_lock(lock))
    return lock
