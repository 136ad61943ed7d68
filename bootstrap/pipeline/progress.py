"""Progress inside long tasks: how far a running build is, read from its own log.

A task is one bar step, and the LLVM build is one task of 1-2 hours. While tasks run, a
watcher thread reads the tail of each running task's log for ninja's last `[done/total]`
and hands a status line to the reporter: on a terminal every few seconds (into the bar), in
a plain log (nightly jobs) every few minutes, so a long quiet step still shows it is alive.
A ninja build's own rate so far also says how long it still needs: the ETA of a task that
never finished before (a first LLVM build) comes from there. Time the run spent suspended
(Ctrl-Z, a stopped machine) counts in neither the elapsed time nor the rate.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

NINJA_STEP = re.compile(rb"^\[(\d+)/(\d+)\] ", re.MULTILINE)
TAIL_BYTES = 16384
MIN_STEPS = 20  # fewer finished ninja steps say little about the rate
Worked = Callable[[float, float], float]  # seconds of [start, end] the run was not suspended


def wall_clock(start: float, end: float) -> float:
    return end - start


def ninja_progress(log: Path) -> tuple[int, int] | None:
    """The last `[done/total]` ninja printed into `log`, if any."""
    try:
        with log.open("rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - TAIL_BYTES))
            tail = fh.read()
    except OSError:
        return None
    steps = NINJA_STEP.findall(tail)
    return (int(steps[-1][0]), int(steps[-1][1])) if steps else None


@dataclass(frozen=True)
class Pace:
    """Where a ninja count was first seen: `done` of `total` steps at time `at`."""

    total: int
    done: int
    at: float

    def follows(self, step: tuple[int, int]) -> bool:
        """Whether `step` is the same ninja's count (not another one's, e.g. a nested
        tablegen build in the middle of LLVM's)."""
        return step[1] == self.total and step[0] >= self.done

    def left(self, step: tuple[int, int], now: float, worked: Worked) -> float | None:
        """Seconds to the end of the count at the rate since it was first seen."""
        steps = step[0] - self.done
        if steps < MIN_STEPS:
            return None
        return worked(self.at, now) * (step[1] - step[0]) / steps


@dataclass
class Running:
    """One running task, as the watcher last saw its log."""

    started: float
    log: Path | None
    pace: Pace | None = None
    step: tuple[int, int] | None = None
    left: float | None = None  # seconds, once the rate says
    worked: Worked = field(default=wall_clock, repr=False)

    def update(self, now: float) -> None:
        self.step = ninja_progress(self.log) if self.log else None
        if self.step is None:
            self.left = None
            return
        if self.pace is None:  # the task's first count: it began with the task
            self.pace = Pace(self.step[1], 0, self.started)
        elif not self.pace.follows(self.step):  # another ninja: its rate from now on
            self.pace = Pace(self.step[1], self.step[0], now)
        self.left = self.pace.left(self.step, now, self.worked)

    def describe(self, name: str, now: float) -> str:
        minutes, seconds = divmod(int(self.worked(self.started, now)), 60)
        text = f"{name} {minutes}:{seconds:02d}"
        if self.step:
            left = f", ~{short_duration(self.left)} left" if self.left else ""
            text += f" [{self.step[0]}/{self.step[1]}{left}]"
        return text


def eta_seconds(left: Iterable[float], parallel: int) -> float:
    """A run's time left: its tasks' times left spread over `parallel` builds, but never
    less than the longest of them."""
    times = list(left)
    return max(max(times, default=0.0), sum(times) / max(1, parallel))


def short_duration(seconds: float) -> str:
    minutes = int(seconds / 60) + 1
    return f"{minutes}m" if minutes < 120 else f"{minutes / 60:.1f}h"


class Watcher:
    """Calls `show` with one line about the running tasks every `interval` seconds."""

    def __init__(
        self,
        show: Callable[[str], None],
        interval: float,
        worked: Worked = wall_clock,
    ) -> None:
        self.show, self.interval, self.worked = show, interval, worked
        self.running: dict[str, Running] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self.thread.start()

    def started(self, name: str, log: Path | None) -> None:
        with self.lock:
            self.running[name] = Running(time.time(), log, worked=self.worked)

    def finished(self, name: str) -> None:
        with self.lock:
            self.running.pop(name, None)

    def left(self) -> dict[str, float]:
        """Seconds left of each running task whose ninja rate is known (as of the last
        status line)."""
        with self.lock:
            return {n: r.left for n, r in self.running.items() if r.left is not None}

    def status(self) -> str:
        """One line on the running tasks, their logs read again."""
        now = time.time()
        with self.lock:
            for task in self.running.values():
                task.update(now)
            return ", ".join(task.describe(n, now) for n, task in self.running.items())

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            if text := self.status():
                self.show(text)
