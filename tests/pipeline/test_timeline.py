"""The run timeline: the critical path, CPU sampling, the SVG on its own and as a real doit
run on the mini repo writes it beside the JSON report."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import MiniRepo

from bootstrap.pipeline.timeline import (
    CpuSampler,
    critical_path,
    downsample,
    read_cpu_times,
    render_timeline,
    rows,
)

SVG = "{http://www.w3.org/2000/svg}"


def entry(start: float, end: float, status: str = "ok", **meta: str) -> dict:
    return {"status": status, "start": start, "end": end, "duration": end - start, **meta}


def bars(svg: ET.Element) -> dict[str, ET.Element]:
    return {
        rect.get("data-task", ""): rect
        for rect in svg.iter(f"{SVG}rect")
        if "bar" in rect.get("class", "").split()
    }


def test_the_critical_path_follows_the_last_finished_dependency() -> None:
    tasks = {
        "fetch:a": entry(0, 1),
        "fetch:b": entry(0, 3),
        "build:x": entry(3, 4),
        "union:x": {"status": "up-to-date", "duration": 0.0},
        "pack": entry(4, 6),
        "side": entry(0, 2),
    }
    deps = {
        "build:x": ["group:fetch"],  # a group: no actions, not in the report
        "group:fetch": ["fetch:a", "fetch:b"],
        "union:x": ["build:x"],
        "pack": ["union:x", "side"],  # through an up-to-date task
    }
    assert critical_path(tasks, deps) == ["fetch:b", "build:x", "pack"]
    assert critical_path({"t": {"status": "up-to-date", "duration": 0}}, {}) == []


def test_rows_group_by_target_and_stage_in_build_order() -> None:
    tasks = {
        "build:x86_64/stage2/zlib": entry(5, 6, target="x86_64", stage="stage2"),
        "build:x86_64/stage1/musl": entry(2, 4, target="x86_64", stage="stage1"),
        "build:shared/stage1/cross-llvm": entry(1, 3, target="shared", stage="stage1"),
        "fetch:musl": entry(0, 1),
        "union:x86_64/stage1": {"status": "up-to-date", "duration": 0, "target": "x86_64"},
    }
    assert rows(tasks) == [
        (("all", "fetch"), ["fetch:musl"]),
        (("shared", "stage1"), ["build:shared/stage1/cross-llvm"]),
        (("x86_64", "stage1"), ["build:x86_64/stage1/musl"]),
        (("x86_64", "stage2"), ["build:x86_64/stage2/zlib"]),
    ]


def test_the_svg_draws_ran_tasks_by_outcome_with_titles() -> None:
    tasks = {
        "build:a": entry(0, 10, target="x86_64", stage="stage1"),
        "build:b": entry(10, 25.5, "failed", target="x86_64", stage="stage1"),
        "build:c": entry(2, 30, "interrupted", target="x86_64", stage="stage2"),
        "union:a": {"status": "up-to-date", "duration": 0.0},
    }
    text = render_timeline(tasks, 31.0, [(1.0, 50.0), (2.0, 100.0)], ["build:a", "build:b"], "r")
    svg = ET.fromstring(text)
    drawn = bars(svg)
    assert sorted(drawn) == ["build:a", "build:b", "build:c"]
    assert drawn["build:b"].get("class") == "bar failed critical"
    assert drawn["build:c"].get("class") == "bar interrupted"
    assert drawn["build:b"].find(f"{SVG}title").text == "build:b: 15.5 s (failed, critical path)"
    assert "1 up to date (not drawn)" in svg.find(f"{SVG}title").text
    assert svg.find(f".//{SVG}path[@class='critical-path']") is not None
    assert svg.find(f".//{SVG}polygon[@class='cpu']") is not None
    # nothing external: no script, no links, no stylesheet
    assert not [e for e in svg.iter() if e.tag in (f"{SVG}script", f"{SVG}style", f"{SVG}image")]
    assert "href" not in text


def test_cpu_sampling_reads_proc_stat(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 10 70 10 0 0 0 0 0\ncpu0 1 2 3\n")
    assert read_cpu_times(stat) == (20, 100)  # idle and iowait are not busy
    assert read_cpu_times(tmp_path / "absent") is None
    sampler = CpuSampler(time.time(), interval=0.05)
    time.sleep(0.3)
    samples = sampler.close()
    assert samples and all(0 <= busy <= 100 for _, busy in samples)
    assert [t for t, _ in samples] == sorted(t for t, _ in samples)


def test_downsample_keeps_the_mean() -> None:
    samples = [(float(i), 100.0 if i % 2 else 0.0) for i in range(1000)]
    points = downsample(samples, 10)
    assert len(points) == 10 and {busy for _, busy in points} == {50.0}
    assert downsample(samples[:5], 10) == samples[:5]


def test_a_run_writes_its_timeline_beside_the_report(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage2", "--target", "aarch64")
    reports = mini_repo.root / "build" / "reports"
    report = mini_repo.report()
    [run_svg] = reports.glob("run-*.svg")
    assert (reports / "latest.svg").read_text() == run_svg.read_text()
    assert run_svg.with_suffix(".json").is_file()
    svg = ET.parse(run_svg).getroot()
    drawn = bars(svg)
    assert set(drawn) == mini_repo.ran()  # one bar per executed task
    for name, rect in drawn.items():
        title = rect.find(f"{SVG}title").text
        assert title.startswith(f"{name}: ") and " s (ok" in title
    critical = report["critical_path"]
    last = max(mini_repo.ran(), key=lambda n: report["tasks"][n]["end"])
    assert critical[-1] == last
    assert critical[0].startswith("fetch:")  # it starts with a download
    assert {n for n, r in drawn.items() if "critical" in r.get("class", "")} == set(critical)
    for name in mini_repo.ran():
        task = report["tasks"][name]
        assert 0 <= task["start"] <= task["end"] <= report["duration"]
    assert all(0 <= busy <= 100 for _, busy in report["cpu_busy"])

    mini_repo.doit("stage2", "--target", "aarch64")  # a no-op run: nothing drawn
    svg = ET.parse(reports / "latest.svg").getroot()
    assert bars(svg) == {}
    assert "0 task(s) ran" in svg.find(f"{SVG}title").text
