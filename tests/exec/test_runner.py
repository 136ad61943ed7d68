"""runner.run's errors for a program that does not start: a tool, or a file of the tree."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap.core.errors import BuildError
from bootstrap.exec import runner
from bootstrap.exec.runner import clean_env, run

INSTALL_TOOL = "install the missing tool"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "build").mkdir()
    return tmp_path


def start(argv: list[str], work: Path) -> BuildError:
    env = clean_env(source_date_epoch=0, home=work)
    with pytest.raises(BuildError) as info:
        run(argv, cwd=work / "build", env=env, log=work / "log")
    return info.value


def test_a_missing_tool_is_to_be_installed(work: Path) -> None:
    err = start(["no-such-tool-here", "--version"], work)
    assert "cannot start 'no-such-tool-here'" in err.what
    assert err.fix and INSTALL_TOOL in err.fix


def test_a_missing_file_of_the_source_tree_is_not_a_tool(work: Path) -> None:
    err = start(["../src/configure", "--prefix=/usr"], work)
    assert "cannot start '../src/configure'" in err.what and str(work / "src/configure") in err.what
    assert err.fix and INSTALL_TOOL not in err.fix
    assert "source tree lacks configure" in err.fix and "autoreconf" in err.fix
    assert ".prepared" in err.fix


def test_an_absolute_path_into_the_tree_is_not_a_tool(work: Path) -> None:
    err = start([str(work / "src" / "configure")], work)
    assert err.fix and "source tree lacks configure" in err.fix


def test_a_script_whose_interpreter_is_missing(work: Path) -> None:
    script = work / "src" / "gen.sh"
    script.write_text("#!/no/such/interpreter -e\necho hi\n")
    script.chmod(0o755)
    err = start(["../src/gen.sh"], work)
    assert "its interpreter /no/such/interpreter does not exist" in err.what
    assert err.where == str(script)
    assert err.fix and "install /no/such/interpreter" in err.fix


def test_a_script_that_is_not_executable(work: Path) -> None:
    script = work / "src" / "configure"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    err = start(["../src/configure"], work)
    assert err.fix and "make configure executable" in err.fix and INSTALL_TOOL not in err.fix


def test_capture_keeps_what_a_failing_command_printed_in_the_log(tmp_path: Path) -> None:
    log = tmp_path / "probe.log"
    env = runner.clean_env(source_date_epoch=0, home=tmp_path)
    with pytest.raises(BuildError):
        runner.capture(["sh", "-c", "echo FAIL one; exit 3"], cwd=tmp_path, env=env, log=log)
    assert "FAIL one" in log.read_text()
    assert not list(tmp_path.glob(".*.out"))


JOB_CONTROL_PROBE = """
import sys, threading
from pathlib import Path
from bootstrap.exec import runner

runner.follow_job_control()
threading.Thread(target=threading.Event().wait, name="reporter", daemon=True).start()
tmp = Path(sys.argv[1])
env = runner.clean_env(source_date_epoch=0, home=tmp)
probe = ["grep", "SigBlk", "/proc/self/status"]
runner.run(probe, cwd=tmp, env=env, log=tmp / "log", stdout=tmp / "run.out")
print("query", runner.query(probe).stdout, end="")
for thread in threading.enumerate():
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    print(thread.name, next(line for line in status.splitlines() if line.startswith("SigBlk")))
"""


def _blocked(line: str) -> set[int]:
    mask = int(line.split()[-1], 16)
    return {sig for sig in range(1, 65) if mask & (1 << (sig - 1))}


def test_only_the_job_control_thread_takes_ctrl_z_and_commands_see_it_unblocked(
    tmp_path: Path,
) -> None:
    """Ctrl-Z and `fg` go to one thread that waits for them (a Python handler in the main
    thread may run after the `fg` it should precede); the commands started see both again."""
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", JOB_CONTROL_PROBE, str(tmp_path)],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # (a thread in sigwait shows the signals it waits for as unblocked: the kernel's view)
    masks = {name: _blocked(line) for name, line in (row.split(" ", 1) for row in out.splitlines())}
    job_control = {signal.SIGTSTP, signal.SIGCONT}
    assert set(masks) == {"MainThread", "job-control", "reporter", "query"}
    assert {name for name in masks if not job_control & masks[name]} == {"job-control", "query"}
    assert masks["job-control"] >= runner.INTERRUPTS  # Ctrl-C is the main thread's
    assert not runner.INTERRUPTS & masks["MainThread"]
    assert not job_control & _blocked((tmp_path / "run.out").read_text())  # a build command
