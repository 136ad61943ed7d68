"""The user-facing error and how a command-line program ends on one."""

from __future__ import annotations

import pytest

from bootstrap.core.errors import BootstrapError, ConfigError, run_main


def test_an_error_says_what_where_and_how_to_fix_it() -> None:
    err = ConfigError("no such key 'srcs'", where="stages/recipes/zlib.yml", fix="use 'source'")
    assert err.render() == "stages/recipes/zlib.yml: no such key 'srcs'\n  fix: use 'source'"
    assert str(err) == err.render()


def test_a_program_ends_on_its_error_with_status_1_and_no_traceback() -> None:
    def main() -> int:
        raise BootstrapError("out/ is missing", fix="run doit stage3 first")

    with pytest.raises(SystemExit) as ended:
        run_main(main)
    # sys.exit(<text>) prints the text to stderr and exits 1, without a traceback
    assert ended.value.code == "error: out/ is missing\n  fix: run doit stage3 first"


@pytest.mark.parametrize("status", [0, 3])
def test_a_program_without_an_error_ends_with_its_own_status(status: int) -> None:
    with pytest.raises(SystemExit) as ended:
        run_main(lambda: status)
    assert ended.value.code == status
