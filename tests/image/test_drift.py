"""Drift: a run's lockfile against a baseline, through the real doit CLI on the mini repo
(nothing changed; a patch changed; a non-deterministic recipe built in two clean build
dirs), a baseline served over loopback HTTP, and the comparison's rules on their own."""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import MiniRepo

from bootstrap.builder.layers import Entry
from bootstrap.core.errors import BootstrapError
from bootstrap.image.drift import (
    DriftSpec,
    baseline_lockfile,
    compare,
    load_baseline,
    run_drift,
    why_rebuilt,
)
from bootstrap.image.lockfile import ComponentLock, Lock, RootfsLock
from bootstrap.image.results import CheckResult, write_results

A64 = "aarch64"
STAMP_RECIPE_LINE = (
    '    - [sh, -c, \'date +%s%N > "$1"/usr/share/a1/stamp\', stamp, "${destdir}"]\n'
)


def drift_json(out: Path) -> dict:
    return json.loads((out / A64 / "drift.json").read_text())


def statuses(report: dict) -> dict[str, str]:
    return {c["label"]: c["status"] for c in report["components"]}


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A loopback HTTP server publishing a directory: (the directory, its URL)."""
    root = tmp_path / "published"
    root.mkdir()
    handler = functools.partial(Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/out"
    server.shutdown()
    server.server_close()


def test_nothing_changed_is_all_unchanged_also_from_a_url(
    mini_repo: MiniRepo, serve: tuple[Path, str]
) -> None:
    mini_repo.doit("lock", "--target", A64)
    published, url = serve
    shutil.copytree(mini_repo.root / "out", published / "out")
    proc = mini_repo.doit("drift", "--target", A64, "--baseline", url)
    report = drift_json(mini_repo.root / "out")
    assert report["ok"] is True
    assert report["baseline"] == f"{url}/{A64}/bootstrap.lock"
    assert report["counts"] == {"unchanged": 3}
    assert set(report["stages"].values()) == {"unchanged"}
    assert "3 component(s) against" in proc.stdout
    # the run report carries the drift result (the task's results file)
    assert mini_repo.report()["tasks"]["drift:aarch64"]["results"]["counts"] == {"unchanged": 3}


def test_a_changed_patch_says_why_each_component_was_rebuilt(
    mini_repo: MiniRepo, tmp_path: Path
) -> None:
    mini_repo.doit("lock", "--target", A64)
    baseline = tmp_path / "baseline"
    shutil.copytree(mini_repo.root / "out", baseline)
    mini_repo.write_patch("beta original", "beta patched again")
    proc = mini_repo.doit("drift", "--target", A64, "--baseline", str(baseline))
    report = drift_json(mini_repo.root / "out")
    components = {c["label"]: c for c in report["components"]}
    assert statuses(report) == {
        "aarch64/stage1/a1": "unchanged",
        "aarch64/stage1/b1": "rebuilt",
        "aarch64/stage2/a2": "rebuilt",
    }
    assert components["aarch64/stage1/b1"]["reasons"] == ["patches changed"]
    assert components["aarch64/stage1/b1"]["output"] == "changed"
    # a2 sees the stage1 tree, whose bytes changed; its own output did not
    assert components["aarch64/stage2/a2"]["reasons"] == ["dependency stage1 tree changed"]
    assert components["aarch64/stage2/a2"]["output"] == "same"
    assert report["stages"] == {"aarch64/stage1": "changed", "aarch64/stage2": "unchanged"}
    assert "rebuilt      aarch64/stage1/b1: patches changed (output changed)" in proc.stdout


def test_same_key_different_bytes_fails_and_names_the_file(
    mini_repo: MiniRepo, tmp_path: Path
) -> None:
    a1 = mini_repo.root / "stages" / "recipes" / "a1.yml"
    a1.write_text(a1.read_text() + STAMP_RECIPE_LINE)
    first, second = tmp_path / "first", tmp_path / "second"
    mini_repo.doit("lock", "--target", A64, env={"SERPENT_BUILD_DIR": str(first)})
    proc = mini_repo.doit(
        "drift",
        "--target",
        A64,
        "--baseline",
        str(first / "out"),
        # built again, not restored from the component cache (which has the first bytes)
        env={"SERPENT_BUILD_DIR": str(second), "SERPENT_CACHE_DIR": "off"},
        check=False,
    )
    assert proc.returncode == 1
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output
    assert (
        "error: SAME KEY, DIFFERENT BYTES aarch64/stage1/a1: sysroot/usr/share/a1/stamp (content)"
        in proc.stdout
    )
    assert "same key, different bytes (a non-deterministic build)" in proc.stdout
    assert "fix: make the build reproducible" in proc.stdout
    assert str(second / A64 / "layers" / "stage1" / "a1") in proc.stdout  # where to look
    report = drift_json(second / "out")
    assert report["ok"] is False
    [a1_drift] = [c for c in report["components"] if c["label"] == "aarch64/stage1/a1"]
    assert a1_drift["status"] == "nondeterministic"
    assert a1_drift["files"] == [{"path": "sysroot/usr/share/a1/stamp", "change": "content"}]
    assert statuses(report)["aarch64/stage1/b1"] == "unchanged"
    assert statuses(report)["aarch64/stage2/a2"] == "rebuilt"  # it saw the other stage1 tree
    run = json.loads((second / "reports" / "latest.json").read_text())
    assert run["ok"] is False and run["tasks"]["drift:aarch64"]["status"] == "failed"


def test_no_or_a_missing_baseline_is_an_error_with_a_fix(
    mini_repo: MiniRepo, tmp_path: Path
) -> None:
    proc = mini_repo.doit("drift", "--target", A64, check=False)
    assert proc.returncode == 1
    assert "no baseline given" in proc.stdout and "fix: give --baseline" in proc.stdout
    proc = mini_repo.doit(
        "drift", "--target", A64, check=False, env={"SERPENT_BASELINE": str(tmp_path / "none")}
    )
    assert proc.returncode == 1
    assert f"{tmp_path / 'none'}: cannot read the baseline" in proc.stdout
    assert "the first run has none" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


# -- the rules, on lockfiles made here ----------------------------------------------------
def component(label: str, **changes: object) -> ComponentLock:
    base = ComponentLock(
        label=label,
        key="k",
        digest="d",
        files=1,
        source="src",
        patches="p",
        prepare="prep",
        recipe="r",
        plan="plan",
        depends=(),
        inputs=(("stage1 tree", "t"),),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def lock(*components: ComponentLock, rootfs: RootfsLock | None = None, arch: str = A64) -> Lock:
    return Lock(arch, "smoke", "host", 1700000000, "m", components, (), rootfs)


def test_why_rebuilt_names_each_input() -> None:
    before = component("x")
    assert why_rebuilt(component("x", source="new", prepare="p2"), before) == ("source changed",)
    assert why_rebuilt(component("x", prepare="p2"), before) == (
        "prepared source changed (subtrees, post_patch or source files)",
    )
    assert why_rebuilt(component("x", recipe="r2", plan="pl2"), before) == ("recipe changed",)
    assert why_rebuilt(component("x", plan="pl2"), before) == (
        "target or toolchain settings changed",
    )
    moved = component("x", inputs=(("stage1 tree", "t2"), ("stage2/musl", "m")))
    assert why_rebuilt(moved, before) == (
        "dependency stage1 tree changed",
        "dependency stage2/musl added",
    )
    assert why_rebuilt(component("x", key="k2"), before) == ("inputs changed",)


def test_new_removed_and_the_rootfs() -> None:
    tarball = RootfsLock("r.tar.xz", "rk", "a" * 64, 3)
    now = lock(component("new"), component("kept"), rootfs=tarball)
    before = lock(component("kept"), component("gone"), rootfs=replace(tarball, sha256="b" * 64))
    drift = compare(now, before, {}, None, "base")
    assert {c.label: c.status for c in drift.components} == {
        "gone": "removed",
        "kept": "unchanged",
        "new": "new",
    }
    assert drift.rootfs["status"] == "nondeterministic"  # same key, other tarball bytes
    assert not drift.ok
    assert drift.notes == ("base: no layer manifests beside it",)
    repacked = replace(lock(component("kept"), rootfs=replace(tarball, key="rk2")), profile="full")
    drift = compare(repacked, before, {}, None, "base")
    assert drift.rootfs["status"] == "changed"
    assert drift.notes[0] == "profile: smoke in the baseline, full now"


def test_baseline_locations() -> None:
    assert baseline_lockfile("https://ci/out", A64) == f"https://ci/out/{A64}/bootstrap.lock"
    assert baseline_lockfile("https://ci/x.lock", A64) == "https://ci/x.lock"
    assert baseline_lockfile("/nonexistent/old.lock", A64) == "/nonexistent/old.lock"
    assert baseline_lockfile("file:///srv/a%20b/x.lock", A64) == "/srv/a b/x.lock"
    with pytest.raises(BootstrapError, match="no baseline given"):
        baseline_lockfile("", A64)


def test_a_baseline_of_another_target_is_refused(mini_repo: MiniRepo) -> None:
    mini_repo.doit("lock", "--target", A64)
    with pytest.raises(BootstrapError) as err:
        load_baseline(str(mini_repo.root / "out" / A64 / "bootstrap.lock"), "x86_64")
    assert "a lockfile of aarch64, not of x86_64" in err.value.what


def test_the_verify_results_get_a_drift_check(mini_repo: MiniRepo, tmp_path: Path) -> None:
    mini_repo.doit("lock", "--target", A64)
    out = mini_repo.root / "out" / A64
    baseline = tmp_path / "baseline.lock"
    text = (out / "bootstrap.lock").read_text()
    # the baseline's a1: the same key, other bytes
    a1_digest = text.split('[components."aarch64/stage1/a1"]')[1].split('digest = "')[1][:64]
    baseline.write_text(text.replace(a1_digest, "0" * 64))
    checks = [CheckResult("checksum", True), CheckResult("unpack", True, "", 0.5)]
    write_results(checks, "rootfs-aarch64", out / "verify.json", out / "verify.junit.xml")
    spec = DriftSpec(
        arch=A64,
        lockfile=out / "bootstrap.lock",
        baseline=str(baseline),
        results=out / "drift.json",
        verify_json=out / "verify.json",
        verify_junit=out / "verify.junit.xml",
        layers=(),
    )
    with pytest.raises(BootstrapError, match="same key, different bytes"):
        run_drift(spec)
    verify = json.loads((out / "verify.json").read_text())
    assert [r["name"] for r in verify["results"]] == ["checksum", "unpack", "drift"]
    assert verify["passed"] is False and verify["drift"]["ok"] is False
    assert "(files unknown)" in verify["results"][-1]["detail"]  # no manifests beside it
    junit = (out / "verify.junit.xml").read_text()
    assert 'name="drift"' in junit and "<failure" in junit


def test_differing_files_come_from_both_manifests() -> None:
    entries = [Entry("f", "usr/bin/x", "755", "aa"), Entry("f", "usr/lib/y", "644", "bb")]
    changed = [entries[0], Entry("f", "usr/lib/y", "644", "cc")]
    drift = compare(
        lock(component("c", digest="d2")),
        lock(component("c")),
        {"c": ("d2", changed)},
        {"c": ("d", entries)},
        "base",
    )
    [c] = drift.components
    assert c.status == "nondeterministic"
    assert [(f.path, f.change) for f in c.files] == [("usr/lib/y", "content")]
