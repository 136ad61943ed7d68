"""A run's timeline as one self-contained SVG (no script, no external font or stylesheet):
one bar per executed task along wall time, rows grouped by target and stage, coloured by
outcome, the critical path outlined and linked, and under it the CPU-busy curve sampled
from /proc/stat during the run. Up-to-date tasks took no time and are not drawn (counted
in the heading). What Yocto's buildstats + pybootchartgui show, from the run report alone.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from ..model.recipes import STAGES

DRAWN = ("ok", "failed", "interrupted")  # statuses of tasks that ran
COLOURS = {"ok": "#4c9a5b", "failed": "#d0453b", "interrupted": "#e39b2f"}
CRITICAL = "#1d1d1d"
STAGE_ORDER = ("fetch", "source", *STAGES, "rootfs", "lock", "drift")
NICE_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)

WIDTH = 1280
LABEL_W = 330  # the task names' column
RIGHT = 20
CHART_W = WIDTH - LABEL_W - RIGHT
TOP = 88  # title, command, legend, time axis
ROW_H = 14
GROUP_H = 20
CPU_H = 90
BOTTOM = 30
LABEL_CHARS = 46  # what fits the column in 11 px monospace
MIN_BAR_W = 3.0  # px: a task of a second in a long run still shows its colour

Samples = Sequence[tuple[float, float]]  # (seconds since the run started, CPU busy %)
Window = tuple[float, float]  # (from, to), seconds since the run started
# A tick this much later than due: the run was stopped (SIGSTOP, Ctrl-Z) or the machine slept.
SUSPEND_GAP = 5.0


# -- CPU sampling --------------------------------------------------------------------------
def read_cpu_times(stat: Path = Path("/proc/stat")) -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, or None where /proc/stat is not."""
    try:
        fields = stat.read_text().split("\n", 1)[0].split()
        values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError, IndexError):
        return None
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuSampler:
    """Samples how busy the CPUs are every `interval` seconds in a daemon thread, and notes
    when the run was suspended: a tick far later than due means no thread of the process
    ran meanwhile."""

    def __init__(self, started: float, interval: float = 1.0) -> None:
        self.started, self.interval = started, interval
        self.samples: list[tuple[float, float]] = []
        self.last = read_cpu_times()
        self.suspended: list[Window] = []
        self.ticked = _boot_clock()  # not the wall clock, which may be set meanwhile
        self.ticking = threading.Lock()  # suspended_between ticks too, from other threads
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)
        self.thread.start()

    def close(self) -> list[tuple[float, float]]:
        """Stop; the samples, the last one covering the time since the one before."""
        self._tick()
        self.stopped.set()
        self.thread.join()
        self._sample()
        return self.samples

    def suspended_between(self, start: float, end: float) -> float:
        """Seconds of [start, end] (times as time.time()) the run spent suspended."""
        self._tick()
        low, high = start - self.started, end - self.started
        with self.ticking:
            return sum(max(0.0, min(to, high) - max(since, low)) for since, to in self.suspended)

    def worked_between(self, start: float, end: float) -> float:
        """Seconds of [start, end] the run was not suspended: how long a task worked."""
        return end - start - self.suspended_between(start, end)

    def windows(self) -> list[Window]:
        self._tick()
        with self.ticking:
            return list(self.suspended)

    def _tick(self) -> None:
        if self.stopped.is_set():  # closed: nothing ticks any more, so a gap means nothing
            return
        with self.ticking:
            now = _boot_clock()
            gap = now - self.ticked
            if gap > self.interval + SUSPEND_GAP:
                # the stop came within a tick's interval after the last tick: counting from
                # its end takes no work for a stop (at most an interval of stop for work)
                to = time.time() - self.started
                self.suspended.append((round(to - gap + self.interval, 3), round(to, 3)))
            self.ticked = now

    def _loop(self) -> None:
        while not self.stopped.wait(self.interval):
            self._tick()
            self._sample()

    def _sample(self) -> None:
        """How busy the CPUs were since the last sample (all of them: the whole machine)."""
        now = read_cpu_times()
        if now and self.last and now[1] > self.last[1]:
            busy = 100.0 * (now[0] - self.last[0]) / (now[1] - self.last[1])
            self.samples.append((round(time.time() - self.started, 3), round(busy, 1)))
        self.last = now


