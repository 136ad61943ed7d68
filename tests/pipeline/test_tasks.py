"""The task graph, through the real doit CLI: selection, no-op re-runs, exact invalidation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import COPY_RECIPE, REPO, MiniRepo, Registry, clean_environ, free_port

from bootstrap.model.config import DEFAULT_SOURCE_DATE_EPOCH

A64 = "aarch64"


def prepared_trees(repo: MiniRepo) -> list[Path]:
    """The shared unpacked + patched source trees (build/prepared/<signature>)."""
    prepared = repo.root / "build" / "prepared"
    return [p for p in prepared.iterdir() if p.is_dir()] if prepared.is_dir() else []


def test_target_selects_only_that_chain(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage2", "--target", A64)
    ran = mini_repo.ran()
    assert "build:aarch64/stage2/a2" in ran
    assert "build:aarch64/stage1/b1" in ran
    assert not any("x86_64" in name for name in ran)
    staged = mini_repo.root / "build" / A64 / "stage2" / "usr" / "share" / "a2" / "file.txt"
    assert staged.read_text() == "alpha original\n"
    patched = mini_repo.root / "build" / A64 / "stage1" / "sysroot" / "usr/share/b1/file.txt"
    assert patched.read_text() == "beta patched\n"


def test_second_run_is_a_noop(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage2", "--target", A64)
    mini_repo.doit("stage2", "--target", A64)
    assert mini_repo.ran() == set()


def test_touching_a_patch_reruns_that_component_and_what_follows(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage2", "--target", "all")
    mini_repo.write_patch("beta original", "beta patched again")
    mini_repo.doit("stage2", "--target", A64)
    # a2 builds against the stage1 tree, whose bytes changed; its own output did not, so
    # the stage2 tree stays as it was
    assert mini_repo.ran_in_targets() == {
        "build:aarch64/stage1/b1",
        "union:aarch64/stage1",
        "build:aarch64/stage2/a2",
    }
    # the other target was not selected, so it is still stale, not rebuilt
    mini_repo.doit("stage2", "--target", "x86_64")
    assert "build:x86_64/stage1/b1" in mini_repo.ran()
    assert "build:x86_64/stage1/a1" not in mini_repo.ran()


def test_touching_a_recipe_reruns_only_its_build(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage2", "--target", A64)
    recipe = mini_repo.root / "stages" / "recipes" / "a1.yml"
    recipe.write_text(recipe.read_text() + "env: {EXTRA: '1'}\n")
    mini_repo.doit("stage2", "--target", A64)
    # the same bytes come out: nothing that uses the stage1 tree is redone (early cutoff)
    assert mini_repo.ran() == {"build:aarch64/stage1/a1"}


def test_a_comment_in_a_patch_rebuilds_that_component_only(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage2", "--target", A64)
    patch = mini_repo.root / "patches" / "beta" / "0001-change.patch"
    patch.write_text("A comment above the hunks.\n" + patch.read_text())
    mini_repo.doit("stage2", "--target", A64)
    assert mini_repo.ran_in_targets() == {"build:aarch64/stage1/b1"}
    assert len(prepared_trees(mini_repo)) == 3  # alpha, beta, beta with the new patch set


def test_a_recipe_doc_is_not_an_input(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage2", "--target", A64)
    recipe = mini_repo.root / "stages" / "recipes" / "a2.yml"
    recipe.write_text(recipe.read_text().replace("doc: copy", "doc: really copy"))
    mini_repo.doit("stage2", "--target", A64)
    assert mini_repo.ran() == set()


def test_touching_a_target_file_rebuilds_that_target_only(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage2", "--target", "all")
    target = mini_repo.root / "toolchain" / "aarch64.yml"
    target.write_text(target.read_text().replace("-O2", "-O3"))
    mini_repo.doit("stage2", "--target", "all")
    assert mini_repo.ran() == {
        "build:aarch64/stage1/a1",
        "build:aarch64/stage1/b1",
        "build:aarch64/stage2/a2",
    }


def test_toolchain_mode_change_reruns_builds(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage1", "--target", A64)
    mini_repo.doit("stage1", "--target", A64, "--toolchain", "llvm")
    assert mini_repo.ran() == {"build:aarch64/stage1/a1", "build:aarch64/stage1/b1"}


def test_unknown_target_is_a_clear_error(mini_repo: MiniRepo) -> None:
    proc = mini_repo.doit("stage1", "--target", "mips", check=False)
    assert proc.returncode != 0
    assert "unknown target 'mips'" in proc.stderr
    assert "aarch64" in proc.stderr


def test_a_selection_without_a_rootfs_says_so_and_fails(mini_repo: MiniRepo) -> None:
    for entry in ("rootfs", "verify", "stage3"):
        proc = mini_repo.doit(entry, check=False)
        assert proc.returncode != 0, entry
        assert "profile 'test' builds no stage3" in proc.stdout + proc.stderr
        assert "nothing to do" not in proc.stdout + proc.stderr


def test_list_shows_entry_tasks_with_docs(mini_repo: MiniRepo) -> None:
    out = mini_repo.doit("list").stdout
    for name in ("stage1", "stage2", "stage3", "fetch", "check", "rootfs", "verify", "accept"):
        assert any(
            line.split()[0] == name and len(line.split()) > 1 for line in out.splitlines()
        ), name
    assert "build:" not in out


def test_failure_names_component_and_log(mini_repo: MiniRepo) -> None:
    mini_repo.write_patch("no such line", "whatever")
    proc = mini_repo.doit("stage1", "--target", A64, check=False)
    assert proc.returncode != 0
    assert "FAILED build:aarch64/stage1/b1" in proc.stdout
    assert "0001-change.patch" in proc.stdout and "beta-1.0.tar.gz" in proc.stdout
    report = mini_repo.report()
    assert report["ok"] is False
    failed = [n for n, t in report["tasks"].items() if t["status"] == "failed"]
    assert failed == ["build:aarch64/stage1/b1"]


def test_sigterm_keeps_finished_work_and_kills_the_build(mini_repo: MiniRepo) -> None:
    import signal
    import subprocess
    import sys
    import time

    recipe = mini_repo.root / "stages" / "recipes" / "a2.yml"
    original = recipe.read_text()
    recipe.write_text(original + "pre_install:\n  - [sleep, '71.31']\n")
    env = {**clean_environ(), "PYTHONPATH": str(REPO), "SERPENT_PROFILE": "test"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "doit",
            "-f",
            str(mini_repo.root / "dodo.py"),
            "stage2",
            "--target",
            A64,
        ],
        cwd=mini_repo.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = mini_repo.root / "build" / A64 / "logs" / "stage2" / "a2.log"
    deadline = time.time() + 60
    while not (log.exists() and "sleep" in log.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) != 0
    sleepers = subprocess.run(["pgrep", "-f", "sleep 71.31"], capture_output=True, text=True)
    assert sleepers.stdout.strip() == "", "the build's process group must be killed"
    assert not (mini_repo.root / "build" / A64 / "stamps" / "stage2" / "a2.built").exists()
    report = mini_repo.report()
    assert report["ok"] is False
    assert report["tasks"]["build:aarch64/stage2/a2"]["status"] == "interrupted"
    assert report["tasks"]["build:aarch64/stage1/b1"]["status"] == "ok"

    recipe.write_text(original)
    mini_repo.doit("stage2", "--target", A64)
    assert mini_repo.ran() == {"build:aarch64/stage2/a2", "union:aarch64/stage2"}


def test_a_second_concurrent_run_is_refused(mini_repo: MiniRepo) -> None:
    from bootstrap.exec.lock import lock_build_dir

    held = lock_build_dir(mini_repo.root / "build")
    try:
        proc = mini_repo.doit("stage1", "--target", A64, check=False)
        assert proc.returncode != 0
        assert "another doit run" in proc.stderr
        mini_repo.doit("list")  # read-only commands still work
    finally:
        held.close()
    mini_repo.doit("stage1", "--target", A64)


def test_a_rebuild_takes_its_old_files_out_of_the_root(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage1", "--target", A64)
    sysroot = mini_repo.root / "build" / A64 / "stage1" / "sysroot" / "usr" / "share"
    recipe = mini_repo.root / "stages" / "recipes" / "b1.yml"
    recipe.write_text(recipe.read_text().replace("/usr/share/b1", "/usr/share/b1-renamed"))
    mini_repo.doit("stage1", "--target", A64)
    assert (sysroot / "b1-renamed" / "file.txt").is_file()
    assert not (sysroot / "b1" / "file.txt").exists()  # stale: no longer installed
    assert (sysroot / "a1" / "file.txt").is_file()  # an earlier component's files stay


def test_a_build_sees_exactly_its_dependencies(mini_repo: MiniRepo) -> None:
    recipes = mini_repo.root / "stages" / "recipes"
    # a1 does not depend on b1: it never sees b1's files, whatever ran before
    a1 = recipes / "a1.yml"
    a1.write_text(
        a1.read_text() + '    - [sh, -c, \'test ! -e "$1"/usr/share/b1\', absent, "${root}"]\n'
    )
    b1 = recipes / "b1.yml"
    b1.write_text(
        "depends: [a1]\n"
        + b1.read_text()
        + '    - [sh, -c, \'test -e "$1"/usr/share/a1/file.txt\', present, "${root}"]\n'
    )
    mini_repo.doit("stage1", "--target", A64)
    log = (mini_repo.root / "build" / A64 / "logs" / "stage1" / "b1.log").read_text()
    assert "dependencies: a1" in log
    a1.write_text(a1.read_text() + "env: {EXTRA: '1'}\n")
    mini_repo.doit("stage1", "--target", A64)
    assert mini_repo.ran() == {"build:aarch64/stage1/a1"}  # same bytes: b1 stays


def test_an_unknown_dependency_is_a_clear_error(mini_repo: MiniRepo) -> None:
    b1 = mini_repo.root / "stages" / "recipes" / "b1.yml"
    b1.write_text("depends: [a3]\n" + b1.read_text())
    proc = mini_repo.doit("list", check=False)
    assert proc.returncode == 1
    assert "b1.yml" in proc.stderr and "'a3'" in proc.stderr and "fix:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_two_components_installing_one_file_need_replaces(mini_repo: MiniRepo) -> None:
    recipes = mini_repo.root / "stages" / "recipes"
    a1 = recipes / "a1.yml"  # a usr-merge style link: share -> usr/share
    a1.write_text(a1.read_text() + "    - [ln, -s, usr/share, '${destdir}/share']\n")
    recipe = recipes / "b1.yml"
    original = recipe.read_text()
    recipe.write_text(original.replace("/usr/share/b1", "/share/a1"))  # b1 shadows a1
    proc = mini_repo.doit("stage1", "--target", A64, check=False)
    assert proc.returncode == 1
    assert "b1 and a1 both install /sysroot/usr/share/a1/file.txt" in proc.stdout
    assert "replaces: [a1]" in proc.stdout
    recipe.write_text("replaces: [a1]\n" + recipe.read_text())
    mini_repo.doit("stage1", "--target", A64)
    installed = mini_repo.root / "build" / A64 / "stage1" / "sysroot" / "usr/share/a1/file.txt"
    assert installed.read_text() == "beta patched\n"
    recipe.write_text(original)
    mini_repo.doit("stage1", "--target", A64)
    assert installed.read_text() == "alpha original\n"  # as if b1 had never shadowed it


def test_an_install_only_change_reuses_the_build_dir(mini_repo: MiniRepo) -> None:
    recipe = mini_repo.root / "stages" / "recipes" / "b1.yml"
    counted = recipe.read_text().replace(
        "steps:\n", "steps:\n  build:\n    - [sh, -c, 'echo run >> builds']\n"
    )
    recipe.write_text(counted)
    mini_repo.doit("stage1", "--target", A64)
    builds = mini_repo.root / "build" / A64 / "work" / "stage1" / "b1" / "build" / "builds"
    assert builds.read_text() == "run\n"
    recipe.write_text(counted + "post_install:\n  - [touch, '${destdir}/usr/share/b1/more']\n")
    mini_repo.doit("stage1", "--target", A64)
    assert "build:aarch64/stage1/b1" in mini_repo.ran()
    assert builds.read_text() == "run\nrun\n"  # the same build dir, built again (a no-op)
    recipe.write_text(counted.replace("echo run", "echo new"))
    mini_repo.doit("stage1", "--target", A64)
    assert builds.read_text() == "new\n"  # a build step changed: a clean build dir


def test_a_source_is_unpacked_once_for_every_stage_and_target(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage2", "--target", "all")
    # alpha serves a1 (stage1) and a2 (stage2) of both targets; beta serves b1 of both:
    # two trees, each unpacked once (its log says so once), by whichever build came first
    trees = prepared_trees(mini_repo)
    assert len(trees) == 2
    assert all(t.with_name(f"{t.name}.log").read_text().count("prepare ") == 1 for t in trees)
    a2 = mini_repo.root / "build" / A64 / "work" / "stage2" / "a2" / "src" / "file.txt"
    a1 = mini_repo.root / "build" / "x86_64" / "work" / "stage1" / "a1" / "src" / "file.txt"
    assert a2.stat().st_ino == a1.stat().st_ino  # linked, not copied


def test_kill_9_of_doit_stops_its_workers_and_builds(mini_repo: MiniRepo) -> None:
    """With builds side by side doit runs them in worker processes: they and the builds
    under them die with doit, and the build dir is free for the next run at once."""
    import signal
    import subprocess
    import sys
    import time

    recipe = mini_repo.root / "stages" / "recipes" / "a1.yml"
    original = recipe.read_text()
    recipe.write_text(original + "pre_install:\n  - [sleep, '73.17']\n")
    env = {**clean_environ(), "PYTHONPATH": str(REPO), "SERPENT_PROFILE": "test"}
    argv = [sys.executable, "-m", "doit", "-f", str(mini_repo.root / "dodo.py"), "stage1"]
    proc = subprocess.Popen(
        [*argv, "--target", A64, "--builds", "2"],
        cwd=mini_repo.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        found = subprocess.run(["pgrep", "-f", "sleep 73.17"], capture_output=True, text=True)
        if found.stdout.strip():
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=20)
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", "sleep 73.17"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "the build under a worker must die with doit"
    recipe.write_text(original)
    mini_repo.doit("stage1", "--target", A64)  # not refused: no worker holds the lock


def test_a_missing_layer_is_rebuilt_not_taken_for_done(mini_repo: MiniRepo) -> None:
    import shutil

    mini_repo.doit("stage1", "--target", A64)
    shutil.rmtree(mini_repo.root / "build" / A64 / "layers" / "stage1" / "b1")
    mini_repo.doit("stage1", "--target", A64)
    assert "build:aarch64/stage1/b1" in mini_repo.ran()
    sysroot = mini_repo.root / "build" / A64 / "stage1" / "sysroot"
    assert (sysroot / "usr/share/b1/file.txt").read_text() == "beta patched\n"


def test_a_shared_component_builds_once_and_every_target_uses_it(mini_repo: MiniRepo) -> None:
    recipes = mini_repo.root / "stages" / "recipes"
    (recipes / "tools.yml").write_text(
        "doc: a build-machine tool\nsource: alpha\nstyle: custom\nshared: true\n"
        "install_root: toolchain\n"
        'steps:\n  install:\n    - [sh, -c, \'mkdir -p "$1" && echo "$2" > "$1"/tool\','
        " t, '${destdir}/bin', '${llvm_backends}']\n"
    )
    b1 = recipes / "b1.yml"
    b1.write_text(b1.read_text() + "depends: [tools]\n")
    profiles = mini_repo.root / "stages" / "profiles.yml"
    profiles.write_text(profiles.read_text().replace("stage1: [a1, b1]", "stage1: [tools, a1, b1]"))
    mini_repo.doit("stage1", "--target", "all")
    ran = mini_repo.ran_in_targets()
    assert {n for n in ran if "tools" in n} == {"build:shared/stage1/tools"}
    build = mini_repo.root / "build"
    for arch in ("x86_64", A64):
        # in each target's toolchain tree, as a hard link of the one layer
        tool = build / arch / "stage1" / "bin" / "tool"
        assert tool.read_text() == "AArch64;X86\n"
        assert tool.stat().st_nlink > 1
        assert not (build / arch / "work" / "stage1" / "tools").exists()
    # selecting one target does not rebuild it
    mini_repo.doit("stage1", "--target", A64)
    assert mini_repo.ran() == set()


def test_a_shared_component_may_not_name_a_target_variable(mini_repo: MiniRepo) -> None:
    recipes = mini_repo.root / "stages" / "recipes"
    a1 = recipes / "a1.yml"
    shared = "shared: true\ninstall_root: toolchain\n"
    a1.write_text(a1.read_text().replace("${destdir}/usr", "${destdir}/${arch}") + shared)
    proc = mini_repo.doit("stage1", "--target", A64, check=False)
    assert proc.returncode == 1
    assert "error: stages/recipes/a1.yml: shared component 'a1' uses target variable(s) arch" in (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr


def test_a_source_dir_of_the_checkout_is_built_and_its_edits_rebuild(mini_repo: MiniRepo) -> None:
    tool = mini_repo.root / "src" / "tool"
    tool.mkdir(parents=True)
    (tool / "file.txt").write_text("ours\n")
    recipes = mini_repo.root / "stages" / "recipes"
    (recipes / "a2.yml").write_text(
        COPY_RECIPE.format(name="a2", source="alpha").replace(
            "source: alpha", "source_dir: src/tool"
        )
    )
    mini_repo.doit("stage2", "--target", A64)
    staged = mini_repo.root / "build" / A64 / "stage2" / "usr" / "share" / "a2" / "file.txt"
    assert staged.read_text() == "ours\n"
    (tool / "file.txt").write_text("ours, edited\n")
    mini_repo.doit("stage2", "--target", A64)
    assert mini_repo.ran_in_targets() == {"build:aarch64/stage2/a2", "union:aarch64/stage2"}
    assert staged.read_text() == "ours, edited\n"


def test_a_source_dir_outside_the_checkout_is_an_error(mini_repo: MiniRepo) -> None:
    recipe = mini_repo.root / "stages" / "recipes" / "a2.yml"
    recipe.write_text(recipe.read_text().replace("source: alpha", "source_dir: ../elsewhere"))
    proc = mini_repo.doit("stage2", "--target", A64, check=False)
    assert proc.returncode == 1
    assert "source_dir '../elsewhere' is not a directory of this checkout" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- the component cache (bootstrap.builder.cache) through real runs -----------------------

COMPONENTS = (("stage1", "a1"), ("stage1", "b1"), ("stage2", "a2"))


def counting_builds(repo: MiniRepo) -> Path:
    """Each component's install step also appends its name to this file: what a run built."""
    ran = repo.root / "builds-ran.txt"
    for _, name in COMPONENTS:
        recipe = repo.root / "stages" / "recipes" / f"{name}.yml"
        recipe.write_text(recipe.read_text() + f"    - [sh, -c, 'echo {name} >> {ran}']\n")
    return ran


