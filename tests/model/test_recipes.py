"""Recipes: schema, per-stage and per-mode overrides, style defaults that never overwrite."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from bootstrap.builder.styles import apply_style, style_commands
from bootstrap.core.errors import ConfigError
from bootstrap.model.profiles import load_profiles
from bootstrap.model.recipes import load_recipe, load_recipes, resolve_recipe

RECIPE = """\
source: musl
style: autotools
configure_args: [--enable-a]
stages:
  stage2:
    configure_args: [--enable-b]
modes:
  llvm:
    make_args: [V=1]
post_install:
  - [ln, -s, a, b]
"""


def recipe(tmp_path: Path, text: str = RECIPE, name: str = "musl") -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    return path


def test_overrides_merge_base_stage_mode(tmp_path: Path) -> None:
    r = load_recipe(recipe(tmp_path))
    assert resolve_recipe(r, "stage1", "host")["configure_args"] == ["--enable-a"]
    assert resolve_recipe(r, "stage2", "host")["configure_args"] == ["--enable-b"]
    assert resolve_recipe(r, "stage2", "llvm")["make_args"] == ["V=1"]


def test_style_defaults_fill_but_never_overwrite(tmp_path: Path) -> None:
    r = apply_style(resolve_recipe(load_recipe(recipe(tmp_path)), "stage1", "host"))
    assert r["install_targets"] == ["install"]
    assert r["configure_args"] == ["--enable-a"]
    cmds = style_commands(r, cross=True)
    assert cmds["configure"][0][0] == "${srcdir_rel}/configure"
    assert "--enable-a" in cmds["configure"][0]
    assert cmds["install"][-1] == ["ln", "-s", "a", "b"]


def test_only_a_cross_cmake_build_gets_the_toolchain_file() -> None:
    r = apply_style({"name": "x", "style": "cmake"})
    assert "-DCMAKE_TOOLCHAIN_FILE=${cmake_toolchain}" in style_commands(r, True)["configure"][0]
    assert not any("TOOLCHAIN" in a for a in style_commands(r, False)["configure"][0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source: x\n", "missing required key 'style'"),
        ("style: scons\n", "is not one of autotools"),
        ("style: custom\nsteps: {compile: [[make]]}\n", "unknown phase"),
        ("style: custom\npost_install: ['make install']\n", "argv"),
        ("style: make\nstages: {stage4: {}}\n", "unknown stage 'stage4'"),
        ("style: make\nbogus: 1\n", "unknown key(s): bogus"),
    ],
)
def test_bad_recipes(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_recipe(recipe(tmp_path, text))


def test_shipped_recipes_and_profiles_load() -> None:
    recipes = load_recipes(REPO / "stages" / "recipes")
    profiles = load_profiles(REPO / "stages" / "profiles.yml", recipes)
    assert {"full", "smoke"} <= set(profiles)
    assert profiles["smoke"].toolchain == "host"
    assert profiles["full"].toolchain == "llvm"


def test_profile_naming_a_missing_recipe(tmp_path: Path) -> None:
    (tmp_path / "profiles.yml").write_text(
        "profiles:\n  p:\n    doc: d\n    toolchain: host\n    stage1: [nope]\n"
    )
    with pytest.raises(ConfigError, match="no recipe for component"):
        load_profiles(tmp_path / "profiles.yml", {})


def test_a_list_override_can_extend_instead_of_replace(tmp_path: Path) -> None:
    text = (
        "style: autotools\nconfigure_args: [--enable-a]\n"
        "stages:\n  stage2:\n    configure_args+: [--enable-b]\n"
        "modes:\n  llvm:\n    configure_args+: [--enable-c]\n"
    )
    r = load_recipe(recipe(tmp_path, text))
    assert resolve_recipe(r, "stage1", "host")["configure_args"] == ["--enable-a"]
    assert resolve_recipe(r, "stage2", "host")["configure_args"] == ["--enable-a", "--enable-b"]
    both = ["--enable-a", "--enable-b", "--enable-c"]
    assert resolve_recipe(r, "stage2", "llvm")["configure_args"] == both


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("prefix+: /opt", "only list fields can be extended"),
        ("configure_args+: --x", "configure_args"),
    ],
)
def test_bad_extensions_are_errors(tmp_path: Path, fields: str, message: str) -> None:
    text = f"style: autotools\nstages:\n  stage2:\n    {fields}\n"
    with pytest.raises(ConfigError, match=message):
        load_recipe(recipe(tmp_path, text))
