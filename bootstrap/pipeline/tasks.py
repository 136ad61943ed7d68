"""The doit task graph, built from a loaded Project.

Per source: `fetch:<source>`. Per target x stage x component: `build:<arch>/<stage>/<c>`,
which waits for its declared dependencies only (and for the previous stage's tree and
checks). Per target x stage: `union:<arch>/<stage>`, the stage's tree, which the checks
(`check_tasks`) and the next stage use. Per target: `stage1:<arch>` ..., then the rootfs,
verify, lockfile and drift tasks (`image_tasks`). Entry tasks (`fetch`, `stage1`..`stage3`,
`rootfs`, `verify`, `lock`, `drift`, `check`, `mirror`) take the run options and depend only
on the selected targets. Sub-tasks are built as Task objects with `subtask_of` set: yielded
as dicts, doit would make each group depend on all of them, i.e. on every target.
"""

from __future__ import annotations

from collections.abc import Iterator

from doit.task import Task
from doit.tools import config_changed

from ..builder.component import UnionSpec
from ..builder.keys import BuildKey, StampMatches, digest
from ..builder.spec import ComponentSpec
from ..checks.preflight import tasks_needing_root
from ..fetching.fetch import cache_path
from ..model.layout import SHARED
from ..model.recipes import STAGES
from ..model.targets import Target
from ..plan.project import Project
from . import actions
from .check_tasks import stage_checks
from .image_tasks import drift_task, lock_task, rootfs_tasks
from .taskbase import NEEDS_ROOT, TaskItem, entry, subtask


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
