"""Where stage3 components run (host or chroot) and the ${names} and environment they see."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import REPO

from bootstrap.builder import buildenv
from bootstrap.builder.buildenv import (
    CHROOT_PATH,
    HOST_ONLY,
    CommandRunner,
    component_plan,
    expand,
    in_chroot,
    variables,
)
from bootstrap.builder.spec import ComponentSpec
from bootstrap.core.errors import ConfigError
from bootstrap.exec.binfmt import binfmt_status
from bootstrap.model.config import Config
from bootstrap.model.options import Selection
from bootstrap.plan.project import Project

A64 = "aarch64"


@pytest.fixture
def build_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SERPENT_BUILD_DIR", str(tmp_path / "build"))
    return tmp_path / "build"


@pytest.fixture
def stage3(build_dir: Path) -> dict[str, ComponentSpec]:
    """The smoke profile's stage3 components for aarch64, by name."""
    project = Project.load(Config.create(REPO, Selection(profile="smoke", target=A64)))
    specs = project.components(project.targets[A64])
    return {s.name: s for s in specs if s.stage == "stage3"}


def test_stage3_placement(stage3: dict[str, ComponentSpec]) -> None:
    placed = {name: in_chroot(s.stage, s.recipe) for name, s in stage3.items()}
    assert placed == {
        "root-layout": False,
        "linux-headers": False,
        "musl": False,
        "busybox": False,
        "tcc": True,
        "make": True,
        "bzip2": True,
        "musl-tools": True,
    }


def test_in_chroot_rules() -> None:
    assert in_chroot("stage3", {}) is True
    assert in_chroot("stage3", {"where": "chroot"}) is True
    assert in_chroot("stage3", {"where": "host"}) is False
    assert in_chroot("stage2", {}) is False
    assert in_chroot("stage2", {"where": "chroot"}) is False
    assert in_chroot("stage1", {"where": "chroot"}) is False


def test_chroot_variables_are_chroot_paths(stage3: dict[str, ComponentSpec]) -> None:
    tcc = stage3["tcc"]
    values = variables(tcc)
    assert values["workdir"] == "/build"
    assert values["srcdir"] == "/build/src"
    assert values["builddir"] == "/build/build"
    assert values["destdir"] == "/build/destdir"
    assert values["root"] == "/"
    assert values["triplet"] == values["build_triplet"] == "aarch64-serpent-linux-musl"
    assert not set(HOST_ONLY) & set(values)
    # no host path of any kind: not the build dir, not this checkout, not the interpreter
    leaked = [(k, v) for k, v in values.items() if str(tcc.layout.base) in v or str(REPO) in v]
    assert leaked == []
    # native build: no prefix map (paths are already neutral, tcc has no such option)
    assert values["cflags"] == tcc.target.cflags
    assert "-ffile-prefix-map" not in values["cflags"]


def test_host_only_name_in_the_chroot_is_an_error(stage3: dict[str, ComponentSpec]) -> None:
    values = variables(stage3["tcc"])
    with pytest.raises(ConfigError) as err:
        expand(["${toolchain}/bin/clang", "-c"], values, "tcc")
    text = err.value.render()
    assert "unknown or malformed variable 'toolchain'" in text
    assert "recipe tcc" in text
    assert "available variables here: " in text
    available = text.split("available variables here: ", 1)[1].split(", ")
    assert available == sorted(values)
    assert "toolchain" not in available


def test_expand_leaves_shell_variables_alone(stage3: dict[str, ComponentSpec]) -> None:
    values = variables(stage3["tcc"])
    argv = ["sh", "-c", 'echo "$1" $HOME $$ ${jobs}', "sh", "${workdir}/x", "$${root}"]
    assert expand(argv, values, "tcc") == [
        "sh",
        "-c",
        f'echo "$1" $HOME $ {values["jobs"]}',
        "sh",
        "/build/x",
        "${root}",
    ]


def test_host_component_sees_host_paths(stage3: dict[str, ComponentSpec], build_dir: Path) -> None:
    musl = stage3["musl"]
    values = variables(musl)
    work = build_dir / A64 / "work" / "stage3" / "musl"
    assert values["workdir"] == str(work)
    assert values["srcdir"] == f"{work}/src"
    assert values["srcdir_rel"] == "../src"  # what configure records: no absolute work path
    assert values["root"] == str(work / "view")  # its closure's union
    assert values["toolchain"] == str(build_dir / A64 / "stage1")
    assert values["build_triplet"] != values["triplet"]
    assert values["build_triplet"].endswith("-pc-linux-gnu")
    assert set(HOST_ONLY) <= set(values)
    assert f"-ffile-prefix-map={work}=/usr/src/musl" in values["cflags"]
    # the recipe's own env expands against them
    libcc = expand([musl.recipe["env"]["LIBCC"]], values, "musl")[0]
    assert libcc.startswith(f"{build_dir / A64 / 'stage1'}/lib/clang/")
    assert libcc.endswith("/lib/aarch64-serpent-linux-musl/libclang_rt.builtins.a")


