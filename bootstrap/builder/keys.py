"""Build keys and the stamps that record them.

A key is known only when a build is about to run: it hashes the component's plan with the
digests of what its inputs actually produced (its dependencies' layers, the earlier stages'
trees), read from their stamps. A stamp is a small JSON file `{key, digest}` written last,
after the layer or tree it describes is complete, and removed first when that is redone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import BuildError
from ..core.fsutil import write_atomic
from ..model.layout import Layout


def digest(data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def read_stamp(path: Path) -> dict[str, str] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "key" in record else None


def write_stamp(path: Path, key: str, content_digest: str) -> None:
    write_atomic(path, json.dumps({"key": key, "digest": content_digest}) + "\n")


@dataclass(frozen=True)
class BuildKey:
    """A plan digest plus the stamps whose content digests enter the key."""

    plan: str
    inputs: tuple[tuple[str, Path], ...] = ()  # (what, its stamp)

    def __call__(self) -> str | None:
        """The key, or None while an input is not built."""
        produced = []
        for what, stamp in self.inputs:
            record = read_stamp(stamp)
            if record is None:
                return None
            produced.append((what, record["digest"]))
        return digest({"plan": self.plan, "inputs": produced})


def current_key(key: BuildKey, label: str) -> str:
    value = key()
    if value is None:
        missing = [what for what, stamp in key.inputs if read_stamp(stamp) is None]
        raise BuildError(
            f"{label}: its input(s) {', '.join(missing)} are not built",
            fix="build through the stage task (e.g. `doit stage2`), which builds them first",
        )
    return value


@dataclass(frozen=True)
class StampMatches:
    """Up to date when the stamp holds exactly the current key (and, for a layer, the
    layer is there). The stamp is written last, after the work it vouches for, so this
    survives what doit's own state may not: its database is saved only when doit exits,
    and a `kill -9` loses it."""

    stamp: Path
    key: BuildKey
    output: Path | None = None  # what the stamp vouches for, which must still be there
    layers: Path | None = None  # a build's layers: the one of its key must be there

    def __call__(self) -> bool:
        record = read_stamp(self.stamp)
        if record is None or record["key"] != self.key():
            return False
        if self.layers is not None and not (self.layers / record["key"]).is_dir():
            return False
        return self.output is None or self.output.exists()


def layer_path(layout: Layout, stage: str, name: str) -> Path:
    """The layer a component's stamp points at."""
    record = read_stamp(layout.stamp(stage, name, "built"))
    if record is None:
        raise BuildError(
            f"{layout.base.name}/{stage}/{name} is not built",
            fix="build through the stage task (e.g. `doit stage2`), which builds it first",
        )
    layer = layout.layers(stage, name) / record["key"]
    if not layer.is_dir():
        raise BuildError(
            f"{layout.base.name}/{stage}/{name}: its layer {layer} is missing",
            fix=f"delete {layout.stamp(stage, name, 'built')} and run again to rebuild it",
        )
    return layer