def _boot_clock() -> float:
    """Seconds since boot, counting system suspend (which CLOCK_MONOTONIC does not)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def downsample(samples: Samples, most: int) -> list[tuple[float, float]]:
    """At most `most` points: the mean of each run of consecutive samples."""
    if len(samples) <= most:
        return list(samples)
    size = len(samples) / most
    points = []
    for i in range(most):
        chunk = samples[int(i * size) : int((i + 1) * size)] or samples[-1:]
        points.append(
            (chunk[-1][0], round(sum(busy for _, busy in chunk) / len(chunk), 1)),
        )
    return points


# -- the critical path ---------------------------------------------------------------------
def critical_path(
    tasks: Mapping[str, Mapping[str, Any]], deps: Mapping[str, Sequence[str]]
) -> list[str]:
    """The chain of executed tasks ending at the last to finish: from each, the dependency
    (through groups and up-to-date tasks) that finished last. Earliest first."""
    ran = {n: e for n, e in tasks.items() if e.get("status") in DRAWN and "end" in e}
    if not ran:
        return []
    chain = [max(ran, key=lambda n: (ran[n]["end"], n))]
    while before := _ran_dependencies(chain[-1], ran, deps):
        chain.append(max(before, key=lambda n: (ran[n]["end"], n)))
    return chain[::-1]


def _ran_dependencies(
    name: str, ran: Mapping[str, Any], deps: Mapping[str, Sequence[str]]
) -> set[str]:
    found: set[str] = set()
    seen: set[str] = set()
    stack = list(deps.get(name, ()))
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        if dep in ran:
            found.add(dep)
        else:
            stack.extend(deps.get(dep, ()))
    return found


# -- rows ----------------------------------------------------------------------------------
def group_of(name: str, entry: Mapping[str, Any]) -> tuple[str, str]:
    """(target, stage) a task belongs to: its meta, else its name's prefix (fetch:...)."""
    target = entry.get("target") or "all"
    stage = entry.get("stage") or name.split(":", 1)[0]
    return str(target), str(stage)


def _group_order(group: tuple[str, str]) -> tuple[int, str, int, str]:
    target, stage = group
    rank = 0 if target == "all" else 1 if target == "shared" else 2
    stage_rank = STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)
    return rank, target, stage_rank, stage


