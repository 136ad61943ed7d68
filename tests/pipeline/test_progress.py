"""Progress of a running task, read from its log by the watcher thread."""

from __future__ import annotations

import threading
from pathlib import Path

from bootstrap.pipeline.progress import Running, Watcher, eta_seconds, ninja_progress

NINJA_LOG = """\
-- Configuring done
[1/2829] Building CXX object lib/Support/CMakeFiles/LLVMSupport.dir/APInt.cpp.o
[2/2829] Building CXX object lib/Support/CMakeFiles/LLVMSupport.dir/APFloat.cpp.o
warning: [-Wunused] in [3/4] brackets that are not ninja's
"""


def test_the_last_ninja_step_of_the_log(tmp_path: Path) -> None:
    log = tmp_path / "toolchain.log"
    log.write_text(NINJA_LOG)
    assert ninja_progress(log) == (2, 2829)
    log.write_text("x" * 100_000 + "\n" + NINJA_LOG)  # only the tail is read
    assert ninja_progress(log) == (2, 2829)


def test_no_progress_without_ninja_or_log(tmp_path: Path) -> None:
    log = tmp_path / "make.log"
    log.write_text("make[1]: Entering directory\n")
    assert ninja_progress(log) is None
    assert ninja_progress(tmp_path / "missing.log") is None


def seen(log: Path | None, now: float, task: Running | None = None) -> str:
    """How the watcher describes a task started at 0 s, looking at `now`."""
    task = task or Running(0.0, log)
    task.update(now)
    return task.describe("build:x86_64/stage3/llvm", now)


def test_a_task_shows_its_elapsed_time_and_ninja_step(tmp_path: Path) -> None:
    log = tmp_path / "toolchain.log"
    log.write_text(NINJA_LOG)
    assert seen(log, 754.0) == "build:x86_64/stage3/llvm 12:34 [2/2829]"  # too few steps
    assert seen(None, 5.0) == "build:x86_64/stage3/llvm 0:05"


def step(done: int, total: int = 2322) -> str:
    return f"[{done}/{total}] Building CXX object lib/CodeGen/X{done}.cpp.o\n"


def test_a_ninja_build_s_time_left_follows_its_rate_so_far(tmp_path: Path) -> None:
    log = tmp_path / "llvm.log"
    log.write_text(NINJA_LOG + step(400))
    task = Running(0.0, log)
    assert seen(log, 1200.0, task) == "build:x86_64/stage3/llvm 20:00 [400/2322, ~97m left]"
    assert task.left == 1200.0 * 1922 / 400  # 3 s a step


def test_time_suspended_counts_in_neither_the_elapsed_time_nor_the_rate(tmp_path: Path) -> None:
    """Stopped from 600 s to 900 s (Ctrl-Z): 1200 s on the clock are 900 s of work."""
    log = tmp_path / "llvm.log"
    log.write_text(NINJA_LOG + step(400))

    def worked(start: float, end: float) -> float:
        return end - start - max(0.0, min(end, 900.0) - max(start, 600.0))

    task = Running(0.0, log, worked=worked)
    assert seen(log, 1200.0, task) == "build:x86_64/stage3/llvm 15:00 [400/2322, ~73m left]"
    assert task.left == 900.0 * 1922 / 400


def test_a_nested_ninja_count_has_a_rate_of_its_own(tmp_path: Path) -> None:
    """LLVM's cross build runs a 199-step tablegen build in the middle of its own."""
    log = tmp_path / "llvm.log"
    log.write_text(step(400))
    task = Running(0.0, log)
    task.update(1200.0)
    log.write_text(step(400) + step(1, 199))  # the nested build starts: no rate yet
    task.update(1300.0)
    assert task.left is None and task.describe("llvm", 1300.0).endswith("[1/199]")
    log.write_text(step(400) + step(51, 199))  # 50 steps in 100 s
    task.update(1400.0)
    assert task.left == 100.0 * 148 / 50


def test_the_run_s_eta_is_never_below_its_longest_task() -> None:
    assert eta_seconds([5400.0, 60.0, 60.0], parallel=2) == 5400.0  # one long build
    assert eta_seconds([600.0] * 4, parallel=2) == 1200.0  # work spread over both
    assert eta_seconds([], parallel=2) == 0.0


def test_watcher_reports_running_tasks_until_they_finish(tmp_path: Path) -> None:
    log = tmp_path / "toolchain.log"
    log.write_text(NINJA_LOG)
    seen: list[str] = []
    shown = threading.Event()

    def show(text: str) -> None:
        seen.append(text)
        shown.set()

    watcher = Watcher(show, interval=0.01)
    try:
        watcher.started("build:x86_64/stage1/toolchain", log)
        assert shown.wait(5)
        assert "build:x86_64/stage1/toolchain" in seen[-1] and "[2/2829]" in seen[-1]
        watcher.finished("build:x86_64/stage1/toolchain")
        assert watcher.status() == ""
    finally:
        watcher.close()
    assert not watcher.thread.is_alive()
