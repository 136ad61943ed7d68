"""The component driver: restore the layer from the cache, or prepare the source tree
and build against the union of the dependencies; publish the result as a layer.

The source is prepared only when a build really runs (a cache hit needs none of it): the
shared prepared tree once, under a lock, whichever parallel build gets there first. The
entry point is a module-level function taking one frozen ComponentSpec, so doit can run it
in worker processes. A component counts as done only when its stamp is written, which
happens after its layer was published under its key.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BuildError, FetchError
from ..core.fsutil import copy_checkout, fresh_dir, remove_tree, write_atomic
from ..exec import runner
from ..fetching.fetch import Warn, fetch_source, print_warning, verify_cached
from ..fetching.patch import apply_patches
from ..fetching.unpack import unpack
from ..model.layout import Layout
from ..model.recipes import COMMAND_PHASES
from .buildenv import CommandRunner, relocates, variables
from .cache import restore_layer, store_layer
from .keys import BuildKey, current_key, layer_path, write_stamp
from .layers import Layer, assemble, prune, publish
from .relocate import build_path_rewrites, relocate_staged_install
from .spec import ComponentSpec, SourceTree

# The second line of a restored component's log: `<RESTORED> <local cache dir or registry>`.
RESTORED = "restored from cache"


def prepare_source_tree(tree: SourceTree, warn: Warn = print_warning) -> None:
    """Unpack + patch (+ post_patch) once into build/prepared/<signature>, renamed into
    place when complete; every stage and target whose prepare inputs are the same uses it."""
    if tree.root.is_dir():
        return
    tree.log.parent.mkdir(parents=True, exist_ok=True)
    tree.log.write_text(f"prepare {tree.label}\n")
    staging = tree.root.with_name(f".{tree.root.name}.tmp")
    remove_tree(staging)
    try:
        if tree.archive is not None:
            _verified(tree.archive, tree, warn)
            unpack(tree.archive, staging, tree.subtrees, tree.archive_sha256)
        else:
            staging.mkdir(parents=True)
            if tree.checkout_dir is not None:
                copy_checkout(tree.checkout_dir, staging)
        with tree.log.open("a") as fh:
            apply_patches(staging, tree.patches, fh, source=tree.label)
        env = runner.clean_env(source_date_epoch=tree.source_date_epoch, home=staging)
        for argv in tree.post_patch:
            runner.run(list(argv), cwd=staging, env=env, log=tree.log)
    except BaseException:
        remove_tree(staging)
        raise
    staging.rename(tree.root)


def ensure_prepared_tree(tree: SourceTree, warn: Warn = print_warning) -> None:
    """The shared prepared tree, made now if no build has made it yet."""
    if tree.root.is_dir():
        return
    with _exclusive(tree.root.with_name(f"{tree.root.name}.lock")):
        prepare_source_tree(tree, warn)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """A record lock on `path`, which doit's worker processes respect among themselves."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(handle, fcntl.LOCK_UN)


def ensure_source(spec: ComponentSpec, warn: Warn = print_warning) -> None:
    """The component's work/src, for a build about to run: the prepared tree linked in,
    unless it is there already for this very prepare signature (then the shared tree is
    not needed, and not made again if it was pruned)."""
    stamp = spec.layout.stamp(spec.stage, spec.name, "prepared")
    try:
        current = stamp.read_text().strip() == spec.prepare_signature
    except OSError:
        current = False
    if not current or not (spec.work / "src").is_dir():
        ensure_prepared_tree(spec.tree, warn)
        prepare_component(spec)


def _verified(archive: Path, tree: SourceTree, warn: Warn) -> None:
    """The cached archive hashed again right before use; a file whose bytes changed since
    the fetch is quarantined (verify_cached) and fetched again."""
    try:
        verify_cached(archive)
    except FetchError as err:
        if tree.source is None:
            raise
        warn(f"{err.where}: {err.what}; fetching it again")
        fetch_source(tree.source, tree.policy, warn=warn)
        verify_cached(archive)


def prepare_component(spec: ComponentSpec) -> None:
    """The shared prepared tree, hard-linked into work/src: the component's own view of it
    (nothing copied; a build that replaces a source file breaks only its own link)."""
    src = spec.work / "src"
    stamp = spec.layout.stamp(spec.stage, spec.name, "prepared")
    stamp.unlink(missing_ok=True)  # it vouches for src, which goes now
    remove_tree(src)
    staging = spec.work / ".src.tmp"
    remove_tree(staging)
    if not spec.tree.root.is_dir():
        raise BuildError(
            f"{spec.label}: its prepared source {spec.tree.root} is missing",
            fix="run through the stage task (e.g. `doit stage2`), which prepares it first",
        )
    assemble([Layer(spec.tree.label, spec.tree.root)], staging, {})
    staging.rename(src)
    write_atomic(stamp, spec.prepare_signature + "\n")


