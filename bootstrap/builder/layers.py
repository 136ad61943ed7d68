"""Layers: each component's staged install, kept immutable under its build key, and the
unions (hard-link farms) that builds, checks and the rootfs see.

A layer is published by renaming the finished DESTDIR into `layers/<stage>/<name>/<key>`
(nothing half-written ever has a final name); its digest covers paths, kinds, permission
bits, link targets and file contents, never mtimes or owners, so a rebuild that produces
the same bytes has the same digest and its dependents stay up to date (early cutoff).

A union places layers in order into a fresh directory: directories are created, files are
hard-linked (copied only across filesystems), symlinks are recreated. A directory of a layer
that the union already has as a symlink to a directory (usr-merge: `bin -> usr/bin`) is
merged through the link, never out of the union. Two layers providing the same path is an
error unless the later one declares that it replaces the earlier.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BuildError
from ..core.fsutil import remove_tree, sha256_file


@dataclass(frozen=True)
class Layer:
    name: str  # the component
    tree: Path


@dataclass(frozen=True)
class Entry:
    """One entry of a layer, as its digest takes it (and a manifest lists it)."""

    kind: str  # f, d, l, s
    path: str
    mode: str  # octal permission bits; "-" for a link
    value: str  # a file's sha256, a link's target, a special file's device; "-" for a dir

    def digest_line(self) -> str:
        if self.kind == "l":
            return f"l {self.path} -> {self.value}"
        if self.kind == "d":
            return f"d {self.path} {self.mode}"
        return f"{self.kind} {self.path} {self.mode} {self.value}"


def tree_digest(tree: Path) -> str:
    """sha256 over every entry's path, kind, permission bits, link target and content."""
    return manifest_digest(layer_manifest(tree))


def manifest_digest(entries: Iterable[Entry]) -> str:
    total = hashlib.sha256()
    for entry in entries:
        total.update(entry.digest_line().encode("utf-8", "surrogateescape") + b"\0")
    return total.hexdigest()


def layer_manifest(tree: Path) -> list[Entry]:
    """Every entry under `tree`, sorted by path."""
    return [_entry(rel, path) for rel, path in _walk(tree)]


def _entry(rel: str, path: Path) -> Entry:
    st = os.lstat(path)
    mode = f"{stat.S_IMODE(st.st_mode):o}"
    if stat.S_ISLNK(st.st_mode):
        return Entry("l", rel, "-", os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return Entry("d", rel, mode, "-")
    if stat.S_ISREG(st.st_mode):
        return Entry("f", rel, mode, sha256_file(path))
    return Entry("s", rel, mode, str(st.st_rdev))


def _walk(tree: Path) -> list[tuple[str, Path]]:
    entries: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(tree):
        base = Path(dirpath)
        rel = base.relative_to(tree)
        entries.extend((str(rel / name), base / name) for name in [*dirnames, *filenames])
    return sorted(entries)


def publish(staged: Path, layer: Path) -> str:
    """Move a finished DESTDIR to its layer path in one rename; return its digest."""
    digest = tree_digest(staged)
    remove_tree(layer)
    layer.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, layer)
    return digest


def prune(layer_dir: Path, keep: Path) -> None:
    """Remove the other layers of one component (earlier keys)."""
    if layer_dir.is_dir():
        for old in layer_dir.iterdir():
            if old != keep:
                remove_tree(old)


def assemble(
    layers: Sequence[Layer], dest: Path, replaces: Mapping[str, Sequence[str]]
) -> dict[str, str]:
    """Build the union of `layers` (in order) at `dest`; return {path: owning component}."""
    remove_tree(dest)
    dest.mkdir(parents=True)
    owners: dict[str, str] = {}
    modes: dict[Path, int] = {}  # set last, deepest first: a 0555 directory still gets filled
    for layer in layers:
        if not layer.tree.is_dir():
            raise BuildError(
                f"{layer.name}: its layer is missing",
                where=str(layer.tree),
                fix="delete the component's .built stamp and run again to rebuild it",
            )
        try:
            _place(layer, dest, owners, set(replaces.get(layer.name, ())), modes)
        except OSError as err:
            raise BuildError(
                f"{layer.name}: cannot place its files into {dest}: {err}",
                where=str(layer.tree),
                fix="check the permissions and free space of the build dir (hard links need "
                "one filesystem), then run again",
            ) from None
    for path in sorted(modes, key=lambda p: -len(p.parts)):
        os.chmod(path, modes[path])
    return owners


def _place(
    layer: Layer,
    dest: Path,
    owners: dict[str, str],
    may_replace: set[str],
    modes: dict[Path, int],
) -> None:
    for dirpath, dirnames, filenames in os.walk(layer.tree):
        src_dir = Path(dirpath)
        rel_dir = src_dir.relative_to(layer.tree)
        target_dir = _inside(dest, rel_dir, layer)
        for name in sorted(dirnames):
            src = src_dir / name
            if src.is_symlink():
                filenames.append(name)  # a link to a directory is placed like a file
                continue
            target = target_dir / name
            if target.is_dir():
                continue
            _take_over(target, dest, owners, layer, may_replace)
            target.mkdir()
            modes[target] = stat.S_IMODE(os.lstat(src).st_mode)
            owners[_key(target, dest)] = layer.name
        dirnames[:] = sorted(d for d in dirnames if not (src_dir / d).is_symlink())
        for name in sorted(filenames):
            src, target = src_dir / name, target_dir / name
            _take_over(target, dest, owners, layer, may_replace)
            _link(src, target)
            owners[_key(target, dest)] = layer.name


def _inside(dest: Path, rel: Path, layer: Layer) -> Path:
    """`dest/rel` with symlinks resolved, refused if that leaves the union."""
    real = Path(os.path.realpath(dest / rel))
    top = Path(os.path.realpath(dest))
    if real != top and top not in real.parents:
        raise BuildError(
            f"{layer.name}: /{rel} resolves outside the tree through a symlink ({real})",
            where=str(layer.tree),
            fix="install through relative links, or into the real directory",
        )
    return real


def _key(path: Path, dest: Path) -> str:
    return str(path.relative_to(os.path.realpath(dest)))


def _take_over(
    target: Path, dest: Path, owners: dict[str, str], layer: Layer, may_replace: set[str]
) -> None:
    if not os.path.lexists(target):
        return
    owner = owners.get(_key(target, dest), "?")
    if owner not in may_replace:
        raise BuildError(
            f"{layer.name} and {owner} both install /{_key(target, dest)}",
            where=str(layer.tree),
            fix=f"if {layer.name}'s copy should win, add `replaces: [{owner}]` to its recipe "
            f"(stages/recipes/{layer.name}.yml); otherwise stop one of them installing it",
        )
    remove_tree(target)


def _link(src: Path, target: Path) -> None:
    if src.is_symlink():
        os.symlink(os.readlink(src), target)
        return
    try:
        os.link(src, target)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        shutil.copy2(src, target)
