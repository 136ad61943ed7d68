"""The real data files: which tasks exist per toolchain mode, profile and target."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import REPO
from doit.task import Task

from bootstrap.builder.buildenv import expand, variables
from bootstrap.builder.spec import ComponentSpec
from bootstrap.core.errors import ConfigError
from bootstrap.model.config import Config
from bootstrap.model.options import Selection
from bootstrap.pipeline.tasks import all_tasks
from bootstrap.plan.project import DRIVER_MODULE, Project


def project(**selection: str) -> Project:
    return Project.load(Config.create(REPO, Selection(**selection)))


def names(p: Project) -> set[str]:
    return {t["basename"] if isinstance(t, dict) else t.name for t in all_tasks(p)}


def component(p: Project, arch: str, name: str, stage: str = "stage1") -> ComponentSpec:
    return next(c for c in p.components(p.targets[arch]) if (c.stage, c.name) == (stage, name))


def test_host_mode_links_the_host_llvm_and_the_driver_is_per_target() -> None:
    p = project(profile="smoke", target="aarch64")
    assert p.mode == "host"
    llvm = component(p, "aarch64", "cross-llvm")
    assert llvm.recipe["style"] == "custom" and llvm.tree.archive is None
    toolchain = component(p, "aarch64", "toolchain")
    assert toolchain.closure == ("cross-llvm",)
    assert toolchain.tree.archive is None


def test_llvm_mode_builds_one_llvm_for_every_target() -> None:
    p = project(profile="full", target="all", toolchain="llvm")
    llvms = [component(p, arch, "cross-llvm") for arch in ("x86_64", "aarch64")]
    assert llvms[0].recipe["source"] == "llvm-project"
    assert llvms[0].label == llvms[1].label == "shared/stage1/cross-llvm"
    assert llvms[0].key.plan == llvms[1].key.plan
    assert llvms[0].work == llvms[1].work == REPO / "build" / "shared" / "work/stage1/cross-llvm"
    tasks = [t for t in all_tasks(p) if isinstance(t, Task)]
    assert [t.name for t in tasks if t.name.endswith("/cross-llvm")] == [
        "build:shared/stage1/cross-llvm"
    ]
    for arch in ("x86_64", "aarch64"):
        driver = next(t for t in tasks if t.name == f"build:{arch}/stage1/toolchain")
        assert "build:shared/stage1/cross-llvm" in driver.task_dep
    configure = " ".join(llvms[0].plan["commands"]["configure"][0])
    assert "-DLLVM_TARGETS_TO_BUILD=${llvm_backends}" in configure
    assert "CMAKE_TOOLCHAIN_FILE" not in configure  # built for the build machine
    assert p.llvm_backends == "AArch64;X86"


def test_a_shared_llvm_does_not_depend_on_the_driver_code() -> None:
    p = project(profile="full", target="x86_64", toolchain="llvm")
    changed = replace(p, config=p.config)
    changed.__dict__["engine_digest"] = "something else"
    assert component(changed, "x86_64", "cross-llvm").key.plan == (
        component(p, "x86_64", "cross-llvm").key.plan
    )
    assert component(changed, "x86_64", "toolchain").key.plan != (
        component(p, "x86_64", "toolchain").key.plan
    )
    # nor on where the driver module lives: its plan does not name it
    assert DRIVER_MODULE not in json.dumps(component(p, "x86_64", "cross-llvm").plan)


def test_a_shared_recipe_naming_a_target_variable_is_an_error() -> None:
    p = project(profile="full", target="x86_64", toolchain="llvm")
    llvm = p.recipes["cross-llvm"]
    llvm_mode = {**llvm.mode_overrides["llvm"]}
    llvm_mode["configure_args"] = [*llvm_mode["configure_args"], "-DX=${triplet}"]
    changed = replace(llvm, mode_overrides={**llvm.mode_overrides, "llvm": llvm_mode})
    with pytest.raises(ConfigError, match=r"shared component 'cross-llvm' uses .*triplet"):
        replace(p, recipes={**p.recipes, "cross-llvm": changed}).components(p.targets["x86_64"])


def test_a_shared_recipe_depending_on_a_per_target_one_is_an_error() -> None:
    p = project(profile="full", target="x86_64", toolchain="llvm")
    llvm = p.recipes["cross-llvm"]
    changed = replace(llvm, base={**llvm.base, "depends": ["linux-headers"]})
    with pytest.raises(ConfigError, match=r"depends on linux-headers, which is built per target"):
        replace(p, recipes={**p.recipes, "cross-llvm": changed}).components(p.targets["x86_64"])


def test_modes_differ_in_the_shared_llvm_and_not_in_the_driver() -> None:
    host, llvm = project(profile="smoke"), project(profile="smoke", toolchain="llvm")
    assert (
        component(host, "x86_64", "cross-llvm").plan != component(llvm, "x86_64", "cross-llvm").plan
    )
    assert (
        component(host, "x86_64", "toolchain").plan == component(llvm, "x86_64", "toolchain").plan
    )
    assert all(
        h.key.plan != m.key.plan
        for h, m in zip(
            host.components(host.targets["x86_64"]),
            llvm.components(llvm.targets["x86_64"]),
            strict=True,
        )
    )


def test_every_target_gets_stage1_tasks_and_acceptance() -> None:
    tasks = names(project(profile="smoke"))
    for arch in ("x86_64", "aarch64"):
        for comp in ("toolchain", "linux-headers", "musl", "llvm-runtimes"):
            assert f"build:{arch}/stage1/{comp}" in tasks
        assert f"accept:{arch}/stage1" in tasks
    assert {"stage1", "stage2", "stage3", "fetch", "accept", "check", "mirror"} <= tasks


def test_smoke_sources() -> None:
    names = [s.name for s in project(profile="smoke").selected_sources()]
    assert names == ["busybox", "bzip2", "linux", "llvm-project", "make", "musl", "tcc"]


def test_stage2_waits_for_the_stage1_acceptance() -> None:
    tasks = {t.name: t for t in all_tasks(project(profile="smoke")) if not isinstance(t, dict)}
    first_stage2 = tasks["build:aarch64/stage2/root-layout"]
    assert "stage1:aarch64" in first_stage2.task_dep
    assert tasks["stage1:aarch64"].task_dep == ["union:aarch64/stage1", "accept:aarch64/stage1"]
    assert "build:aarch64/stage1/llvm-runtimes" in tasks["union:aarch64/stage1"].task_dep


def test_stage3_ends_in_a_verified_rootfs() -> None:
    items = list(all_tasks(project(profile="smoke")))
    tasks = {t.name: t for t in items if not isinstance(t, dict)}
    entries = {t["basename"]: t for t in items if isinstance(t, dict)}
    assert tasks["fixpoint:aarch64/stage3"].task_dep == ["union:aarch64/stage3"]
    assert "build:aarch64/stage3/bzip2" in tasks["union:aarch64/stage3"].task_dep
    assert "fixpoint:aarch64/stage3" in tasks["stage3:aarch64"].task_dep
    assert tasks["rootfs:aarch64"].task_dep == ["stage3:aarch64"]
    assert tasks["verify:aarch64"].task_dep == ["rootfs:aarch64"]
    assert tasks["verify:aarch64"].file_dep <= {str(p) for p in tasks["rootfs:aarch64"].targets}
    # the main job (selection defaults to x86_64 here) ends in the verification and the
    # lockfile, written after every stage and the rootfs; drift only with a baseline
    assert entries["stage3"]["task_dep"] == ["verify:x86_64", "lock:x86_64"]
    assert entries["verify"]["task_dep"] == ["verify:x86_64"]
    assert tasks["lock:aarch64"].task_dep == [
        "stage1:aarch64",
        "stage2:aarch64",
        "stage3:aarch64",
        "rootfs:aarch64",
    ]
    assert tasks["drift:aarch64"].task_dep == ["lock:aarch64", "verify:aarch64"]
    items = list(all_tasks(project(profile="smoke", baseline="https://ci.example/out")))
    entries = {t["basename"]: t for t in items if isinstance(t, dict)}
    assert entries["stage3"]["task_dep"] == ["verify:x86_64", "lock:x86_64", "drift:x86_64"]
    assert entries["verify"]["task_dep"] == ["verify:x86_64", "drift:x86_64"]


@pytest.mark.parametrize("profile", ["full", "smoke"])
def test_every_command_and_environment_expands_where_it_runs(profile: str) -> None:
    """No component names a variable its place lacks (a host path in the chroot)."""
    p = project(profile=profile, target="all", toolchain="llvm")
    for target in p.selected_targets:
        for spec in p.components(target):
            values = variables(spec)
            expand(list(spec.plan["env"].values()), values, spec.name)
            for argv in (a for phase in spec.plan["commands"].values() for a in phase):
                expand(argv, values, spec.name)


def test_the_full_stage3_rebuilds_the_compiler_and_musl_natively() -> None:
    p = project(profile="full", target="x86_64")
    chroot = {s.name for s in p.components(p.targets["x86_64"]) if s.in_chroot}
    assert {"llvm", "llvm-runtimes", "compiler-rt-builtins", "musl-native", "python3"} <= chroot
    assert not {"musl", "linux-headers", "root-layout"} & chroot  # the host builds these
    musl = component(p, "x86_64", "musl-native", "stage3")
    assert "llvm" in musl.closure and musl.replaces  # the new clang builds it, over musl
    assert "-DLLVM_TABLEGEN" not in json.dumps(component(p, "x86_64", "llvm", "stage3").plan)
    assert "CMAKE_TOOLCHAIN_FILE=" not in json.dumps(component(p, "x86_64", "cmake", "stage3").plan)


def test_full_stage2_llvm_needs_only_the_base_and_wins_over_tcc_and_busybox() -> None:
    p = project(profile="full", target="aarch64", toolchain="host")
    stage2 = {c.name: c for c in p.components(p.targets["aarch64"]) if c.stage == "stage2"}
    llvm, builtins = stage2["llvm"], stage2["compiler-rt-builtins"]
    # built against the root layout, musl and the C++ runtimes only: nothing else redoes it
    assert llvm.closure == ("root-layout", "musl", "linux-headers", "llvm-runtimes")
    # its cc/ar/strings (clang, llvm-ar) lie over tcc's and busybox's in the stage2 tree
    order = p.graph("stage2").order
    assert order.index("llvm") > order.index("tcc") > order.index("busybox")
    assert set(p.graph("stage2").replaces["llvm"]) == {"tcc", "busybox"}
    # the root's clang finds its builtins in its own resource dir
    assert builtins.recipe["install_root"] == "root"
    assert builtins.recipe["prefix"] == "/usr/lib/clang/${llvm_major}"
    # cross-built: target host triple, tablegen from the build machine
    args = llvm.recipe["configure_args"]
    assert "-DLLVM_HOST_TRIPLE=${triplet}" in args
    assert any(a.startswith("-DLLVM_TABLEGEN=") for a in args)
    assert llvm.recipe.get("install_root", "root") == "root"


def plans(p: Project) -> dict[str, str]:
    return {c.label: c.key.plan for c in p.components(p.targets["x86_64"])}


def test_a_recipe_change_touches_only_its_own_plan() -> None:
    p = project(profile="full", target="x86_64", toolchain="host")
    before = plans(p)
    python3 = p.recipes["python3"]
    args = [*python3.base["configure_args"], "--without-ensurepip"]
    p = replace(
        p,
        recipes={
            **p.recipes,
            "python3": replace(python3, base={**python3.base, "configure_args": args}),
        },
    )
    after = plans(p)
    assert {k for k in before if after[k] != before[k]} == {
        "x86_64/stage2/python3",
        "x86_64/stage3/python3",
    }


def test_the_cache_settings_are_no_input_of_any_key(tmp_path) -> None:
    def keys(p: Project) -> dict[str, tuple]:
        return {c.label: (c.key, c.build_dir_key) for c in p.components(p.targets["x86_64"])}

    plain = project(profile="smoke", target="x86_64")
    cached = Project.load(
        Config.create(
            REPO,
            Selection(
                profile="smoke",
                target="x86_64",
                cache_dir=str(tmp_path),
                cache_remote="http://127.0.0.1:5000/serpent/layers",
                cache_push=True,
                cache_max_size="20G",
            ),
        )
    )
    assert cached.config.cache != plain.config.cache
    assert next(iter(cached.components(cached.targets["x86_64"]))).cache == cached.config.cache
    assert keys(cached) == keys(plain)


def test_a_component_is_keyed_on_its_closure_and_the_tree_it_uses() -> None:
    p = project(profile="full", target="x86_64", toolchain="host")
    specs = {c.label: c for c in p.components(p.targets["x86_64"])}
    cmake = [what for what, _ in specs["x86_64/stage2/cmake"].key.inputs]
    # what it builds against, directly or not, and stage1's toolchain; not python3, which
    # merely came before it in the old linear chain
    assert "stage2/llvm-runtimes" in cmake and "stage2/root-layout" in cmake
    assert "stage1 tree" in cmake
    assert "stage2/python3" not in cmake
    tcc3 = component(project(profile="smoke", target="x86_64"), "x86_64", "tcc", "stage3")
    assert [w for w, _ in tcc3.key.inputs][-1] == "stage2 tree"  # /serpent, in the chroot


def test_doc_is_not_an_input() -> None:
    p = project(profile="smoke", target="x86_64")
    before = plans(p)
    tcc = p.recipes["tcc"]
    p = replace(
        p,
        recipes={**p.recipes, "tcc": replace(tcc, base={**tcc.base, "doc": "another description"})},
    )
    assert plans(p) == before


def test_what_the_runner_adds_is_part_of_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    from bootstrap.exec import runner

    before = plans(project(profile="smoke", target="x86_64"))
    clean_env = runner.clean_env
    monkeypatch.setattr(
        runner, "clean_env", lambda **kw: {**clean_env(**kw), "LC_COLLATE": "C.UTF-8"}
    )
    after = plans(project(profile="smoke", target="x86_64"))
    assert all(after[k] != before[k] for k in before)


def test_stage1_builtins_still_go_to_the_toolchain() -> None:
    p = project(profile="full", target="x86_64", toolchain="host")
    builtins = next(
        c
        for c in p.components(p.targets["x86_64"])
        if c.stage == "stage1" and c.name == "compiler-rt-builtins"
    )
    assert builtins.recipe["install_root"] == "toolchain"
    assert builtins.recipe["prefix"] == "/lib/clang/${llvm_major}"


def check_signatures(p: Project) -> dict[str, str]:
    return {
        t.name: t.actions[1].args[2].plan  # the check spec's key
        for t in all_tasks(p)
        if isinstance(t, Task) and t.name.startswith(("accept:", "check:", "audit:"))
    }


def test_checks_rerun_when_what_they_forbid_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    # The forbidden strings include the build dir: a check of a moved build runs again.
    before = check_signatures(project(profile="smoke", target="x86_64"))
    monkeypatch.setenv("SERPENT_BUILD_DIR", "/elsewhere/build")
    after = check_signatures(project(profile="smoke", target="x86_64"))
    assert {"accept:x86_64/stage1", "check:x86_64/stage2", "audit:x86_64/stage2"} <= set(before)
    assert all(after[name] != sig for name, sig in before.items())


def test_an_audit_allowance_reruns_the_audit_and_no_build() -> None:
    p = project(profile="full", target="x86_64", toolchain="host")
    builds = plans(p)
    audits = check_signatures(p)
    llvm = p.recipes["llvm"]
    assert "usr/bin/clang-*" in llvm.host_markers_allowed  # clang's GCC search list
    p = replace(
        p,
        recipes={**p.recipes, "llvm": replace(llvm, host_markers_allowed={"usr/bin/lld": "test"})},
    )
    assert plans(p) == builds
    assert check_signatures(p)["audit:x86_64/stage2"] != audits["audit:x86_64/stage2"]


@pytest.mark.parametrize(
    "selection",
    [
        {"profile": "smoke", "target": "all"},
        {"profile": "full", "target": "all"},
        {"profile": "full", "target": "all", "toolchain": "host"},
    ],
)
def test_every_task_dependency_exists(selection: dict[str, str]) -> None:
    items = list(all_tasks(project(**selection)))
    known = {t["basename"] if isinstance(t, dict) else t.name for t in items}
    missing = {
        (t["basename"] if isinstance(t, dict) else t.name, dep)
        for t in items
        for dep in (t.get("task_dep", []) if isinstance(t, dict) else t.task_dep)
        if dep not in known
    }
    assert missing == set()


def test_the_order_of_a_profile_list_is_no_input() -> None:
    p = project(profile="smoke", target="x86_64")
    before = {
        c.label: (c.key.plan, [w for w, _ in c.key.inputs])
        for c in p.components(p.targets["x86_64"])
    }
    stage2 = tuple(reversed(p.profile.stages["stage2"]))
    profile = replace(p.profile, stages={**p.profile.stages, "stage2": stage2})
    q = replace(p, profiles={**p.profiles, "smoke": profile})
    assert q.profile.components("stage2") == stage2
    after = {
        c.label: (c.key.plan, [w for w, _ in c.key.inputs])
        for c in q.components(q.targets["x86_64"])
    }
    assert after == before


def test_the_fixpoint_check_is_no_input_of_the_build() -> None:
    p = project(profile="smoke", target="x86_64")
    before = plans(p)
    tcc = p.recipes["tcc"]
    stage3 = {**tcc.stage_overrides["stage3"]}
    stage3["fixpoint"] = {**stage3["fixpoint"], "compare": ["usr/bin/tcc"]}
    changed = replace(tcc, stage_overrides={**tcc.stage_overrides, "stage3": stage3})
    assert plans(replace(p, recipes={**p.recipes, "tcc": changed})) == before


def test_a_cmake_cache_is_loaded_from_where_the_plan_writes_it() -> None:
    p = project(profile="full", target="x86_64", toolchain="llvm")
    toolchain = component(p, "x86_64", "cross-llvm")
    configure = toolchain.plan["commands"]["configure"][0]
    loaded = configure[configure.index("-C") + 1]
    assert [f"${{workdir}}/{rel}" for rel in toolchain.plan["files"]] == [loaded]
    assert "LLVM_ENABLE_PROJECTS" in next(iter(toolchain.plan["files"].values()))


def test_the_host_llvm_option_reaches_the_shared_programs() -> None:
    p = project(profile="smoke", target="x86_64", host_llvm="/opt/llvm-19")
    llvm = component(p, "x86_64", "cross-llvm")
    install = [expand(c, variables(llvm), "cross-llvm") for c in llvm.plan["commands"]["install"]]
    assert install[0][install[0].index("--prefix") :][:2] == ["--prefix", "/opt/llvm-19"]
    default = component(project(profile="smoke", target="x86_64"), "x86_64", "cross-llvm")
    assert default.host_llvm == f"/usr/lib/llvm-{p.llvm_version.split('.')[0]}"


def test_keys_follow_the_installed_llvm_where_a_build_runs_it(tmp_path: Path) -> None:
    clang = tmp_path / "bin" / "clang"
    clang.parent.mkdir()

    def keys(profile: str) -> dict[str, str]:
        p = project(profile=profile, target="x86_64", host_llvm=str(tmp_path))
        return {c.label: c.key.plan for c in p.components(p.selected_targets[0])}

    clang.write_text("clang 19.1.7")
    os.utime(clang, (1_700_000_000, 1_700_000_000))
    smoke, full = keys("smoke"), keys("full")
    assert keys("smoke") == smoke  # the same install: the same keys
    clang.write_text("clang 19.1.7 rebuilt")  # another build of the same release
    os.utime(clang, (1_700_000_000, 1_700_000_000))
    again = keys("smoke")
    assert all(again[label] != smoke[label] for label in smoke)
    # llvm mode builds with its own LLVM; the host's compiles the shared LLVM and stage2's
    # cross LLVM runs its tblgen
    again_full = keys("full")
    changed = {label for label in full if again_full[label] != full[label]}
    assert changed == {"shared/stage1/cross-llvm", "x86_64/stage2/llvm"}


def test_native_exec_key_follows_the_build_machine_c_compiler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """native-exec is compiled and linked statically by the build machine's cc: another
    build of the compiler or the C library (a distribution update) is another key, so a
    nightly drift check does not take the new bytes for non-determinism."""
    fake = tmp_path / "bin"
    fake.mkdir()
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")

    def keys(cc_version: str) -> dict[str, str]:
        (fake / "cc").write_text(f"#!/bin/sh\necho '{cc_version}'\n")
        (fake / "cc").chmod(0o755)
        p = project(profile="full", target="x86_64")
        return {c.label: c.key.plan for c in p.components(p.selected_targets[0])}

    before = keys("gcc (Debian 12.2.0-14+deb12u1) 12.2.0")
    after = keys("gcc (Debian 12.2.0-14+deb12u2) 12.2.0")
    assert {label for label in before if after[label] != before[label]} == {
        "x86_64/stage1/native-exec"
    }


def with_stage3(p: Project) -> Project:
    """`p` with the smoke profile's stage3 (the full profile's is still empty)."""
    smoke = p.profiles["smoke"]
    profile = replace(
        p.profile,
        stages={**p.profile.stages, "stage3": smoke.components("stage3")},
        base={**p.profile.base, "stage3": smoke.base["stage3"]},
    )
    return replace(p, profiles={**p.profiles, p.profile.name: profile})


def native_and_foreign() -> tuple[str, str]:
    native = "x86_64" if project(profile="smoke").targets["x86_64"].is_native() else "aarch64"
    return native, "aarch64" if native == "x86_64" else "x86_64"


def test_a_foreign_chroot_build_runs_the_stage1_llvm_natively_in_llvm_mode() -> None:
    native, foreign = native_and_foreign()
    p = with_stage3(project(profile="full", target="all", toolchain="llvm"))
    make = component(p, foreign, "make", "stage3")
    assert {"what": "stage1", "at": "/native", "writable": False} in make.plan["mounts"]
    assert make.plan["env"]["PATH"].startswith("/native/libexec/serpent-native:")
    assert "stage1 tree" in dict(make.key.inputs)  # the LLVM that runs is an input
    assert make.note == ""
    assert "/native" not in json.dumps(component(p, native, "make", "stage3").plan)


def test_emulate_and_host_mode_run_the_emulated_compiler_and_say_why() -> None:
    _, foreign = native_and_foreign()
    llvm = with_stage3(project(profile="full", target="all", toolchain="llvm", emulate=True))
    make = component(llvm, foreign, "make", "stage3")
    assert "/native" not in json.dumps(make.plan) and make.note == ""
    host = with_stage3(project(profile="full", target="all", toolchain="host"))
    make = component(host, foreign, "make", "stage3")
    assert "/native" not in json.dumps(make.plan)
    assert "host mode's LLVM is not the pinned build" in make.note
    smoke = component(project(profile="smoke", target="all"), foreign, "make", "stage3")
    assert "/native" not in json.dumps(smoke.plan)
    assert "runs its compiler under qemu" in smoke.note


def test_the_equivalence_check_rebuilds_a_foreign_targets_sample_emulated() -> None:
    native, foreign = native_and_foreign()
    p = project(profile="full", target="all", toolchain="llvm")
    tasks = {t.name: t for t in all_tasks(p) if isinstance(t, Task)}
    assert f"equivalence:{foreign}/stage3" in tasks
    assert f"equivalence:{native}/stage3" not in tasks  # nothing ran natively there
    zlib = component(p, foreign, "zlib", "stage3")
    twin = p.emulated_twin(zlib)
    assert zlib.native_llvm and not twin.native_llvm
    assert twin.work != zlib.work and twin.closure == zlib.closure
    host = names(project(profile="full", target="all", toolchain="host"))
    assert not any(n.startswith("equivalence:") for n in host)


def test_the_compiler_equivalence_check_swaps_the_clang_of_a_sample() -> None:
    p = project(profile="full", target="all", toolchain="llvm")
    tasks = {t.name for t in all_tasks(p) if isinstance(t, Task)}
    assert {"compiler-equivalence:x86_64/stage3", "compiler-equivalence:aarch64/stage3"} <= tasks
    zlib = component(p, "aarch64", "zlib", "stage3")
    assert "llvm" not in zlib.closure  # built by /serpent's clang ...
    twin = p.compiler_twin(zlib)
    assert "llvm" in twin.closure and set(zlib.closure) < set(twin.closure)  # ... and by stage3's
    assert not twin.native_llvm  # the new clang itself runs, under qemu for aarch64
    musl = component(p, "x86_64", "musl-native", "stage3")
    assert "llvm" in musl.closure and "llvm" not in p.compiler_twin(musl).closure
    runtimes = p.compiler_twin(component(p, "x86_64", "llvm-runtimes", "stage3"))
    assert "llvm" in runtimes.closure and "llvm-runtimes" not in runtimes.closure
    # stage3's clang links with the builtins and crt files of its own resource dir
    assert "compiler-rt-builtins" in runtimes.closure


def test_the_compiler_equivalence_check_needs_stage3s_clang_and_builtins() -> None:
    p = project(profile="smoke", target="x86_64")  # stage3 builds with tcc
    with pytest.raises(ConfigError, match=r"does not build llvm, compiler-rt-builtins in stage3"):
        p.compiler_twin(component(p, "x86_64", "bzip2", "stage3"))
