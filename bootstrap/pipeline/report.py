"""The doit reporter: a tqdm bar over the selected tasks, a failure summary, a JSON report.

Build output never passes through here (each build writes its own log file); the reporter
only sees task events, plus what `progress.Watcher` reads from running tasks' logs. The
JSON report (per task: status, duration, log, and `warnings` when the task returned some as
its doit values) is what nightly jobs read: build/reports/latest.json, plus one timestamped
copy per run. Warnings are printed when the task ends and again above the verdict (a long
build's output would have scrolled them away).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..core.fsutil import write_atomic
from .progress import Watcher, eta_seconds, short_duration
from .timeline import CpuSampler, critical_path, downsample, render_timeline

RULE = "=" * 72
BAR_REFRESH = 2.0  # seconds between status updates in the bar (a terminal)
HEARTBEAT = 300.0  # seconds between "still running" lines without a terminal
DURATIONS = "durations.json"  # the last successful duration of each task, for the ETA
CPU_POINTS = 2000  # CPU samples kept in the JSON report (a long run's are averaged)
CHECKPOINT = 300.0  # seconds between rewrites of a running run's report (see _checkpoint)


def reporter_class(report_dir: Path) -> type:
    """doit instantiates the reporter itself, so the report dir is bound into a subclass."""
    return type("BootstrapReporter", (BootstrapReporter,), {"report_dir": report_dir})


def _closure(tasks: dict[str, Any], selected: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    stack = list(reversed(selected))
    while stack:
        name = stack.pop()
        if name in seen or name not in tasks:
            continue
        seen[name] = None
        task = tasks[name]
        stack.extend([*task.task_dep, *task.setup_tasks])
    return list(seen)


def _task_warnings(task: Any) -> list[str]:
    """What a task that just ran returned as `{"warnings": [...]}` (its doit values)."""
    found = (getattr(task, "values", None) or {}).get("warnings")
    return [str(w) for w in found] if isinstance(found, list) else []


def _load_durations(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _counts(results: dict[str, dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in results.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return counts


def _json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def _load_results(path: str | None) -> Any:
    """A check task's JSON results file, embedded into the run report."""
    try:
        return json.loads(Path(path).read_text()) if path else None
    except (OSError, ValueError):
        return None


def report_time(text: str) -> str:
    """A time as run reports are named (20261205T010822, or a prefix down to the day):
    `since` for the functions below. A ValueError for anything else."""
    if not re.fullmatch(r"\d{8}(T\d{0,6})?", text):
        raise ValueError(f"{text!r} is not a time like 20261205T0100")
    return text


def run_reports(report_dir: Path, since: str | None = None) -> list[Path]:
    """The run reports in the order they ran; with `since` (a timestamp as in their names,
    e.g. 20261205T0400), those of runs started at or after it."""
    reports = sorted(report_dir.glob("run-*.json"))
    return [p for p in reports if since is None or p.stem[len("run-") :] >= since]


def task_seconds(
    report_dir: Path, targets: tuple[str, ...], since: str | None = None
) -> tuple[list[dict], list[dict]]:
    """Per task of these targets that ran: seconds summed over every run report since
    `since` (a long build resumes across runs), how many runs, its last status. Plus one
    line per run."""
    tasks: dict[str, dict[str, Any]] = {}
    runs = []
    for path in run_reports(report_dir, since):
        run = json.loads(path.read_text())
        runs.append({k: run.get(k) for k in ("started", "argv", "duration", "counts", "complete")})
        for name, task in run["tasks"].items():
            if task.get("target") not in targets or task["status"] == "up-to-date":
                continue
            entry = tasks.setdefault(name, {"task": name, "seconds": 0.0, "runs": 0})
            entry["seconds"] = round(entry["seconds"] + task["duration"], 1)
            entry["runs"] += 1
            entry["status"] = task["status"]
    return sorted(tasks.values(), key=lambda t: t["task"]), runs


