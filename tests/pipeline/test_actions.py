"""The actions' own logic: outputs kept in the component cache by what they were made from."""

from __future__ import annotations

from pathlib import Path

from doit.exceptions import TaskFailed

from bootstrap.builder.keys import BuildKey
from bootstrap.model.config import CachePolicy
from bootstrap.pipeline import actions


class Check:
    """A stand-in check: writes its results file, counting its runs; fails on request."""

    def __init__(self, results: Path) -> None:
        self.results, self.runs, self.fail = results, 0, False

    def __call__(self, spec: object) -> TaskFailed | None:
        self.runs += 1
        self.results.write_text(f'{{"passed": {str(not self.fail).lower()}}}\n')
        return TaskFailed("it failed") if self.fail else None


def run_cached(check: Check, cache: Path, plan: str = "tree-1") -> object:
    return actions.cached(
        check, None, BuildKey(plan), [check.results], CachePolicy(cache), 0, "check:x/stage2"
    )


def test_a_check_with_the_same_inputs_is_restored_not_run(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    check = Check(tmp_path / "out" / "results.json")
    assert run_cached(check, tmp_path / "cache") is None and check.runs == 1
    check.results.unlink()
    assert run_cached(check, tmp_path / "cache") is None
    assert check.runs == 1 and check.results.read_text() == '{"passed": true}\n'
    run_cached(check, tmp_path / "cache", plan="tree-2")  # other inputs: it runs
    assert check.runs == 2


def test_a_failed_check_is_not_kept(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    check = Check(tmp_path / "out" / "results.json")
    check.fail = True
    assert isinstance(run_cached(check, tmp_path / "cache"), TaskFailed)
    assert isinstance(run_cached(check, tmp_path / "cache"), TaskFailed)
    assert check.runs == 2
