"""The doit task graph, built from a loaded Project.

Per source: `fetch:<source>`. Per target x stage x component: `prepare:<arch>/<stage>/<c>`
and `build:<arch>/<stage>/<c>`, which waits for its declared dependencies only (and for the
previous stage's tree and checks). Per target x stage: `union:<arch>/<stage>`, the stage's
tree, which the checks and the next stage use. Per target: `stage1:<arch>` ..., `lock:<arch>`
(the lockfile) and `drift:<arch>` (it against a baseline). Entry tasks (`fetch`,
`stage1`..`stage3`, `rootfs`, `verify`, `lock`, `drift`, `check`, `mirror`) take the run
options and depend only on the selected targets. Sub-tasks are built as Task objects with
`subtask_of` set: yielded as dicts, doit would make each group depend on all of them, i.e. on
every target.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doit.task import Task, dict_to_task
from doit.tools import config_changed

from ..builder.component import UnionSpec
from ..builder.keys import BuildKey, StampMatches, digest
from ..builder.spec import ComponentSpec, SourceTree
from ..checks.accept import AcceptanceSpec
from ..checks.audit import TreeAuditSpec
from ..checks.chrootcheck import CORE_TOOLS, MUSL_TOOLS_CHECKS, CompilerCheckSpec
from ..checks.equivalence import EquivalenceSpec
from ..checks.fixpoint import FixpointSpec
from ..checks.preflight import tasks_needing_root
from ..core.fsutil import sha256_file
from ..fetching.fetch import cache_path
from ..image.drift import DriftSpec
from ..image.lockfile import FORMAT as LOCK_FORMAT
from ..image.lockfile import LOCK_NAME, LockSpec
from ..image.rootfs import RootfsSpec
from ..image.verify import VerifySpec
from ..model.config import CachePolicy
from ..model.layout import SHARED
from ..model.options import doit_params
from ..model.recipes import STAGES
from ..model.targets import Target
from ..plan.project import Project
from . import actions

TaskItem = dict[str, Any] | Task

# In a task's meta: why it needs root. The runtime (`preflight.refusing_reporter`) and
# `doit check` read this one mark, so they agree on what needs root.
NEEDS_ROOT = {"needs_root": "runs in a chroot (mount namespaces, chroot)"}


def subtask(group: str, name: str, **fields: Any) -> Task:
    task = dict_to_task({"name": f"{group}:{name}", **fields})
    task.subtask_of = group
    return task


def entry(basename: str, doc: str, **fields: Any) -> dict[str, Any]:
    """A task users name on the command line: takes the run options, documented in list."""
    fields.setdefault("actions", None)
    return {"basename": basename, "doc": doc, "params": doit_params(), **fields}


def fetch_tasks(project: Project) -> Iterator[TaskItem]:
    policy = project.config.fetch_policy
    for source in project.sources.values():
        yield subtask(
            "fetch",
            source.name,
            doc=f"download and verify {source.name} {source.version}",
            actions=[(actions.fetch_one, [source, policy])],
            targets=[str(cache_path(source, policy))],
            uptodate=[config_changed(source.sha256)],
        )
    selected = project.selected_sources()
    yield entry(
        "fetch",
        "download (in parallel) and verify every source the selection needs",
        actions=[(actions.fetch_selected, [selected, policy, project.config.jobs])],
        verbosity=2,
    )


def component_tasks(project: Project) -> Iterator[TaskItem]:
    """A build per component, after its dependencies; a stage's tree and checks gate
    the next stage."""
    yielded: set[str] = set()  # a shared component's tasks, made for the first target
    for target in project.targets.values():
        specs = project.components(target)
        gate: list[str] = []  # the previous stage's group: its tree and checks
        for stage in STAGES:
            built = [s for s in specs if s.stage == stage]
            labels = {s.name: s.label for s in built}
            for spec in built:
                if spec.label in yielded:
                    continue
                yielded.add(spec.label)
                deps = [f"build:{labels[d]}" for d in spec.recipe["depends"]]
                yield build_task(spec, [*deps, *gate])
            union = union_task(project, target, stage, built)
            yield union
            checks = list(stage_checks(project, target, stage, built, union.name))
            yield from checks
            yield subtask(
                stage,
                target.arch,
                doc=f"{stage} for {target.triplet}",
                actions=None,
                task_dep=[union.name, *(c.name for c in checks)],
            )
            gate = [f"{stage}:{target.arch}"]
        has_rootfs = any(s.stage == "stage3" for s in specs)
        if has_rootfs:
            yield from rootfs_tasks(project, target)
        yield lock_task(project, target, specs, has_rootfs)
        yield drift_task(project, target, specs, has_rootfs)


def union_key(project: Project, target: Target, stage: str) -> BuildKey:
    """The stage tree's key: its layers' digests, in union order."""
    graph = project.graph(stage)
    layout = project.layout(target)
    # which layer wins where two overlap is decided by `replaces` alone (anything else is
    # an error), so the listing order of the profile is no input
    replaces = {n: sorted(r) for n, r in graph.replaces.items() if r}
    return BuildKey(
        digest({"replaces": replaces}),
        tuple((f"{stage}/{n}", layout.stamp(stage, n, "built")) for n in sorted(graph.order)),
    )


def union_task(project: Project, target: Target, stage: str, built: list[ComponentSpec]) -> Task:
    layout = project.layout(target)
    spec = UnionSpec(
        layout=layout,
        stage=stage,
        order=project.graph(stage).order,
        replaces=tuple(project.graph(stage).replaces.items()),
        key=union_key(project, target, stage),
    )
    return subtask(
        "union",
        f"{target.arch}/{stage}",
        doc=f"{target.arch}'s {stage} tree: the union of its layers",
        actions=[(actions.union, [spec])],
        task_dep=[f"build:{s.label}" for s in built],
        targets=[str(layout.union_stamp(stage))],
        uptodate=[StampMatches(layout.union_stamp(stage), spec.key, layout.tree(stage))],
        meta={"target": target.arch, "stage": stage, "component": "union", "log": ""},
    )


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


def tree_key(project: Project, target: Target, stage: str, **check: Any) -> BuildKey:
    """A check's key: its own inputs and the digest of the tree it checks."""
    layout = project.layout(target)
    return BuildKey(digest(check), ((f"{stage} tree", layout.union_stamp(stage)),))


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


