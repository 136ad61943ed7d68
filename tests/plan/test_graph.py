"""Stage graphs: declared dependencies validated with errors naming the recipe, a stable
order, closures."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.core.errors import ConfigError
from bootstrap.plan.graph import Node, stage_graph


def node(name: str, depends: tuple[str, ...] = (), replaces: tuple[str, ...] = ()) -> Node:
    return Node(name, depends, replaces, Path(f"stages/recipes/{name}.yml"))


def never_later(name: str) -> str | None:
    return None


def test_order_follows_dependencies_then_the_listing() -> None:
    graph = stage_graph(
        "stage2",
        [node("tcc", ("musl",)), node("layout"), node("musl", ("layout",)), node("make")],
        never_later,
    )
    assert graph.order == ("layout", "musl", "tcc", "make")
    assert graph.closure("tcc") == ("layout", "musl")
    assert graph.closure("make") == ()


def test_a_replaced_component_comes_first_in_the_union() -> None:
    graph = stage_graph("stage2", [node("llvm", replaces=("tcc",)), node("tcc")], never_later)
    assert graph.order == ("tcc", "llvm")
    assert graph.closure("llvm") == ()  # replacing is not building against


def test_replacing_a_component_the_stage_does_not_build_is_vacuous() -> None:
    nodes = [node("coreutils", replaces=("busybox",)), node("sed", replaces=("busybox",))]
    graph = stage_graph("stage3", nodes, never_later, frozenset({"busybox", "coreutils", "sed"}))
    assert graph.order == ("coreutils", "sed")
    assert graph.replaces["coreutils"] == ()
    with pytest.raises(ConfigError, match="'busybx'"):  # a name no recipe has
        stage_graph("stage3", [node("sed", replaces=("busybx",))], never_later, frozenset({"sed"}))


def test_an_unknown_dependency_names_the_recipe() -> None:
    with pytest.raises(ConfigError) as err:
        stage_graph("stage2", [node("tcc", ("muls",))], never_later)
    text = err.value.render()
    assert "stages/recipes/tcc.yml" in text and "'muls'" in text and "fix:" in text


def test_a_dependency_on_a_later_stage_says_so() -> None:
    with pytest.raises(ConfigError) as err:
        stage_graph("stage2", [node("file", ("bzip2",))], lambda n: "stage3")
    assert "built only in stage3, after stage2" in err.value.render()


def test_a_cycle_is_named() -> None:
    nodes = [node("a", ("b",)), node("b", ("c",)), node("c", ("a",)), node("d")]
    with pytest.raises(ConfigError) as err:
        stage_graph("stage2", nodes, never_later)
    text = err.value.render()
    assert "cycle a -> b -> c -> a" in text
    assert "stages/recipes/a.yml" in text and "stages/recipes/d.yml" not in text


def test_depending_on_itself_is_an_error() -> None:
    with pytest.raises(ConfigError, match="depends itself"):
        stage_graph("stage2", [node("a", ("a",))], never_later)
