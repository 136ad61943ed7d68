"""Fill a local source mirror from Debian source packages, for machines without internet.

Each source naming a Debian package gets its orig tarball via `apt-get source`: stored under
the pinned file name if its sha256 is the pinned one; under Debian's name plus an override
entry (`url: debian:<file>`) if it is a same-version repack; else reported as a mismatch.
deb-src entries are derived from the machine's own apt configuration at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import BootstrapError, FetchError, exit_with
from ..exec import runner
from ..model.sources import Source, file_name_problem, load_sources

REPO = Path(__file__).resolve().parents[2]
DEB_SRC_FILE = "serpent-deb-src.sources"
ORIG = re.compile(r"\.orig\.tar\.[a-z0-9]+$")
REPACK = re.compile(r"[+~.](?:dfsg|ds|repack)(?:\.?\d+)*$")
LIST_OPTIONS = {"signed-by": "Signed-By", "arch": "Architectures", "trusted": "Trusted"}


def _stanzas(text: str) -> list[list[str]]:
    """Split deb822 text into stanzas (lists of lines), dropping comment lines."""
    stanzas: list[list[str]] = [[]]
    for line in text.splitlines():
        if not line.strip():
            stanzas.append([])
        elif not line.startswith("#"):
            stanzas[-1].append(line)
    return [s for s in stanzas if s]


def _field(stanza: list[str], name: str) -> str:
    for line in stanza:
        key, _, value = line.partition(":")
        if not line[:1].isspace() and key.strip().lower() == name.lower():
            return value.strip()
    return ""


def deb_src_stanzas(text: str) -> str:
    """deb822 text -> a `Types: deb-src` copy of every enabled stanza with `Types: deb`."""
    out = []
    for stanza in _stanzas(text):
        if "deb" in _field(stanza, "Types").split() and _field(stanza, "Enabled") != "no":
            rest = [ln for ln in stanza if not re.match(r"(?i)types\s*:", ln)]
            out.append("\n".join(["Types: deb-src", *rest]))
    return "".join(s + "\n\n" for s in out)


def list_to_stanzas(text: str) -> str:
    """One-line `deb [opts] uri suite comp...` entries -> deb822 `deb-src` stanzas."""
    out = []
    one_line = r"deb\s+(?:\[([^]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$"
    for m in filter(None, (re.match(one_line, ln.strip()) for ln in text.splitlines())):
        opts, uri, suite, comps = m.groups()
        lines = ["Types: deb-src", f"URIs: {uri}", f"Suites: {suite}"]
        lines += [f"Components: {comps.strip()}"] if comps.strip() else []
        for key, _, value in (opt.partition("=") for opt in (opts or "").split()):
            if key in LIST_OPTIONS:
                lines.append(f"{LIST_OPTIONS[key]}: {value.replace(',', ' ')}")
        out.append("\n".join(lines))
    return "".join(s + "\n\n" for s in out)


def _has_deb_src(sources: list[Path], lists: list[Path]) -> bool:
    types = [_field(s, "Types").split() for p in sources for s in _stanzas(p.read_text())]
    lines = [ln.strip() for p in lists for ln in p.read_text().splitlines()]
    return any("deb-src" in t for t in types) or any(ln.startswith("deb-src") for ln in lines)


def enable_deb_src(sources_dir: Path = Path("/etc/apt/sources.list.d")) -> bool:
    """If apt has no deb-src entries, add twins of the `deb` ones and `apt-get update`."""
    sources = sorted(sources_dir.glob("*.sources"))
    lists = sorted(sources_dir.glob("*.list"))
    if (main_list := sources_dir.parent / "sources.list").is_file():
        lists.append(main_list)
    if _has_deb_src(sources, lists):
        return False
    text = "".join(deb_src_stanzas(p.read_text()) for p in sources)
    text += "".join(list_to_stanzas(p.read_text()) for p in lists)
    if not text:
        raise BootstrapError("no apt 'deb' entries to copy as deb-src", where=str(sources_dir))
    if os.geteuid() != 0:
        raise BootstrapError("adding apt deb-src entries needs root", fix="run as root")
    header = (
        "# Written by bootstrap.fetching.debmirror: deb-src twins of this machine's deb entries.\n"
    )
    (sources_dir / DEB_SRC_FILE).write_text(header + text.rstrip("\n") + "\n")
    _run(["apt-get", "update"])
    return True


def parse_dsc(text: str) -> dict[str, str]:
    """File name -> sha256 from a (possibly clear-signed) .dsc's Checksums-Sha256 field."""
    if text.lstrip().startswith("-----BEGIN PGP SIGNED MESSAGE-----"):
        text = text.split("\n\n", 1)[1].split("-----BEGIN PGP SIGNATURE-----", 1)[0]
    result: dict[str, str] = {}
    inside = False
    for line in text.splitlines():
        if not line[:1].isspace():
            inside = line.lower().startswith("checksums-sha256:")
        elif inside and len(parts := line.split()) == 3:
            result[parts[2]] = parts[0]
    return result


