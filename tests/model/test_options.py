"""Run options: argv beats environment beats defaults; one table for doit params too."""

from __future__ import annotations

import pytest

from bootstrap.core.errors import BootstrapError
from bootstrap.model.options import OPTIONS, doit_params, selection_from_argv


def test_argv_anywhere_on_the_command_line() -> None:
    sel = selection_from_argv(
        ["-n", "2", "stage3", "--target", "aarch64", "--profile", "smoke"], {}
    )
    assert (sel.target, sel.profile) == ("aarch64", "smoke")


def test_environment_then_defaults() -> None:
    sel = selection_from_argv(["stage1"], {"SERPENT_TARGET": "all", "SERPENT_OFFLINE": "1"})
    assert sel.target == "all"
    assert sel.offline is True
    assert sel.profile == "full"
    assert selection_from_argv(["--target", "x86_64"], {"SERPENT_TARGET": "all"}).target == "x86_64"


def test_doit_params_mirror_the_table() -> None:
    params = doit_params()
    assert [p["name"] for p in params] == [o.name for o in OPTIONS]
    assert {p["long"] for p in params} >= {"target", "profile", "toolchain", "sources-override"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("1", True), ("Yes", True), ("y", True), ("ON", True), ("true", True)],
        *[("0", False), ("no", False), ("N", False), ("off", False), ("False", False)],
    ],
)
def test_boolean_env_words(raw: str, expected: bool) -> None:
    assert selection_from_argv([], {"SERPENT_OFFLINE": raw}).offline is expected


def test_a_boolean_env_value_that_is_no_word_names_the_variable() -> None:
    with pytest.raises(BootstrapError) as err:
        selection_from_argv([], {"SERPENT_OFFLINE": "maybe"})
    assert err.value.where == "SERPENT_OFFLINE"
    assert "'maybe'" in err.value.what
    assert "yes" in (err.value.fix or "")


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        ([], {"SERPENT_JOBS": "abc"}, "SERPENT_JOBS"),
        ([], {"SERPENT_JOBS": "-2"}, "SERPENT_JOBS"),
        (["stage1", "--jobs", "-5"], {}, "--jobs"),
        (["stage1", "--jobs=2.5"], {}, "--jobs"),
        (["--toolchain", "gcc"], {}, "--toolchain"),
        ([], {"SERPENT_TOOLCHAIN": "gcc"}, "SERPENT_TOOLCHAIN"),
    ],
)
def test_bad_values_name_their_option_or_variable(
    argv: list[str], environ: dict[str, str], named: str
) -> None:
    with pytest.raises(BootstrapError) as err:
        selection_from_argv(argv, environ)
    assert err.value.where == named
    assert err.value.fix


def test_a_missing_option_value_is_an_error_not_an_exit() -> None:
    with pytest.raises(BootstrapError, match="--jobs: expected one argument"):
        selection_from_argv(["stage1", "--jobs"], {})


def test_jobs_zero_means_all_cores() -> None:
    assert selection_from_argv(["--jobs", "0"], {"SERPENT_JOBS": "3"}).jobs == 0
    assert selection_from_argv([], {"SERPENT_JOBS": "3"}).jobs == 3
