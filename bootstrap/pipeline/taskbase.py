"""What every task of the graph is made with: sub-tasks of a group, the entry tasks users
name, and the keys and cache that checks and the rootfs share."""

from __future__ import annotations

from typing import Any

from doit.task import Task, dict_to_task

from ..builder.keys import BuildKey, digest
from ..model.config import CachePolicy
from ..model.options import doit_params
from ..model.targets import Target
from ..plan.project import Project

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


def tree_key(project: Project, target: Target, stage: str, **check: Any) -> BuildKey:
    """A check's key: its own inputs and the digest of the tree it checks."""
    layout = project.layout(target)
    return BuildKey(digest(check), ((f"{stage} tree", layout.union_stamp(stage)),))


def outputs_cache(project: Project) -> tuple[CachePolicy | None, int]:
    """Where checks and the rootfs keep what they made, by what they made it from."""
    return project.config.cache, project.config.source_date_epoch
