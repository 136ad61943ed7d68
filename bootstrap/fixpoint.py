"""The self-rebuild check: a stage3 compiler, rebuilt by itself, must come out byte-identical.

A recipe opts in with `fixpoint: {env: ..., compare: [...]}`: its stage3 build is repeated in
the chroot, from the same prepared source and at the same in-chroot paths, with `env` on
top (pointing the build at the freshly installed compiler), into a scratch DESTDIR; each
`compare` path must then match the installed file bit for bit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from . import runner
from .build import ComponentSpec, stage_install
from .errors import BuildError
from .fsutil import fresh_dir, remove_tree, write_atomic

SUFFIX = "-fixpoint"


@dataclass(frozen=True)
class FixpointSpec:
    components: tuple[ComponentSpec, ...]  # stage3 builds whose recipe has `fixpoint`
    results: Path
    signature: str


def sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def rebuild(spec: ComponentSpec) -> dict[str, dict[str, str | None]]:
    """Rebuild one component with its own output; {path: {installed, rebuilt}} hashes."""
    fixpoint = spec.recipe["fixpoint"]
    recipe = {
        **spec.recipe,
        "name": spec.name + SUFFIX,
        "env": {**spec.recipe["env"], **fixpoint.get("env", {})},
    }
    again = replace(spec, recipe=recipe)
    source = fresh_dir(again.work) / "src"
    runner.run(
        ["cp", "-a", f"{spec.work / 'src'}/.", str(source)],
        cwd=again.work,
        env=runner.clean_env(source_date_epoch=spec.source_date_epoch, home=again.work),
        log=again.layout.log(again.stage, again.name),
    )
    destdir = stage_install(again)
    root = spec.layout.stage_root(spec.stage)
    hashes = {
        path: {"installed": sha256(root / path), "rebuilt": sha256(destdir / path)}
        for path in fixpoint["compare"]
    }
    remove_tree(again.work)
    return hashes


def run_fixpoint(spec: FixpointSpec) -> None:
    report = {c.name: rebuild(c) for c in spec.components}
    differing = [
        f"{name}: /{path} (installed {h['installed']}, rebuilt {h['rebuilt']})"
        for name, files in report.items()
        for path, h in files.items()
        if h["installed"] is None or h["installed"] != h["rebuilt"]
    ]
    write_atomic(
        spec.results,
        json.dumps({"passed": not differing, "components": report}, indent=2) + "\n",
    )
    if differing:
        raise BuildError(
            "not a fixed point: rebuilt by itself, these files differ:\n  "
            + "\n  ".join(differing),
            fix=f"compare the build logs of the component and its {SUFFIX} rebuild; see "
            f"{spec.results}",
        )
