"""Download sources into a content-addressed cache: cache, mirror dirs, then URLs.

A file reaches `<cache>/by-sha256/<sha256>/<file>` only after its sha256 was verified, and
only by an atomic rename. The cache holds its own copy of every file (never a link into a
mirror dir), and a cached file is hashed again before it is used: one whose bytes no longer
match its name is moved to `<cache>/quarantine/` and fetched again. HTTP downloads go to
`<final>.part`, resume with `Range` and retry transient failures with backoff; only attempts
that got no further count toward the limit.

Fallbacks are not silent: when a place failed (an HTTP error, a corrupt mirror file) and a
later one worked, or a fetch waits for another run's lock, `warn` is called with the story.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from tqdm import tqdm

from ..core.errors import FetchError
from ..core.fsutil import sha256_file
from ..model.config import FetchPolicy
from ..model.sources import Source, file_name_problem
from .misses import Mismatch, Miss, Progress, mismatch

if TYPE_CHECKING:
    from .http import Downloader

Warn = Callable[[str], None]
MIRROR_FIX = "run the mirror command (doit mirror) or add a mirror dir (--mirror-dir) holding it"
MISMATCH_FIX = (
    "a sha256 mismatch means the pin, the mirror file or the server is wrong: check the "
    "pinned sha256 against upstream's published checksum, replace or delete a bad mirror "
    "file, or point the source at a server that sends the pinned file"
)
REFETCH_FIX = (
    "run the same command again: the fetch task fetches the file again "
    "(the quarantined copy is kept for inspection; delete it when done)"
)


def print_warning(text: str) -> None:
    tqdm.write(f"warning: {text}", file=sys.stderr)  # tqdm.write keeps progress bars intact


def collecting(into: list[str]) -> Warn:
    """A `warn` that prints each warning and keeps it, for the run report."""

    def warn(text: str) -> None:
        print_warning(text)
        into.append(text)

    return warn


def _plain_file(source: Source) -> str:
    """The source's file name, refused unless it is a plain name (it is joined to the cache
    and mirror dirs)."""
    if problem := file_name_problem(source.file):
        where = f"{source.origin}: source '{source.name}'" if source.origin else source.name
        raise FetchError(f"'file': {problem}", where=where, fix="give 'file' a plain file name")
    return source.file


def cache_path(source: Source, policy: FetchPolicy) -> Path:
    return policy.cache_dir / "by-sha256" / source.sha256 / _plain_file(source)


def is_cached(source: Source, policy: FetchPolicy) -> bool:
    return cache_path(source, policy).is_file()


def _local_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path))


def missing_sources(sources: Iterable[Source], policy: FetchPolicy) -> list[Source]:
    """Sources found neither in the cache, nor in a mirror dir, nor at an existing file://."""

    def present(s: Source) -> bool:
        local = [d / _plain_file(s) for d in policy.mirror_dirs]
        local += [_local_path(u) for u in s.urls if u.startswith("file:")]
        return is_cached(s, policy) or any(p.is_file() for p in local)

    return [s for s in sources if not present(s)]


