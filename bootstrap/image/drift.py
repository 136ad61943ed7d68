"""Drift: one target's lockfile against a previous one (a path or an http(s) URL).

Per component: unchanged; rebuilt because its inputs changed (which: source, patches,
prepared source, recipe, target/toolchain settings, a dependency), with or without a change
of its output; new; removed; or built from the same key into different bytes, a
non-deterministic build, which fails the check and is named with its differing files (from
the two lockfiles' layer manifests: no build tree of the baseline is needed). The stage
trees and the rootfs are compared the same way.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..builder.layers import Entry
from ..core.errors import BootstrapError
from ..core.fsutil import write_atomic
from .lockfile import LOCK_NAME, ComponentLock, Lock, files_path, parse_lock
from .manifest import FileChange, changed_files, parse_manifests
from .results import CheckResult, add_result

TIMEOUT = 60.0  # seconds, per baseline download
SHOWN_FILES = 10  # differing files named in the failure message (all are in the JSON)
NONDETERMINISTIC = "same key, different bytes"
BASELINE_FIX = (
    "give --baseline (or SERPENT_BASELINE) a bootstrap.lock, or a directory or http(s) URL "
    "holding <arch>/bootstrap.lock, e.g. the out/ dir of the last good run"
)

Manifests = Mapping[str, tuple[str, list[Entry]]]


@dataclass(frozen=True)
class ComponentDrift:
    label: str
    status: str  # unchanged, rebuilt, new, removed, nondeterministic
    reasons: tuple[str, ...] = ()  # why it was rebuilt
    output: str = ""  # rebuilt: "same" or "changed" bytes
    files: tuple[FileChange, ...] = ()  # nondeterministic: the differing paths

    def line(self) -> str:
        status = NONDETERMINISTIC.upper() if self.status == "nondeterministic" else self.status
        text = f"{status:<12} {self.label}"
        if self.reasons:
            output = "same output" if self.output == "same" else "output changed"
            text += f": {', '.join(self.reasons)} ({output})"
        if self.files:
            text += ": " + _file_list(self.files)
        return text


@dataclass(frozen=True)
class Drift:
    arch: str
    baseline: str
    components: tuple[ComponentDrift, ...]
    stages: dict[str, str]  # label -> unchanged/changed/new/removed
    rootfs: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def nondeterministic(self) -> list[ComponentDrift]:
        return [c for c in self.components if c.status == "nondeterministic"]

    @property
    def ok(self) -> bool:
        return not self.nondeterministic and self.rootfs.get("status") != "nondeterministic"

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.components:
            counts[c.status] = counts.get(c.status, 0) + 1
        return counts

    def as_json(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "baseline": self.baseline,
            "ok": self.ok,
            "counts": self.counts(),
            "components": [asdict(c) for c in self.components],
            "stages": self.stages,
            "rootfs": self.rootfs,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts().items()))
        return f"{len(self.components)} component(s) against {self.baseline}: {counts}"


# -- comparing -----------------------------------------------------------------------------
def compare(
    current: Lock,
    baseline: Lock,
    current_files: Manifests,
    baseline_files: Manifests | None,
    where: str,
) -> Drift:
    labels = sorted({c.label for c in current.components} | {c.label for c in baseline.components})
    components = tuple(
        _component(
            current.component(label),
            baseline.component(label),
            current_files.get(label),
            baseline_files.get(label) if baseline_files is not None else None,
        )
        for label in labels
    )
    notes = [
        f"{field}: {getattr(baseline, field)} in the baseline, {getattr(current, field)} now"
        for field in ("profile", "toolchain", "source_date_epoch")
        if getattr(baseline, field) != getattr(current, field)
    ]
    if baseline_files is None:
        notes.append(f"{where}: no layer manifests beside it")
    return Drift(
        arch=current.arch,
        baseline=where,
        components=components,
        stages=_stages(current, baseline),
        rootfs=_rootfs(current, baseline),
        notes=tuple(notes),
    )


def _component(
    now: ComponentLock | None,
    before: ComponentLock | None,
    now_files: tuple[str, list[Entry]] | None,
    before_files: tuple[str, list[Entry]] | None,
) -> ComponentDrift:
    if now is None or before is None:
        label = (now or before).label  # type: ignore[union-attr]
        return ComponentDrift(label, "new" if before is None else "removed")
    if now.key != before.key:
        output = "same" if now.digest == before.digest else "changed"
        return ComponentDrift(now.label, "rebuilt", why_rebuilt(now, before), output)
    if now.digest == before.digest:
        return ComponentDrift(now.label, "unchanged")
    files: tuple[FileChange, ...] = ()
    if now_files is not None and before_files is not None:
        files = tuple(changed_files(before_files[1], now_files[1]))
    return ComponentDrift(now.label, "nondeterministic", files=files)


def why_rebuilt(now: ComponentLock, before: ComponentLock) -> tuple[str, ...]:
    """Which of the inputs that make up the key changed."""
    reasons = []
    if now.source != before.source:
        reasons.append("source changed")
    if now.patches != before.patches:
        reasons.append("patches changed")
    if now.prepare != before.prepare and not reasons:
        reasons.append("prepared source changed (subtrees, post_patch or source files)")
    if now.recipe != before.recipe:
        reasons.append("recipe changed")
    if now.plan != before.plan and now.prepare == before.prepare and now.recipe == before.recipe:
        reasons.append("target or toolchain settings changed")
    seen, saw = dict(now.inputs), dict(before.inputs)
    for what in sorted(seen.keys() | saw.keys()):
        if what not in saw:
            reasons.append(f"dependency {what} added")
        elif what not in seen:
            reasons.append(f"dependency {what} removed")
        elif seen[what] != saw[what]:
            reasons.append(f"dependency {what} changed")
    return tuple(reasons) or ("inputs changed",)


def _stages(current: Lock, baseline: Lock) -> dict[str, str]:
    now = {s.label: s.digest for s in current.stages}
    before = {s.label: s.digest for s in baseline.stages}
    return {
        label: "new"
        if label not in before
        else "removed"
        if label not in now
        else "unchanged"
        if now[label] == before[label]
        else "changed"
        for label in sorted(now.keys() | before.keys())
    }


def _rootfs(current: Lock, baseline: Lock) -> dict[str, Any]:
    now, before = current.rootfs, baseline.rootfs
    if now is None or before is None:
        return {"status": "absent" if now is None else "new"}
    if now.sha256 == before.sha256:
        status = "unchanged"
    elif now.key == before.key:
        status = "nondeterministic"  # the same tree and epoch, packed into other bytes
    else:
        status = "changed"
    return {"status": status, "sha256": now.sha256, "baseline_sha256": before.sha256}


def _file_list(files: tuple[FileChange, ...]) -> str:
    shown = ", ".join(f"{f.path} ({f.change})" for f in files[:SHOWN_FILES])
    more = len(files) - SHOWN_FILES
    return shown + (f" and {more} more" if more > 0 else "") if files else "(files unknown)"


# -- reading the baseline ------------------------------------------------------------------
def baseline_lockfile(location: str, arch: str) -> str:
    """The lockfile a --baseline names for `arch`: itself if it names a lockfile, else
    `<location>/<arch>/bootstrap.lock` (an out dir or its URL)."""
    if not location:
        raise BootstrapError("no baseline given", fix=BASELINE_FIX)
    if location.startswith("file://"):
        location = urllib.parse.unquote(urllib.parse.urlsplit(location).path)
    if _is_url(location):
        if location.endswith(".lock"):
            return location
        return f"{location.rstrip('/')}/{arch}/{LOCK_NAME}"
    path = Path(location)
    return str(path / arch / LOCK_NAME) if path.is_dir() else str(path)


def _is_url(location: str) -> bool:
    return urllib.parse.urlsplit(location).scheme in ("http", "https")


def read_location(location: str, required: bool = True) -> str | None:
    """The text at a path or http(s) URL; None when it is absent and not `required`."""
    try:
        if _is_url(location):
            with urllib.request.urlopen(location, timeout=TIMEOUT) as resp:
                data = resp.read()
        else:
            data = Path(location).read_bytes()
    except (FileNotFoundError, urllib.error.HTTPError) as err:
        if not required and getattr(err, "code", 404) == 404:
            return None
        raise _unreadable(location, err) from None
    except (OSError, ValueError) as err:
        raise _unreadable(location, err) from None
    return data.decode("utf-8", "surrogateescape")


def _unreadable(location: str, err: Exception) -> BootstrapError:
    return BootstrapError(
        f"cannot read the baseline: {err}",
        where=location,
        fix=BASELINE_FIX + "; the first run has none: keep its out/<arch>/bootstrap.lock and "
        "bootstrap.lock.files as the next run's baseline",
    )


def load_baseline(location: str, arch: str) -> tuple[Lock, Manifests | None, str]:
    where = baseline_lockfile(location, arch)
    lock = parse_lock(read_location(where) or "", where)
    if lock.arch != arch:
        raise BootstrapError(
            f"the baseline is a lockfile of {lock.arch}, not of {arch}",
            where=where,
            fix="for several targets, give a directory or URL holding <arch>/bootstrap.lock",
        )
    files_where = str(files_path(Path(where))) if not _is_url(where) else where + ".files"
    text = read_location(files_where, required=False)
    return lock, parse_manifests(text, files_where) if text is not None else None, where


# -- the drift task ------------------------------------------------------------------------
@dataclass(frozen=True)
class DriftSpec:
    arch: str
    lockfile: Path  # this run's
    baseline: str  # --baseline
    results: Path  # drift.json
    verify_json: Path | None  # verify's results, which get a `drift` check when present
    verify_junit: Path | None
    layers: tuple[tuple[str, Path], ...]  # label -> its layers dir, to point at the files


def run_drift(spec: DriftSpec) -> Drift:
    """Compare, write drift.json (and the verify results' `drift` check); fail on
    non-determinism."""
    lock = parse_lock(spec.lockfile.read_text(), str(spec.lockfile))
    text = files_path(spec.lockfile).read_bytes().decode("utf-8", "surrogateescape")
    files = parse_manifests(text, str(files_path(spec.lockfile)))
    baseline, baseline_files, where = load_baseline(spec.baseline, spec.arch)
    drift = compare(lock, baseline, files, baseline_files, where)
    write_atomic(spec.results, json.dumps(drift.as_json(), indent=2, sort_keys=True) + "\n")
    _add_to_verify(spec, drift)
    print(render_drift(drift))
    if not drift.ok:
        raise nondeterminism_error(drift, spec)
    return drift


def render_drift(drift: Drift) -> str:
    lines = [f"drift of {drift.arch} against {drift.baseline}:"]
    for c in drift.components:
        prefix = "error: " if c.status == "nondeterministic" else "  "
        lines.append(prefix + c.line())
    changed = [label for label, status in drift.stages.items() if status != "unchanged"]
    lines.append(f"  stages changed: {', '.join(changed) or 'none'}")
    rootfs = drift.rootfs.get("status", "absent")
    if rootfs == "nondeterministic":
        lines.append(f"error: rootfs: {NONDETERMINISTIC} (the same stage3 tree and epoch)")
    else:
        lines.append(f"  rootfs: {rootfs}")
    lines += [f"  note: {note}" for note in drift.notes]
    lines.append(drift.summary())
    return "\n".join(lines)


def nondeterminism_error(drift: Drift, spec: DriftSpec) -> BootstrapError:
    layers = dict(spec.layers)
    named = [f"{c.label}: {_file_list(c.files)}" for c in drift.nondeterministic]
    if drift.rootfs.get("status") == "nondeterministic":
        named.append("the rootfs tarball (its tree did not change)")
    where = [str(layers[c.label]) for c in drift.nondeterministic if c.label in layers]
    return BootstrapError(
        f"{NONDETERMINISTIC} (a non-deterministic build) against {drift.baseline}:\n  "
        + "\n  ".join(named),
        where=f"drift:{drift.arch}",
        fix="make the build reproducible (no timestamps, build paths, random or unordered "
        f"output); all differing files are in {spec.results}"
        + (f"; this run's files are in {', '.join(where)}" if where else ""),
    )


def _add_to_verify(spec: DriftSpec, drift: Drift) -> None:
    if spec.verify_json is None or spec.verify_junit is None or not spec.verify_json.exists():
        return
    failed = [f"{c.label}: {_file_list(c.files)}" for c in drift.nondeterministic]
    detail = "\n".join([drift.summary(), *(f"{NONDETERMINISTIC}: {f}" for f in failed)])
    add_result(
        CheckResult("drift", drift.ok, detail),
        spec.verify_json,
        spec.verify_junit,
        section=("drift", drift.as_json()),
    )
