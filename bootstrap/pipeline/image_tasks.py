"""The tasks after stage3: pack the rootfs, verify it, write the lockfile, compare it with
a baseline (drift)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from doit.task import Task
from doit.tools import config_changed

from ..builder.keys import BuildKey, StampMatches, digest
from ..builder.spec import ComponentSpec, SourceTree
from ..checks.chrootcheck import MUSL_TOOLS_CHECKS
from ..core.fsutil import sha256_file
from ..image.drift import DriftSpec
from ..image.lockfile import FORMAT as LOCK_FORMAT
from ..image.lockfile import LOCK_NAME, LockSpec
from ..image.rootfs import RootfsSpec
from ..image.verify import VerifySpec
from ..model.recipes import STAGES
from ..model.targets import Target
from ..plan.project import Project
from . import actions
from .taskbase import NEEDS_ROOT, outputs_cache, subtask, tree_key


def rootfs_spec(project: Project, target: Target) -> RootfsSpec:
    return RootfsSpec(
        root=project.layout(target).stage_root("stage3"),
        out_dir=project.config.paths.out / target.arch,
        name=f"serpent-rootfs-{target.arch}",
        source_date_epoch=project.config.source_date_epoch,
    )


def lock_task(
    project: Project, target: Target, specs: list[ComponentSpec], has_rootfs: bool
) -> Task:
    """`<out>/<arch>/bootstrap.lock` (+ .files) from the stamps of everything the profile
    builds for the target, and of the rootfs when there is one."""
    layout = project.layout(target)
    stages = [s for s in STAGES if project.profile.components(s)]
    rootfs = rootfs_spec(project, target) if has_rootfs else None
    rootfs_stamp = layout.stamp("rootfs", "rootfs", "packed") if has_rootfs else None
    stamp = layout.stamp("lock", "bootstrap", "locked")
    static = {
        "format": LOCK_FORMAT,
        "profile": project.profile.name,
        "mode": project.mode,
        "epoch": project.config.source_date_epoch,
        "components": [(s.label, s.key.plan) for s in specs],
    }
    key = BuildKey(
        digest(static),
        tuple((s.label, s.layout.stamp(s.stage, s.name, "built")) for s in specs)
        + tuple((f"{target.arch}/{s}", layout.union_stamp(s)) for s in stages)
        + ((("rootfs", rootfs_stamp),) if rootfs_stamp else ()),
    )
    spec = LockSpec(
        arch=target.arch,
        profile=project.profile.name,
        toolchain=project.mode,
        source_date_epoch=project.config.source_date_epoch,
        components=tuple(specs),
        stages=tuple((f"{target.arch}/{s}", layout.union_stamp(s)) for s in stages),
        rootfs=rootfs,
        rootfs_stamp=rootfs_stamp,
        lockfile=project.config.paths.out / target.arch / LOCK_NAME,
        key=key,
    )
    return subtask(
        "lock",
        target.arch,
        doc=f"write {target.arch}'s bootstrap.lock: what was built, from what, into which bytes",
        actions=[(actions.unstamp, [stamp]), (actions.lock, [spec]), (actions.stamp, [stamp, key])],
        task_dep=[f"{s}:{target.arch}" for s in STAGES]
        + ([f"rootfs:{target.arch}"] if has_rootfs else []),
        file_dep=[str(rootfs.checksum)] if rootfs else [],
        targets=[str(spec.lockfile), str(spec.files)],
        uptodate=[StampMatches(stamp, key, spec.lockfile)],
        verbosity=2,
        meta={"target": target.arch, "stage": "lock", "component": "lock", "log": ""},
    )


def drift_task(
    project: Project, target: Target, specs: list[ComponentSpec], has_rootfs: bool
) -> Task:
    """Compare the lockfile with --baseline's; after verify, whose results get the verdict."""
    out = project.config.paths.out / target.arch
    baseline = project.config.selection.baseline
    spec = DriftSpec(
        arch=target.arch,
        lockfile=out / LOCK_NAME,
        baseline=baseline if not baseline or "://" in baseline else str(Path(baseline).resolve()),
        results=out / "drift.json",
        verify_json=out / "verify.json" if has_rootfs else None,
        verify_junit=out / "verify.junit.xml" if has_rootfs else None,
        layers=tuple((s.label, s.layout.layers(s.stage, s.name)) for s in specs),
    )
    return subtask(
        "drift",
        target.arch,
        doc=f"compare {target.arch}'s bootstrap.lock with the baseline's",
        actions=[(actions.drift, [spec])],
        task_dep=[f"lock:{target.arch}", *([f"verify:{target.arch}"] if has_rootfs else [])],
        uptodate=[False],  # the baseline is no file doit could watch (it may be a URL)
        verbosity=2,
        meta={
            "target": target.arch,
            "stage": "drift",
            "component": "drift",
            "log": "",
            "results": str(spec.results),
        },
    )


