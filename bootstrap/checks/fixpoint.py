"""The self-rebuild check: a stage3 compiler, rebuilt by itself, must come out byte-identical.

A recipe opts in with `fixpoint: {env: ..., compare: [...]}`: its stage3 build is repeated in
the chroot, from the same prepared source and at the same in-chroot paths, with `env` on
top (pointing the build at the freshly installed compiler), into a scratch DESTDIR; each
`compare` path must then match the installed file bit for bit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ..builder.component import assemble_view, ensure_source, stage_install
from ..builder.keys import BuildKey, layer_path
from ..builder.spec import ComponentSpec
from ..core.errors import BuildError
from ..core.fsutil import fresh_dir, remove_tree, sha256_file, write_atomic
from ..exec import runner

SUFFIX = "-fixpoint"


@dataclass(frozen=True)
class FixpointSpec:
    components: tuple[ComponentSpec, ...]  # stage3 builds whose recipe has `fixpoint`
    results: Path
    key: BuildKey  # the checked tree's digest and the check's own inputs


def sha256(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def rebuild(spec: ComponentSpec) -> dict[str, dict[str, str | None]]:
    """Rebuild one component with its own output; {path: {installed, rebuilt}} hashes.

    The rebuild sees what the build saw plus the component's own layer, with the
    fixpoint's `env` on top of the plan's environment."""
    fixpoint = spec.recipe["fixpoint"]
    installed = layer_path(spec.layout, spec.stage, spec.name)
    again = replace(
        spec,
        recipe={**spec.recipe, "name": spec.name + SUFFIX},
        plan={**spec.plan, "env": {**spec.plan["env"], **fixpoint.get("env", {})}},
        closure=(*spec.closure, spec.name),
        replaces=(*spec.replaces, (spec.name, tuple(spec.recipe["replaces"]))),
    )
    ensure_source(spec)  # a layer restored from the cache came without it
    source = fresh_dir(again.work) / "src"
    runner.run(
        ["cp", "-a", f"{spec.work / 'src'}/.", str(source)],
        cwd=again.work,
        env=runner.clean_env(source_date_epoch=spec.source_date_epoch, home=again.work),
        log=again.layout.log(again.stage, again.name),
    )
    assemble_view(again)
    destdir = stage_install(again, "fixpoint")
    hashes = {
        path: {"installed": sha256(installed / path), "rebuilt": sha256(destdir / path)}
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
