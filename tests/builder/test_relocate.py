"""Rewriting the cross build's recorded paths in a staged install."""

from __future__ import annotations

import os
from pathlib import Path

from bootstrap.builder import relocate
from bootstrap.builder.buildenv import component_plan, relocates
from bootstrap.builder.relocate import build_path_rewrites, relocate_staged_install

ROOT = "/b/x86_64/stage2"
WORK = "/b/x86_64/work/stage2/bash"
TRIPLET = "x86_64-serpent-linux-musl"
REWRITES = build_path_rewrites(ROOT, WORK, "bash", TRIPLET)


def test_text_files_describe_the_root(tmp_path: Path) -> None:
    pc = tmp_path / "usr/lib/pkgconfig/bash.pc"
    pc.parent.mkdir(parents=True)
    pc.write_text(
        f"CC = {TRIPLET}-clang --sysroot={ROOT}\n"
        f"CXX = {TRIPLET}-clang++ --sysroot={ROOT}\n"
        f"AR = {TRIPLET}-ar\nLD = {TRIPLET}-ld.lld\n"
        f"libdir = {ROOT}/usr/lib\ntopdir = {WORK}/src\n"
        f"CFLAGS = -O2 -ffile-prefix-map={WORK}=/usr/src/bash\n"
        f"host = {TRIPLET}\n"
    )
    script = tmp_path / "usr/bin/bashbug"
    script.parent.mkdir(parents=True)
    script.write_text(f'#!/bin/sh\nCC="{TRIPLET}-clang --sysroot={ROOT}"\n')
    script.chmod(0o755)

    changed = relocate_staged_install(tmp_path, REWRITES)

    assert changed == ["usr/bin/bashbug", "usr/lib/pkgconfig/bash.pc"]
    assert pc.read_text() == (
        "CC = cc\nCXX = c++\nAR = ar\nLD = ld.lld\n"
        "libdir = /usr/lib\ntopdir = /usr/src/bash/src\n"
        "CFLAGS = -O2 -ffile-prefix-map=/usr/src/bash=/usr/src/bash\n"
        f"host = {TRIPLET}\n"
    )
    assert script.read_text() == '#!/bin/sh\nCC="cc"\n'
    assert os.stat(script).st_mode & 0o777 == 0o755
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temp files left


def test_libtool_archives_are_dropped(tmp_path: Path) -> None:
    la = tmp_path / "usr/lib/liblzma.la"
    la.parent.mkdir(parents=True)
    la.write_text("libdir='/usr/lib'\n")
    (tmp_path / "usr/lib/liblzma.so.5").write_bytes(b"\x7fELF\0")
    assert relocate_staged_install(tmp_path, REWRITES) == ["usr/lib/liblzma.la"]
    assert sorted(p.name for p in la.parent.iterdir()) == ["liblzma.so.5"]


def test_binaries_and_links_are_never_edited(tmp_path: Path) -> None:
    binary = tmp_path / "prog"
    blob = b"\x7fELF\0\0" + f"{ROOT}/usr/lib".encode()
    binary.write_bytes(blob)
    (tmp_path / "link").symlink_to(f"{ROOT}/usr/lib")
    assert relocate_staged_install(tmp_path, REWRITES) == []
    assert binary.read_bytes() == blob  # the audit must still see this leak
    assert os.readlink(tmp_path / "link") == f"{ROOT}/usr/lib"


def test_which_builds_relocate() -> None:
    assert relocates("stage2", {})
    assert relocates("stage1", {"install_root": "root"})
    assert not relocates("stage1", {"install_root": "toolchain"})
    assert not relocates("stage3", {})  # in the chroot: the paths are the root's own
    assert relocates("stage3", {"where": "host"})
    # part of the signature of exactly those builds
    recipe = {"env": {}, "style": "custom", "steps": {}}
    assert component_plan("stage2", recipe)["relocate"] == relocate.VERSION
    assert "relocate" not in component_plan("stage3", recipe)


def test_a_root_inside_the_work_dir_becomes_the_root(tmp_path: Path) -> None:
    """A build's view (its root) lies inside its work dir: a recorded include dir of the
    view is /usr/include, not /usr/src/<c>/view/usr/include."""
    work = "/b/x86_64/work/stage2/python3"
    rewrites = build_path_rewrites(f"{work}/view", work, "python3", "x86_64-serpent-linux-musl")
    tree = tmp_path / "destdir"
    (tree / "usr/lib").mkdir(parents=True)
    conf = tree / "usr/lib/sysconfig.py"
    conf.write_text(f"LIBFFI_INCLUDEDIR = '{work}/view/usr/include'\nsrc = '{work}/src'\n")
    relocate_staged_install(tree, rewrites)
    assert conf.read_text() == "LIBFFI_INCLUDEDIR = '/usr/include'\nsrc = '/usr/src/python3/src'\n"
