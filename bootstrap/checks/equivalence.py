"""The equivalence check of a foreign target's stage3: what the build machine's LLVM built
(through native-exec) must equal what the emulated compiler builds.

Each sampled component is built again the reference way, every compiler process under
qemu, from the same prepared source, against the same dependencies and at the same
in-chroot paths, into its own work dir. Every object file and archive of the two build dirs
and every installed file must then be the same, byte for byte; a difference fails the check
and names the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..builder.component import assemble_view, stage_install
from ..builder.keys import BuildKey, layer_path
from ..builder.layers import Entry, Layer, assemble, layer_manifest
from ..builder.spec import ComponentSpec
from ..core.errors import BuildError
from ..core.fsutil import fresh_dir, remove_tree, write_atomic

SUFFIX = "-emulated"
OBJECT_MAGIC = (b"\x7fELF", b"!<arch>\n")  # ELF files (objects, libraries, programs), archives


@dataclass(frozen=True)
class EquivalenceSpec:
    pairs: tuple[tuple[ComponentSpec, ComponentSpec], ...]  # (as built, its emulated twin)
    results: Path
    key: BuildKey  # the checked tree's digest and the twins' plans


def rebuild(twin: ComponentSpec) -> Path:
    """Build the twin in its own work dir; return its staged install."""
    fresh_dir(twin.work)
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
        destdir = rebuild(twin)
        found = compare(built, twin, destdir)
        report[built.name] = {
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
        raise BuildError(
            "the build machine's LLVM and the emulated one built different bytes:\n  "
            + "\n  ".join(lines),
            fix=f"compare the files with the twin's in its work dir (*{SUFFIX}); until it is "
            f"understood, build with --emulate; see {spec.results}",
        )
