"""tools/stage3_speed.py, run as a user runs it, over hand-written run reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

TOOL = REPO / "tools" / "stage3_speed.py"


def build(arch: str, name: str, start: float, end: float) -> tuple[str, dict]:
    task = {"target": arch, "status": "ok", "start": start, "end": end, "duration": end - start}
    return f"build:{arch}/stage3/{name}", task


def write_reports(build_dir: Path, x86_span: float, aarch64_span: float) -> None:
    """One run per target: zlib then llvm, the second beside the first."""
    reports = build_dir / "reports"
    reports.mkdir(parents=True)
    for run, arch, span in (("1", "x86_64", x86_span), ("2", "aarch64", aarch64_span)):
        tasks = dict([build(arch, "zlib", 0.0, 60.0), build(arch, "llvm", 30.0, span)])
        report = {"tasks": tasks, "suspended": []}
        (reports / f"run-2026120{run}T000000.json").write_text(json.dumps(report))


def speed(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *map(str, args)],
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(("aarch64_span", "status"), [(900.0, 0), (1200.0, 1)])
def test_the_wall_ratio_decides_against_the_goal(
    tmp_path: Path, aarch64_span: float, status: int
) -> None:
    write_reports(tmp_path, x86_span=660.0, aarch64_span=aarch64_span)
    proc = speed("--build-dir", tmp_path)
    wall = f"stage3 wall: x86_64 11.0 min, aarch64 {aarch64_span / 60:.1f} min"
    assert f"{wall}: {aarch64_span / 660:.2f}x (goal <= 1.5x)" in proc.stdout
    assert "| zlib | 1.0 min | 1.0 min | - | 1.00x |" in proc.stdout
    assert proc.returncode == status, proc.stderr


def test_the_native_side_comes_from_a_benchmark(tmp_path: Path) -> None:
    write_reports(tmp_path, x86_span=6000.0, aarch64_span=900.0)  # this x86_64 run is ignored
    bench = tmp_path / "bench.json"
    components = {"zlib": 30.0, "llvm": 600.0}
    bench.write_text(
        json.dumps(
            {"stage": "stage3", "returncode": 0, "components": components, "wall_seconds": 630}
        )
    )
    proc = speed("--build-dir", tmp_path, "--native-bench", bench)
    assert f"x86_64 from the benchmark {bench}" in proc.stdout
    assert "stage3 wall: x86_64 10.5 min, aarch64 15.0 min: 1.43x" in proc.stdout
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "content", ["{not json", json.dumps({"stage": "stage3", "returncode": 2, "components": {}})]
)
def test_a_file_that_is_no_finished_benchmark_is_an_error(tmp_path: Path, content: str) -> None:
    write_reports(tmp_path, x86_span=660.0, aarch64_span=900.0)
    bench = tmp_path / "bench.json"
    bench.write_text(content)
    proc = speed("--build-dir", tmp_path, "--native-bench", bench)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: {bench} is no finished stage3 benchmark\n  fix: ")
    assert "Traceback" not in proc.stderr


def test_a_build_dir_without_stage3_times_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    proc = speed("--build-dir", tmp_path)
    assert proc.returncode == 1
    assert "error: no stage3 build times of x86_64 or aarch64" in proc.stderr
    assert "fix: run doit stage3 for both targets first" in proc.stderr


def test_since_leaves_out_the_runs_of_an_earlier_build(tmp_path: Path) -> None:
    """aarch64's stage3 built, then x86_64's, then aarch64's again with other keys: from
    the time of x86_64's run on, only the rebuild counts for aarch64."""
    reports = tmp_path / "reports"
    reports.mkdir()
    for day, arch, span in (
        ("01", "aarch64", 1200.0),
        ("02", "x86_64", 660.0),
        ("03", "aarch64", 900.0),
    ):
        tasks = dict([build(arch, "zlib", 0.0, 60.0), build(arch, "llvm", 30.0, span)])
        report = {"tasks": tasks, "suspended": []}
        (reports / f"run-202612{day}T000000.json").write_text(json.dumps(report))
    everything = speed("--build-dir", tmp_path)
    assert "stage3 wall: x86_64 11.0 min, aarch64 35.0 min: 3.18x" in everything.stdout
    assert everything.returncode == 1
    rebuilt = speed("--build-dir", tmp_path, "--since", "20261202")
    assert "stage3 wall: x86_64 11.0 min, aarch64 15.0 min: 1.36x" in rebuilt.stdout
    assert rebuilt.returncode == 0, rebuilt.stderr