def built(ran: Path) -> list[str]:
    return sorted(ran.read_text().split()) if ran.exists() else []


def layer_digests(build: Path) -> dict[str, tuple[str, str]]:
    """Each component's (key, layer digest), from its stamp."""
    found = {}
    for stage, name in COMPONENTS:
        stamp = json.loads((build / A64 / "stamps" / stage / f"{name}.built").read_text())
        found[name] = (stamp["key"], stamp["digest"])
    return found


def restored_from(build: Path, where: str) -> list[str]:
    logs = [build / A64 / "logs" / stage / f"{name}.log" for stage, name in COMPONENTS]
    return [log.parent.name for log in logs if f"restored from cache {where}\n" in log.read_text()]


def run_report(build: Path) -> dict:
    return json.loads((build / "reports" / "latest.json").read_text())


def test_a_pushed_cache_lets_a_clean_build_dir_build_nothing(
    mini_repo: MiniRepo, registry: Registry, tmp_path: Path
) -> None:
    ran = counting_builds(mini_repo)
    remote = ("--cache-remote", registry.repository())
    cold = ("stage2", "--target", A64, "--cache-dir", str(tmp_path / "cache-1"), *remote)
    mini_repo.doit(*cold, "--cache-push")
    assert built(ran) == ["a1", "a2", "b1"]
    assert len(registry.get("/v2/serpent/layers/tags/list")["tags"]) == 3
    clean = tmp_path / "clean-build"
    proc = mini_repo.doit(
        *("stage2", "--target", A64, "--cache-dir", str(tmp_path / "cache-2"), *remote),
        env={"SERPENT_BUILD_DIR": str(clean)},
    )
    assert built(ran) == ["a1", "a2", "b1"]  # no build command ran
    assert restored_from(clean, f"{registry.host}/serpent/layers") == ["stage1", "stage1", "stage2"]
    statuses = {n: t["status"] for n, t in run_report(clean)["tasks"].items()}
    assert [statuses[f"build:{A64}/{stage}/{name}"] for stage, name in COMPONENTS] == ["ok"] * 3
    assert layer_digests(clean) == layer_digests(mini_repo.root / "build")
    assert (clean / A64 / "stage2/usr/share/a2/file.txt").read_text() == "alpha original\n"
    assert "warning" not in proc.stdout + proc.stderr


