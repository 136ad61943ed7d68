"""The run report through the real doit CLI: warnings a task returned reach the JSON report
and the end of the output; they do not fail the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import REPO, MiniRepo, clean_environ

from bootstrap.pipeline.report import report_time, stage_wall_seconds, task_seconds


class Gone(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gone_url() -> Iterator[str]:
    """A loopback server answering 404 to everything."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gone)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alpha-1.0.tar.gz"
    server.shutdown()
    server.server_close()


def test_a_stage_wall_sums_its_runs_without_pauses_or_the_time_between(tmp_path: Path) -> None:
    """A stage resumed in a second run: each run's span of the stage's builds counts, less
    the pauses inside it; the time between the runs, pauses outside the span, up-to-date
    builds and other stages' builds do not."""

    def run(name: str, tasks: dict, suspended: list) -> None:
        report = {"tasks": tasks, "suspended": suspended}
        (tmp_path / f"run-{name}.json").write_text(json.dumps(report))

    build = "build:aarch64/stage3/"
    run(
        "20261204T182454",
        {
            "build:aarch64/stage2/llvm": {"start": 0.0, "end": 3000.0, "duration": 3000.0},
            build + "musl": {"start": 3000.0, "end": 3020.0, "duration": 20.0},
            build + "llvm": {"start": 3010.0, "end": 9000.0, "duration": 3990.0},
        },
        [[100.0, 200.0], [5000.0, 7000.0]],  # the first is stage2's
    )
    run(
        "20261204T211658",
        {
            build + "musl": {"duration": 0.0},
            build + "llvm": {"start": 5.0, "end": 605.0, "duration": 600.0},
        },
        [],
    )
    assert stage_wall_seconds(tmp_path, "aarch64", "stage3") == (9000 - 3000 - 2000) + 600
    assert stage_wall_seconds(tmp_path, "aarch64", "stage2") == 3000 - 100
    assert stage_wall_seconds(tmp_path, "x86_64", "stage3") is None
    # a rebuild with other keys is timed from its own runs on
    assert stage_wall_seconds(tmp_path, "aarch64", "stage3", since="20261204T2116") == 600
    assert stage_wall_seconds(tmp_path, "aarch64", "stage3", since="20261205") is None


@pytest.mark.parametrize("text", ["20261205", "20261205T", "20261205T0100", "20261205T010822"])
def test_a_report_time_is_a_prefix_of_a_report_name(text: str) -> None:
    assert report_time(text) == text


@pytest.mark.parametrize("text", ["yesterday", "2026-12-05", "20261205T01:00", "2026120"])
def test_anything_else_is_no_report_time(text: str) -> None:
    with pytest.raises(ValueError, match="is not a time like 20261205T0100"):
        report_time(text)


@pytest.mark.parametrize("processes", [[], ["-n", "2"]], ids=["one-process", "two-processes"])
def test_a_fetch_fallback_is_a_warning_in_the_report(
    mini_repo: MiniRepo, gone_url: str, processes: list[str]
) -> None:
    sources_file = mini_repo.root / "sources.yml"
    sources = json.loads(sources_file.read_text())
    alpha = sources["sources"]["alpha"]
    alpha["mirrors"] = [alpha["url"]]  # the file:// URL still works
    alpha["url"] = gone_url
    sources_file.write_text(json.dumps(sources))

    proc = mini_repo.doit(*processes, "stage1", "--target", "aarch64")

    report = mini_repo.report()
    assert report["ok"] is True
    fetched = report["tasks"]["fetch:alpha"]
    assert fetched["status"] == "ok"
    [warning] = fetched["warnings"]
    assert f"{gone_url}: HTTP 404" in warning and "used" in warning
    assert "warnings" not in report["tasks"]["fetch:beta"]
    line = f"warning: fetch:alpha: source 'alpha': {gone_url}: HTTP 404"
    assert proc.stdout.count(line) == 2  # when the task ends, and above the verdict

    mini_repo.doit(*processes, "stage1", "--target", "aarch64")  # up to date: no stale warnings
    assert "warnings" not in mini_repo.report()["tasks"]["fetch:alpha"]


