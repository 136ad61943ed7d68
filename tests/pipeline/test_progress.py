"""Progress of a running task, read from its log by the watcher thread."""

from __future__ import annotations

import threading
from pathlib import Path

from bootstrap.pipeline.progress import (
    Watcher,
    describe,
    eta_seconds,
    left_by_rate,
    ninja_progress,
)

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


def test_describe_shows_elapsed_time_and_step(tmp_path: Path) -> None:
    log = tmp_path / "toolchain.log"
    log.write_text(NINJA_LOG)
    assert describe("build:x86_64/stage1/toolchain", 100.0, log, 100.0 + 754) == (
        "build:x86_64/stage1/toolchain 12:34 [2/2829]"
    )
    assert describe("verify:x86_64", 0.0, None, 5.0) == "verify:x86_64 0:05"


def test_a_ninja_build_s_time_left_follows_its_rate_so_far(tmp_path: Path) -> None:
    log = tmp_path / "llvm.log"
    log.write_text(NINJA_LOG)
    assert left_by_rate(0.0, log, 600.0) is None  # 2 steps: too few to say
    log.write_text(NINJA_LOG + "[400/2322] Building CXX object lib/CodeGen/X.cpp.o\n")
    assert left_by_rate(0.0, log, 1200.0) == 1200.0 * 1922 / 400  # 3 s a step: 96 min
    assert describe("build:x86_64/stage3/llvm", 0.0, log, 1200.0) == (
        "build:x86_64/stage3/llvm 20:00 [400/2322, ~97m left]"
    )
    assert left_by_rate(0.0, None, 1200.0) is None


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