def test_a_tampered_blob_is_rejected_reported_and_built(
    mini_repo: MiniRepo, registry: Registry, tmp_path: Path
) -> None:
    ran = counting_builds(mini_repo)
    remote = ("--cache-remote", registry.repository())
    cold = mini_repo.doit(
        "stage2", "--target", A64, "--cache-dir", str(tmp_path / "c1"), *remote, "--cache-push"
    )
    assert "warning" not in cold.stdout + cold.stderr
    assert len(registry.get("/v2/serpent/layers/tags/list")["tags"]) == 3
    entry = f"{layer_digests(mini_repo.root / 'build')['b1'][0]}-{DEFAULT_SOURCE_DATE_EPOCH}"
    manifest = registry.get(f"/v2/serpent/layers/manifests/{entry}")
    tarball = next(
        blob["digest"]
        for blob in manifest["layers"]
        if blob["annotations"]["org.opencontainers.image.title"] == "layer.tar.zst"
    )
    blob = registry.blob_file(tarball)
    blob.write_bytes(blob.read_bytes()[:-100] + bytes(100))  # the end of the tarball zeroed
    clean = tmp_path / "clean-build"
    warm = mini_repo.doit(
        *("stage2", "--target", A64, "--cache-dir", str(tmp_path / "c2"), *remote),
        env={"SERPENT_BUILD_DIR": str(clean)},
    )
    # b1 built again, a1 and a2 restored
    assert built(ran) == ["a1", "a2", "b1", "b1"], warm.stdout + warm.stderr
    warnings = run_report(clean)["tasks"][f"build:{A64}/stage1/b1"]["warnings"]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"{A64}/stage1/b1: the cached layer from {registry.host}/serpent/layers is rejected: "
        "the tarball's sha256 is "
    )
    # the bad copy was dropped; the entry there now is the one b1's build stored
    rebuilt = (tmp_path / "c2" / entry / "layer.tar.zst").read_bytes()
    assert rebuilt == (tmp_path / "c1" / entry / "layer.tar.zst").read_bytes() != blob.read_bytes()
    assert layer_digests(clean) == layer_digests(mini_repo.root / "build")


