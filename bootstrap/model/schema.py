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

from ..core.errors import ConfigError

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
        if isinstance(value, float) and str in _as_tuple(f.type):
            raise _float_error(f.name, value, where)
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


def _float_error(name: str, value: float, where: str) -> ConfigError:
    text = getattr(value, "text", repr(value))
    return ConfigError(
        f"'{name}: {text}' is read as the number {value!r}, not as text",
        where=getattr(value, "where", where),
        fix=f'quote it: {name}: "{text}"',
    )


def list_of(item_type: type) -> Check:
    def check(value: Any) -> str | None:
        bad = [v for v in value if not isinstance(v, item_type)]
        if not bad:
            return None
        where = f" ({bad[0].where}; quote it)" if isinstance(bad[0], LoadedFloat) else ""
        return f"every item must be {item_type.__name__}, got {bad[0]!r}{where}"

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


class LoadedFloat(float):
    """A float from a data file, with its text and place: `version: 4.30` reads as 4.3, so
    wherever text is expected the error must name the line and the text as written."""

    text: str
    where: str

    def __new__(cls, value: float, text: str = "", where: str = "") -> LoadedFloat:
        obj = super().__new__(cls, value)
        obj.text, obj.where = text or repr(value), where
        return obj


class _Checks:
    """What a loader adds to YAML's safe loader: it rejects duplicate keys (YAML keeps the
    last one silently) and remembers where each float came from."""

    def __init__(self, text: str, path: Path) -> None:
        super().__init__(text)  # type: ignore[call-arg]  # the loader class after this one
        self.path = path

    def _at(self, mark: yaml.Mark) -> str:
        return f"{self.path}:{mark.line + 1}:{mark.column + 1}"

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[tuple[str, str], yaml.Mark] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            if (key.tag, key.value) in first:
                line = first[(key.tag, key.value)].line + 1
                raise ConfigError(
                    f"duplicate key '{key.value}' (first at line {line})",
                    where=self._at(key.start_mark),
                    fix="keep one of them: YAML would silently use the last",
                )
            first[(key.tag, key.value)] = key.start_mark
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]

    def construct_float(self, node: yaml.ScalarNode) -> LoadedFloat:
        value = self.construct_yaml_float(node)  # type: ignore[attr-defined]
        return LoadedFloat(value, text=node.value, where=self._at(node.start_mark))


class _Loader(_Checks, yaml.SafeLoader):
    """The pure-Python parser: the wording and places of syntax errors."""


class _FastLoader(_Checks, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser where PyYAML has it (a no-op run reads every data file); a file it
    rejects is parsed again by _Loader for the error."""


for _cls in (_Loader, _FastLoader):
    _cls.add_constructor("tag:yaml.org,2002:float", _cls.construct_float)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; syntax errors, duplicate keys become a ConfigError naming the file
    and line (for an unclosed quote: the line where it opens)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError("file not found", where=str(path)) from None
    try:
        return _parse(_FastLoader, text, path)
    except yaml.YAMLError:
        pass
    try:
        return _parse(_Loader, text, path)
    except yaml.YAMLError as err:
        raise _syntax_error(path, text, err) from None


def _parse(loader_class: type[_Loader] | type[_FastLoader], text: str, path: Path) -> Any:
    loader = loader_class(text, path)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _syntax_error(path: Path, text: str, err: yaml.YAMLError) -> ConfigError:
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    at = f" at line {mark.line + 1}" if mark else ""
    if opened := _open_quote(text, err):
        return ConfigError(
            f"invalid YAML: {problem}{at}; the quoted string that opens here does not "
            "close on its line",
            where=f"{path}:{opened.line + 1}:{opened.column + 1}",
            fix="add the missing closing quote",
        )
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    return ConfigError(f"invalid YAML: {problem}", where=where)


def _open_quote(text: str, err: yaml.YAMLError) -> yaml.Mark | None:
    """Where the quoted string behind `err` opens: the one the scanner was inside, or one
    running over a line end before the error (never meant in these files: the quote after
    it was meant to open the next string, so the parser fails lines later)."""
    if getattr(err, "context", None) == "while scanning a quoted scalar":
        return err.context_mark  # type: ignore[attr-defined]
    end = getattr(err, "problem_mark", None)
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if end and token.start_mark.index >= end.index:
                break
            quoted = isinstance(token, yaml.ScalarToken) and token.style in ('"', "'")
            if quoted and token.start_mark.line != token.end_mark.line:
                return token.start_mark
    except yaml.YAMLError:
        pass
    return None


def describe(fields: tuple[Field, ...]) -> str:
    """A Markdown table of the fields, for docs."""
    rows = ["| key | type | required | meaning |", "|---|---|---|---|"]
    for f in fields:
        rows.append(
            f"| `{f.name}` | {_type_name(f.type)} | {'yes' if f.required else ''} | {f.doc} |"
        )
    return "\n".join(rows)
