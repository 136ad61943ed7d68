"""Find a component's patches and apply them in order with GNU patch."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ..core.errors import PatchError
from ..exec import runner

REJECT_LINES = 20
_FILE = re.compile(r"^patching (?:symbolic link |file )'?(.*?)'?$")
_HUNK = re.compile(r"^Hunk #(\d+) FAILED at (\d+)")
_REJECTS = re.compile(r"saving rejects to file '?(.*?)'?$")


def patch_series(patch_dir: Path) -> list[Path]:
    """The patches of `patch_dir` in application order.

    `series` (one file name a line, `#` comments) if present, else the sorted *.patch and
    *.diff files; no directory means no patches.
    """
    patch_dir = Path(patch_dir)
    if not patch_dir.is_dir():
        return []
    series = patch_dir / "series"
    if not series.is_file():
        found = [p for p in patch_dir.iterdir() if p.suffix in (".patch", ".diff")]
        return sorted((p for p in found if p.is_file()), key=lambda p: p.name)
    patches = []
    for number, line in enumerate(series.read_text().splitlines(), 1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if not (patch_dir / name).is_file():
            raise PatchError(
                f"lists the patch {name!r}, which is not in {patch_dir}",
                where=f"{series}:{number}",
                fix=f"add {patch_dir / name} or remove line {number} of {series}",
            )
        patches.append(patch_dir / name)
    return patches


def patch_digest(patches: Sequence[Path]) -> str:
    """sha256 over each patch's file name and contents, in order."""
    digest = hashlib.sha256()
    for patch in patches:
        for part in (Path(patch).name.encode(), Path(patch).read_bytes()):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


def apply_patches(
    tree: Path, patches: Sequence[Path], log: TextIO | None = None, source: str = ""
) -> None:
    """Apply `patches` in order to `tree` (-p1); raise PatchError at the first failure.

    Errors name the tree as `source` (default: the tree's name): a temporary tree's name
    means nothing to the user. A failure may leave `tree` half patched: callers unpack a
    fresh tree and discard it.
    """
    for patch in patches:
        _apply(Path(tree), Path(patch), log, source or Path(tree).name)


def _apply(tree: Path, patch: Path, log: TextIO | None, source: str) -> None:
    argv = ["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch"]
    argv += ["-i", str(patch.resolve()), "-d", str(tree)]
    try:
        proc = runner.query(argv, env={**os.environ, "LC_ALL": "C"}, merge_stderr=True)
    except FileNotFoundError:
        raise PatchError(
            "the patch tool is missing", where=str(patch), fix="install GNU patch"
        ) from None
    if log is not None:
        log.write(f"$ {shlex.join(argv)}\n{proc.stdout}")
        log.flush()
    if proc.returncode != 0:
        raise _failure(tree, patch, proc.stdout, source)


def _failure(tree: Path, patch: Path, output: str, source: str) -> PatchError:
    if "Reversed (or previously applied) patch detected" in output:
        files = ", ".join(_files_with(output, "Reversed")) or "a file"
        return PatchError(
            f"seems already applied to {source} (reversed or previously applied in {files})",
            where=str(patch),
            fix=f"the change is probably upstream now: remove {patch.name} from the series",
        )
    what = f"does not apply to {source}: " + "; ".join(_problems(output))
    reject = _reject_text(tree, output)
    if reject:
        what += f"\nrejected hunk(s):\n{reject}"
    return PatchError(
        what,
        where=str(patch),
        fix=f"refresh {patch.name} against {source} (with the patches before it in the "
        "series applied) or remove it from the series",
    )


def _problems(output: str) -> list[str]:
    """'hunk #2 of foo.c FAILED at line 40', 'file to patch not found', ... from the output."""
    problems, current = [], "?"
    for line in output.splitlines():
        if m := _FILE.match(line):
            current = m.group(1)
        elif m := _HUNK.match(line):
            problems.append(f"hunk #{m.group(1)} of {current} FAILED at line {m.group(2)}")
        elif line.startswith("can't find file to patch"):
            problems.append(f"file to patch not found ({line.split(' at ')[-1].rstrip(':')})")
        elif line.startswith("patch: **** "):
            problems.append(line.removeprefix("patch: **** "))
    if not problems:
        tail = [line for line in output.splitlines() if line.strip()][-3:]
        problems.append(" / ".join(tail) or "patch failed without a message")
    return problems


def _files_with(output: str, marker: str) -> list[str]:
    files, current = [], None
    for line in output.splitlines():
        if m := _FILE.match(line):
            current = m.group(1)
        elif marker in line and current and current not in files:
            files.append(current)
    return files


def _reject_text(tree: Path, output: str) -> str:
    """The first rejected hunks (from the first .rej file), at most REJECT_LINES lines."""
    for line in output.splitlines():
        m = _REJECTS.search(line)
        rej = tree / m.group(1) if m else None
        if rej is not None and rej.is_file():
            lines = rej.read_text(errors="replace").splitlines()
            more = [f"... ({len(lines) - REJECT_LINES} more lines)"]  # rej dies with the tree
            return "\n".join(lines[:REJECT_LINES] + (more if len(lines) > REJECT_LINES else []))
    return ""
