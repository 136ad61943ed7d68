"""native-exec (src/native-exec), built with the host's cc into a tmp dir and run on the
host against stand-in programs: an "emulated" LLVM that PATH would give, and a "native"
bin/ that must be run instead, with the argv that makes it take the emulated one's place.
(The chroot with a real foreign-arch compiler: tests/builder/test_native.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

SOURCE = REPO / "src" / "native-exec"
TRIPLET = "aarch64-serpent-linux-musl"
# A stand-in program: prints its name, argv[0] and arguments, one per line.
PRINT_ARGS = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    printf("%s\n", WHO);
    for (int i = 0; i < argc; i++) printf("%s\n", argv[i]);
    return 0;
}
"""

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def stand_in(path: Path, who: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    source = path.parent / f"{path.name}.c"
    source.write_text(PRINT_ARGS)
    subprocess.run(["cc", f'-DWHO="{who}"', "-o", str(path), str(source)], check=True)
    source.unlink()


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """<tmp>/native: libexec/serpent-native/ (the program and its links) and bin/ (stand-ins
    for the build machine's LLVM programs)."""
    top = tmp_path_factory.mktemp("native-exec")
    prefix = top / "native"
    built = subprocess.run(
        [
            "make",
            "-C",
            str(SOURCE),
            f"O={top}",
            f"TRIPLET={TRIPLET}",
            "LLVM_MAJOR=19",
            "CFLAGS=-std=c99 -Wall -Wextra -Werror -O2",
            f"DESTDIR={prefix}",
            "DIR=/libexec/x",
            "install",
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    for program in ("clang", "ld.lld", "llvm-ar"):
        stand_in(prefix / "bin" / program, f"native {program}")
    return prefix


@pytest.fixture
def emulated(tmp_path: Path) -> Path:
    """A bin/ dir as a chroot's /usr/bin would have it: cc -> clang -> clang-19, ar -> llvm-ar."""
    bindir = tmp_path / "usr" / "bin"
    stand_in(bindir / "clang-19", "emulated clang")
    stand_in(bindir / "llvm-ar", "emulated llvm-ar")
    stand_in(bindir / "tcc", "emulated tcc")
    for name, target in (
        ("clang", "clang-19"),
        ("cc", "clang"),
        ("c++", "clang"),
        ("ar", "llvm-ar"),
        ("ranlib", "llvm-ar"),
    ):
        (bindir / name).symlink_to(target)
    return bindir


def run(native: Path, emulated: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    wrappers = native / "libexec" / "x"
    env = {**os.environ, "PATH": f"{wrappers}:{emulated}"}
    return subprocess.run([name, *args], env=env, capture_output=True, text=True)


def test_cc_runs_the_native_clang_as_if_installed_where_the_emulated_one_is(
    native: Path, emulated: Path
) -> None:
    result = run(native, emulated, "cc", "-c", "x.c")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "native clang",
        "cc",  # the name the build called: clang's driver mode
        "--no-default-config",
        "-ccc-install-dir",
        str(emulated),  # the emulated clang's real dir
        "-resource-dir",
        f"{emulated.parent}/lib/clang/19",  # the string the emulated clang makes of it
        f"--target={TRIPLET}",
        f"-B{native / 'libexec' / 'x'}",
        "-c",
        "x.c",
    ]


def test_binutils_keep_the_name_they_were_called_by(native: Path, emulated: Path) -> None:
    result = run(native, emulated, "ranlib", "libx.a")
    assert result.stdout.splitlines() == ["native llvm-ar", "ranlib", "libx.a"]


def test_a_program_that_is_not_llvms_runs_as_it_is(native: Path, emulated: Path) -> None:
    (emulated / "cc").unlink()
    (emulated / "cc").symlink_to("tcc")
    result = run(native, emulated, "cc", "-c", "x.c")
    assert result.stdout.splitlines() == ["emulated tcc", "cc", "-c", "x.c"]


def test_a_name_missing_from_path_fails_with_127(native: Path, emulated: Path) -> None:
    result = run(native, emulated, "nm", "x.o")
    assert result.returncode == 127
    assert result.stderr == "native-exec: nm: not found in PATH\n"
