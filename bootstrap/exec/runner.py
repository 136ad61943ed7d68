"""The one place that runs subprocesses: argv lists, a sanitised environment, output to a log.

Output goes straight to the log file (never held in memory). Each command runs in its own
process group so that an interrupt (Ctrl-C, SIGTERM turned into KeyboardInterrupt) kills the
whole build underneath it; being out of the terminal's reach, the groups are also stopped
and continued by hand with the process that runs them (Ctrl-Z, `fg`). A failure raises
BuildError naming the command, its directory, the last lines of the log and the log's path.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import shlex
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..core.errors import BuildError

TAIL_LINES = 30
INTERRUPTS = {signal.SIGINT, signal.SIGTERM}
JOB_CONTROL = {signal.SIGTSTP, signal.SIGCONT}  # one thread waits for them: follow_job_control
INTERRUPT_POLL_MS = 200  # how long a Ctrl-C another thread took may wait for its handler
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)
HOST_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/opt", "/etc")  # a missing file there: a tool


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


def query(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    merge_stderr: bool = False,
) -> subprocess.CompletedProcess[str]:
    """A short command whose answer the caller reads (a version, apt metadata, patch's
    report): output captured as text, stdin closed, dies with doit. Never raises for an
    exit status; an OSError (a missing tool) is the caller's to explain."""
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
        errors="replace",
        preexec_fn=_unblock_interrupts,
        check=False,
    )


def stream(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """A command whose stdout the caller reads as it comes (a decompressor); stderr is
    kept for the caller's error message. Dies with doit."""
    return subprocess.Popen(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_unblock_interrupts,
    )


def feed(argv: Sequence[str], out: Path) -> subprocess.Popen[bytes]:
    """A command whose stdin the caller writes and whose stdout goes to the file `out` (a
    compressor); stderr is kept for the caller's error message. Dies with doit."""
    with out.open("wb") as sink:
        return subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.PIPE,
            stdout=sink,
            stderr=subprocess.PIPE,
            preexec_fn=_unblock_interrupts,
        )


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
    finally:  # what it printed goes to the log also when it failed
        text = out.read_text(errors="replace") if out.exists() else ""
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
        # escape the kill below): this thread holds it while spawning and takes it after
        # (one another thread took still runs its handler here; the child then dies with
        # its parent). A Ctrl-Z waits for the spawn lock, so its group is known.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
        try:
            with _SPAWN_LOCK:
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
                _RUNNING.add(proc.pid)  # its own group: start_new_session
        except OSError as err:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            raise cannot_start(argv[0], cwd, env, err) from None
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            raise
        try:
            _wait(proc, held)
        finally:
            _RUNNING.discard(proc.pid)
    if proc.returncode != 0:
        raise BuildError(
            f"command failed with exit code {proc.returncode}: {shlex.join(argv)}\n"
            f"  in {cwd}\n--- last {TAIL_LINES} lines of {log} ---\n{log_tail(log)}"
            f"--- full log: {log}",
            fix=f"read {log}; fix the recipe or patch, then re-run the same doit command",
        )


def cannot_start(program: str, cwd: Path, env: Mapping[str, str], err: OSError) -> BuildError:
    """Why `program` did not start: a missing tool, or a file the tree it runs in lacks."""
    what = f"cannot start {program!r}: {err.strerror}"
    if not _names_a_tree_file(program, env):
        return BuildError(what, where=str(cwd), fix="install the missing tool (see `doit check`)")
    path = Path(os.path.normpath(cwd / program))
    if not path.exists():
        return BuildError(
            f"{what}: the tree has no {path}",
            where=str(cwd),
            fix=f"the source tree lacks {path.name}: if the source ships none (a git "
            "snapshot), generate it in the recipe's post_patch (e.g. [autoreconf, -fi]); "
            "else check the recipe's srcdir and subtrees, or prepare the source again "
            "(delete the component's .prepared stamp under build/<arch>/stamps/)",
        )
    interpreter = _interpreter(path)
    if err.errno == errno.EACCES:
        fix = f"make {path.name} executable (in a patch or post_patch) or run it through its "
        fix += f"interpreter (e.g. [sh, {program}, ...])"
    elif err.errno == errno.ENOENT and interpreter:
        what += f": its interpreter {interpreter} does not exist"
        fix = f"install {interpreter}, or run the script through one that exists "
        fix += f"(e.g. [sh, {program}, ...]), or fix its first line in a patch"
    else:
        fix = f"{path.name} is a file of the tree, not a tool to install: check that it is "
        fix += "a script or a program for this host"
    return BuildError(what, where=str(path), fix=fix)


