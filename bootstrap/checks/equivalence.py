"""Equivalence checks: a sample of stage3 components is built again another way that must
give the same bytes, and every object file and archive of the two build dirs and every
installed file is compared; a difference fails the check and names the file.

- `stage3-equivalence`: a foreign target's builds ran the build machine's LLVM (through
  native-exec); the twins run the emulated compiler, every compiler process under qemu.
- `stage3-compiler-equivalence` (the analogue of GCC's three-stage compare): the twins are
  built by the stage's other clang, stage3's own where /serpent's was used and the other
  way round; the two are the same source and configuration.

A twin builds from the same prepared source, against the same dependencies (but for the
compiler) and at the same in-chroot paths, in its own work dir.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..builder.component import (
    assemble_view,
    ensure_prepared_tree,
    ensure_source,
    stage_install,
)
from ..builder.keys import BuildKey, current_key, layer_path
from ..builder.layers import Entry, Layer, assemble, layer_manifest
from ..builder.spec import ComponentSpec
from ..core.errors import BuildError
from ..core.fsutil import fresh_dir, remove_tree, write_atomic

OBJECT_MAGIC = (b"\x7fELF", b"!<arch>\n")  # ELF files (objects, libraries, programs), archives


@dataclass(frozen=True)
class EquivalenceSpec:
    pairs: tuple[tuple[ComponentSpec, ComponentSpec], ...]  # (as built, its twin)
    results: Path
    key: BuildKey  # the checked tree's digest and the twins' plans
    compared: str = "the build machine's LLVM and the emulated one"  # for the message


def reference(built: ComponentSpec) -> None:
    """The component's own build dir, made for its current inputs: a layer restored from
    the cache came without one (or with an older one), so build it again first."""
    marker = built.work / "build" / ".serpent-signature"
    wanted = current_key(built.build_dir_key, built.label)
    if marker.is_file() and marker.read_text().strip() == wanted:
        return
    ensure_source(built)
    assemble_view(built)
    stage_install(built, "equivalence reference")


def rebuild(twin: ComponentSpec) -> Path:
    """Build the twin in its own work dir; return its staged install."""
    fresh_dir(twin.work)
    ensure_prepared_tree(twin.tree)
    assemble([Layer(twin.tree.label, twin.tree.root)], twin.work / "src", {})
    assemble_view(twin)
    return stage_install(twin, "equivalence")


def objects(builddir: Path) -> list[Entry]:
    """The object files, libraries, programs and archives a build dir holds."""
    return [e for e in layer_manifest(builddir) if e.kind == "f" and _is_object(builddir / e.path)]


def _is_object(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(8).startswith(OBJECT_MAGIC)


def differing(ours: list[Entry], theirs: list[Entry]) -> list[str]:
    """Paths whose entries differ (kind, mode, content, link target) or are on one side only."""
    a, b = {e.path: e for e in ours}, {e.path: e for e in theirs}
    return sorted(p for p in a.keys() | b.keys() if a.get(p) != b.get(p))


def compare(built: ComponentSpec, twin: ComponentSpec, destdir: Path) -> list[str]:
    layer = layer_path(built.layout, built.stage, built.name)
    installed = differing(layer_manifest(layer), layer_manifest(destdir))
    compiled = differing(objects(built.work / "build"), objects(twin.work / "build"))
    return [f"installed /{p}" for p in installed] + [f"build dir {p}" for p in compiled]


def run_equivalence(spec: EquivalenceSpec) -> None:
    report: dict[str, dict[str, object]] = {}
    failed: dict[str, list[str]] = {}
    for built, twin in spec.pairs:
        reference(built)
        start = time.monotonic()
        destdir = rebuild(twin)
        found = compare(built, twin, destdir)
        report[built.name] = {
            "twin_seconds": round(time.monotonic() - start, 1),  # its build, the other way
            "objects": len(objects(twin.work / "build")),
            "installed": len(layer_manifest(destdir)),
            "differ": found,
        }
        if found:
            failed[built.name] = found  # its twin's work dir stays for a look
        else:
            remove_tree(twin.work)
    write_atomic(
        spec.results, json.dumps({"passed": not failed, "components": report}, indent=2) + "\n"
    )
    if failed:
        lines = [f"{name}: {', '.join(found[:5])}" for name, found in failed.items()]
        twin = next(t for b, t in spec.pairs if b.name in failed)
        raise BuildError(
            f"{spec.compared} built different bytes:\n  " + "\n  ".join(lines),
            fix=f"compare the files with the twin's in its work dir ({twin.work}, log "
            f"{twin.layout.log(twin.stage, twin.name)}); see {spec.results}",
        )
