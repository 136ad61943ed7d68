"""The one place that runs subprocesses: argv lists, a sanitised environment, output to a log.

Output goes straight to the log file (never held in memory). Each command runs in its own
process group so that an interrupt (Ctrl-C, SIGTERM turned into KeyboardInterrupt) kills the
whole build underneath it. A failure raises BuildError naming the command, its directory,
the last lines of the log and the log's path.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import BuildError

TAIL_LINES = 30
INTERRUPTS = {signal.SIGINT, signal.SIGTERM}
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)
HOST_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def clean_env(
    *,
    path: Sequence[str | Path] = (),
    source_date_epoch: int,
    home: Path,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A fresh environment: nothing of the caller's (CFLAGS, PKG_CONFIG_*, LD_*) leaks in."""
    env = {
        "PATH": ":".join([*map(str, path), *HOST_PATH]),
        "LC_ALL": "C",
        "LANG": "C",
        "TZ": "UTC",
        "HOME": str(home),
        "TERM": "dumb",
        "SOURCE_DATE_EPOCH": str(source_date_epoch),
        "SHELL": "/bin/sh",
    }
    env.update(extra or {})
    return env


def log_tail(log: Path, lines: int = TAIL_LINES) -> str:
    try:
        with log.open(errors="replace") as fh:
            return "".join(deque(fh, maxlen=lines))
    except FileNotFoundError:
        return ""


def capture(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path) -> str:
    """Run argv; return its stdout (also appended to `log`); raise BuildError on failure."""
    out = log.with_name(f".{log.name}.out")
    try:
        run(argv, cwd=cwd, env=env, log=log, stdout=out)
        text = out.read_text(errors="replace")
    finally:
        out.unlink(missing_ok=True)
    with log.open("a") as fh:
        fh.write(text)
    return text


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    stdout: Path | None = None,
) -> None:
    """Run argv with output appended to `log` (stdout to `stdout` if given); raise
    BuildError on failure."""
    argv = [str(a) for a in argv]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out, (stdout or Path(os.devnull)).open("wb") as stdout_file:
        out.write(f"\n$ cd {shlex.quote(str(cwd))} && {shlex.join(argv)}\n".encode())
        out.flush()
        # An interrupt must not arrive between fork and Popen returning (the child would
        # escape the kill below): hold SIGINT/SIGTERM while spawning, deliver them after.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=dict(env),
                stdout=stdout_file if stdout else out,
                stderr=out if stdout else subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_unblock_interrupts,
            )
        except OSError as err:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            raise BuildError(
                f"cannot start {argv[0]!r}: {err.strerror}",
                where=str(cwd),
                fix="install the missing tool (see `doit check`)",
            ) from None
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            raise
        _wait(proc, held)
    if proc.returncode != 0:
        raise BuildError(
            f"command failed with exit code {proc.returncode}: {shlex.join(argv)}\n"
            f"  in {cwd}\n--- last {TAIL_LINES} lines of {log} ---\n{log_tail(log)}"
            f"--- full log: {log}",
            fix=f"read {log}; fix the recipe or patch, then re-run the same doit command",
        )


def _unblock_interrupts() -> None:
    """In the child, before exec: builds must see Ctrl-C and SIGTERM again, and die with
    doit (even a `kill -9` of it) instead of running on, orphaned, into a dir the next run
    will use."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPTS)
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait(proc: subprocess.Popen[bytes], held: set[signal.Signals]) -> None:
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a held interrupt lands here
        proc.wait()
    except BaseException:
        _kill_group(proc)
        raise


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue
