"""The checks of a finished stage, each a task: stage1 acceptance, stage2's audit and chroot
check, stage3's fixpoint and its equivalence checks (a sample built again another way)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doit.task import Task

from ..builder.keys import BuildKey, StampMatches
from ..builder.spec import ComponentSpec
from ..checks.accept import AcceptanceSpec
from ..checks.audit import TreeAuditSpec
from ..checks.chrootcheck import CORE_TOOLS, CompilerCheckSpec
from ..checks.equivalence import EquivalenceSpec
from ..checks.fixpoint import FixpointSpec
from ..model.targets import Target
from ..plan.project import Project
from . import actions
from .taskbase import NEEDS_ROOT, outputs_cache, subtask, tree_key


def stage_checks(
    project: Project, target: Target, stage: str, built: list[ComponentSpec], union: str
) -> Iterator[Task]:
    checks = project.profile.checks
    if stage == "stage1" and "stage1-acceptance" in checks:
        yield acceptance_task(project, target, union)
    if stage == "stage2" and "stage2-audit" in checks and built:
        yield tree_audit_task(project, target, stage, union)
    if stage == "stage2" and "stage2-chroot" in checks and built:
        yield compiler_check_task(project, target, stage, union)
    fixed = tuple(s for s in built if s.recipe.get("fixpoint"))
    if stage == "stage3" and "stage3-fixpoint" in checks and fixed:
        yield fixpoint_task(project, target, fixed, union)
    sample = tuple(s for s in built if s.name in project.profile.equivalence)
    native = tuple(s for s in sample if s.native_llvm)  # only those have something to compare
    for name, which in (("stage3-equivalence", native), ("stage3-compiler-equivalence", sample)):
        if stage == "stage3" and name in checks and which:
            yield twin_check_task(project, target, TWIN_CHECKS[name], which, union)


def fixpoint_task(
    project: Project, target: Target, fixed: tuple[ComponentSpec, ...], union: str
) -> Task:
    """Rebuild each `fixpoint` component with its own stage3 output; compare the bytes."""
    layout = project.layout(target)
    spec = FixpointSpec(
        components=fixed,
        results=layout.base / "reports" / "stage3-fixpoint.json",
        key=tree_key(
            project,
            target,
            "stage3",
            fixpoint=[{"plan": s.plan, "check": s.recipe["fixpoint"]} for s in fixed],
        ),
    )
    doc = f"rebuild {', '.join(s.name for s in fixed)} with itself; byte-identical?"
    log = layout.log("stage3", f"{fixed[0].name}-fixpoint")
    return check_task(
        project,
        "fixpoint",
        target,
        "stage3",
        doc,
        actions.fixpoint,
        spec,
        union,
        log,
        needs_root=any(s.in_chroot for s in fixed),
    )


@dataclass(frozen=True)
class TwinCheck:
    """A check that builds a sample again another way that must give the same bytes."""

    kind: str  # the task's name
    twin: Callable[[Project, ComponentSpec], ComponentSpec]  # makes a component's twin
    way: str  # how the twin builds, for the task's doc
    compared: str  # for the failure message


TWIN_CHECKS = {
    "stage3-equivalence": TwinCheck(
        "equivalence",
        Project.emulated_twin,
        "with the emulated compiler (the same bytes as with the build machine's LLVM?)",
        EquivalenceSpec.compared,
    ),
    "stage3-compiler-equivalence": TwinCheck(
        "compiler-equivalence",
        Project.compiler_twin,
        "with the other clang (stage2's for stage3's and back; byte-identical?)",
        "the stage's two clangs (/serpent's and stage3's own)",
    ),
}


def twin_check_task(
    project: Project,
    target: Target,
    check: TwinCheck,
    sample: tuple[ComponentSpec, ...],
    union: str,
) -> Task:
    layout = project.layout(target)
    kind = check.kind
    twins = tuple(check.twin(project, s) for s in sample)
    key = tree_key(project, target, "stage3", **{kind: [(t.plan, t.closure) for t in twins]})
    spec = EquivalenceSpec(
        pairs=tuple(zip(sample, twins, strict=True)),
        results=layout.base / "reports" / f"stage3-{kind}.json",
        # the twins also run what stage2 holds (at /serpent)
        key=BuildKey(key.plan, (*key.inputs, ("stage2 tree", layout.union_stamp("stage2")))),
        compared=check.compared,
    )
    doc = f"build {', '.join(s.name for s in sample)} again {check.way}"
    log = layout.log("stage3", kind)
    return check_task(
        project, kind, target, "stage3", doc, actions.equivalence, spec, union, log, True
    )


def check_task(
    project: Project,
    kind: str,
    target: Target,
    stage: str,
    doc: str,
    run: Any,
    spec: Any,
    after: str,
    log: Path,
    needs_root: bool = False,
) -> Task:
    """A check over a finished stage: results file as target, re-run when its key (the
    checked tree's digest and the check's own inputs) changes."""
    stamp = spec.results.with_name(f"{spec.results.name}.key")
    name = f"{kind}:{target.arch}/{stage}"
    return subtask(
        kind,
        f"{target.arch}/{stage}",
        doc=doc,
        actions=[
            (actions.unstamp, [stamp]),
            (actions.cached, [run, spec, spec.key, [spec.results], *outputs_cache(project), name]),
            (actions.stamp, [stamp, spec.key]),
        ],
        task_dep=[after],
        targets=[str(spec.results)],
        uptodate=[StampMatches(stamp, spec.key, spec.results)],
        meta={
            "target": target.arch,
            "stage": stage,
            "component": kind,
            "log": str(log),
            "results": str(spec.results),
            **(NEEDS_ROOT if needs_root else {}),
        },
    )


def compiler_check_task(project: Project, target: Target, stage: str, union: str) -> Task:
    """The root's shell, core tools and cc, run inside a chroot of the root."""
    layout = project.layout(target)
    spec = CompilerCheckSpec(
        target=target,
        root=layout.stage_root(stage),
        forbidden=project.forbidden_strings(),
        results=layout.base / "reports" / f"{stage}-chroot.json",
        log=layout.log(stage, "chroot-check"),
        key=tree_key(
            project,
            target,
            stage,
            program=project.acceptance_digest,
            tools=CORE_TOOLS,
            forbidden=project.forbidden_strings().digest_input(),
        ),
    )
    doc = f"run the shell, core tools and the cc inside {target.arch}'s {stage}"
    return check_task(
        project,
        "check",
        target,
        stage,
        doc,
        actions.compiler_check,
        spec,
        union,
        spec.log,
        needs_root=True,
    )