def rootfs_tasks(project: Project, target: Target) -> Iterator[Task]:
    """Pack the finished stage3 root, then verify the tarball from scratch."""
    layout = project.layout(target)
    out = project.config.paths.out / target.arch
    packed = rootfs_spec(project, target)
    key = tree_key(project, target, "stage3", epoch=project.config.source_date_epoch)
    stamp = layout.stamp("rootfs", "rootfs", "packed")
    yield subtask(
        "rootfs",
        target.arch,
        doc=f"pack {target.arch}'s stage3 root into a reproducible tarball",
        actions=[
            (actions.unstamp, [stamp]),
            (
                actions.cached,
                [
                    actions.rootfs,
                    packed,
                    key,
                    packed.outputs,
                    *outputs_cache(project),
                    f"rootfs:{target.arch}",
                ],
            ),
            (actions.stamp, [stamp, key]),
        ],
        task_dep=[f"stage3:{target.arch}"],
        targets=[str(p) for p in packed.outputs],
        uptodate=[StampMatches(stamp, key, packed.tarball)],
        verbosity=2,
        meta={"target": target.arch, "stage": "rootfs", "component": "rootfs", "log": ""},
    )
    check = VerifySpec(
        target=target,
        tarball=packed.tarball,
        checksum=packed.checksum,
        workdir=layout.base / "verify",
        forbidden=project.forbidden_strings(),
        results_json=out / "verify.json",
        results_junit=out / "verify.junit.xml",
        log=layout.log("rootfs", "verify"),
        toolchain_checks="rootfs-toolchain" in project.profile.checks,
        package=verify_package(project, target),
    )
    yield subtask(
        "verify",
        target.arch,
        doc=f"unpack {packed.tarball.name} and verify it in a sandboxed chroot",
        actions=[(actions.verify, [check])],
        task_dep=[f"rootfs:{target.arch}"],
        file_dep=[str(packed.tarball), str(packed.checksum)],
        targets=[str(check.results_json), str(check.results_junit)],
        uptodate=[
            config_changed(
                digest(
                    {
                        "program": project.acceptance_digest,
                        "musl-tools": sha256_file(MUSL_TOOLS_CHECKS),
                        "toolchain": check.toolchain_checks,
                        "package": check.package[0] if check.package else None,
                    }
                )
            )
        ],
        verbosity=2,
        meta={
            "target": target.arch,
            "stage": "rootfs",
            "component": "verify",
            "log": str(check.log),
            **NEEDS_ROOT,
        },
    )


def verify_package(project: Project, target: Target) -> tuple[str, SourceTree] | None:
    """The package the rootfs builds and tests with its own tools, and its prepared source."""
    name = project.profile.verify_package
    if not name or "rootfs-toolchain" not in project.profile.checks:
        return None
    spec = next(s for s in project.components(target) if (s.stage, s.name) == ("stage3", name))
    return name, spec.tree