def _names_a_tree_file(program: str, env: Mapping[str, str]) -> bool:
    """A path, not a name looked up in PATH, and not into PATH's or the system's dirs."""
    if "/" not in program:
        return False
    if not program.startswith("/"):
        return True  # relative to the build or source dir
    tool_dirs = [*env.get("PATH", "").split(":"), *SYSTEM_DIRS]
    return not any(Path(program).is_relative_to(d) for d in tool_dirs if d)


def _interpreter(script: Path) -> str:
    try:
        with script.open("rb") as fh:
            first = fh.readline(256)
    except OSError:
        return ""
    words = first[2:].decode(errors="replace").split() if first.startswith(b"#!") else []
    return words[0] if words else ""


MAIN_PID = os.getpid()  # the doit process; its forked workers have other pids
_RUNNING: set[int] = set()  # the process groups of the commands this process runs now
_SPAWN_LOCK = threading.Lock()
_following_in: int | None = None  # the pid whose job-control thread runs


def _new_spawn_lock() -> None:
    global _SPAWN_LOCK  # a forked worker's copy may be held by a thread it does not have
    _SPAWN_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_spawn_lock)


def follow_job_control() -> None:
    """Ctrl-Z (SIGTSTP) stops the builds this process runs, then the process itself; SIGCONT
    (`fg`) continues them. Without this a stopped doit's builds would run on unseen.

    A thread of its own waits for both signals, blocked in every other thread: a Python
    handler runs in the main thread only, late if another thread took the signal while the
    main thread waited in C (a worker waiting for its next task), and a stop handled after
    its `fg` is never undone. Call it before other threads start (they inherit the mask);
    a forked worker gets its own thread from `set_up_worker`."""
    global _following_in
    if _following_in == os.getpid():
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, JOB_CONTROL | INTERRUPTS)
    try:  # the thread is born blocking interrupts too: they are the main thread's to handle
        threading.Thread(target=_job_control_loop, name="job-control", daemon=True).start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before | JOB_CONTROL)
    _following_in = os.getpid()


def _job_control_loop() -> None:
    while True:
        sig = signal.sigwait(JOB_CONTROL)
        with _SPAWN_LOCK:  # a command being started is in _RUNNING first
            if sig == signal.SIGCONT:
                _signal_groups(signal.SIGCONT)
            elif signal.SIGCONT not in signal.sigpending():  # an `fg` already came: no stop
                _signal_groups(signal.SIGSTOP)
                os.kill(os.getpid(), signal.SIGSTOP)  # what SIGTSTP does by default


def _signal_groups(sig: signal.Signals) -> None:
    for group in list(_RUNNING):
        with contextlib.suppress(OSError):  # gone meanwhile; the thread must live on
            os.killpg(group, sig)


def set_up_worker() -> None:
    """At the start of each task, in one of doit's forked worker processes (`--builds` > 1):
    die when doit dies, even by `kill -9`, so that the builds under it die too (their own
    parent-death signal); follow Ctrl-Z with a thread of the worker's own."""
    if os.getpid() == MAIN_PID:
        return
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # doit is gone already
        os._exit(1)
    follow_job_control()


def _unblock_interrupts() -> None:
    """In the child, before exec: builds must see Ctrl-C and SIGTERM again, and die with
    doit (even a `kill -9` of it) instead of running on, orphaned, into a dir the next run
    will use. Job control too: a mask outlives exec."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, INTERRUPTS | JOB_CONTROL)
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait(proc: subprocess.Popen[bytes], held: set[signal.Signals]) -> None:
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a held interrupt lands here
        pidfd = os.pidfd_open(proc.pid)  # readable once the child has exited
        try:
            exited = select.poll()
            exited.register(pidfd, select.POLLIN)
            while proc.poll() is None:
                # Not one blocking wait: a signal the kernel hands to another thread (doit's
                # reporter and queue threads) would not wake it, and its Python handler
                # (Ctrl-C, SIGTERM) would wait for the build to end.
                exited.poll(INTERRUPT_POLL_MS)
        finally:
            os.close(pidfd)
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
