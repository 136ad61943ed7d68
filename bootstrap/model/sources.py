"""sources.yml: one pinned, checksummed entry per upstream source, plus override files.

An override file (same layout, partial entries) replaces url/mirrors/sha256/file/version for
named sources, e.g. a distribution's repack of the same release. Overridden sources are still
checksum-verified against the override's sha256.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..core.errors import ConfigError
from .schema import Field, list_of, load_yaml, matches, validate

SHA256 = matches(r"[0-9a-f]{64}", "a sha256 (64 lowercase hex digits)")
# Only what fetch can get: http(s) and file:// URLs, debian: names (a mirror dir only).
URL = matches(r"(https?|file)://\S+|debian:\S+", "an http(s)://, file:// or debian: URL")
SCHEMA_FIX = (
    "correct the entry; docs/design.md ('Data file schemas') lists every key and its format"
)


def file_name_problem(name: str) -> str | None:
    """Why `name` cannot name a file in the download cache or a mirror dir, or None.

    The name is joined to those directories, so anything but a plain name would write or
    read outside them."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        return f"{name!r} is not a plain file name (no '/', not '.' or '..', not empty)"
    return None


def _url_list(value: list[Any]) -> str | None:
    return list_of(str)(value) or next(filter(None, map(URL, value)), None)


SOURCE_FIELDS: tuple[Field, ...] = (
    Field(
        "version",
        (str, int, float),
        "upstream version; URLs may use {version} and {major}",
        required=True,
    ),
    Field("url", str, "primary download URL", required=True, check=URL),
    Field(
        "sha256", str, "sha256 of the file the URL serves (mandatory)", required=True, check=SHA256
    ),
    Field("mirrors", list, "further URLs tried in order after url", default=list, check=_url_list),
    Field("signature", str, "URL of a detached upstream signature", check=URL),
    Field(
        "file",
        str,
        "file name in the download cache (default: the URL's basename)",
        check=file_name_problem,
    ),
    Field("debian", str, "Debian source package carrying this source (for the mirror command)"),
    Field("note", str, "free-form remark, e.g. why this version"),
)

OVERRIDE_FIELDS: tuple[Field, ...] = (
    Field("version", (str, int, float), "version of the replacement file"),
    Field("url", str, "replacement URL", check=URL),
    Field("mirrors", list, "replacement mirror URLs", check=_url_list),
    Field("sha256", str, "sha256 of the replacement file", check=SHA256),
    Field("file", str, "cache/mirror file name of the replacement", check=file_name_problem),
    Field("debian", str, "Debian source package carrying the replacement"),
    Field("note", str, "free-form remark"),
)


@dataclass(frozen=True)
class Source:
    name: str
    version: str
    url: str
    sha256: str
    mirrors: tuple[str, ...] = ()
    signature: str | None = None
    file: str = ""
    debian: str | None = None
    origin: str = ""  # where this entry was defined (file, plus override file if any)

    @property
    def urls(self) -> tuple[str, ...]:
        """Every URL to try, primary first."""
        return (self.url, *self.mirrors)


def _expand(text: str | None, version: str) -> str | None:
    if text is None:
        return None
    major = version.split(".")[0]
    try:
        return text.format(version=version, major=major)
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(
            f"bad placeholder in {text!r}: {err}", fix="only {version} and {major} are available"
        ) from None


def _file_name(url: str) -> str:
    path = url.split(":", 1)[1] if url.startswith("debian:") else urlsplit(url).path
    name = posixpath.basename(path)
    if problem := file_name_problem(name):
        raise ConfigError(
            f"cannot derive a file name from URL {url!r}: {problem}",
            fix="add a 'file' key with a plain file name",
        )
    return name


def _make_source(name: str, entry: dict[str, Any], origin: str) -> Source:
    version = str(entry["version"])
    url = _expand(entry["url"], version)
    assert url is not None
    return Source(
        name=name,
        version=version,
        url=url,
        sha256=entry["sha256"],
        mirrors=tuple(_expand(m, version) or "" for m in entry.get("mirrors") or ()),
        signature=_expand(entry.get("signature"), version),
        file=entry.get("file") or _file_name(url),
        debian=entry.get("debian"),
        origin=origin,
    )


def _entries(path: Path) -> dict[str, Any]:
    data = load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("sources"), dict):
        raise ConfigError(
            "expected a top-level 'sources:' mapping of name -> entry", where=str(path)
        )
    extra = sorted(set(data) - {"sources"})
    if extra:
        raise ConfigError(f"unknown top-level key(s): {', '.join(extra)}", where=str(path))
    return data["sources"]


def _validate(raw: Any, fields: tuple[Field, ...], where: str) -> dict[str, Any]:
    try:
        return validate(raw, fields, where)
    except ConfigError as err:
        raise ConfigError(err.what, where=err.where, fix=err.fix or SCHEMA_FIX) from None


def _located(where: str, err: ConfigError) -> ConfigError:
    return ConfigError(err.what, where=err.where or where, fix=err.fix)


def load_sources(path: Path, overrides: Sequence[Path] = ()) -> dict[str, Source]:
    """Load and validate sources.yml, then apply override files in order (later wins)."""
    sources: dict[str, Source] = {}
    for name, raw in _entries(path).items():
        where = f"{path}: source '{name}'"
        entry = _validate(raw, SOURCE_FIELDS, where)
        try:
            sources[str(name)] = _make_source(str(name), entry, str(path))
        except ConfigError as err:
            raise _located(where, err) from None
    for override in overrides:
        sources = apply_overrides(sources, override)
    return sources


def apply_overrides(sources: dict[str, Source], path: Path) -> dict[str, Source]:
    result = dict(sources)
    for name, raw in _entries(path).items():
        where = f"{path}: override '{name}'"
        if name not in sources:
            raise ConfigError(
                "names no source in sources.yml",
                where=where,
                fix=f"known sources: {', '.join(sorted(sources))}",
            )
        entry = _validate(raw, OVERRIDE_FIELDS, where)
        try:
            result[name] = _overridden(sources[name], entry, path)
        except ConfigError as err:
            raise _located(where, err) from None
    return result


def _overridden(base: Source, entry: dict[str, Any], path: Path) -> Source:
    version = str(entry["version"]) if entry.get("version") is not None else base.version
    new_file = bool(entry.get("url") or entry.get("file"))
    if new_file and not entry.get("sha256"):
        raise ConfigError(
            "replaces the file but gives no sha256",
            fix="every replacement file needs its own sha256",
        )
    if version != base.version and not new_file:
        raise ConfigError(
            f"changes the version ({base.version} -> {version}) but keeps the old file",
            fix="a new version is a new file: give its 'url' (or 'file') and its 'sha256', "
            "or drop 'version'",
        )
    changed: dict[str, Any] = {"version": version, "origin": f"{base.origin} + {path}"}
    if entry.get("url"):
        changed["url"] = _expand(entry["url"], version)
        changed["file"] = _file_name(changed["url"])
        changed["mirrors"] = ()
        changed["signature"] = None
    if entry.get("mirrors") is not None:
        changed["mirrors"] = tuple(_expand(m, version) or "" for m in entry["mirrors"])
    for key in ("file", "debian", "sha256"):
        if entry.get(key):
            changed[key] = entry[key]
    return replace(base, **changed)
