"""Checks inside a root, for real: a root that borrows the host's /usr (cmake, ninja, cc,
python3), so the full profile's verify checks run without a full rootfs."""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

import pytest
from conftest import REPO

from bootstrap.checks.chrootcheck import RootProbe
from bootstrap.exec.sandbox import Bind
from bootstrap.model.targets import load_targets

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None,
        reason="needs root and util-linux unshare (namespaces, mounts, chroot)",
    ),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("cmake", "ninja", "cc", "python3")),
        reason="needs the host's cmake, ninja, cc and python3",
    ),
]
PACKAGE = {
    "CMakeLists.txt": "cmake_minimum_required(VERSION 3.13)\nproject(pkg C)\nenable_testing()\n"
    "add_executable(adder adder.c)\nadd_test(NAME adds COMMAND adder 2 3 5)\n",
    "adder.c": "#include <stdlib.h>\nint main(int c, char **v) {\n"
    "  return c == 4 && atoi(v[1]) + atoi(v[2]) == atoi(v[3]) ? 0 : 1;\n}\n",
}


@pytest.fixture
def probe(tmp_path: Path) -> RootProbe:
    root = tmp_path / "root"
    root.mkdir()
    for name in ("proc", "sys", "dev", "tmp"):
        (root / name).mkdir()
    for name in ("bin", "lib", "lib64", "sbin"):
        (root / name).symlink_to(f"usr/{name}")
    (tmp_path / "scratch").mkdir()
    target = load_targets(REPO / "toolchain")[platform.machine()]
    return RootProbe(
        root, target, tmp_path / "scratch", tmp_path / "log", (Bind(Path("/usr"), "/usr"),)
    )


def package(tmp_path: Path, files: dict[str, str]) -> Path:
    source = tmp_path / "pkg"
    source.mkdir()
    for name, text in files.items():
        (source / name).write_text(text)
    return source


def test_a_package_builds_and_passes_its_tests_inside(probe: RootProbe, tmp_path: Path) -> None:
    assert probe.builds_package(package(tmp_path, PACKAGE)) == []


def test_a_failing_test_suite_is_reported(probe: RootProbe, tmp_path: Path) -> None:
    broken = {**PACKAGE, "adder.c": "int main(void) { return 1; }\n"}
    problems = probe.builds_package(package(tmp_path, broken))
    assert problems and "tests failed" in problems[0]


def test_python3_runs_with_its_modules(probe: RootProbe) -> None:
    assert probe.python() == []
