"""patch_series / apply_patches / patch_digest with the real GNU patch tool."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bootstrap.core.errors import PatchError
from bootstrap.fetching.patch import apply_patches, patch_digest, patch_series

ORIGINAL = "".join(f"line {i}\n" for i in range(1, 31))


def diff(name: str, old: str, new: str, at: int) -> str:
    """A one-hunk -p1 diff replacing line `at` (1-based) `old` by `new` in a 30-line file."""
    before = "".join(f" line {i}\n" for i in range(at - 3, at))
    after = "".join(f" line {i}\n" for i in range(at + 1, at + 4))
    return (
        f"--- a/{name}\n+++ b/{name}\n@@ -{at - 3},7 +{at - 3},7 @@\n"
        f"{before}-{old}\n+{new}\n{after}"
    )


FIRST = diff("src/file.c", "line 10", "line ten", 10)
SECOND = diff("src/file.c", "line ten", "line TEN", 10)  # needs FIRST
OTHER = diff("src/file.c", "line 20", "line twenty", 20)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "pkg-1.0"
    (root / "src").mkdir(parents=True)
    (root / "src/file.c").write_text(ORIGINAL)
    return root


def write_patches(directory: Path, patches: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in patches.items():
        (directory / name).write_text(text)
    return directory


def test_series_order_is_respected(tmp_path: Path, tree: Path) -> None:
    pdir = write_patches(tmp_path / "patches", {"b-first.patch": FIRST, "a-second.patch": SECOND})
    (pdir / "series").write_text("# applied in this order\nb-first.patch\n\n  a-second.patch\n")
    patches = patch_series(pdir)
    assert [p.name for p in patches] == ["b-first.patch", "a-second.patch"]
    log = io.StringIO()
    apply_patches(tree, patches, log)
    assert "line TEN\n" in (tree / "src/file.c").read_text()
    assert "patching file src/file.c" in log.getvalue() and "b-first.patch" in log.getvalue()


def test_sorted_without_series(tmp_path: Path, tree: Path) -> None:
    pdir = write_patches(
        tmp_path / "patches",
        {"02-second.diff": SECOND, "01-first.patch": FIRST, "README": "not a patch", "x.orig": ""},
    )
    patches = patch_series(pdir)
    assert [p.name for p in patches] == ["01-first.patch", "02-second.diff"]
    apply_patches(tree, patches)
    assert "line TEN\n" in (tree / "src/file.c").read_text()
    assert not list(tree.rglob("*.orig"))


def test_missing_dir_and_missing_series_entry(tmp_path: Path) -> None:
    assert patch_series(tmp_path / "nothere") == []
    pdir = write_patches(tmp_path / "patches", {"a.patch": FIRST})
    (pdir / "series").write_text("a.patch\ngone.patch\n")
    with pytest.raises(PatchError) as info:
        patch_series(pdir)
    assert "gone.patch" in info.value.what
    assert info.value.where == f"{pdir / 'series'}:2"
    assert info.value.fix and "line 2" in info.value.fix


def test_failing_patch_names_file_and_hunk(tmp_path: Path, tree: Path) -> None:
    pdir = write_patches(tmp_path / "patches", {"01-ok.patch": OTHER, "02-bad.patch": SECOND})
    with pytest.raises(PatchError) as info:
        apply_patches(tree, patch_series(pdir))
    err = info.value
    assert err.where == str(pdir / "02-bad.patch")
    assert "hunk #1 of src/file.c FAILED" in err.what
    assert "-line ten" in err.what  # the rejected hunk from the .rej file
    assert err.fix and "pkg-1.0" in err.fix and "series" in err.fix


def test_failure_names_the_source_not_the_temporary_tree(tmp_path: Path, tree: Path) -> None:
    staging = tree.rename(tmp_path / ".src.tmp")
    removed = "".join(f"-no line {i}\n" for i in range(25))
    added = "".join(f"+new line {i}\n" for i in range(25))
    long_hunk = f"--- a/src/file.c\n+++ b/src/file.c\n@@ -1,25 +1,25 @@\n{removed}{added}"
    patch = write_patches(tmp_path / "p", {"02-bad.patch": long_hunk}) / "02-bad.patch"
    with pytest.raises(PatchError) as info:
        apply_patches(staging, [patch], source="pkg-1.0.tar.gz")
    err = info.value
    assert ".src.tmp" not in err.render()
    assert "does not apply to pkg-1.0.tar.gz" in err.what and "more lines" in err.what
    assert err.fix and "02-bad.patch" in err.fix and "pkg-1.0.tar.gz" in err.fix


def test_missing_target_file(tmp_path: Path, tree: Path) -> None:
    patch = write_patches(tmp_path / "p", {"x.patch": diff("nope.c", "a", "b", 5)}) / "x.patch"
    with pytest.raises(PatchError, match="file to patch not found"):
        apply_patches(tree, [patch])


def test_already_applied(tmp_path: Path, tree: Path) -> None:
    patch = write_patches(tmp_path / "p", {"fix.patch": FIRST}) / "fix.patch"
    apply_patches(tree, [patch])
    with pytest.raises(PatchError) as info:
        apply_patches(tree, [patch])
    assert "already applied" in info.value.what and "src/file.c" in info.value.what
    assert info.value.where == str(patch)
    assert "line ten\n" in (tree / "src/file.c").read_text()


def test_digest_tracks_names_contents_and_order(tmp_path: Path) -> None:
    pdir = write_patches(tmp_path / "p", {"a.patch": FIRST, "b.patch": SECOND})
    a, b = pdir / "a.patch", pdir / "b.patch"
    digest = patch_digest([a, b])
    assert digest == patch_digest([a, b]) and len(digest) == 64
    assert patch_digest([b, a]) != digest
    assert patch_digest([]) != digest
    data = bytearray(a.read_bytes())
    data[-2] ^= 1
    a.write_bytes(bytes(data))
    assert patch_digest([a, b]) != digest
    renamed = pdir / "c.patch"
    renamed.write_bytes(a.read_bytes())
    assert patch_digest([renamed, b]) != patch_digest([a, b])