def stage_wall_seconds(
    report_dir: Path, arch: str, stage: str, since: str | None = None
) -> float | None:
    """How long a stage's builds took on the clock: in each run report (since `since`)
    where one ran, from the first build's start to the last one's end, the run's suspended
    windows in between left out; summed over those runs (a long stage resumes across runs,
    and the time between two runs is not the stage's). None if no build of the stage ran."""
    prefix = f"build:{arch}/{stage}/"
    walls = []
    for path in run_reports(report_dir, since):
        run = json.loads(path.read_text())
        spans = [
            (t["start"], t["end"])
            for n, t in run["tasks"].items()
            if n.startswith(prefix) and "start" in t
        ]
        if not spans:
            continue
        start, end = min(s for s, _ in spans), max(e for _, e in spans)
        suspended = sum(
            max(0.0, min(to, end) - max(since, start)) for since, to in run.get("suspended", [])
        )
        walls.append(end - start - suspended)
    return round(sum(walls), 1) if walls else None


class BootstrapReporter:
    desc = "progress bar, per-task logs, failure summary and a JSON run report"
    report_dir: Path = Path("build/reports")

    def __init__(self, outstream: Any, options: dict[str, Any]):
        self.out = outstream
        self.options = options
        self.started = time.time()
        self.results: dict[str, dict[str, Any]] = {}
        self.starts: dict[str, float] = {}
        self.metas: dict[str, dict[str, Any]] = {}  # of the tasks that started
        self.notes: set[str] = set()  # said once per run
        self.failures: list[tuple[Any, Any]] = []
        self.errors: list[str] = []
        self.bar: tqdm | None = None
        self.watcher: Watcher | None = None
        self.interrupted = False
        # per-task durations of earlier runs: the ETA of the tasks still to come
        self.history = _load_durations(self.report_dir / DURATIONS)
        self.pending: set[str] = set()
        self.parallel = max(1, int(options.get("num_process") or 1))
        self.deps: dict[str, list[str]] = {}  # task_dep of every selected task (critical path)
        self.sampler: CpuSampler | None = None
        self.run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self.started))
        self.writing = threading.Lock()  # the watcher thread checkpoints too
        self.checkpointed = 0.0

    # -- doit reporter API -----------------------------------------------------------------
    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        names = _closure(tasks, selected_tasks)
        self.deps = {n: [*tasks[n].task_dep, *tasks[n].setup_tasks] for n in names}
        self.sampler = CpuSampler(self.started)
        total = sum(1 for n in names if tasks[n].actions)
        self.pending = {n for n in names if tasks[n].actions}
        self.bar = tqdm(
            total=total,
            unit="task",
            file=sys.stderr,
            dynamic_ncols=True,
            disable=None,
            bar_format="{l_bar}{bar}| {n}/{total} [{elapsed}<{remaining}]",
        )
        if self.bar.disable:
            self.watcher = Watcher(
                lambda text: self._tick(self._say, f"   running: {text}{self._eta()}"),
                HEARTBEAT,
                self.sampler.worked_between,
            )
        else:
            self.watcher = Watcher(
                lambda text: self._tick(self._show_status, text + self._eta()),
                BAR_REFRESH,
                self.sampler.worked_between,
            )

    def get_status(self, task: Any) -> None:
        pass

    def execute_task(self, task: Any) -> None:
        if not task.actions:
            return
        self.starts[task.name] = time.time()
        self.metas[task.name] = task.meta or {}
        note = (task.meta or {}).get("note")
        if note and note not in self.notes:
            self.notes.add(note)
            self._say(f"note: {note}")
        self._say(f".  {task.name}")
        if self.watcher:
            log = (task.meta or {}).get("log")
            self.watcher.started(task.name, Path(log) if log else None)
        if self.bar:
            self.bar.set_description_str(task.name[-40:], refresh=True)
        self._checkpoint()

    def add_success(self, task: Any) -> None:
        self._record(task, "ok", warnings=_task_warnings(task))

    def add_failure(self, task: Any, fail: Any) -> None:
        self._record(task, "failed", fail.get_msg(), _task_warnings(task))
        self.failures.append((task, fail))

    def skip_uptodate(self, task: Any) -> None:
        self._record(task, "up-to-date")

    def skip_ignore(self, task: Any) -> None:
        self._record(task, "ignored")

    def cleanup_error(self, exception: Any) -> None:
        self.errors.append(exception.get_msg())

    def runtime_error(self, msg: str) -> None:
        self.errors.append(msg)

    def teardown_task(self, task: Any) -> None:
        pass

    def complete_run(self) -> None:
        if self.watcher:
            self.watcher.close()
        if self.bar:
            self.bar.close()
        interrupted = [n for n in self.starts if n not in self.results]
        for name in interrupted:  # started, never finished: Ctrl-C or SIGTERM
            self.results[name] = {
                "status": "interrupted",
                **self._timing(name, time.time()),
                **self.metas[name],
            }
        self.interrupted = bool(interrupted)
        path = self._write_report()
        self._write_durations()
        for task, fail in self.failures:
            self._print_failure(task, fail)
        for msg in self.errors:
            self.out.write(f"{RULE}\ndoit: {msg}\n")
        for name, entry in self.results.items():
            for warning in entry.get("warnings", ()):
                self.out.write(f"warning: {name}: {warning}\n")
        counts = _counts(self.results)
        summary = ", ".join(f"{n} {status}" for status, n in counts.items())
        verdict = (
            "INTERRUPTED"
            if self.interrupted
            else "FAILED"
            if self.failures or self.errors
            else "OK"
        )
        windows = self.sampler.windows() if self.sampler else []  # as the report has them
        suspended = sum(to - since for since, to in windows)
        paused = f" ({suspended:.0f}s of it suspended)" if suspended else ""
        self.out.write(
            f"{verdict}: {summary or 'nothing to do'} "
            f"in {time.time() - self.started:.2f}s{paused}; report: {path}\n"
        )

    # -- helpers ---------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        if self.bar is not None and not self.bar.disable:
            self.bar.write(text, file=self.out)
        else:
            self.out.write(text + "\n")

    def _eta(self) -> str:
        """`, ETA 12m`: a running ninja build's time left at its own rate so far, else earlier
        runs' duration of each task still to run (tasks never run before count as 0;
        up-to-date ones drop out as they are skipped)."""
        now = time.time()
        live = self.watcher.left() if self.watcher else {}
        left = eta_seconds(
            (
                live[n] if n in live else max(0.0, self.history.get(n, 0.0) - self._ran(n, now))
                for n in list(self.pending)  # the main thread removes finished tasks
            ),
            self.parallel,
        )
        return f", ETA {short_duration(left)}" if left else ""

    def _ran(self, task: str, now: float) -> float:
        """How long a running task has been running, suspensions left out (0 if waiting)."""
        start = self.starts.get(task)
        if start is None or self.sampler is None:
            return 0.0
        return self.sampler.worked_between(start, now)

    def _show_status(self, text: str) -> None:
        if self.bar is not None and not self.bar.disable:
            self.bar.set_description_str(text[-60:], refresh=True)

    def _record(
        self, task: Any, status: str, message: str = "", warnings: list[str] | None = None
    ) -> None:
        if not task.actions:
            return
        if self.watcher:
            self.watcher.finished(task.name)
            self._show_status(self.watcher.status())
        start = self.starts.get(task.name)
        self.pending.discard(task.name)
        entry: dict[str, Any] = {
            "status": status,
            **self._timing(task.name, time.time()),
            **(task.meta or {}),
        }
        if status == "ok" and start:
            self.history[task.name] = entry["duration"]
        if message:
            entry["message"] = message
        if warnings:
            entry["warnings"] = warnings
            for warning in warnings:
                self._say(f"warning: {task.name}: {warning}")
        if results := _load_results(entry.get("results")):
            entry["results"] = results
        self.results[task.name] = entry
        if self.bar:
            self.bar.update(1)
        if start:
            self._checkpoint()

    def _timing(self, name: str, end: float) -> dict[str, float]:
        """How long a task ran until `end`, not counting the time the run was suspended,
        and when it started and ended (seconds since the run started; a suspension shows
        as `suspended` seconds between the two)."""
        start = self.starts.get(name)
        if start is None:
            return {"duration": 0.0}
        worked = self.sampler.worked_between(start, end) if self.sampler else end - start
        suspended = end - start - worked
        timing = {
            "duration": round(worked, 3),
            "start": round(start - self.started, 3),
            "end": round(end - self.started, 3),
        }
        return {**timing, "suspended": round(suspended, 3)} if suspended else timing

    def _tick(self, show: Callable[[str], None], text: str) -> None:
        show(text)
        if time.time() - self.checkpointed >= CHECKPOINT:  # a kill loses at most this much
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Rewrite run-<id>.json while the run goes on (`"complete": false`, the tasks still
        running with their time so far), so a run that is killed outright, as a session's
        end does, still leaves what it did and how long it took. latest.* stay the last
        finished run's."""
        with self.writing:
            now = self.checkpointed = time.time()
            results = dict(self.results)  # copied whole: the main thread adds to it
            running = {
                name: {"status": "running", **self._timing(name, now), **self.metas.get(name, {})}
                for name in dict(self.starts)
                if name not in results
            }
            report = self._report({**results, **running}, cpu=[], complete=False)
            write_atomic(self.report_dir / f"run-{self.run_id}.json", _json(report))
            self._write_durations()

    def _write_durations(self) -> None:
        history = json.dumps(dict(self.history), sort_keys=True)
        write_atomic(self.report_dir / DURATIONS, history + "\n")

    def _report(
        self, results: dict[str, Any], cpu: list[tuple[float, float]], complete: bool
    ) -> dict[str, Any]:
        return {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "duration": round(time.time() - self.started, 3),
            "complete": complete,
            "argv": sys.argv[1:],
            "ok": not self.failures and not self.errors and not self.interrupted,
            "counts": _counts(results),
            "tasks": results,
            "errors": self.errors,
            "critical_path": critical_path(results, self.deps),
            "cpu_busy": downsample(cpu, CPU_POINTS),  # [seconds since start, % busy]
            # [from, to] in seconds since start: stopped (SIGSTOP, Ctrl-Z) or the machine slept
            "suspended": self.sampler.windows() if self.sampler else [],
        }

    def _write_report(self) -> Path:
        """run-<id>.json and its timeline run-<id>.svg, each also as latest.*"""
        cpu = self.sampler.close() if self.sampler else []
        report = self._report(self.results, cpu, complete=True)
        command = " ".join(["doit", *sys.argv[1:]])
        title = f"run {report['started']}"
        svg = render_timeline(
            self.results,
            report["duration"],
            cpu,
            report["critical_path"],
            title,
            command,
            report["suspended"],
        )
        with self.writing:
            for suffix, content in ((".json", _json(report)), (".svg", svg)):
                write_atomic(self.report_dir / f"run-{self.run_id}{suffix}", content)
                write_atomic(self.report_dir / f"latest{suffix}", content)
        return self.report_dir / "latest.json"

    def _print_failure(self, task: Any, fail: Any) -> None:
        meta = task.meta or {}
        self.out.write(f"{RULE}\nFAILED {task.name}\n")
        if meta:
            self.out.write(
                f"  target {meta.get('target')}, stage {meta.get('stage')}, "
                f"component {meta.get('component')}\n  log: {meta.get('log')}\n"
            )
        self.out.write(fail.get_msg().rstrip() + "\n")
