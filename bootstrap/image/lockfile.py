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
from ..builder.layers import Entry, layer_manifest, manifest_digest
from ..builder.spec import ComponentSpec
from ..core.errors import BootstrapError
from ..core.fsutil import write_atomic, write_bytes_atomic
from ..fetching.patch import patch_digest
from .manifest import parse_manifests, render_manifests
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
    current_key(spec.key, str(spec.lockfile))  # everything it reads is built
    known = _known_manifests(spec.files)
    manifests: dict[str, tuple[str, list[Entry]]] = {}
    components = []
    for comp in spec.components:
        locked, entries = _lock_component(comp, known)
        components.append(locked)
        manifests[locked.label] = (locked.digest, entries)
    data = render_manifests(manifests).encode("utf-8", "surrogateescape")
    spec.files.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(spec.files, data, 0o644)
    lock = Lock(
        arch=spec.arch,
        profile=spec.profile,
        toolchain=spec.toolchain,
        source_date_epoch=spec.source_date_epoch,
        manifests=hashlib.sha256(data).hexdigest(),
        components=tuple(sorted(components, key=lambda c: c.label)),
        stages=tuple(
            StageLock(label, _stamp(path, label)["digest"]) for label, path in spec.stages
        ),
        rootfs=_lock_rootfs(spec.rootfs, spec.rootfs_stamp),
    )
    write_atomic(spec.lockfile, render_lock(lock))
    return lock


def _stamp(path: Path, label: str) -> dict[str, str]:
    record = read_stamp(path)
    if record is None:
        raise BootstrapError(
            f"{label} is not built (no stamp {path})",
            fix="write the lockfile through `doit lock`, which builds everything first",
        )
    return record


def _known_manifests(files: Path) -> dict[str, tuple[str, list[Entry]]]:
    """The manifests the previous lockfile recorded: a layer with the same digest has the
    same entries (they still hash to it), so only new layers are hashed again."""
    try:
        text = files.read_bytes().decode("utf-8", "surrogateescape")
        return parse_manifests(text, str(files))
    except (OSError, BootstrapError):
        return {}


def _lock_component(
    spec: ComponentSpec, known: Mapping[str, tuple[str, list[Entry]]]
) -> tuple[ComponentLock, list[Entry]]:
    record = _stamp(spec.layout.stamp(spec.stage, spec.name, "built"), spec.label)
    if spec.key() != record["key"]:
        raise BootstrapError(
            f"{spec.label}: its stamp holds another key than its inputs give now",
            fix="write the lockfile through `doit lock`, which rebuilds what is out of date",
        )
    entries = _layer_entries(spec, record, known)
    inputs = tuple(sorted((what, _stamp(path, what)["digest"]) for what, path in spec.key.inputs))
    locked = ComponentLock(
        label=spec.label,
        key=record["key"],
        digest=record["digest"],
        files=len(entries),
        source=spec.tree.archive_sha256 or NONE,
        patches=patch_digest(spec.tree.patches),
        prepare=spec.prepare_signature,
        recipe=digest(spec.plan),
        plan=spec.key.plan,
        depends=tuple(spec.recipe["depends"]),
        inputs=inputs,
    )
    return locked, entries


def _layer_entries(
    spec: ComponentSpec, record: dict[str, str], known: Mapping[str, tuple[str, list[Entry]]]
) -> list[Entry]:
    digest_before, entries_before = known.get(spec.label, ("", []))
    if digest_before == record["digest"] == manifest_digest(entries_before):
        return entries_before
    layer = spec.layout.layers(spec.stage, spec.name) / record["key"]
    stamp = spec.layout.stamp(spec.stage, spec.name, "built")
    entries = layer_manifest(layer) if layer.is_dir() else []
    if not layer.is_dir() or manifest_digest(entries) != record["digest"]:
        raise BootstrapError(
            f"{spec.label}: its layer no longer has the content it was published with",
            where=str(layer),
            fix=f"something wrote into it: delete {stamp} and run again to rebuild it",
        )
    return entries


