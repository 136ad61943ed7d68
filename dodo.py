"""doit entry point: builds the bootstrap task graph from the data files. See README.md.

doit list                                   the entry tasks
doit stage3 --target aarch64 --profile smoke
doit help stage3                            every option
"""

import signal
import sys
from pathlib import Path

from bootstrap.config import Config
from bootstrap.errors import BootstrapError
from bootstrap.lock import lock_build_dir, writes_state
from bootstrap.options import selection_from_argv
from bootstrap.project import Project
from bootstrap.report import reporter_class
from bootstrap.tasks import all_tasks

REPO = Path(__file__).resolve().parent
CONFIG = Config.create(REPO, selection_from_argv(sys.argv[1:]))

DOIT_CONFIG = {
    "default_tasks": ["stage3"],
    "dep_file": str(CONFIG.paths.build / ".doit.db"),
    "backend": "sqlite3",
    "reporter": reporter_class(CONFIG.paths.report_dir),
    "verbosity": 0,
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
sys.excepthook = _report_interrupt
CONFIG.paths.build.mkdir(parents=True, exist_ok=True)
if writes_state(sys.argv[1:]):
    try:
        _LOCK = lock_build_dir(CONFIG.paths.build)
    except BootstrapError as err:
        sys.exit(f"error: {err.render()}")


def task_bootstrap():
    try:
        project = Project.load(CONFIG)
        project.selected_targets  # noqa: B018 - validate --target before any task runs
    except BootstrapError as err:
        sys.exit(f"error: {err.render()}")
    yield from all_tasks(project)