def test_build_inputs_depend_on_the_place(stage3: dict[str, ComponentSpec]) -> None:
    recipe = stage3["bzip2"].recipe
    assert not recipe["env"]  # nothing of its own: the bases show through
    chroot = component_plan("stage3", recipe)
    host = component_plan("stage2", recipe)

    assert chroot["place"] == "chroot" and host["place"] == "host"
    assert chroot["env"]["PATH"] == ":".join(CHROOT_PATH)
    assert [m["at"] for m in chroot["mounts"]] == ["/serpent", "/build", "/build/src", "/"]
    assert (chroot["env"]["CC"], chroot["derived"]["cc"]) == ("${cc}", "cc")
    assert chroot["env"]["AR"] == "ar"
    assert "/serpent/usr/lib" in chroot["env"]["LD_LIBRARY_PATH"]
    assert "PKG_CONFIG_SYSROOT_DIR" not in chroot["env"]
    assert chroot["derived"]["cflags"] == "${target_cflags}"

    assert host["env"]["PATH"].startswith("${toolchain}/bin:")
    assert "mounts" not in host
    assert host["env"]["CC"] == "${cc}"
    assert host["derived"]["cc"] == "${triplet}-clang --sysroot=${root}"
    assert "LD_LIBRARY_PATH" not in host["env"]
    assert "-ffile-prefix-map" in host["derived"]["cflags"]

    # templates only: the signature must not depend on where the build dir is
    assert not any(str(REPO) in str(v) for v in (*chroot.values(), *host.values()))


def test_recipe_env_wins_over_the_base(stage3: dict[str, ComponentSpec]) -> None:
    plan = component_plan("stage3", stage3["tcc"].recipe)
    assert plan["env"]["CC"] == "/serpent/usr/bin/tcc -B/serpent/usr/lib/tcc"
    assert plan["env"]["AR"] == "ar"
    assert plan["env"]["LC_ALL"] == "C"  # what the runner adds is in the plan too


def test_host_command_runner(stage3: dict[str, ComponentSpec], build_dir: Path) -> None:
    musl = stage3["musl"]
    runner = CommandRunner(musl, variables(musl), build_dir / "musl.log")
    assert runner.chroot is False
    assert runner.env["PATH"].split(":")[0] == str(build_dir / A64 / "stage1" / "bin")
    assert runner.env["HOME"] == str(musl.work)
    view = build_dir / A64 / "work" / "stage3" / "musl" / "view"  # its closure, not stage3
    assert runner.env["CC"] == f"aarch64-serpent-linux-musl-clang --sysroot={view}"
    assert "${" not in "".join(runner.env.values())


@pytest.mark.root
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare"
)
def test_chroot_command_runner_runs_in_the_stage3_root(
    stage3: dict[str, ComponentSpec], build_dir: Path
) -> None:
    """End to end through the real sandbox. The test's stand-ins: the "stage2 tree" is the
    host's /usr (so /serpent/bin/sh exists), and the build's view links its usr and loader
    dirs into /serpent, so the host's own shell runs there. The view is read-only."""
    tcc = stage3["tcc"]
    if not binfmt_status(tcc.target)[0]:
        pytest.skip("aarch64 code cannot run here (CommandRunner would try to register qemu)")
    base = build_dir / A64
    base.mkdir(parents=True)
    (base / "stage2").symlink_to("/usr")
    root = tcc.layout.view(tcc.stage, tcc.name)
    root.mkdir(parents=True)
    (root / "usr").symlink_to("serpent")
    for name in ("bin", "lib", "lib64"):
        (root / name).symlink_to(f"serpent/{name}")
    (tcc.work / "build").mkdir(parents=True)
    (tcc.work / "src").mkdir()

    runner = CommandRunner(tcc, variables(tcc), base / "tcc.log")
    assert runner.chroot is True
    assert runner.env["PATH"] == ":".join(CHROOT_PATH)
    assert runner.env["HOME"] == "/tmp"
    probe = f"serpent-buildenv-test-{os.getpid()}"
    try:
        runner.run(
            [
                "sh",
                "-c",
                'printf "%s\\n" "$(pwd)" "$CC" "$PATH" "$HOME" "$(hostname)" > "$1/seen"; '
                'touch "/serpent/$2" 2>/dev/null && echo writable >> "$1/seen"; '
                'touch "/$2" 2>/dev/null && echo root writable >> "$1/seen"; '
                'touch "/build/src/$2" 2>/dev/null && echo src writable >> "$1/seen"; true',
                "sh",
                "${workdir}",
                probe,
            ]
        )
        assert not Path("/usr", probe).exists()
        assert not (root / probe).exists()
    finally:
        Path("/usr", probe).unlink(missing_ok=True)
    seen = (tcc.work / "seen").read_text().splitlines()
    assert seen == [
        "/build/build",
        "/serpent/usr/bin/tcc -B/serpent/usr/lib/tcc",
        ":".join(CHROOT_PATH),
        "/tmp",
        "serpent",
    ]
    log = (base / "tcc.log").read_text()
    assert "unshare" in log
    assert buildenv.STAGE2_MOUNT in log