def build_component(spec: ComponentSpec, warn: Warn = print_warning) -> None:
    """cache, or view -> configure -> build -> install into a staging DESTDIR; then the
    layer and the stamp (and a built layer goes into the cache).

    The stamp goes first and comes last: a build cut short is never taken for done, and
    the layer it vouches for is complete by the time it is written."""
    key = current_key(spec.key, spec.label)
    stamp = spec.layout.stamp(spec.stage, spec.name, "built")
    stamp.unlink(missing_ok=True)
    layer = spec.layout.layers(spec.stage, spec.name) / key
    tree = layer.with_name(f".{key}.restored")
    restored = restore_layer(spec.cache, key, spec.label, tree, spec.source_date_epoch, warn)
    if restored:
        _start_log(spec, key, f"{RESTORED} {restored}")
    else:
        tree = _built_tree(spec, key, warn)
    digest = publish(tree, layer)
    prune(layer.parent, keep=layer)
    write_stamp(stamp, key, digest)
    if not restored:
        store_layer(spec.cache, key, spec.label, layer, spec.source_date_epoch, warn)


def _built_tree(spec: ComponentSpec, key: str, warn: Warn) -> Path:
    ensure_source(spec, warn)
    assemble_view(spec)
    destdir = stage_install(spec, key)
    if relocates(spec.stage, spec.recipe):
        _relocate(spec, destdir)
    return _layer_tree(spec, destdir)


@dataclass(frozen=True)
class UnionSpec:
    """A stage's tree: the union of all its components' layers, in graph order."""

    layout: Layout
    stage: str
    order: tuple[str, ...]
    replaces: tuple[tuple[str, tuple[str, ...]], ...]
    key: BuildKey


def assemble_union(spec: UnionSpec) -> None:
    """Assemble the stage tree; its stamp (key = digest) goes first and comes last."""
    key = current_key(spec.key, f"{spec.layout.base.name}/{spec.stage} tree")
    stamp = spec.layout.union_stamp(spec.stage)
    stamp.unlink(missing_ok=True)
    layers = [Layer(n, layer_path(spec.layout, spec.stage, n)) for n in spec.order]
    assemble(layers, spec.layout.tree(spec.stage), dict(spec.replaces))
    write_stamp(stamp, key, key)


def assemble_view(spec: ComponentSpec) -> Path:
    """The union of the component's dependency closure: all it sees of its stage."""
    view = spec.layout.view(spec.stage, spec.name)
    layers = [Layer(n, layer_path(spec.layout, spec.stage, n)) for n in spec.closure]
    assemble(layers, view, dict(spec.replaces))
    if spec.stage == "stage1":
        (view / "sysroot").mkdir(exist_ok=True)
    return view


def _layer_tree(spec: ComponentSpec, destdir: Path) -> Path:
    """The staged install as the layer holds it: stage1 layers are relative to the
    toolchain prefix, so what stage1 installs into its root goes under sysroot/."""
    if spec.stage != "stage1" or spec.recipe.get("install_root", "root") != "root":
        return destdir
    tree = fresh_dir(spec.work / "layer")
    os.replace(destdir, tree / "sysroot")
    return tree


def stage_install(spec: ComponentSpec, key: str) -> Path:
    """Run the plan's configure, build and install commands; return the staged DESTDIR."""
    log = _start_log(spec, key, f"dependencies: {', '.join(spec.closure) or 'none'}")
    _build_dir(spec, current_key(spec.build_dir_key, spec.label))
    destdir = fresh_dir(spec.work / "destdir")
    for rel, text in spec.plan.get("files", {}).items():
        write_atomic(spec.work / rel, text)
    commands = CommandRunner(spec, variables(spec), log)
    for phase in COMMAND_PHASES:
        for argv in spec.plan["commands"][phase]:
            commands.run(argv)
    return destdir


def _start_log(spec: ComponentSpec, key: str, line: str) -> Path:
    log = spec.layout.log(spec.stage, spec.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"build {spec.label} (key {key})\n{line}\n")
    return log


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


def _build_dir(spec: ComponentSpec, signature: str) -> Path:
    """Reuse a build dir only if it was made for exactly these sources, configure and build
    steps (resume, or a change to the install phase only), else start clean. In-tree styles
    get a pristine copy of the source tree."""
    builddir = spec.work / "build"
    marker = builddir / ".serpent-signature"
    if marker.is_file() and marker.read_text().strip() == signature:
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
    marker.write_text(signature + "\n")
    return builddir