def _lock_rootfs(spec: RootfsSpec | None, stamp: Path | None) -> RootfsLock | None:
    if spec is None or stamp is None:
        return None
    record = _stamp(stamp, "the rootfs")
    manifest = spec.out_dir / f"{spec.name}.manifest.tsv"
    try:
        line = SHA_LINE.fullmatch(spec.checksum.read_text())
        entries = len(manifest.read_text().splitlines()) - 1  # without its header
    except OSError as err:
        raise BootstrapError(
            f"cannot read the rootfs outputs: {err.strerror}",
            where=str(err.filename),
            fix="pack the rootfs again (`doit rootfs`)",
        ) from None
    if line is None:
        raise BootstrapError(
            "not a sha256sum line", where=str(spec.checksum), fix="pack the rootfs again"
        )
    return RootfsLock(spec.tarball.name, record["key"], line.group(1), entries)


# -- the text ------------------------------------------------------------------------------
def _str(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, bar non-BMP surrogate pairs)."""
    return json.dumps(text, ensure_ascii=False)


def _table(name: str, fields: Mapping[str, Any]) -> list[str]:
    lines = ["", f"[{name}]"]
    for key, value in fields.items():
        if isinstance(value, int):
            lines.append(f"{key} = {value}")
        elif isinstance(value, str):
            lines.append(f"{key} = {_str(value)}")
        else:
            lines.append(f"{key} = [{', '.join(_str(v) for v in value)}]")
    return lines


def render_lock(lock: Lock) -> str:
    lines = [
        HEADER.rstrip("\n"),
        f"format = {FORMAT}",
        f"arch = {_str(lock.arch)}",
        f"profile = {_str(lock.profile)}",
        f"toolchain = {_str(lock.toolchain)}",
        f"source_date_epoch = {lock.source_date_epoch}",
        f"manifests = {_str(lock.manifests)}",
    ]
    for c in lock.components:
        name = f"components.{_str(c.label)}"
        lines += _table(
            name,
            {
                "key": c.key,
                "digest": c.digest,
                "files": c.files,
                "source": c.source,
                "patches": c.patches,
                "prepare": c.prepare,
                "recipe": c.recipe,
                "plan": c.plan,
                "depends": c.depends,
            },
        )
        if c.inputs:
            lines += _table(f"{name}.inputs", {_str(what): d for what, d in c.inputs})
    for s in lock.stages:
        lines += _table(f"stages.{_str(s.label)}", {"digest": s.digest})
    if lock.rootfs:
        r = lock.rootfs
        lines += _table(
            "rootfs", {"file": r.file, "key": r.key, "sha256": r.sha256, "entries": r.entries}
        )
    return "\n".join(lines) + "\n"


# -- reading -------------------------------------------------------------------------------
def parse_lock(text: str, where: str) -> Lock:
    """A lockfile's text as a Lock; an unreadable or foreign one is an error naming `where`."""
    try:
        data = tomllib.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, not {FORMAT}")
        return Lock(
            arch=data["arch"],
            profile=data["profile"],
            toolchain=data["toolchain"],
            source_date_epoch=int(data["source_date_epoch"]),
            manifests=data["manifests"],
            components=tuple(
                _parse_component(label, fields)
                for label, fields in sorted(data.get("components", {}).items())
            ),
            stages=tuple(
                StageLock(label, fields["digest"])
                for label, fields in sorted(data.get("stages", {}).items())
            ),
            rootfs=RootfsLock(**data["rootfs"]) if "rootfs" in data else None,
        )
    except (tomllib.TOMLDecodeError, ValueError, KeyError, TypeError) as err:
        raise BootstrapError(
            f"not a bootstrap.lock of this version: {err}",
            where=where,
            fix="compare with a lockfile written by this checkout's `doit lock`",
        ) from None


def _parse_component(label: str, fields: dict[str, Any]) -> ComponentLock:
    return ComponentLock(
        label=label,
        key=fields["key"],
        digest=fields["digest"],
        files=int(fields["files"]),
        source=fields["source"],
        patches=fields["patches"],
        prepare=fields["prepare"],
        recipe=fields["recipe"],
        plan=fields["plan"],
        depends=tuple(fields["depends"]),
        inputs=tuple(sorted(fields.get("inputs", {}).items())),
    )
