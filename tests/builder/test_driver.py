"""The LLVM programs (host mode: links) and the cross driver around them: wrappers, config
files, tool links; relocatable."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bootstrap.builder.driver import PROGRAMS, TOOLS, install_driver, install_programs
from bootstrap.core.elf import MACHINES, read_elf
from bootstrap.core.errors import BootstrapError, BuildError

TRIPLET = "aarch64-serpent-linux-musl"
MAJORS = [m for m in ("22", "19") if Path(f"/usr/lib/llvm-{m}/bin/clang").exists()]
HOST_LLVM = Path(f"/usr/lib/llvm-{MAJORS[0]}") if MAJORS else Path("/nonexistent")
pytestmark = pytest.mark.skipif(not MAJORS, reason="needs clang-22 or clang-19 (tools/setup-host)")


@pytest.fixture
def toolchain(tmp_path: Path) -> Path:
    dest = tmp_path / "tc"
    install_programs(dest, MAJORS[0], HOST_LLVM)  # the shared cross-llvm layer
    install_driver(dest, TRIPLET, "aarch64", MAJORS[0], dest / "bin")  # the per-target one
    return dest


def test_host_programs_are_links_into_the_host_llvm(tmp_path: Path) -> None:
    install_programs(tmp_path, MAJORS[0], HOST_LLVM)
    for name in PROGRAMS:
        assert (tmp_path / "bin" / name).readlink().parent == Path(f"/usr/lib/llvm-{MAJORS[0]}/bin")
    assert (tmp_path / "lib" / "clang" / MAJORS[0] / "include" / "stddef.h").is_file()


def test_the_driver_names_no_host_path(toolchain: Path) -> None:
    for name in ("clang", "clang++", "cc", "c++"):
        assert "/usr/lib/llvm" not in (toolchain / "bin" / f"{TRIPLET}-{name}").read_text()
    for name in TOOLS:
        assert "/" not in str((toolchain / "bin" / f"{TRIPLET}-{name}").readlink())


def test_layout(toolchain: Path) -> None:
    bindir = toolchain / "bin"
    for name in ("clang", "clang++", "cc", "c++", *TOOLS):
        assert (bindir / f"{TRIPLET}-{name}").exists(), name
    cfg = (bindir / f"{TRIPLET}.cfg").read_text()
    assert f"--target={TRIPLET}" in cfg
    assert "--sysroot=<CFGDIR>/../sysroot" in cfg
    assert "--rtlib=compiler-rt" in cfg and "--unwindlib=libunwind" in cfg
    assert "--stdlib=libc++" in (bindir / f"{TRIPLET}-clang++.cfg").read_text()
    assert (toolchain / "share" / "serpent" / f"{TRIPLET}.cmake").is_file()
    assert (toolchain / "share" / "serpent" / f"{TRIPLET}.meson").is_file()
    assert (toolchain / "sysroot" / "lib").readlink() == Path("usr/lib")
    assert str(toolchain) not in (bindir / f"{TRIPLET}-clang").read_text()


def test_compiles_for_the_target_after_a_move(toolchain: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    shutil.move(toolchain, moved)
    src = tmp_path / "x.c"
    src.write_text("int answer(void) { return 42; }\n")
    obj = tmp_path / "x.o"
    subprocess.run(
        [str(moved / "bin" / f"{TRIPLET}-clang"), "-c", str(src), "-o", str(obj)], check=True
    )
    assert read_elf(obj).machine == MACHINES["EM_AARCH64"]
    out = subprocess.run(
        [str(moved / "bin" / f"{TRIPLET}-clang"), "-###", "-c", str(src)],
        capture_output=True,
        text=True,
    ).stderr
    assert f'"-resource-dir" "{moved}/bin/../lib/clang/{MAJORS[0]}"' in out
    assert f'"-isysroot" "{moved}/bin/../sysroot"' in out


def test_binutils_dispatch_on_their_name(toolchain: Path) -> None:
    out = subprocess.run(
        [str(toolchain / "bin" / f"{TRIPLET}-ranlib"), "--version"], capture_output=True, text=True
    ).stdout
    assert "LLVM" in out


def test_the_driver_refuses_a_toolchain_without_its_programs(tmp_path: Path) -> None:
    # what LLVM's install did with prefix `/`: GNUInstallDirs put the programs in usr/bin
    (tmp_path / "llvm" / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "llvm" / "usr" / "bin" / "clang").touch()
    with pytest.raises(
        BuildError, match=r"no clang, clang\+\+, ld\.lld.* \(found: .*usr/bin/clang\)"
    ):
        install_driver(tmp_path / "tc", TRIPLET, "aarch64", "19", tmp_path / "llvm" / "bin")
    assert not (tmp_path / "tc" / "bin" / f"{TRIPLET}-clang").exists()


def test_host_programs_name_the_prefix_they_were_given(tmp_path: Path) -> None:
    with pytest.raises(BootstrapError, match=r"no host LLVM .* found at /nonexistent/llvm"):
        install_programs(tmp_path, MAJORS[0], Path("/nonexistent/llvm"))
