"""Layers and unions on real trees: digests, hard links, usr-merge, conflicts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bootstrap.builder.layers import Layer, assemble, publish, tree_digest
from bootstrap.core.errors import BuildError


def tree(root: Path, files: dict[str, str], links: dict[str, str] | None = None) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for rel, target in (links or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(target)
    return root


def test_digest_covers_content_modes_links_not_mtimes(tmp_path: Path) -> None:
    t = tree(tmp_path / "t", {"usr/bin/x": "x"}, {"usr/bin/y": "x"})
    first = tree_digest(t)
    os.utime(t / "usr/bin/x", (1, 1))
    assert tree_digest(t) == first  # the same bytes, later: the same layer
    os.chmod(t / "usr/bin/x", 0o755)
    assert tree_digest(t) != first
    os.chmod(t / "usr/bin/x", 0o644)
    (t / "usr/bin/y").unlink()
    (t / "usr/bin/y").symlink_to("z")
    assert tree_digest(t) != first


def test_publish_moves_the_staged_tree(tmp_path: Path) -> None:
    staged = tree(tmp_path / "destdir", {"usr/lib/libc.so": "c"})
    digest = publish(staged, tmp_path / "layers" / "musl" / "k1")
    assert not staged.exists()
    assert tree_digest(tmp_path / "layers" / "musl" / "k1") == digest


def test_union_hard_links_and_merges_through_usr_links(tmp_path: Path) -> None:
    layout = tree(tmp_path / "layout", {"usr/bin/.keep": ""}, {"bin": "usr/bin"})
    busybox = tree(tmp_path / "busybox", {"bin/busybox": "bb", "usr/sbin/x": "x"})
    dest = tmp_path / "root"
    owners = assemble([Layer("layout", layout), Layer("busybox", busybox)], dest, {})
    assert (dest / "bin").is_symlink()
    placed = dest / "usr" / "bin" / "busybox"
    assert placed.read_text() == "bb"
    assert placed.stat().st_ino == (busybox / "bin" / "busybox").stat().st_ino  # no copy
    assert owners["usr/bin/busybox"] == "busybox"


def test_two_layers_with_one_path_is_an_error_unless_replaced(tmp_path: Path) -> None:
    tcc = tree(tmp_path / "tcc", {"usr/bin/cc": "tcc"})
    llvm = tree(tmp_path / "llvm", {"usr/bin/cc": "clang"})
    layers = [Layer("tcc", tcc), Layer("llvm", llvm)]
    with pytest.raises(BuildError) as err:
        assemble(layers, tmp_path / "root", {})
    text = err.value.render()
    assert "llvm and tcc both install /usr/bin/cc" in text and "replaces: [tcc]" in text
    assemble(layers, tmp_path / "root", {"llvm": ["tcc"]})
    assert (tmp_path / "root" / "usr/bin/cc").read_text() == "clang"
    assert (tcc / "usr/bin/cc").read_text() == "tcc"  # the layer itself is untouched


def test_a_layer_cannot_write_through_a_link_out_of_the_union(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = tree(tmp_path / "evil", {}, {"opt": str(outside)})
    more = tree(tmp_path / "more", {"opt/x": "x"})
    with pytest.raises(BuildError, match="outside the tree"):
        assemble([Layer("evil", evil), Layer("more", more)], tmp_path / "root", {"more": ["evil"]})
    assert not (outside / "x").exists()
