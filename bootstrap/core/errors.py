"""One error type for every problem a user can fix: what is wrong, where, and how to fix it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn


class BootstrapError(Exception):
    """A user-facing error. `where` names the file/entry/task, `fix` tells what to do."""

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


def exit_with(err: BootstrapError) -> NoReturn:
    """End a command-line program on a user-facing error: `error: ...` and its fix on
    stderr, exit status 1."""
    sys.exit(f"error: {err.render()}")


def run_main(main: Callable[[], int]) -> NoReturn:
    """Run a command-line program's `main`: exit with its status, or as `exit_with` on the
    user-facing error it raised."""
    try:
        status = main()
    except BootstrapError as err:
        exit_with(err)
    sys.exit(status)


class ConfigError(BootstrapError):
    """A data file (sources.yml, a recipe, a target file, a profile) is invalid."""


class FetchError(BootstrapError):
    """A source could not be obtained or failed its checksum."""


class UnpackError(BootstrapError):
    """An archive is unreadable or hostile."""


class PatchError(BootstrapError):
    """A patch does not apply."""


class BuildError(BootstrapError):
    """A build command failed."""


class RootfsError(BootstrapError):
    """A rootfs tarball cannot be packed, fails its checksum, or is unsafe to unpack."""
