"""doit entry point: builds the bootstrap task graph from the data files. See README.md.

doit list                                   the entry tasks
doit stage3 --target aarch64 --profile smoke
doit help stage3                            every option
"""

import signal
import sys
from pathlib import Path

from bootstrap.checks.preflight import refusing_reporter
from bootstrap.core.errors import BootstrapError, exit_with
from bootstrap.exec.lock import lock_build_dir, make_build_dir, writes_state
from bootstrap.exec.runner import follow_job_control
from bootstrap.model.config import Config
from bootstrap.model.options import selection_from_argv
from bootstrap.pipeline.report import reporter_class
from bootstrap.pipeline.tasks import all_tasks
from bootstrap.plan.project import Project

REPO = Path(__file__).resolve().parent


try:
    CONFIG = Config.create(REPO, selection_from_argv(sys.argv[1:]))
except BootstrapError as err:
    exit_with(err)

DOIT_CONFIG = {
    "default_tasks": ["stage3"],
    "dep_file": str(CONFIG.paths.build / ".doit.db"),
    "backend": "sqlite3",
    # refuses, before any task runs, a selection that needs root when not root
    "reporter": refusing_reporter(reporter_class(CONFIG.paths.report_dir)),
    "verbosity": 0,
    # independent components build side by side (`--builds`, one per core by default)
    "num_process": CONFIG.builds,
    "par_type": "process",
}


def _interrupt(signum, frame):
    # doit saves its state on KeyboardInterrupt; a CI cancel (SIGTERM) must do the same.
    raise KeyboardInterrupt(f"signal {signum}")


def _report_interrupt(kind, value, tb):
    if issubclass(kind, KeyboardInterrupt):
        print(
            f"interrupted ({value or 'Ctrl-C'}): finished tasks are saved; run the same "
            "command again to continue",
            file=sys.stderr,
        )
        return
    sys.__excepthook__(kind, value, tb)


signal.signal(signal.SIGTERM, _interrupt)
follow_job_control()  # Ctrl-Z stops the builds too
sys.excepthook = _report_interrupt
try:
    make_build_dir(CONFIG.paths.build)
    if writes_state(sys.argv[1:]):
        _LOCK = lock_build_dir(CONFIG.paths.build)
except BootstrapError as err:
    exit_with(err)


def task_bootstrap():
    try:
        # the whole graph up front: a bad --target or --profile is an error, not a traceback
        tasks = list(all_tasks(Project.load(CONFIG)))
    except BootstrapError as err:
        exit_with(err)
    yield from tasks
