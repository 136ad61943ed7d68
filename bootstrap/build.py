"""The component driver: prepare a source tree, then configure, build, install and merge.

Both entry points are module-level functions taking one frozen ComponentSpec, so doit can
run them in worker processes. A component counts as done only when its stamp is written,
which happens after the staged install was merged into its root.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import runner
from .buildenv import CommandRunner, relocates, variables
from .fetch import verify_cached
from .fsutil import (
    MergePlan,
    apply_merge,
    fresh_dir,
    plan_merge,
    remove_tree,
    withdraw_merge,
    write_atomic,
)
from .layout import Layout
from .patch import apply_patches
from .recipes import COMMAND_PHASES
from .relocate import build_path_rewrites, relocate_staged_install
from .styles import style_commands
from .targets import Target
from .unpack import unpack


@dataclass(frozen=True)
class ComponentSpec:
    """Everything prepare/build need; the signature is the task's chained input hash."""

    target: Target
    stage: str
    mode: str
    recipe: dict[str, Any]  # resolved, style defaults filled
    layout: Layout
    archive: Path | None
    archive_sha256: str | None  # the pin
    patches: tuple[Path, ...]
    jobs: int
    source_date_epoch: int
    llvm_version: str
    prepare_signature: str
    signature: str
    # the signature minus the install phase: a build dir made for it can be reused, so a
    # change to an install step does not rebuild LLVM from scratch
    build_dir_signature: str
    successors: tuple[str, ...]  # the stage's components built after this one

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
    stamp = spec.layout.stamp(spec.stage, spec.name, "prepared")
    stamp.unlink(missing_ok=True)  # it vouches for src, which goes now
    remove_tree(src)
    staging = spec.work / ".src.tmp"
    remove_tree(staging)
    try:
        if spec.archive is None:
            staging.mkdir(parents=True)
        else:
            verify_cached(spec.archive)  # its bytes may have changed since the fetch
            unpack(spec.archive, staging, spec.recipe["subtrees"], spec.archive_sha256)
        with log.open("a") as fh:
            source = spec.archive.name if spec.archive else spec.name
            apply_patches(staging, spec.patches, fh, source=source)
        for argv in spec.recipe.get("post_patch", []):
            runner.run(argv, cwd=staging, env=_host_env(spec), log=log)
    except BaseException:
        remove_tree(staging)
        raise
    staging.rename(src)
    write_atomic(stamp, spec.prepare_signature + "\n")


def build_component(spec: ComponentSpec) -> None:
    """withdraw -> configure -> build -> install into a staging DESTDIR -> merge -> stamp.

    The manifest is written before the merge starts, so even a merge cut short can be
    withdrawn exactly."""
    for name in reversed((spec.name, *spec.successors)):
        withdraw_install(spec.layout, spec.stage, name)
    destdir = stage_install(spec)
    if relocates(spec.stage, spec.recipe):
        _relocate(spec, destdir)
    root = spec.layout.install_root(spec.stage, spec.recipe.get("install_root", "root"))
    plan = plan_merge(destdir, root)
    _log_replaced(spec, root, plan)
    aside = spec.layout.stamp(spec.stage, spec.name, "replaced")
    remove_tree(aside)  # nothing names it: our old manifest was withdrawn above
    manifest = {"root": str(root), **asdict(plan)}
    write_atomic(spec.layout.stamp(spec.stage, spec.name, "files"), json.dumps(manifest) + "\n")
    apply_merge(plan, destdir, root, aside)
    write_atomic(spec.layout.stamp(spec.stage, spec.name, "built"), spec.signature + "\n")


def withdraw_install(layout: Layout, stage: str, name: str) -> None:
    """Take a component's merged files back out of its root, stamp first.

    A rebuild of a component rebuilds everything after it (signatures chain), so before it
    builds, its own and its successors' earlier installs leave, latest first: the build sees
    only what precedes it, nothing a new version no longer installs stays behind, and a file
    of an earlier component that it had replaced comes back."""
    manifest = layout.stamp(stage, name, "files")
    try:
        installed = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return  # never merged
    layout.stamp(stage, name, "built").unlink(missing_ok=True)
    # manifests written before replaced files were kept aside have no "replaced"
    plan = MergePlan(installed["files"], installed["dirs"], installed.get("replaced", []))
    withdraw_merge(plan, Path(installed["root"]), layout.stamp(stage, name, "replaced"))
    manifest.unlink()


def _log_replaced(spec: ComponentSpec, root: Path, plan: MergePlan) -> None:
    """Name the earlier components whose files this one replaces (musl's headers over
    musl-headers', busybox's sh over the borrowed one, ...): intended or not, visible."""
    if not plan.replaced:
        return
    owners: dict[Path, str] = {}
    stamps = spec.layout.stamp(spec.stage, spec.name, "files").parent
    # manifests are written in build order (a rebuild withdraws everything after it)
    for manifest in sorted(stamps.glob("*.files"), key=lambda m: m.stat().st_mtime_ns):
        installed = json.loads(manifest.read_text())
        if installed["root"] == str(root):
            owners.update({_real(root, rel): manifest.stem for rel in installed["files"]})
    listed = [f"{rel} ({owners.get(_real(root, rel), '?')})" for rel in plan.replaced]
    more = f" ... {len(listed) - 20} more in {stamps / spec.name}.files" if len(listed) > 20 else ""
    with spec.layout.log(spec.stage, spec.name).open("a") as log:
        log.write(f"merge: replaces {len(listed)} earlier file(s): {' '.join(listed[:20])}{more}\n")


def _real(root: Path, rel: str) -> Path:
    """One spelling per file: `bin/sh` and `usr/bin/sh` are the same through bin -> usr/bin."""
    path = root / rel
    return Path(os.path.realpath(path.parent)) / path.name


def stage_install(spec: ComponentSpec) -> Path:
    """Run the recipe's configure, build and install phases; return the staged DESTDIR."""
    log = spec.layout.log(spec.stage, spec.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"build {spec.label} (signature {spec.signature})\n")
    _build_dir(spec)
    destdir = fresh_dir(spec.work / "destdir")
    commands = CommandRunner(spec, variables(spec), log)
    for phase in COMMAND_PHASES:
        for argv in style_commands(spec.recipe)[phase]:
            commands.run(argv)
    return destdir


def _relocate(spec: ComponentSpec, destdir: Path) -> None:
    values = variables(spec)
    rewrites = build_path_rewrites(
        values["root"], values["workdir"], spec.name, spec.target.triplet
    )
    changed = relocate_staged_install(destdir, rewrites)
    with spec.layout.log(spec.stage, spec.name).open("a") as log:
        log.write(f"relocate: {len(changed)} file(s) rewritten or removed: {' '.join(changed)}\n")


def _host_env(spec: ComponentSpec) -> dict[str, str]:
    return runner.clean_env(source_date_epoch=spec.source_date_epoch, home=spec.work)


def _build_dir(spec: ComponentSpec) -> Path:
    """Reuse a build dir only if it was made for exactly these sources, configure and build
    steps (resume, or a change to the install phase only), else start clean. In-tree styles
    get a pristine copy of the source tree."""
    builddir = spec.work / "build"
    marker = builddir / ".serpent-signature"
    if marker.is_file() and marker.read_text().strip() == spec.build_dir_signature:
        return builddir
    marker.unlink(missing_ok=True)  # first: a removal cut short must not be reused
    remove_tree(builddir)
    src = spec.work / "src"
    if spec.recipe["out_of_tree"]:
        builddir.mkdir(parents=True)
    else:
        runner.run(
            ["cp", "-a", f"{src}/.", str(builddir)],
            cwd=spec.work,
            env=_host_env(spec),
            log=spec.layout.log(spec.stage, spec.name),
        )
    marker.write_text(spec.build_dir_signature + "\n")
    return builddir