def upstream_version(debian_version: str) -> str:
    """Debian version -> upstream version: drop epoch, Debian revision, repack suffixes."""
    version = debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
    while (stripped := REPACK.sub("", version)) != version:
        version = stripped
    return version


def _compare(a: str, b: str) -> int:
    lower = runner.query(["dpkg", "--compare-versions", a, "lt", b])
    return -1 if lower.returncode == 0 else 1


def apt_specs(package: str, version: str) -> list[str]:
    """`pkg=ver` for each Debian version carrying upstream `version`, newest first, or `pkg`."""
    out = _run(["apt-cache", "showsrc", "--only-source", package])
    found = set(re.findall(r"^Version: (\S+)$", out, re.MULTILINE))
    ours = sorted((v for v in found if upstream_version(v) == version), key=cmp_to_key(_compare))
    return [f"{package}={v}" for v in reversed(ours)] or [package]


@dataclass
class MirrorReport:
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (name, status, detail)

    def summary(self) -> str:
        width = max((len(n) for n, _, _ in self.rows), default=0)
        lines = [f"{n:<{width}}  {st:<16} {detail}" for n, st, detail in self.rows]
        counts = Counter(st for _, st, _ in self.rows)
        lines.append(", ".join(f"{c} {st}" for st, c in sorted(counts.items())) or "no sources")
        return "\n".join(lines)


def _run(argv: list[str], cwd: Path | None = None) -> str:
    proc = runner.query(argv, cwd=cwd)
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("E:")]
        raise FetchError(f"{' '.join(argv)} failed: {' '.join(errors) or proc.stderr.strip()}")
    return proc.stdout


