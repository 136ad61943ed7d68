"""The frozen configuration of one run: where things live, what was selected, and where
sources are fetched from."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BootstrapError
from .options import Selection

# Fixed rather than taken from git: a new commit must not invalidate every build.
DEFAULT_SOURCE_DATE_EPOCH = 1700000000
# host[:port]/repository, the repository as OCI spells it (lowercase, / . _ - inside)
REGISTRY_REPOSITORY = re.compile(r"[\w.-]+(:\d+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+")


@dataclass(frozen=True)
class Paths:
    repo: Path
    build: Path
    downloads: Path
    out: Path

    @classmethod
    def under(cls, repo: Path, environ: Mapping[str, str] = os.environ) -> Paths:
        """The default build dir keeps its outputs in ./out; any other build dir keeps them
        in <build dir>/out, so runs with different build dirs never share outputs."""
        default = repo / "build"
        build = Path(environ.get("SERPENT_BUILD_DIR") or default)
        out = repo / "out" if _same_dir(build, default) else build / "out"
        return cls(repo=repo, build=build, downloads=repo / "downloads", out=out)

    @property
    def sources_file(self) -> Path:
        return self.repo / "sources.yml"

    @property
    def toolchain_dir(self) -> Path:
        return self.repo / "toolchain"

    @property
    def recipe_dir(self) -> Path:
        return self.repo / "stages" / "recipes"

    @property
    def profiles_file(self) -> Path:
        return self.repo / "stages" / "profiles.yml"

    @property
    def patch_dir(self) -> Path:
        return self.repo / "patches"

    @property
    def default_mirror(self) -> Path:
        return self.repo / "mirror"

    @property
    def report_dir(self) -> Path:
        return self.build / "reports"


@dataclass(frozen=True)
class FetchPolicy:
    """Where the fetcher looks for a source file (the download cache, mirror dirs, then its
    URLs unless offline) and how hard it tries."""

    cache_dir: Path
    mirror_dirs: tuple[Path, ...] = ()
    offline: bool = False
    retries: int = 4
    backoff: float = 1.0
    timeout: float = 60.0


@dataclass(frozen=True)
class CachePolicy:
    """The component cache: finished layers by build key in a local dir, optionally backed
    by a repository of an OCI registry. No part of it is an input of any key."""

    local: Path
    remote: str = ""  # host[:port]/repository
    insecure: bool = False  # the registry speaks plain http
    push: bool = False
    run: str = ""  # this run's token: a remote that fails is reported once per run
    max_size: int | None = None  # bytes; least recently used entries go beyond it


@dataclass(frozen=True)
class Config:
    paths: Paths
    selection: Selection
    jobs: int
    builds: int  # components built at the same time
    load: int  # make/ninja start no new job while the load average is above this
    source_date_epoch: int
    mirror_dirs: tuple[Path, ...]
    mirror_override: Path | None  # written by `doit mirror`, applied when present
    explicit_overrides: tuple[Path, ...]  # --sources-override, applied after it
    cache: CachePolicy | None  # None: --cache-dir off

    @classmethod
    def create(cls, repo: Path, selection: Selection) -> Config:
        paths = Paths.under(repo)
        return cls(
            paths=paths,
            selection=selection,
            jobs=selection.jobs or os.cpu_count() or 1,
            builds=selection.builds or os.cpu_count() or 1,
            load=load_limit(os.cpu_count() or 1),
            source_date_epoch=_source_date_epoch(os.environ),
            mirror_dirs=_mirror_dirs(selection, paths),
            mirror_override=_mirror_override(paths),
            explicit_overrides=tuple(
                Path(p).resolve() for p in selection.sources_override.split(":") if p
            ),
            cache=_cache_policy(selection, repo),
        )

    @property
    def sources_overrides(self) -> tuple[Path, ...]:
        mirror = (self.mirror_override,) if self.mirror_override else ()
        return (*mirror, *self.explicit_overrides)

    @property
    def fetch_policy(self) -> FetchPolicy:
        return FetchPolicy(
            cache_dir=self.paths.downloads,
            mirror_dirs=self.mirror_dirs,
            offline=self.selection.offline,
        )


def _same_dir(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def load_limit(cores: int) -> int:
    """The load average above which make/ninja start no new job. A little above the core
    count: exactly at it, a lone LLVM build's ninja -j2 -l2 ran 1.5 jobs on average on 2
    cores as soon as anything else ran (a test, a configure beside it)."""
    return cores + max(1, cores // 4)


def _source_date_epoch(environ: Mapping[str, str]) -> int:
    raw = environ.get("SOURCE_DATE_EPOCH") or str(DEFAULT_SOURCE_DATE_EPOCH)
    if not raw.isdigit():
        raise BootstrapError(
            f"{raw!r} is not a Unix timestamp",
            where="SOURCE_DATE_EPOCH",
            fix="set it to a whole number of seconds since 1970, or unset it",
        )
    return int(raw)


def _mirror_dirs(selection: Selection, paths: Paths) -> tuple[Path, ...]:
    if selection.mirror_dir:
        return tuple(Path(p).resolve() for p in selection.mirror_dir.split(":") if p)
    return (paths.default_mirror,) if paths.default_mirror.is_dir() else ()


def _cache_policy(selection: Selection, repo: Path) -> CachePolicy | None:
    remote = selection.cache_remote
    max_size = _size(selection.cache_max_size, "--cache-max-size (SERPENT_CACHE_MAX_SIZE)")
    if selection.cache_push and not remote:
        raise BootstrapError(
            "there is no registry to push to",
            where="--cache-push (SERPENT_CACHE_PUSH)",
            fix="add --cache-remote HOST/REPOSITORY, or drop --cache-push",
        )
    if selection.cache_dir == "off":
        if remote:
            raise BootstrapError(
                "--cache-remote pulls through the local cache, which --cache-dir turns off",
                where="--cache-dir (SERPENT_CACHE_DIR)",
                fix="drop --cache-dir off, or --cache-remote",
            )
        return None
    bare = remote.removeprefix("http://").removeprefix("https://")
    if remote and not REGISTRY_REPOSITORY.fullmatch(bare):
        raise BootstrapError(
            f"{remote!r} is not a registry repository",
            where="--cache-remote (SERPENT_CACHE_REMOTE)",
            fix="give host[:port]/repository without a tag, e.g. ghcr.io/owner/serpent-layers, "
            "or http://localhost:5000/serpent/layers for a plain-http registry",
        )
    return CachePolicy(
        local=Path(selection.cache_dir).resolve() if selection.cache_dir else repo / "cache",
        remote=bare,
        insecure=remote.startswith("http://"),
        push=selection.cache_push,
        run=f"{os.getpid()}-{time.time_ns()}",
        max_size=max_size,
    )


def _size(raw: str, where: str) -> int | None:
    """`20G`, `500M`, `1T`, `4096` (bytes; `20GB`, `20GiB` and `4096B` too), or None for
    ''."""
    if not raw:
        return None
    found = re.fullmatch(r"(\d+)\s*(?:([KMGT])I?)?B?", raw.strip().upper())
    if not found or int(found.group(1)) == 0:
        raise BootstrapError(
            f"{raw!r} is not a size",
            where=where,
            fix="give a whole number above 0 with an optional unit K, M, G or T, e.g. 20G",
        )
    return int(found.group(1)) * 1024 ** " KMGT".index(found.group(2) or " ")


def _mirror_override(paths: Paths) -> Path | None:
    default = paths.default_mirror / "sources-override.yml"
    return default if default.is_file() else None
