"""Declarative field tables and the one validator that checks data files against them.

Every data file (sources.yml, recipes, target files, profiles) is described by a tuple of
`Field`s; `validate` rejects unknown keys, missing required keys and wrong types, naming the
file and entry, and fills defaults. `load_yaml` turns YAML syntax errors into `ConfigError`s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

Check = Callable[[Any], str | None]  # returns an error message, or None when fine


@dataclass(frozen=True)
class Field:
    name: str
    type: type | tuple[type, ...]
    doc: str
    required: bool = False
    default: Any = None
    check: Check | None = None


def _type_name(t: type | tuple[type, ...]) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__


def validate(data: Any, fields: tuple[Field, ...], where: str) -> dict[str, Any]:
    """Check `data` against `fields`; return a new dict with defaults filled in."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping, got {type(data).__name__}", where=where)
    known = {f.name: f for f in fields}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown key(s): {', '.join(map(str, unknown))}",
            where=where,
            fix=f"allowed keys are: {', '.join(known)}",
        )
    result: dict[str, Any] = {}
    for f in fields:
        if f.name not in data or data[f.name] is None:
            if f.required:
                raise ConfigError(f"missing required key '{f.name}' ({f.doc})", where=where)
            result[f.name] = f.default() if callable(f.default) else f.default
            continue
        value = data[f.name]
        if isinstance(value, bool) and f.type is not bool and bool not in _as_tuple(f.type):
            raise ConfigError(
                f"'{f.name}' must be {_type_name(f.type)}, not a boolean", where=where
            )
        if not isinstance(value, f.type):
            raise ConfigError(
                f"'{f.name}' must be {_type_name(f.type)}, got {type(value).__name__} ({value!r})",
                where=where,
            )
        if f.check and (problem := f.check(value)):
            raise ConfigError(f"'{f.name}': {problem}", where=where)
        result[f.name] = value
    return result


def _as_tuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def list_of(item_type: type) -> Check:
    def check(value: Any) -> str | None:
        bad = [v for v in value if not isinstance(v, item_type)]
        return f"every item must be {item_type.__name__}, got {bad[0]!r}" if bad else None

    return check


def matches(pattern: str, explain: str) -> Check:
    rx = re.compile(pattern)

    def check(value: Any) -> str | None:
        return None if rx.fullmatch(str(value)) else f"{value!r} is not {explain}"

    return check


def one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"{value!r} is not one of {', '.join(choices)}"

    return check


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; syntax errors become a ConfigError naming the file and line."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError("file not found", where=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"invalid YAML: {problem}", where=where) from None


def describe(fields: tuple[Field, ...]) -> str:
    """A Markdown table of the fields, for docs."""
    rows = ["| key | type | required | meaning |", "|---|---|---|---|"]
    for f in fields:
        rows.append(
            f"| `{f.name}` | {_type_name(f.type)} | {'yes' if f.required else ''} | {f.doc} |"
        )
    return "\n".join(rows)
