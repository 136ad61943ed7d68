"""The ELF reader, on binaries built here with the host compiler."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bootstrap.core.elf import MACHINES, is_elf, read_elf

HOST_MACHINE = {"x86_64": MACHINES["EM_X86_64"], "aarch64": MACHINES["EM_AARCH64"]}


def build(tmp_path: Path, *flags: str) -> Path:
    src = tmp_path / "m.c"
    src.write_text("int main(void) { return 0; }\n")
    out = tmp_path / "m"
    subprocess.run(["cc", str(src), "-o", str(out), *flags], check=True)
    return out


def test_dynamic_executable(tmp_path: Path) -> None:
    import platform

    info = read_elf(build(tmp_path, "-Wl,-rpath,/opt/x:/opt/y"))
    assert info.machine == HOST_MACHINE[platform.machine()]
    assert info.interpreter and info.interpreter.startswith("/lib")
    assert "libc.so.6" in info.needed
    assert info.rpath == ("/opt/x", "/opt/y")


def test_static_executable_has_no_interpreter(tmp_path: Path) -> None:
    try:
        binary = build(tmp_path, "-static")
    except subprocess.CalledProcessError:
        pytest.skip("no static libc on this host")
    assert read_elf(binary).interpreter is None


def test_not_elf(tmp_path: Path) -> None:
    text = tmp_path / "script"
    text.write_text("#!/bin/sh\n")
    assert not is_elf(text)
    with pytest.raises(ValueError, match="not a 64-bit"):
        read_elf(text)