def test_an_unreachable_registry_is_one_warning_and_the_run_builds(
    mini_repo: MiniRepo,
) -> None:
    ran = counting_builds(mini_repo)
    dead = f"http://127.0.0.1:{free_port()}/serpent/layers"
    mini_repo.doit("stage2", "--target", A64, "--cache-remote", dead, "--cache-push")
    assert built(ran) == ["a1", "a2", "b1"]
    warnings = [w for t in mini_repo.report()["tasks"].values() for w in t.get("warnings", [])]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("cache remote 127.0.0.1:") and "Connection refused" in warnings[0]
    assert mini_repo.report()["ok"] is True


def test_the_local_cache_alone_restores_a_deleted_build_dir(mini_repo: MiniRepo) -> None:
    ran = counting_builds(mini_repo)
    build = mini_repo.root / "build"
    mini_repo.doit("stage2", "--target", A64)
    first = layer_digests(build)
    shutil.rmtree(build)
    mini_repo.doit("stage2", "--target", A64)
    assert built(ran) == ["a1", "a2", "b1"]
    assert restored_from(build, str(mini_repo.root / "cache")) == ["stage1", "stage1", "stage2"]
    assert layer_digests(build) == first
    assert not prepared_trees(mini_repo)  # restored layers need no source unpacked
    shutil.rmtree(build)
    mini_repo.doit("stage2", "--target", A64, "--cache-dir", "off")
    assert built(ran) == ["a1", "a1", "a2", "a2", "b1", "b1"]  # no cache: built again
