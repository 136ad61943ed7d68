"""Run options: argv beats environment beats defaults; one table for doit params too."""

from __future__ import annotations

from bootstrap.options import OPTIONS, doit_params, selection_from_argv


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
