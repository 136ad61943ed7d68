"""doit action functions. Module-level so doit can pickle them for `-n N` worker processes.

Each turns a user-fixable BootstrapError into a TaskFailed carrying the readable message,
instead of a Python traceback. A dict an action returns becomes the task's doit values:
`{"warnings": [...]}` goes into the run report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, wraps
from pathlib import Path
from typing import Any

from doit.exceptions import TaskFailed

from ..builder.cache import cached_files
from ..builder.component import (
    UnionSpec,
    assemble_union,
    build_component,
)
from ..builder.keys import BuildKey, current_key, digest, write_stamp
from ..builder.spec import ComponentSpec
from ..checks.accept import AcceptanceSpec, run_acceptance
from ..checks.audit import TreeAuditSpec, audit_tree
from ..checks.chrootcheck import CompilerCheckSpec, run_compiler_check
from ..checks.equivalence import EquivalenceSpec, run_equivalence
from ..checks.fixpoint import FixpointSpec, run_fixpoint
from ..core.errors import BootstrapError, FetchError
from ..core.fsutil import sha256_file
from ..exec import runner
from ..fetching.fetch import collecting, fetch_all, fetch_source
from ..image.drift import DriftSpec, run_drift
from ..image.lockfile import LockSpec, write_lockfile
from ..image.rootfs import RootfsSpec, pack_stage_root
from ..image.verify import VerifySpec, run_verify
from ..model.config import CachePolicy, Config, FetchPolicy
from ..model.sources import Source, load_sources


def reported(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any) -> TaskFailed | dict[str, Any] | None:
        runner.set_up_worker()
        try:
            return func(*args)
        except BootstrapError as err:
            return TaskFailed(err.render())

    return wrapper


def _warnings(found: list[str]) -> dict[str, Any] | None:
    return {"warnings": found} if found else None


@reported
def fetch_one(source: Source, policy: FetchPolicy) -> dict[str, Any] | None:
    found: list[str] = []
    fetch_source(source, policy, warn=collecting(found))
    return _warnings(found)


@reported
def fetch_selected(
    sources: Sequence[Source], policy: FetchPolicy, jobs: int
) -> dict[str, Any] | None:
    found: list[str] = []
    fetch_all(sources, policy, jobs=max(2, min(jobs, 6)), warn=collecting(found))
    print(f"{len(sources)} source(s) present and verified in {policy.cache_dir}")
    return _warnings(found)


@reported
def build(spec: ComponentSpec) -> dict[str, Any] | None:
    found: list[str] = []
    build_component(spec, warn=collecting(found))
    return _warnings(found)


@reported
def accept(spec: AcceptanceSpec) -> None:
    run_acceptance(spec)


@reported
def audit(spec: TreeAuditSpec) -> None:
    audit_tree(spec)


@reported
def compiler_check(spec: CompilerCheckSpec) -> None:
    run_compiler_check(spec)


@reported
def fixpoint(spec: FixpointSpec) -> None:
    run_fixpoint(spec)


@reported
def no_rootfs(profile: str) -> None:
    raise BootstrapError(
        f"profile '{profile}' builds no stage3, so there is no rootfs to pack or verify",
        where="stages/profiles.yml",
        fix="use a profile whose stage3 lists components (full, smoke), or run `doit stage2`",
    )


@reported
def equivalence(spec: EquivalenceSpec) -> None:
    run_equivalence(spec)


@reported
def rootfs(spec: RootfsSpec) -> None:
    pack_stage_root(spec)


@reported
def lock(spec: LockSpec) -> None:
    written = write_lockfile(spec)
    rootfs = f", rootfs sha256 {written.rootfs.sha256}" if written.rootfs else ""
    print(f"{spec.lockfile}: {len(written.components)} components{rootfs}")


@reported
def drift(spec: DriftSpec) -> None:
    run_drift(spec)


@reported
def union(spec: UnionSpec) -> None:
    assemble_union(spec)


@cache
def checks_code() -> str:
    """The code and data of the checks and the image: what made a cached result."""
    repo = Path(__file__).resolve().parents[2]
    files = sorted(
        [
            *(repo / "bootstrap" / "checks").glob("*.py"),
            *(repo / "bootstrap" / "image").glob("*.py"),
            *(repo / "toolchain" / "acceptance").iterdir(),
            *(repo / "src" / "musl-tools" / "tests").iterdir(),
        ]
    )
    return digest({str(f.relative_to(repo)): sha256_file(f) for f in files if f.is_file()})


@reported
def cached(
    run: Callable[[Any], Any],
    spec: Any,
    key: BuildKey,
    files: Sequence[Path],
    policy: CachePolicy | None,
    epoch: int,
    label: str,
) -> TaskFailed | dict[str, Any] | None:
    """`run(spec)` (an action), unless the component cache holds the `files` it made from
    the same inputs (`key`: a check's tree, the rootfs's stage3 tree); what it makes is
    kept there. Only outputs of a run that succeeded are kept."""
    entry = digest(
        {
            "outputs": [label.split(":")[0], *(p.name for p in files)],
            "key": current_key(key, label),
            "code": checks_code(),  # a changed check must not pass from the cache
        }
    )
    failed: list[TaskFailed] = []

    def produce() -> bool:
        result = run(spec)
        if isinstance(result, TaskFailed):
            failed.append(result)
        return not failed

    found: list[str] = []
    if cached_files(policy, entry, label, files, produce, epoch, collecting(found)):
        print(f"{label}: {', '.join(map(str, files))} restored from the component cache")
    return failed[0] if failed else _warnings(found)


@reported
def unstamp(path: Path) -> None:
    """A check or output is redone: its stamp goes first."""
    path.unlink(missing_ok=True)


@reported
def stamp(path: Path, key: BuildKey) -> None:
    """Record what a finished check or output was made from (its last action)."""
    value = current_key(key, str(path))
    write_stamp(path, value, value)


@reported
def verify(spec: VerifySpec) -> None:
    run_verify(spec)


@reported
def preflight(
    config: Config, arches: list[str], mode: str, llvm_major: str, root_tasks: list[str]
) -> None:
    from ..checks.preflight import run_preflight

    run_preflight(config, arches, mode, llvm_major, root_tasks)


@reported
def mirror(config: Config, names: list[str]) -> None:
    """Fill ./mirror for the selected sources. Reads sources.yml with only the explicit
    overrides: the mirror's own override file is its output, not its input."""
    from ..fetching.debmirror import enable_deb_src, fill_mirror

    sources = load_sources(config.paths.sources_file, config.explicit_overrides)
    enable_deb_src()
    mirror_dir = config.paths.default_mirror
    report = fill_mirror(
        [sources[n] for n in names], mirror_dir, mirror_dir / "sources-override.yml"
    )
    print(report.summary())
    failed = [f"{name}: {detail}" for name, status, detail in report.rows if status == "error"]
    if failed:
        raise FetchError(
            "could not mirror:\n  " + "\n  ".join(failed),
            fix="see docs/sources.md; an override file can point a source at "
            "another tarball (e.g. overrides/debian12-llvm19.yml)",
        )
