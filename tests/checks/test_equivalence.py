"""The equivalence check's rebuild and comparison, for real on a small project's host build
(the chroot and qemu parts: tests/builder/test_native_llvm.py)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import MiniRepo

from bootstrap.builder.keys import BuildKey
from bootstrap.checks.equivalence import EquivalenceSpec, differing, objects, run_equivalence
from bootstrap.core.errors import BuildError
from bootstrap.model.config import Config
from bootstrap.model.options import Selection
from bootstrap.plan.project import Project


def test_objects_are_elf_files_and_archives(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.o").write_bytes(b"\x7fELF\x02\x01\x01rest")
    (tmp_path / "libx.a").write_bytes(b"!<arch>\nmember")
    (tmp_path / "config.log").write_text("cc -v\n")
    (tmp_path / "elf-link").symlink_to("sub/a.o")
    assert [e.path for e in objects(tmp_path)] == ["libx.a", "sub/a.o"]


def test_differing_names_changed_and_one_sided_paths(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for tree, text in ((ours, "1"), (theirs, "2")):
        tree.mkdir()
        (tree / "a.o").write_bytes(b"\x7fELF" + text.encode())
        (tree / "same.o").write_bytes(b"\x7fELF same")
    (ours / "only.o").write_bytes(b"\x7fELF only")
    assert differing(objects(ours), objects(theirs)) == ["a.o", "only.o"]


@pytest.fixture
def built(mini_repo: MiniRepo) -> tuple[Project, EquivalenceSpec]:
    mini_repo.doit("stage2")
    project = Project.load(Config.create(mini_repo.root, Selection(profile="test")))
    spec = next(s for s in project.components(project.targets["x86_64"]) if s.name == "a2")
    twin = project.emulated_twin(spec)
    results = mini_repo.root / "equivalence.json"
    return project, EquivalenceSpec(((spec, twin),), results, BuildKey("k", ()))


def test_a_twin_building_the_same_bytes_passes(built: tuple[Project, EquivalenceSpec]) -> None:
    _, check = built
    run_equivalence(check)
    assert '"passed": true' in check.results.read_text()
    assert not check.pairs[0][1].work.exists()  # a passing twin leaves nothing behind


def test_a_build_dir_the_cache_did_not_bring_is_built_again_first(
    built: tuple[Project, EquivalenceSpec],
) -> None:
    _, check = built
    spec = check.pairs[0][0]
    shutil.rmtree(spec.work / "build")  # as after a restore from the cache
    run_equivalence(check)
    assert (spec.work / "build" / ".serpent-signature").is_file()


def test_a_twin_building_other_bytes_fails_naming_the_file(
    built: tuple[Project, EquivalenceSpec],
) -> None:
    _, check = built
    spec, twin = check.pairs[0]
    install = [
        ["sh", "-c", 'mkdir -p "$1" && echo other > "$1/file.txt"', "x", "${destdir}/usr/share/a2"]
    ]
    twin = replace(
        twin, plan={**twin.plan, "commands": {**twin.plan["commands"], "install": install}}
    )
    with pytest.raises(BuildError) as err:
        run_equivalence(replace(check, pairs=((spec, twin),)))
    assert "a2: installed /usr/share/a2/file.txt" in err.value.render()
    assert '"passed": false' in check.results.read_text()
    assert twin.work.is_dir()  # kept for a look