def test_a_killed_run_leaves_its_report_so_far(mini_repo: MiniRepo) -> None:
    """A session's end kills doit outright: the run's report still says what finished and
    which task was running, and for how long, so a build spread over several runs can be
    timed."""
    recipe = mini_repo.root / "stages" / "recipes" / "b1.yml"
    original = recipe.read_text()
    recipe.write_text(original + "pre_install:\n  - [sleep, '71.31']\n")
    argv = [sys.executable, "-m", "doit", "-f", str(mini_repo.root / "dodo.py"), "stage1"]
    env = {**clean_environ(), "PYTHONPATH": str(REPO), "SERPENT_PROFILE": "test"}
    proc = subprocess.Popen(
        [*argv, "--target", "aarch64"], cwd=mini_repo.root, env=env, stdout=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    while not subprocess.run(["pgrep", "-f", "sleep 71.31"], capture_output=True).stdout:
        assert time.time() < deadline, "the build never started"
        time.sleep(0.1)
    time.sleep(1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(["pkill", "-9", "-f", "sleep 71.31"])

    [path] = (mini_repo.root / "build" / "reports").glob("run-*.json")
    report = json.loads(path.read_text())
    assert report["complete"] is False
    tasks = report["tasks"]
    assert tasks["build:aarch64/stage1/a1"]["status"] == "ok"
    running = tasks["build:aarch64/stage1/b1"]
    assert running["status"] == "running" and running["duration"] >= 0
    assert running["target"] == "aarch64"  # its meta, so it counts for its target
    assert not (mini_repo.root / "build" / "reports" / "latest.json").exists()

    recipe.write_text(original)
    mini_repo.doit("stage1", "--target", "aarch64")
    assert mini_repo.report()["complete"] is True
    tasks, runs = task_seconds(mini_repo.root / "build" / "reports", ("aarch64",))
    b1 = next(t for t in tasks if t["task"] == "build:aarch64/stage1/b1")
    assert (b1["runs"], b1["status"]) == (2, "ok")  # the killed run's time counts too
    assert [r["complete"] for r in runs] == [False, True]


@pytest.mark.parametrize("processes", [[], ["-n", "2"]], ids=["one-process", "two-processes"])
def test_ctrl_z_stops_the_builds_and_the_stop_is_not_counted_as_work(
    mini_repo: MiniRepo, processes: list[str]
) -> None:
    """Ctrl-Z (SIGTSTP to doit's process group) stops the builds too, though each runs in a
    session of its own; `fg` (SIGCONT) continues them. The report keeps the window, and the
    task's duration (what the next run's ETA and the timing tools use) leaves it out."""
    recipe = mini_repo.root / "stages" / "recipes" / "b1.yml"
    # 24 steps of 0.1 s: a sleep's timer runs on while it is stopped, a loop's steps do not
    steps = "i=0; while [ $i -lt 24 ]; do sleep 0.1; i=$((i+1)); done"
    recipe.write_text(recipe.read_text() + f"pre_install:\n  - [sh, -c, '{steps}', steps-of-b1]\n")
    argv = [sys.executable, "-m", "doit", "-f", str(mini_repo.root / "dodo.py"), *processes]
    env = {**clean_environ(), "PYTHONPATH": str(REPO), "SERPENT_PROFILE": "test"}
    proc = subprocess.Popen(  # a job of its own, as a shell starts it
        [*argv, "stage1", "--target", "aarch64"],
        cwd=mini_repo.root,
        env=env,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        build = os.getpgid(_wait_for_process("steps-of-b1", mini_repo.root))
        os.killpg(proc.pid, signal.SIGTSTP)
        stopped_at = time.monotonic()
        # the build is stopped, not running on unseen
        while not _stopped(build) and time.monotonic() - stopped_at < 5:
            time.sleep(0.05)
        assert _stopped(build), _group_states(build)
        time.sleep(max(0.0, 9 - (time.monotonic() - stopped_at)))
    finally:  # a failed assertion must not leave a stopped doit behind
        os.killpg(proc.pid, signal.SIGCONT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0

    report = mini_repo.report()
    [(since, to)] = report["suspended"]
    # 9 s stopped; the sampler counts from its first missed tick, so up to one interval
    # (1 s) less, and a loaded machine delays ticks a little more (7.998 s seen under load)
    assert 7.5 <= to - since <= 10
    b1 = report["tasks"]["build:aarch64/stage1/b1"]
    assert b1["end"] - b1["start"] >= 2.4 + 8  # the steps did not go on while stopped
    assert b1["suspended"] >= 7.5
    assert b1["duration"] == pytest.approx(b1["end"] - b1["start"] - b1["suspended"], abs=0.01)
    assert 2.4 <= b1["duration"] < 2.4 + 4  # the steps' own time, and the build's
    assert b"s of it suspended)" in out
    svg = (mini_repo.root / "build" / "reports" / "latest.svg").read_text()
    assert svg.count('class="suspended"') == 1  # the timeline's grey band


def _wait_for_process(marker: str, root: Path) -> int:
    """The pid of the process whose command line has `marker` and that runs under `root`."""
    deadline = time.time() + 60
    while time.time() < deadline:
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                found = marker.encode() in (proc / "cmdline").read_bytes()
                if found and Path(os.readlink(proc / "cwd")).is_relative_to(root):
                    return int(proc.name)
            except OSError:  # gone meanwhile
                continue
        time.sleep(0.05)
    raise AssertionError(f"no process with {marker!r} under {root} within 60 s")


def _group_states(group: int) -> dict[int, str]:
    """The state letter (R, S, D, T ...) of each process in a process group, by pid."""
    states = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == group:
            states[int(proc.name)] = fields[0]
    return states


def _stopped(group: int) -> bool:
    """Nothing of the group runs: stopped, or held by a stopped child (a shell in vfork, D),
    or exited unreaped (a `sleep` that ended just as its shell was stopped)."""
    states = set(_group_states(group).values())
    return "T" in states and states <= {"T", "D", "Z"}
