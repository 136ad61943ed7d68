"""The engine's layering (`bootstrap.LAYERS`, lowest first): a module imports only from its
own layer and the layers before it, and no modules import each other in a cycle.

Imports are read from the source with `ast`, every one of them: at the top, under
`if TYPE_CHECKING:`, inside functions. `from .pkg import name` counts as an import of the
module `pkg.name` when that is a module, else of `pkg` itself.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest
from conftest import REPO

from bootstrap import LAYERS

PACKAGE = REPO / "bootstrap"


def modules(package: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that module `name` (file `path`) imports, anywhere in it."""
    top = name.split(".")[0]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == top or target.startswith(f"{top}."):
                assert target in known, f"{path}:{node.lineno}: no module {target}"
                found.add(target)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    known = modules(package)
    return {name: imports(name, path, set(known)) for name, path in known.items()}


def layer_of(module: str, layers: tuple[str, ...]) -> int:
    """The index of the module's layer; -1 for the top package (it holds the order)."""
    parts = module.split(".")
    return -1 if len(parts) == 1 else layers.index(parts[1])


def upward_imports(graph: dict[str, set[str]], layers: tuple[str, ...]) -> list[str]:
    return [
        f"{module} ({layers[layer_of(module, layers)]}) imports {target} "
        f"({layers[layer_of(target, layers)]})"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer_of(target, layers) > layer_of(module, layers)
    ]


def import_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of module imports, or [] when there is none."""
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as err:
        return list(err.args[1])
    return []


def test_every_module_is_in_a_layer() -> None:
    names = modules(PACKAGE)
    outside = [n for n in names if n != "bootstrap" and n.split(".")[1] not in LAYERS]
    assert outside == [], f"modules outside the layers {LAYERS}"
    assert all(f"bootstrap.{layer}" in names for layer in LAYERS), "a layer has no package"
    top = ast.parse((PACKAGE / "__init__.py").read_text())
    assert not any(isinstance(n, ast.Import | ast.ImportFrom) for n in ast.walk(top))


def test_no_module_imports_from_a_higher_layer() -> None:
    assert upward_imports(import_graph(PACKAGE), LAYERS) == []


def test_no_import_cycles() -> None:
    assert import_cycle(import_graph(PACKAGE)) == []


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "pkg"


@pytest.mark.parametrize(
    "where",
    [
        "from ..high.mod import thing\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..high import mod\n",
        "def f():\n    import pkg.high.mod\n",
    ],
)
def test_an_upward_import_is_found_wherever_it_is(tmp_path: Path, where: str) -> None:
    package = write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low/__init__.py": "",
            "pkg/low/base.py": where,
            "pkg/high/__init__.py": "",
            "pkg/high/mod.py": "from ..low import base\n",
        },
    )
    found = upward_imports(import_graph(package), ("low", "high"))
    assert found == ["pkg.low.base (low) imports pkg.high.mod (high)"]


def test_a_cycle_is_found_through_a_function_local_import(tmp_path: Path) -> None:
    package = write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low/__init__.py": "",
            "pkg/low/a.py": "from . import b\n",
            "pkg/low/b.py": "def later():\n    from .a import thing\n",
        },
    )
    assert sorted(import_cycle(import_graph(package))) == ["pkg.low.a", "pkg.low.a", "pkg.low.b"]
