"""Layer manifests: the same entries the layer digest hashes, written and read back, and the
paths two manifests of one layer differ in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bootstrap.builder.layers import Entry, layer_manifest, manifest_digest, tree_digest
from bootstrap.core.errors import BootstrapError
from bootstrap.image.manifest import (
    FileChange,
    changed_files,
    parse_manifests,
    render_manifests,
)


def odd_tree(root: Path) -> Path:
    """Files, modes, links, a fifo, and names with a tab, a newline and a backslash."""
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "tool").write_text("#!/bin/sh\n")
    (root / "usr" / "bin" / "tool").chmod(0o755)
    (root / "etc").mkdir(mode=0o750)
    (root / "etc").chmod(0o750)
    (root / "etc" / "a\tb\nc\\d").write_text("odd name\n")
    os.symlink("usr/bin", root / "bin")
    os.symlink("missing target\twith tab", root / "dangling")
    os.mkfifo(root / "fifo")
    return root


def test_a_manifest_hashes_to_the_layer_digest(tmp_path: Path) -> None:
    tree = odd_tree(tmp_path / "layer")
    entries = layer_manifest(tree)
    assert manifest_digest(entries) == tree_digest(tree)
    kinds = {e.path: e.kind for e in entries}
    assert kinds == {
        "bin": "l",
        "dangling": "l",
        "etc": "d",
        "etc/a\tb\nc\\d": "f",
        "fifo": "s",
        "usr": "d",
        "usr/bin": "d",
        "usr/bin/tool": "f",
    }
    tool = next(e for e in entries if e.path == "usr/bin/tool")
    assert tool.mode == "755"


def test_manifests_survive_writing_and_reading(tmp_path: Path) -> None:
    tree = odd_tree(tmp_path / "layer")
    entries = layer_manifest(tree)
    text = render_manifests({"x86_64/stage1/b": ("d2", []), "x86_64/stage1/a": ("d1", entries)})
    assert text.index("x86_64/stage1/a") < text.index("x86_64/stage1/b")  # sorted
    assert len(text.splitlines()) == 2 + 2 + len(entries)  # header, labels, one line each
    back = parse_manifests(text, "bootstrap.lock.files")
    assert back == {"x86_64/stage1/a": ("d1", entries), "x86_64/stage1/b": ("d2", [])}
    assert manifest_digest(back["x86_64/stage1/a"][1]) == tree_digest(tree)


def test_a_broken_manifest_line_is_an_error_naming_the_file() -> None:
    with pytest.raises(BootstrapError) as err:
        parse_manifests("@\tx/stage1/a\td1\nnot a line\n", "base/bootstrap.lock.files")
    assert err.value.where == "base/bootstrap.lock.files"
    assert "line 2" in err.value.what and err.value.fix


def test_changed_files_name_each_kind_of_change() -> None:
    old = [
        Entry("f", "same", "644", "aa"),
        Entry("f", "content", "644", "aa"),
        Entry("f", "mode", "644", "aa"),
        Entry("l", "link", "-", "one"),
        Entry("d", "type", "755", "-"),
        Entry("f", "gone", "644", "aa"),
    ]
    new = [
        Entry("f", "same", "644", "aa"),
        Entry("f", "content", "644", "bb"),
        Entry("f", "mode", "755", "aa"),
        Entry("l", "link", "-", "two"),
        Entry("l", "type", "-", "elsewhere"),
        Entry("f", "new", "644", "cc"),
    ]
    assert changed_files(old, new) == [
        FileChange("content", "content"),
        FileChange("gone", "removed"),
        FileChange("link", "link"),
        FileChange("mode", "mode"),
        FileChange("new", "added"),
        FileChange("type", "type"),
    ]
