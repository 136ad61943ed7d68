"""binfmt_misc: the registration line for qemu-user, and the status checks that gate the chroot."""

from __future__ import annotations

import dataclasses
import os
import platform
import re
from pathlib import Path

import pytest
from conftest import REPO

from bootstrap.core.errors import BootstrapError
from bootstrap.exec import binfmt
from bootstrap.exec.binfmt import BINFMT, binfmt_status, ensure_binfmt, registration
from bootstrap.model.targets import Target, load_targets, normalise_arch

TARGETS = load_targets(REPO / "toolchain")
AARCH64 = TARGETS["aarch64"]
INTERP = "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"
ESCAPED = re.compile(rb"(?:\\x[0-9a-f]{2})+")


def unescape(field: bytes) -> bytes:
    assert ESCAPED.fullmatch(field), field
    return bytes.fromhex(field.replace(b"\\x", b"").decode())


def parse(line: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """:name:type:offset:magic:mask:interpreter:flags -> (name, magic, mask, interp, flags)."""
    empty, name, kind, offset, magic, mask, interp, flags = line.split(b":")
    assert (empty, kind, offset) == (b"", b"M", b"")
    return name, unescape(magic), unescape(mask), interp, flags


def foreign_target(qemu: str = "qemu-doesnotexist") -> Target:
    host = normalise_arch(platform.machine())
    arch = next(a for a in ("riscv64", "sparc64") if a != host)
    target = dataclasses.replace(AARCH64, arch=arch, qemu=qemu)
    assert not target.is_native()
    return target


def test_aarch64_registration_line() -> None:
    line = registration(AARCH64, INTERP)
    assert line.startswith(b":qemu-aarch64:M::")
    assert line.endswith(b":" + INTERP.encode() + b":FP")
    name, magic, mask, interp, flags = parse(line)
    assert (name, interp, flags) == (b"qemu-aarch64", INTERP.encode(), b"FP")
    assert len(magic) == len(mask) == 20
    assert magic[:4] == b"\x7fELF"
    assert magic[4:6] == b"\x02\x01"  # ELFCLASS64, little-endian
    assert magic[18:20] == b"\xb7\x00"  # e_machine EM_AARCH64 (183), little-endian
    assert b"\\xb7\\x00:" in line
    assert mask[16:18] == b"\xfe\xff"  # e_type: ET_EXEC (2) and ET_DYN (3) both match
    assert mask[18:20] == b"\xff\xff"


def test_registration_matches_only_its_own_machine() -> None:
    """Apply the kernel's rule (header & mask == magic & mask) to real-looking headers."""
    _, magic, mask, _, _ = parse(registration(AARCH64, INTERP))

    def header(e_type: int, machine: int) -> bytes:
        ident = b"\x7fELF\x02\x01\x01" + b"\x00" * 9
        return ident + e_type.to_bytes(2, "little") + machine.to_bytes(2, "little")

    def matches(data: bytes) -> bool:
        return all(d & m == g & m for d, g, m in zip(data, magic, mask, strict=True))

    assert matches(header(2, 183))  # ET_EXEC
    assert matches(header(3, 183))  # ET_DYN (PIE, the loader)
    assert not matches(header(1, 183))  # ET_REL: objects are not run
    assert not matches(header(2, 62))  # x86_64
    _, x86_magic, _, _, _ = parse(registration(TARGETS["x86_64"], "/x"))
    assert x86_magic[18:20] == b"\x3e\x00"


@pytest.mark.skipif(
    not (BINFMT / "qemu-aarch64").exists(), reason="no qemu-aarch64 binfmt_misc entry here"
)
def test_registration_agrees_with_the_kernel_entry() -> None:
    """Debian's registration (qemu-user-static) uses the same magic and mask."""
    entry = dict(
        line.split(" ", 1) for line in (BINFMT / "qemu-aarch64").read_text().splitlines()[1:]
    )
    _, magic, mask, _, _ = parse(registration(AARCH64, INTERP))
    assert bytes.fromhex(entry["magic"]) == magic
    assert bytes.fromhex(entry["mask"]) == mask


def test_native_target_needs_no_emulation() -> None:
    native = [t for t in TARGETS.values() if t.is_native()]
    if not native:
        pytest.skip(f"no target file for this host ({platform.machine()})")
    ok, why, _ = binfmt_status(native[0])
    assert ok is True
    assert "native" in why
    ensure_binfmt(native[0])  # nothing to do, nothing raised


@pytest.mark.skipif(
    not (BINFMT / "qemu-aarch64").exists() or AARCH64.is_native(),
    reason="no qemu-aarch64 binfmt_misc entry here (or aarch64 is native)",
)
def test_registered_qemu_aarch64_is_usable() -> None:
    text = (BINFMT / "qemu-aarch64").read_text()
    flags = re.search(r"^flags: (\S*)$", text, re.M)
    if not text.startswith("enabled") or not flags or "F" not in flags.group(1):
        pytest.skip("qemu-aarch64 is registered here, but disabled or without F")
    ok, why, _ = binfmt_status(AARCH64)
    assert ok is True
    assert "'qemu-aarch64' registered with flags" in why
    assert "F" in why.rsplit(" ", 1)[1]


@pytest.mark.skipif(not (BINFMT / "status").exists(), reason="binfmt_misc is not mounted")
def test_missing_entry_names_the_package() -> None:
    target = foreign_target()
    ok, why, fix = binfmt_status(target)
    assert ok is False
    assert "no binfmt_misc entry 'qemu-doesnotexist'" in why
    assert "qemu-doesnotexist-static is not installed" in why
    assert "apt-get install qemu-user-static" in fix


@pytest.mark.skipif(
    not (BINFMT / "status").exists() or os.geteuid() != 0,
    reason="needs root and a mounted binfmt_misc",
)
def test_ensure_binfmt_fails_with_the_fix_when_it_cannot_register() -> None:
    target = foreign_target()  # no qemu-doesnotexist-static: nothing gets registered
    with pytest.raises(BootstrapError, match=f"cannot run {target.arch} code here") as err:
        ensure_binfmt(target)
    assert "apt-get install qemu-user-static" in err.value.render()
    assert not (BINFMT / "qemu-doesnotexist").exists()


@pytest.fixture
def fake_binfmt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A binfmt_misc directory with entries in the kernel's format."""
    (tmp_path / "status").write_text("enabled\n")
    monkeypatch.setattr(binfmt, "BINFMT", tmp_path)
    return tmp_path


def entry(state: str, flags: str) -> str:
    return f"{state}\ninterpreter /usr/bin/qemu-x\nflags: {flags}\noffset 0\nmagic 7f\nmask ff\n"


def test_status_of_kernel_entries(fake_binfmt: Path) -> None:
    target = foreign_target("qemu-x")
    (fake_binfmt / "qemu-x").write_text(entry("enabled", "POCF"))
    assert binfmt_status(target) == (True, "'qemu-x' registered with flags POCF", "")


@pytest.fixture
def qemu_x_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `qemu-x-static` on PATH (and nothing else)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    interpreter = bin_dir / "qemu-x-static"
    interpreter.write_text("#!/bin/sh\n")
    interpreter.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return interpreter


def test_each_cause_gets_its_own_fix(
    fake_binfmt: Path, qemu_x_installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = foreign_target("qemu-x")
    path = fake_binfmt / "qemu-x"
    path.write_text(entry("disabled", "F"))
    assert binfmt_status(target)[1:] == (
        "binfmt_misc entry 'qemu-x' is disabled",
        f"enable it: echo 1 > {path}",
    )

    path.write_text(entry("enabled", "P"))
    ok, why, fix = binfmt_status(target)
    assert not ok
    assert "without the F flag" in why
    assert fix.startswith(f"re-register it: echo -1 > {path}, then run doit as root")
    assert "apt-get" not in fix  # qemu-x-static is installed

    path.unlink()
    ok, why, fix = binfmt_status(target)
    assert not ok
    assert why == f"no binfmt_misc entry 'qemu-x' ({qemu_x_installed} is installed)"
    assert fix == f"run doit as root: it registers {qemu_x_installed} with the F flag"

    monkeypatch.setenv("PATH", str(fake_binfmt / "empty"))  # qemu-x-static gone too
    ok, why, fix = binfmt_status(target)
    assert not ok
    assert "qemu-x-static is not installed" in why
    assert fix.startswith("apt-get install qemu-user-static")

    (fake_binfmt / "status").unlink()
    ok, why, fix = binfmt_status(target)
    assert not ok
    assert why == f"binfmt_misc is not mounted at {fake_binfmt}"
    assert fix.startswith(f"mount it: mount -t binfmt_misc binfmt_misc {fake_binfmt}")
    assert "apt-get" not in fix


def test_entry_without_any_flags_is_reported_not_a_crash(fake_binfmt: Path) -> None:
    # The kernel prints "flags: " (nothing after it) for an entry registered without flags.
    (fake_binfmt / "qemu-x").write_text(entry("enabled", ""))
    ok, why, fix = binfmt_status(foreign_target("qemu-x"))
    assert not ok
    assert "without the F flag" in why
    assert "echo -1 >" in fix
    assert "apt-get install qemu-user-static" in fix  # re-registering needs qemu-x-static


def test_an_empty_entry_file_is_reported_not_a_crash(fake_binfmt: Path) -> None:
    path = fake_binfmt / "qemu-x"
    path.write_text("")
    ok, why, fix = binfmt_status(foreign_target("qemu-x"))
    assert not ok
    assert "is empty or not in the kernel's format" in why
    assert fix.startswith(f"remove it (echo -1 > {path})")


def test_ensure_binfmt_raises_the_fix_for_the_cause(fake_binfmt: Path) -> None:
    """An entry exists, so nothing is mounted or registered (as root either): the error's
    fix is the one for its cause, not a package to install."""
    target = foreign_target("qemu-x")
    path = fake_binfmt / "qemu-x"
    path.write_text(entry("disabled", "F"))
    with pytest.raises(BootstrapError) as err:
        ensure_binfmt(target)
    assert (
        err.value.what
        == f"cannot run {target.arch} code here: binfmt_misc entry 'qemu-x' is disabled"
    )
    assert err.value.fix == f"enable it: echo 1 > {path}"

    path.write_text("")
    with pytest.raises(BootstrapError) as err:
        ensure_binfmt(target)
    assert "empty" in err.value.what
    assert "echo -1" in (err.value.fix or "")


def native_target() -> Target:
    host = normalise_arch(platform.machine())
    return dataclasses.replace(AARCH64, arch=host, cpu_features=("fma", "avx2"), cflags="-O2")


def test_a_native_cpu_without_the_targets_features_is_refused_with_the_fix(
    tmp_path: Path, fake_binfmt: Path
) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 fma\n\nprocessor\t: 1\n")
    status = binfmt.cpu_status(native_target(), cpuinfo)
    assert status.ok is False
    assert "this CPU lacks avx2" in status.why
    assert "cpu_features" in status.fix
    cpuinfo.write_text("flags\t\t: fpu sse2 fma avx2\n")
    assert binfmt.cpu_status(native_target(), cpuinfo).ok is True


def test_ensure_binfmt_never_registers_qemu_for_native_code(
    fake_binfmt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lacking = dataclasses.replace(native_target(), cpu_features=("no-such-feature",))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    (fake_binfmt / "register").write_text("")
    with pytest.raises(BootstrapError, match="this CPU lacks no-such-feature"):
        ensure_binfmt(lacking)
    assert (fake_binfmt / "register").read_text() == ""


def test_the_target_files_cpu_features_are_this_hosts_when_native() -> None:
    # the machines this project runs on build x86-64-v3 code natively
    native = [t for t in TARGETS.values() if t.is_native()]
    if not native:
        pytest.skip(f"no target file for this host ({platform.machine()})")
    assert binfmt_status(native[0]).ok, binfmt_status(native[0]).why
