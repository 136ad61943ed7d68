"""The component graph of one stage: declared dependencies, validated, in a stable order.

A recipe's `depends:` names the components of the same stage whose installs it builds
against; `replaces:` names those whose files it may overwrite in the stage's union (llvm's
`cc` over tcc's), when the stage builds them: a profile without tcc leaves that one unused
(a name no recipe has is still an error). Both may differ per stage (`stages:` overrides).
Every component of a stage also sees everything the earlier stages produced (the stage1
toolchain, the stage2 tree at /serpent), so those need no declaration.

The order inside a stage is the topological order of `depends` and `replaces` edges, ties
broken by the profile's listing; it decides only which layer lands on top in a union, never
what gets rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import ConfigError


@dataclass(frozen=True)
class Node:
    name: str
    depends: tuple[str, ...]
    replaces: tuple[str, ...]
    recipe_path: Path


@dataclass(frozen=True)
class StageGraph:
    stage: str
    order: tuple[str, ...]  # every component, dependencies (and replaced ones) first
    depends: dict[str, tuple[str, ...]]  # direct dependencies, as declared
    replaces: dict[str, tuple[str, ...]]

    def closure(self, name: str) -> tuple[str, ...]:
        """Everything `name` builds against, directly or not, in union order (not itself)."""
        seen: set[str] = set()
        todo = list(self.depends[name])
        while todo:
            dep = todo.pop()
            if dep not in seen:
                seen.add(dep)
                todo.extend(self.depends[dep])
        return tuple(n for n in self.order if n in seen)


def stage_graph(
    stage: str,
    nodes: Sequence[Node],
    later_stage_of: Callable[[str], str | None],
    recipes: frozenset[str] = frozenset(),
) -> StageGraph:
    """Validate the stage's declarations and order them.

    `later_stage_of(name)` answers which later stage builds a component this stage lacks,
    so that mistake gets its own message; `recipes` are all names a `replaces` may use."""
    listed = {n.name: n for n in nodes}
    for node in nodes:
        for dep in node.depends:
            _check_reference(stage, node, "depends", dep, listed, later_stage_of)
        for dep in node.replaces:
            if dep not in recipes:
                _check_reference(stage, node, "replaces", dep, listed, later_stage_of)
    nodes = [replace(n, replaces=tuple(r for r in n.replaces if r in listed)) for n in nodes]
    order = _topological(stage, nodes)
    return StageGraph(
        stage=stage,
        order=order,
        depends={n.name: n.depends for n in nodes},
        replaces={n.name: n.replaces for n in nodes},
    )


def _check_reference(
    stage: str,
    node: Node,
    kind: str,
    dep: str,
    listed: dict[str, Node],
    later_stage_of: Callable[[str], str | None],
) -> None:
    if dep == node.name:
        raise ConfigError(
            f"{stage}: '{node.name}' {kind} itself",
            where=str(node.recipe_path),
            fix=f"remove '{dep}' from {kind}",
        )
    if dep in listed:
        return
    later = later_stage_of(dep)
    if later:
        raise ConfigError(
            f"{stage}: '{node.name}' {kind} '{dep}', which is built only in {later}, after {stage}",
            where=str(node.recipe_path),
            fix=f"build '{dep}' in {stage} too (stages/profiles.yml), or drop it from "
            f"{kind} (a `stages: {{{stage}: {{{kind}: [...]}}}}` override)",
        )
    raise ConfigError(
        f"{stage}: '{node.name}' {kind} '{dep}', which this profile's {stage} does not build",
        where=str(node.recipe_path),
        fix=f"add '{dep}' to {stage} in stages/profiles.yml, or fix the name in {kind}",
    )


def _topological(stage: str, nodes: Sequence[Node]) -> tuple[str, ...]:
    """Kahn's algorithm; among the ready nodes the earliest listed goes first."""
    position = {n.name: i for i, n in enumerate(nodes)}
    before: dict[str, set[str]] = {n.name: {*n.depends, *n.replaces} for n in nodes}
    order: list[str] = []
    while before:
        ready = [n for n, deps in before.items() if not deps]
        if not ready:
            raise _cycle_error(stage, nodes, before)
        first = min(ready, key=position.__getitem__)
        order.append(first)
        del before[first]
        for deps in before.values():
            deps.discard(first)
    return tuple(order)


def _cycle_error(stage: str, nodes: Sequence[Node], before: dict[str, set[str]]) -> ConfigError:
    cycle = _find_cycle(before)
    paths = {n.name: n.recipe_path for n in nodes}
    return ConfigError(
        f"{stage}: dependency cycle {' -> '.join(cycle)}",
        where=", ".join(str(paths[n]) for n in sorted(set(cycle))),
        fix="a component cannot need (or replace) what needs it: remove one edge of the "
        "cycle from `depends:`/`replaces:`",
    )


def _find_cycle(before: dict[str, set[str]]) -> list[str]:
    """Walk unresolved edges from any node until a node repeats."""
    path: list[str] = []
    node = min(before)
    while node not in path:
        path.append(node)
        node = min(before[node])
    return [*path[path.index(node) :], node]