def tree_audit_task(project: Project, target: Target, stage: str, union: str) -> Task:
    """Every file of the stage's tree: target ELF, musl loader, no host/build paths."""
    layout = project.layout(target)
    spec = TreeAuditSpec(
        target=target,
        root=layout.stage_root(stage),
        forbidden=project.forbidden_strings(),
        results=layout.base / "reports" / f"{stage}-audit.json",
        key=tree_key(project, target, stage, forbidden=project.forbidden_strings().digest_input()),
    )
    doc = f"audit every file of {target.arch}'s {stage} tree"
    return check_task(
        project, "audit", target, stage, doc, actions.audit, spec, union, spec.results
    )


def acceptance_task(project: Project, target: Target, union: str) -> Task:
    """Compile and run C/C++ test programs with the finished stage1 toolchain."""
    spec = AcceptanceSpec(
        target=target,
        layout=project.layout(target),
        forbidden=project.forbidden_strings(),
        source_date_epoch=project.config.source_date_epoch,
        key=tree_key(
            project,
            target,
            "stage1",
            programs=project.acceptance_digest,
            forbidden=project.forbidden_strings().digest_input(),
        ),
    )
    return check_task(
        project,
        "accept",
        target,
        "stage1",
        f"stage1 acceptance check for {target.triplet}",
        actions.accept,
        spec,
        union,
        spec.layout.log("stage1", "acceptance"),
    )