def _place(src: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _has(path: Path, sha256: str) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest() == sha256


def _already(src: Source, mirror_dir: Path, override: dict[str, Any] | None) -> str | None:
    """What makes `src` need no work (its file is mirrored with the right hash), or None."""
    if _has(mirror_dir / src.file, src.sha256):
        return f"{src.file} (pinned sha256)"
    over = override or {}
    name = str(over.get("url", "")).removeprefix("debian:")
    plain = bool(name) and file_name_problem(name) is None  # only files in the mirror dir
    same = plain and "sha256" in over and str(over.get("version")) == src.version
    return f"{name} (Debian repack)" if same and _has(mirror_dir / name, over["sha256"]) else None


def _download(package: str, upstream: str, work: Path) -> tuple[Path, str, str]:
    """apt-get source `package` (falling back to older revisions): (orig, sha256, version)."""
    errors = []
    for spec in apt_specs(package, upstream):
        try:
            _run(["apt-get", "source", "--download-only", spec], cwd=work)
            break
        except FetchError as err:
            errors.append(err.what)
            for leftover in work.iterdir():
                leftover.unlink()
    else:
        raise FetchError(errors[0])
    text = "".join(p.read_text() for p in work.glob("*.dsc"))
    checksums = parse_dsc(text)
    origs = [name for name in checksums if ORIG.search(name)]
    deb_version = re.search(r"^Version: (\S+)$", text, re.MULTILINE)
    if not origs or not deb_version:
        raise FetchError(f"apt-get source {spec} gave no .dsc naming an orig tarball")
    if problem := file_name_problem(origs[0]):
        raise FetchError(f"apt-get source {spec}: bad orig tarball name in the .dsc: {problem}")
    return work / origs[0], checksums[origs[0]], deb_version.group(1)  # apt checked it


def _mirror_one(src: Source, mirror_dir: Path, work: Path, overrides: dict) -> tuple[str, str]:
    orig, sha, deb_version = _download(src.debian or "", src.version, work)
    if sha == src.sha256:
        _place(orig, mirror_dir / src.file)
        overrides.pop(src.name, None)
        return "pinned", f"{src.file} = Debian {deb_version} orig (pinned sha256)"
    if upstream_version(deb_version) == src.version:
        _place(orig, mirror_dir / orig.name)
        overrides[src.name] = {
            "version": src.version,
            "url": f"debian:{orig.name}",
            "sha256": sha,
            "note": f"Debian repack of {src.name} {src.version}",
        }
        return "repack", f"{orig.name} (Debian {deb_version}), override written"
    overrides.pop(src.name, None)
    return "version-mismatch", f"Debian has {deb_version}, sources.yml pins {src.version}"


def _write_overrides(path: Path, overrides: dict[str, Any]) -> None:
    """Write the override file atomically (and not at all when nothing changed)."""
    header = (
        "# Generated by python -m bootstrap.fetching.debmirror: Debian repacks in this mirror.\n"
    )
    text = header + yaml.safe_dump({"sources": dict(sorted(overrides.items()))}, sort_keys=False)
    if path.is_file() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def fill_mirror(
    sources: Sequence[Source],
    mirror_dir: Path,
    override_path: Path,
    workdir: Path | None = None,
    log: Callable[[str], None] = print,
) -> MirrorReport:
    """Mirror every source that names a Debian package; update the override file."""
    mirror_dir.mkdir(parents=True, exist_ok=True)
    work_root = workdir or mirror_dir / ".work"
    data = yaml.safe_load(override_path.read_text()) if override_path.is_file() else None
    overrides: dict[str, Any] = dict((data or {}).get("sources") or {})
    report = MirrorReport()
    for src in sources:
        if not src.debian:
            report.rows.append((src.name, "skipped", "no 'debian' package named"))
            continue
        if done := _already(src, mirror_dir, overrides.get(src.name)):
            report.rows.append((src.name, "present", done))
            continue
        log(f"mirror: {src.name}: apt-get source {src.debian}")
        work = work_root / src.name
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            report.rows.append((src.name, *_mirror_one(src, mirror_dir, work, overrides)))
        except FetchError as err:
            report.rows.append((src.name, "error", err.what))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if workdir is None:
        shutil.rmtree(work_root, ignore_errors=True)
    _write_overrides(override_path, overrides)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bootstrap.fetching.debmirror", description=__doc__
    )
    parser.add_argument("--mirror-dir", type=Path, default=REPO / "mirror")
    parser.add_argument("--sources", type=Path, default=REPO / "sources.yml")
    parser.add_argument("--override", type=Path, help="default: <mirror-dir>/sources-override.yml")
    parser.add_argument("--only", default="", help="comma-separated source names")
    args = parser.parse_args(argv)
    try:
        if not shutil.which("apt-get"):
            raise BootstrapError("apt-get not found", fix="run on a Debian-based host")
        sources = load_sources(args.sources)
        wanted = [n for n in args.only.split(",") if n]
        if unknown := sorted(set(wanted) - set(sources)):
            raise BootstrapError(f"unknown source(s): {', '.join(unknown)}", where="--only")
        enable_deb_src()
        selected = [s for n, s in sources.items() if not wanted or n in wanted]
        override = args.override or args.mirror_dir / "sources-override.yml"
        report = fill_mirror(selected, args.mirror_dir, override)
    except BootstrapError as err:
        exit_with(err)
    print(report.summary())
    return 1 if any(status == "error" for _, status, _ in report.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
