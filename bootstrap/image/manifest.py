"""Per-file manifests of layers: what a layer's digest was computed from, one entry per path.

A layer's digest (`builder.layers.tree_digest`) hashes one line per entry
(`builder.layers.Entry`: kind, path, permission bits, and the content's sha256, the link
target or the device number). A manifest keeps exactly those entries
(`builder.layers.layer_manifest`), so it hashes to the layer's digest, and two manifests of
one component name the paths whose bytes differ without either build tree at hand.

The manifests file (`bootstrap.lock.files`) holds one block per component:

    @<TAB>aarch64/stage1/musl<TAB><layer digest>
    d<TAB>usr<TAB>755<TAB>-
    f<TAB>usr/lib/libc.so<TAB>755<TAB><sha256>
    l<TAB>lib<TAB>-<TAB>usr/lib

Tabs, newlines and backslashes in paths and link targets are written as `\\t`, `\\n`, `\\\\`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..builder.layers import Entry
from ..core.errors import BootstrapError

HEADER = (
    "# serpent-bootstrap layer manifests (docs/design.md, Lockfile): per component\n"
    "# @ label digest, then: kind (f file, d dir, l link, s special) path mode sha256|target\n"
)
CHANGES = ("content", "mode", "type", "link", "added", "removed")


@dataclass(frozen=True)
class FileChange:
    path: str
    change: str  # one of CHANGES


# -- the manifests file --------------------------------------------------------------------
Manifests = Mapping[str, tuple[str, list[Entry]]]  # label -> (layer digest, entries)


def render_manifests(manifests: Manifests) -> str:
    lines = [HEADER.rstrip("\n")]
    for label in sorted(manifests):
        digest, entries = manifests[label]
        lines.append(f"@\t{_escape(label)}\t{digest}")
        lines += ["\t".join((e.kind, _escape(e.path), e.mode, _escape(e.value))) for e in entries]
    return "\n".join(lines) + "\n"


def parse_manifests(text: str, where: str) -> dict[str, tuple[str, list[Entry]]]:
    manifests: dict[str, tuple[str, list[Entry]]] = {}
    current: list[Entry] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) == 3 and fields[0] == "@":
            current = []
            manifests[_unescape(fields[1])] = (fields[2], current)
        elif len(fields) == 4 and fields[0] in "fdls" and current is not None:
            kind, path, mode, value = fields
            current.append(Entry(kind, _unescape(path), mode, _unescape(value)))
        else:
            raise BootstrapError(
                f"line {number} is not a manifest line: {line[:80]!r}",
                where=where,
                fix="use the bootstrap.lock.files written with its bootstrap.lock",
            )
    return manifests


def changed_files(old: Iterable[Entry], new: Iterable[Entry]) -> list[FileChange]:
    """The paths whose entries differ between two manifests of one layer, sorted."""
    before = {e.path: e for e in old}
    after = {e.path: e for e in new}
    changes = []
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path), after.get(path)
        if a == b:
            continue
        changes.append(FileChange(path, _change(a, b)))
    return changes


def _change(old: Entry | None, new: Entry | None) -> str:
    if old is None:
        return "added"
    if new is None:
        return "removed"
    if old.kind != new.kind:
        return "type"
    if old.value != new.value:
        return "link" if new.kind == "l" else "content"
    return "mode"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _unescape(text: str) -> str:
    out, chars = [], iter(text)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append({"t": "\t", "n": "\n"}.get(following, following))
    return "".join(out)