@contextmanager
def _locked(dest: Path, on_wait: Warn | None = None) -> Iterator[None]:
    """Serialise fetches of one cache file across threads and processes (flock)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    path = dest.with_name(f".{dest.name}.lock")
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait:
                on_wait(f"waiting for another fetch of {dest.name} to finish (it holds {path})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _temp_next_to(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")


def _copy_hashing(src: Path, dest: Path) -> str:
    """Copy `src` to the new file `dest`; return the sha256 of what was copied."""
    digest = hashlib.sha256()
    with src.open("rb") as fin, dest.open("xb") as fout:
        while block := fin.read(1 << 20):
            digest.update(block)
            fout.write(block)
    return digest.hexdigest()


def _install_local(src: Path, dest: Path, sha256: str) -> None:
    """Copy `src` next to `dest`, verify the copy, then rename it into place. Always a copy:
    a hard link would let a later write to `src` change the cached bytes under their name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_next_to(dest)
    try:
        actual = _copy_hashing(src, tmp)
        if actual != sha256:
            raise mismatch(str(src), sha256, actual)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _hash_or_none(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except FileNotFoundError:
        return None


def _quarantine(cached: Path) -> Path:
    """Move a cached file whose bytes no longer match its name out of the cache."""
    sha256, cache_dir = cached.parent.name, cached.parents[2]
    target = cache_dir / "quarantine" / sha256 / cached.name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(cached, target)
    return target


def _own_bytes(cached: Path) -> None:
    """Replace a cache entry that shares its inode (a hard link made by earlier versions)
    with a copy of its own."""
    if cached.stat().st_nlink > 1:
        tmp = _temp_next_to(cached)
        try:
            _copy_hashing(cached, tmp)
            os.replace(tmp, cached)
        finally:
            tmp.unlink(missing_ok=True)


def verify_cached(archive: Path) -> Path:
    """Hash a cached file (`<cache>/by-sha256/<sha256>/<file>`) again right before it is
    used. A file that no longer matches its name is quarantined and FetchError raised: the
    fetch task's target is then missing, so the next run fetches the file again."""
    expected = archive.parent.name
    with _locked(archive):
        actual = _hash_or_none(archive)
        if actual == expected:
            _own_bytes(archive)
            return archive
        if actual is None:
            raise FetchError("not in the download cache", where=str(archive), fix=REFETCH_FIX)
        moved = _quarantine(archive)
    raise FetchError(
        f"the cached file no longer matches its sha256 (expected {expected}, got {actual}); "
        f"moved to {moved}",
        where=str(archive),
        fix=REFETCH_FIX,
    )


class _Attempts:
    """Tries each place in order, remembering why each one failed."""

    def __init__(self, source: Source, policy: FetchPolicy, progress: Progress | None):
        self.source, self.policy, self.progress = source, policy, progress
        self.dest = cache_path(source, policy)
        self.tried: list[str] = []
        self.failed: list[str] = []  # places that had or served something, and it failed
        self.mismatched = False
        self.used = ""  # the place that worked
        self._downloader: Downloader | None = None

    def downloader(self) -> Downloader:
        if self._downloader is None:
            from .http import Downloader  # loads requests only when something is downloaded

            self._downloader = Downloader(self.policy, self.progress)
        return self._downloader

    def close(self) -> None:
        if self._downloader is not None:
            self._downloader.close()

    def local(self, path: Path) -> bool:
        if not path.is_file():
            self.tried.append(f"{path}: not present")
            return False
        return self._try(str(path), lambda: _install_local(path, self.dest, self.source.sha256))

    def url(self, url: str) -> bool:
        scheme = url.partition(":")[0].lower()
        if scheme == "file":
            return self.local(_local_path(url))
        if scheme == "debian":
            self.tried.append(f"{url}: debian: URLs are never downloaded; {MIRROR_FIX}")
            return False
        if scheme not in ("http", "https"):
            self.tried.append(f"{url}: unsupported URL scheme {scheme!r}")
            return False
        if self.policy.offline:
            self.tried.append(f"{url}: not downloaded (offline)")
            return False
        return self._try(url, lambda: self.downloader().fetch(url, self.dest, self.source.sha256))

    def _try(self, place: str, action: Callable[[], None]) -> bool:
        try:
            action()
        except Miss as err:
            self._failed(str(err), isinstance(err, Mismatch))
            return False
        except OSError as err:
            self._failed(f"{place}: {err}")
            return False
        self.used = place
        return True

    def _failed(self, why: str, mismatched: bool = False) -> None:
        self.tried.append(why)
        self.failed.append(why)
        self.mismatched |= mismatched

    def fallback_note(self) -> str | None:
        """After a success: what failed before the place that worked, if anything did."""
        if not self.failed:
            return None
        return f"source '{self.source.name}': {'; '.join(self.failed)}; used {self.used} instead"

    def error(self) -> FetchError:
        s, offline = self.source, self.policy.offline
        head = "offline (no downloads) and not found" if offline else "could not fetch"
        tried = "\n".join(f"    - {line}" for line in self.tried)
        where = f"{s.origin}: source '{s.name}'" if s.origin else f"source '{s.name}'"
        fix = f"{MIRROR_FIX} (sha256 {s.sha256})"
        if self.mismatched:
            fix = f"{MISMATCH_FIX} (pinned in {s.origin or 'sources.yml'})"
        elif not offline:
            fix = f"check the network and the URLs in sources.yml, or {fix}"
        return FetchError(
            f"{head}: {s.file} (version {s.version}); tried:\n{tried}", where=where, fix=fix
        )


def _cached(source: Source, dest: Path) -> bool:
    return dest.is_file() and _hash_or_none(dest) == source.sha256


def fetch_source(
    source: Source,
    policy: FetchPolicy,
    progress: Progress | None = None,
    warn: Warn = print_warning,
) -> Path:
    """Make sure the verified file is in the cache (hashing a cached one again); return its
    path there."""
    attempts = _Attempts(source, policy, progress)
    dest = attempts.dest
    if _cached(source, dest):
        return dest
    with _locked(dest, warn):
        actual = _hash_or_none(dest)
        if actual == source.sha256:
            return dest  # another run fetched it meanwhile
        if actual is not None:
            moved = _quarantine(dest)
            warn(
                f"source '{source.name}': cached {dest} no longer matched its sha256 "
                f"(got {actual}); moved to {moved}, fetching it again"
            )
        attempts.tried.append(f"cache {dest}: not present")
        if _fetch_into_cache(attempts):
            if note := attempts.fallback_note():
                warn(note)
            return dest
    raise attempts.error()


def _fetch_into_cache(attempts: _Attempts) -> bool:
    """Mirror dirs first, then the source's URLs in order."""
    source, policy = attempts.source, attempts.policy
    if not policy.mirror_dirs:
        attempts.tried.append("mirror dirs: none configured")
    try:
        return any(attempts.local(d / source.file) for d in policy.mirror_dirs) or any(
            attempts.url(u) for u in source.urls
        )
    finally:
        attempts.close()


def _bar_progress(bar: tqdm) -> Progress:
    def update(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return update


def _fetch_with_bar(source: Source, policy: FetchPolicy, disable: bool, warn: Warn) -> Path:
    opts = {"unit": "B", "unit_scale": True, "unit_divisor": 1024, "leave": False}
    with tqdm(desc=source.name, disable=disable, file=sys.stderr, **opts) as bar:
        return fetch_source(source, policy, _bar_progress(bar), warn)


def fetch_all(
    sources: Sequence[Source],
    policy: FetchPolicy,
    jobs: int = 4,
    show_progress: bool = True,
    warn: Warn = print_warning,
) -> list[Path]:
    """Fetch in parallel; after all finished, raise one FetchError naming every failure."""
    disable = not show_progress or not sys.stderr.isatty()
    results: dict[int, Path] = {}
    failures: dict[int, Exception] = {}
    overall = tqdm(total=len(sources), desc="sources", unit="file", disable=disable)
    with overall, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            pool.submit(_fetch_with_bar, s, policy, disable, warn): i for i, s in enumerate(sources)
        }
        for future in as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except (FetchError, OSError) as err:
                failures[futures[future]] = err
            overall.update(1)
    if failures:
        raise _combined([(sources[i], failures[i]) for i in sorted(failures)], len(sources))
    return [results[i] for i in range(len(sources))]


def _combined(failures: list[tuple[Source, Exception]], total: int) -> FetchError:
    lines = [f"{len(failures)} of {total} source(s) failed:"]
    for source, err in failures:
        text = err.render() if isinstance(err, FetchError) else f"source '{source.name}': {err}"
        lines.append("  " + text.replace("\n", "\n  "))
    return FetchError(
        "\n".join(lines),
        where="fetch",
        fix="see each source's fix above; sources that succeeded are in the cache",
    )