def outputs_cache(project: Project) -> tuple[CachePolicy | None, int]:
    """Where checks and the rootfs keep what they made, by what they made it from."""
    return project.config.cache, project.config.source_date_epoch


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


def build_task(spec: ComponentSpec, after: list[str]) -> Task:
    stamp = spec.layout.stamp(spec.stage, spec.name, "built")
    return subtask(
        "build",
        spec.label,
        doc=spec.recipe.get("doc") or f"build {spec.name}",
        actions=[(actions.build, [spec])],
        # its source is fetched first; unpacked and patched only if it really builds
        task_dep=[
            *([f"fetch:{spec.recipe['source']}"] if spec.recipe.get("source") else []),
            *after,
        ],
        targets=[str(stamp)],
        uptodate=[StampMatches(stamp, spec.key, layers=spec.layout.layers(spec.stage, spec.name))],
        meta={
            **component_meta(spec, ""),
            **(NEEDS_ROOT if spec.in_chroot else {}),
            **({"note": spec.note} if spec.note else {}),
        },
    )


def component_meta(spec: ComponentSpec, kind: str) -> dict[str, str]:
    """What the reporter shows for this task: where it belongs and where its log is."""
    return {
        "target": SHARED if spec.shared else spec.target.arch,
        "stage": spec.stage,
        "component": spec.name,
        "log": str(spec.layout.log(spec.stage, spec.name, kind)),
    }


def entry_tasks(project: Project, root_tasks: list[str]) -> Iterator[TaskItem]:
    """`root_tasks`: the selected targets' tasks that need root (for `check`)."""
    arches = [t.arch for t in project.selected_targets]
    profile = project.profile.name
    checked = "stage1-acceptance" in project.profile.checks
    yield entry(
        "accept",
        "stage1 acceptance: compile and run C/C++ programs with the cross toolchain",
        task_dep=[f"accept:{a}/stage1" for a in arches if checked],
    )
    has_rootfs = bool(project.profile.components("stage3"))
    # with a baseline, a run that verifies the tarball also reports its drift
    drift = [f"drift:{a}" for a in arches] if project.config.selection.baseline else []
    # a selection that cannot end in a rootfs says so and fails, never "nothing to do"
    no_rootfs = {} if has_rootfs else {"actions": [(actions.no_rootfs, [profile])]}
    for stage in STAGES:
        final = stage == "stage3"  # the main job ends in a verified tarball
        yield entry(
            stage,
            f"build {stage} for the selected target(s) [profile {profile}]"
            + (", pack and verify the rootfs" if final else ""),
            task_dep=(
                [t for a in arches for t in (f"verify:{a}", f"lock:{a}")] + drift
                if final and has_rootfs
                else [f"{stage}:{a}" for a in arches]
            ),
            **(no_rootfs if final else {}),
        )
    yield entry(
        "rootfs",
        "pack the stage3 root into a reproducible tarball (out/<arch>/), with its lockfile",
        task_dep=[t for a in arches if has_rootfs for t in (f"rootfs:{a}", f"lock:{a}")],
        **no_rootfs,
    )
    yield entry(
        "verify",
        "unpack the rootfs tarball and verify it in a sandboxed chroot (JSON + JUnit)",
        task_dep=[*(f"verify:{a}" for a in arches if has_rootfs), *(drift if has_rootfs else [])],
        **no_rootfs,
    )
    yield entry(
        "lock",
        "write out/<arch>/bootstrap.lock: each component's key, layer digest and inputs, each "
        "stage's digest, the rootfs sha256 (building what is missing)",
        task_dep=[f"lock:{a}" for a in arches],
    )
    yield entry(
        "drift",
        "compare out/<arch>/bootstrap.lock with --baseline's: unchanged, rebuilt (why), or "
        "same key with different bytes (fails)",
        task_dep=[f"drift:{a}" for a in arches],
    )
    yield entry(
        "check",
        "preflight: host tools, privileges and emulation for the selection",
        actions=[
            (
                actions.preflight,
                [
                    project.config,
                    arches,
                    project.mode,
                    project.llvm_version.split(".")[0],
                    root_tasks,
                ],
            )
        ],
        verbosity=2,
        uptodate=[False],
    )
    yield entry(
        "mirror",
        "fill ./mirror from Debian source packages (for machines without internet)",
        actions=[(actions.mirror, [project.config, [s.name for s in project.selected_sources()]])],
        verbosity=2,
    )


def all_tasks(project: Project) -> Iterator[TaskItem]:
    graph = [*fetch_tasks(project), *component_tasks(project)]
    arches = {t.arch for t in project.selected_targets}
    selected = [t for t in graph if isinstance(t, Task) and (t.meta or {}).get("target") in arches]
    yield from graph
    yield from entry_tasks(project, tasks_needing_root(selected))
