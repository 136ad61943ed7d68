"""Target files: validation, selection, arch normalisation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import REPO

from bootstrap.core.errors import ConfigError
from bootstrap.model.targets import load_target, load_targets, normalise_arch, select_targets


def test_shipped_targets() -> None:
    targets = load_targets(REPO / "toolchain")
    assert set(targets) == {"x86_64", "aarch64"}
    assert targets["aarch64"].triplet == "aarch64-serpent-linux-musl"
    assert targets["aarch64"].kernel_arch == "arm64"


def test_arm64_on_aarch64_host_is_native() -> None:
    target = load_targets(REPO / "toolchain")["aarch64"]
    assert normalise_arch("arm64") == "aarch64"
    assert target.is_native("aarch64")
    assert target.is_native("arm64")
    assert not target.is_native("x86_64")


def test_selection() -> None:
    targets = load_targets(REPO / "toolchain")
    assert [t.arch for t in select_targets(targets, "all")] == ["aarch64", "x86_64"]
    assert [t.arch for t in select_targets(targets, "arm64")] == ["aarch64"]
    with pytest.raises(ConfigError, match="unknown target 'riscv64'") as err:
        select_targets(targets, "riscv64")
    assert "toolchain/riscv64.yml" in err.value.render()


def test_vendor_is_configurable(tmp_path: Path) -> None:
    text = (
        (REPO / "toolchain" / "x86_64.yml").read_text().replace("vendor: serpent", "vendor: acme")
    )
    (tmp_path / "x86_64.yml").write_text(text)
    assert load_target(tmp_path / "x86_64.yml").triplet == "x86_64-acme-linux-musl"


def test_file_name_must_match_arch(tmp_path: Path) -> None:
    (tmp_path / "arm.yml").write_text((REPO / "toolchain" / "aarch64.yml").read_text())
    with pytest.raises(ConfigError, match="does not match the file name"):
        load_target(tmp_path / "arm.yml")


def test_missing_field(tmp_path: Path) -> None:
    text = (REPO / "toolchain" / "x86_64.yml").read_text().replace("qemu: qemu-x86_64\n", "")
    (tmp_path / "x86_64.yml").write_text(text)
    with pytest.raises(ConfigError, match="missing required key 'qemu'"):
        load_target(tmp_path / "x86_64.yml")


def test_cpu_features_are_no_build_input() -> None:
    target = load_targets(REPO / "toolchain")["aarch64"]
    assert replace(target, cpu_features=("sve",)).signature() == target.signature()
    assert replace(target, cflags="-O3").signature() != target.signature()