def rows(tasks: Mapping[str, Mapping[str, Any]]) -> list[tuple[tuple[str, str], list[str]]]:
    """Executed tasks grouped by (target, stage), groups in build order, tasks by start."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, entry in tasks.items():
        if entry.get("status") in DRAWN and "start" in entry:
            groups.setdefault(group_of(name, entry), []).append(name)
    return [
        (group, sorted(groups[group], key=lambda n: (tasks[n]["start"], n)))
        for group in sorted(groups, key=_group_order)
    ]


# -- drawing -------------------------------------------------------------------------------
def clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _step(total: float) -> int:
    return next((s for s in NICE_STEPS if total / s <= 12), NICE_STEPS[-1])


class _Canvas:
    def __init__(self, total: float, height: int, title: str) -> None:
        self.total = max(total, 0.001)
        self.svg = ET.Element(
            "svg",
            xmlns="http://www.w3.org/2000/svg",
            width=str(WIDTH),
            height=str(height),
            viewBox=f"0 0 {WIDTH} {height}",
        )
        self.svg.set("font-family", "monospace")
        self.svg.set("font-size", "11")
        ET.SubElement(self.svg, "title").text = title
        self.add("rect", x=0, y=0, width=WIDTH, height=height, fill="#ffffff")

    def x(self, seconds: float) -> float:
        return round(LABEL_W + CHART_W * seconds / self.total, 2)

    def add(self, tag: str, parent: ET.Element | None = None, **attrs: Any) -> ET.Element:
        element = ET.SubElement(self.svg if parent is None else parent, tag)
        for key, value in attrs.items():
            element.set(key.rstrip("_").replace("_", "-"), str(value))
        return element

    def text(self, x: float, y: float, text: str, **attrs: Any) -> ET.Element:
        element = self.add("text", x=x, y=y, **attrs)
        element.text = text
        return element


def render_timeline(
    tasks: Mapping[str, Mapping[str, Any]],
    total: float,
    cpu: Samples,
    critical: Sequence[str],
    heading: str,
    command: str = "",
    suspended: Sequence[Window] = (),
) -> str:
    """The SVG text. `tasks`: the run report's entries (status, start, end, target, stage);
    `suspended`: when the run was stopped, drawn as grey bands."""
    grouped = rows(tasks)
    bars_h = sum(GROUP_H + ROW_H * len(names) for _, names in grouped)
    height = TOP + bars_h + 20 + CPU_H + BOTTOM
    skipped = sum(1 for e in tasks.values() if e.get("status") not in DRAWN)
    ran = sum(len(names) for _, names in grouped)
    title = f"{heading}, {clock(total)}: {ran} task(s) ran, {skipped} up to date (not drawn)"
    canvas = _Canvas(total, height, f"{title}; {command}")
    canvas.text(10, 18, title, font_size=13, font_weight="bold")
    canvas.text(10, 34, command[:170], fill="#555555")
    _legend(canvas, critical, tasks)
    _axis(canvas, TOP - 8, height - BOTTOM)
    _suspended(canvas, suspended, TOP - 8, height - BOTTOM)
    y = TOP
    places: dict[str, tuple[float, float, float]] = {}  # task -> (x start, x end, y middle)
    for (target, stage), names in grouped:
        canvas.text(10, y + 14, f"{target} / {stage}", font_weight="bold")
        y += GROUP_H
        for name in names:
            places[name] = _bar(canvas, name, tasks[name], y, name in critical)
            y += ROW_H
    _critical_links(canvas, [places[n] for n in critical if n in places])
    _cpu(canvas, y + 20, cpu)
    ET.indent(canvas.svg)
    return ET.tostring(canvas.svg, encoding="unicode", xml_declaration=True) + "\n"


def _legend(canvas: _Canvas, critical: Sequence[str], tasks: Mapping[str, Any]) -> None:
    x = 10.0
    for status, colour in COLOURS.items():
        canvas.add("rect", x=x, y=44, width=12, height=10, fill=colour)
        canvas.text(x + 16, 53, status)
        x += 30 + 8 * len(status)
    canvas.add("rect", x=x, y=44, width=12, height=10, fill="none", stroke=CRITICAL, stroke_width=2)
    length = sum(tasks[n]["duration"] for n in critical if n in tasks)  # suspensions left out
    canvas.text(x + 16, 53, f"critical path: {len(critical)} task(s), {clock(length)} of work")


def _axis(canvas: _Canvas, top: float, bottom: float) -> None:
    step = _step(canvas.total)
    grid = canvas.add("g", class_="grid", stroke="#dddddd", stroke_width=1)
    for tick in range(0, int(canvas.total) + 1, step):
        x = canvas.x(tick)
        canvas.add("line", grid, x1=x, y1=top, x2=x, y2=bottom)
        canvas.text(x, top - 4, clock(tick), text_anchor="middle", fill="#555555")


def _bar(
    canvas: _Canvas, name: str, entry: Mapping[str, Any], y: float, critical: bool
) -> tuple[float, float, float]:
    label = name if len(name) <= LABEL_CHARS else "..." + name[-(LABEL_CHARS - 3) :]
    canvas.text(LABEL_W - 6, y + ROW_H - 3, label, text_anchor="end")
    start, end = canvas.x(entry["start"]), canvas.x(entry["end"])
    width = max(MIN_BAR_W, round(end - start, 2))
    status = entry["status"]
    rect = canvas.add(
        "rect",
        class_=f"bar {status}" + (" critical" if critical else ""),
        x=start,
        y=y + 2,
        width=width,
        height=ROW_H - 4,
        fill=COLOURS[status],
    )
    rect.set("data-task", name)
    if critical:
        rect.set("stroke", CRITICAL)
        rect.set("stroke-width", "2")
    note = ", critical path" if critical else ""
    if entry.get("suspended"):
        note += f", and {entry['suspended']:.0f} s suspended"
    ET.SubElement(rect, "title").text = f"{name}: {entry['duration']:.1f} s ({status}{note})"
    return start, start + width, y + ROW_H / 2


def _suspended(canvas: _Canvas, windows: Sequence[Window], top: float, bottom: float) -> None:
    for since, to in windows:
        band = canvas.add(
            "rect",
            class_="suspended",
            x=canvas.x(since),
            y=top,
            width=max(1.0, round(canvas.x(to) - canvas.x(since), 2)),
            height=bottom - top,
            fill="#c8c8c8",
            fill_opacity=0.5,
        )
        ET.SubElement(band, "title").text = f"suspended {to - since:.0f} s"


def _critical_links(canvas: _Canvas, places: list[tuple[float, float, float]]) -> None:
    if len(places) < 2:
        return
    moves = " ".join(f"M {p[1]} {p[2]} L {q[0]} {q[2]}" for p, q in pairwise(places))
    canvas.add(
        "path",
        class_="critical-path",
        d=moves,
        fill="none",
        stroke=CRITICAL,
        stroke_width=1,
        stroke_dasharray="3,2",
    )


def _cpu(canvas: _Canvas, top: float, cpu: Samples) -> None:
    canvas.add("rect", x=LABEL_W, y=top, width=CHART_W, height=CPU_H, fill="#f4f4f4")
    canvas.text(LABEL_W - 6, top + 12, "CPU busy 100%", text_anchor="end")
    canvas.text(LABEL_W - 6, top + CPU_H, "0%", text_anchor="end")
    if not cpu:
        canvas.text(LABEL_W + 8, top + CPU_H / 2, "no CPU samples (/proc/stat not readable)")
        return
    points: list[tuple[float, float]] = [(LABEL_W, top + CPU_H)]
    since = float(LABEL_W)
    for seconds, busy in downsample(cpu, CHART_W):  # each: how busy since the one before
        y = round(top + CPU_H * (1 - busy / 100), 2)
        points += [(since, y), (canvas.x(seconds), y)]
        since = canvas.x(seconds)
    points.append((since, top + CPU_H))
    canvas.add(
        "polygon",
        class_="cpu",
        points=" ".join(f"{x},{y}" for x, y in points),
        fill="#7fa7d9",
        stroke="#3b6fb6",
        stroke_width=1,
    )
