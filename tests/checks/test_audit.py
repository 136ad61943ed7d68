"""Tree audits: forbidden paths in any file, ELF machine and interpreter."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

from bootstrap.builder.keys import BuildKey
from bootstrap.checks.audit import ForbiddenStrings, TreeAuditSpec, audit_tree
from bootstrap.core.errors import BuildError
from bootstrap.model.targets import load_targets

TARGET = load_targets(REPO / "toolchain")["x86_64"]


def spec(root: Path, tmp_path: Path) -> TreeAuditSpec:
    return TreeAuditSpec(
        target=TARGET,
        root=root,
        forbidden=ForbiddenStrings(paths=("/work/build",), host_markers=("/usr/lib/gcc",)),
        results=tmp_path / "audit.json",
        key=BuildKey("x"),
    )


def test_clean_tree_passes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "lib" / "pkgconfig").mkdir(parents=True)
    (root / "usr" / "lib" / "pkgconfig" / "z.pc").write_text("prefix=/usr\n")
    (root / "lib").symlink_to("usr/lib")
    audit_tree(spec(root, tmp_path))
    assert json.loads((tmp_path / "audit.json").read_text())["passed"] is True


@pytest.mark.parametrize(
    ("rel", "text", "leak"),
    [
        ("usr/bin/z-config", "#!/bin/sh\necho -L/work/build/x\n", "/work/build"),
        ("usr/share/doc/README", "built in /work/build/z\n", "/work/build"),  # even in docs
        ("usr/bin/tool", '#!/bin/sh\nexec /usr/lib/gcc/cc1 "$@"\n', "/usr/lib/gcc"),  # script
    ],
)
def test_leaked_path_is_named(tmp_path: Path, rel: str, text: str, leak: str) -> None:
    root = tmp_path / "root"
    (root / rel).parent.mkdir(parents=True)
    (root / rel).write_text(text)
    name = Path(rel).name
    with pytest.raises(BuildError, match=f"{name}: contains host/build path '{leak}'"):
        audit_tree(spec(root, tmp_path))
    assert json.loads((tmp_path / "audit.json").read_text())["passed"] is False


@pytest.mark.skipif(platform.machine() != "x86_64", reason="needs an x86_64 host")
def test_glibc_binary_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    src = tmp_path / "m.c"
    src.write_text("int main(void) { return 0; }\n")
    subprocess.run(["cc", str(src), "-o", str(root / "usr" / "bin" / "m")], check=True)
    with pytest.raises(BuildError, match=r"PT_INTERP '/lib64/ld-linux-x86-64\.so\.2'"):
        audit_tree(spec(root, tmp_path))


def test_host_marker_is_prose_in_docs_but_a_leak_in_build_metadata(tmp_path: Path) -> None:
    root = tmp_path / "root"
    man = root / "usr" / "share" / "man" / "man5"
    man.mkdir(parents=True)
    (man / "pkgconf-personality.5").write_text("e.g. /usr/lib/gcc/x86_64-linux-gnu\n")
    (root / "usr" / "lib" / "pkgconfig").mkdir(parents=True)
    (root / "usr" / "lib" / "pkgconfig" / "z.pc").write_text("libdir=/usr/lib/gcc/x\n")
    with pytest.raises(BuildError) as err:
        audit_tree(spec(root, tmp_path))
    problems = json.loads((tmp_path / "audit.json").read_text())["problems"]
    assert list(problems) == ["usr/lib/pkgconfig/z.pc"], err.value


def test_recipe_vouched_file_may_hold_host_markers_but_never_build_paths(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "clang-19").write_bytes(b"#!x\nsearch /usr/lib/gcc\n")
    (root / "usr" / "bin" / "gcc-wrapper").write_bytes(b"#!x\nsearch /usr/lib/gcc\n")
    allowed = ForbiddenStrings(
        paths=("/work/build",),
        host_markers=("/usr/lib/gcc",),
        markers_allowed=(("usr/bin/clang-*", "llvm: GCC search list"),),
    )
    audit = TreeAuditSpec(TARGET, root, allowed, tmp_path / "audit.json", "x")
    with pytest.raises(BuildError):
        audit_tree(audit)
    report = json.loads((tmp_path / "audit.json").read_text())
    assert list(report["problems"]) == ["usr/bin/gcc-wrapper"]
    assert report["host_markers_allowed"] == {"usr/bin/clang-*": "llvm: GCC search list"}

    (root / "usr" / "bin" / "gcc-wrapper").unlink()
    (root / "usr" / "bin" / "clang-19").write_bytes(b"#!x\n/usr/lib/gcc /work/build/x\n")
    with pytest.raises(BuildError, match="clang-19: contains host/build path '/work/build'"):
        audit_tree(audit)
