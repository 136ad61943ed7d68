"""Progress inside long tasks: how far a running build is, read from its own log.

A task is one bar step, and the LLVM build is one task of 1-2 hours. While tasks run, a
watcher thread reads the tail of each running task's log for ninja's last `[done/total]`
and hands a status line to the reporter: on a terminal every few seconds (into the bar), in
a plain log (nightly jobs) every few minutes, so a long quiet step still shows it is alive.
A ninja build's own rate so far also says how long it still needs: the ETA of a task that
never finished before (a first LLVM build) comes from there.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

NINJA_STEP = re.compile(rb"^\[(\d+)/(\d+)\] ", re.MULTILINE)
TAIL_BYTES = 16384
MIN_STEPS = 20  # fewer finished ninja steps say little about the rate


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


def left_by_rate(started: float, log: Path | None, now: float) -> float | None:
    """Seconds a running ninja build still needs at the rate it has gone so far."""
    step = ninja_progress(log) if log else None
    if step is None or step[0] < MIN_STEPS:
        return None
    done, total = step
    return (now - started) * (total - done) / done


def eta_seconds(left: Iterable[float], parallel: int) -> float:
    """A run's time left: its tasks' times left spread over `parallel` builds, but never
    less than the longest of them."""
    times = list(left)
    return max(max(times, default=0.0), sum(times) / max(1, parallel))


def short_duration(seconds: float) -> str:
    minutes = int(seconds / 60) + 1
    return f"{minutes}m" if minutes < 120 else f"{minutes / 60:.1f}h"


def describe(name: str, started: float, log: Path | None, now: float) -> str:
    minutes, seconds = divmod(int(now - started), 60)
    text = f"{name} {minutes}:{seconds:02d}"
    if log and (step := ninja_progress(log)):
        left = left_by_rate(started, log, now)
        text += f" [{step[0]}/{step[1]}" + (f", ~{short_duration(left)} left]" if left else "]")
    return text


class Watcher:
    """Calls `show` with one line about the running tasks every `interval` seconds."""

    def __init__(self, show: Callable[[str], None], interval: float) -> None:
        self.show, self.interval = show, interval
        self.running: dict[str, tuple[float, Path | None]] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self.thread.start()

    def started(self, name: str, log: Path | None) -> None:
        with self.lock:
            self.running[name] = (time.time(), log)

    def finished(self, name: str) -> None:
        with self.lock:
            self.running.pop(name, None)

    def left(self) -> dict[str, float]:
        """Seconds left of each running task whose ninja rate is known."""
        now = time.time()
        with self.lock:
            running = list(self.running.items())
        found = {name: left_by_rate(start, log, now) for name, (start, log) in running}
        return {name: left for name, left in found.items() if left is not None}

    def status(self) -> str:
        now = time.time()
        with self.lock:
            running = list(self.running.items())
        return ", ".join(describe(n, start, log, now) for n, (start, log) in running)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            if text := self.status():
                self.show(text)
