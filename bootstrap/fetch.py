"""Download sources into a content-addressed cache: cache, mirror dirs, then URLs.

A file reaches `<cache>/by-sha256/<sha256>/<file>` only after its sha256 was verified, and
only by an atomic rename, so a file under its final name is always good. HTTP downloads go
to `<final>.part`, resume with `Range` and retry transient failures with backoff.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from tqdm import tqdm

from .errors import FetchError
from .sources import Source

Progress = Callable[[int, int | None], None]
USER_AGENT = "serpent-bootstrap/0.1"
CHUNK = 1 << 16
TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,  # body cut short of Content-Length, read timeout
)
MIRROR_FIX = "run the mirror command (doit mirror) or add a mirror dir (--mirror-dir) holding it"


@dataclass(frozen=True)
class FetchPolicy:
    cache_dir: Path
    mirror_dirs: tuple[Path, ...] = ()
    offline: bool = False
    retries: int = 4
    backoff: float = 1.0
    timeout: float = 60.0


class _Miss(Exception):
    """One place (cache, mirror dir, URL) did not yield the file; the message says why."""


class _Transient(Exception):
    """A failure worth retrying (connection, timeout, truncated body, 5xx/429)."""


def cache_path(source: Source, policy: FetchPolicy) -> Path:
    return policy.cache_dir / "by-sha256" / source.sha256 / source.file


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def is_cached(source: Source, policy: FetchPolicy) -> bool:
    return cache_path(source, policy).is_file()


def _local_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path))


def missing_sources(sources: Iterable[Source], policy: FetchPolicy) -> list[Source]:
    """Sources found neither in the cache, nor in a mirror dir, nor at an existing file://."""

    def present(s: Source) -> bool:
        local = [d / s.file for d in policy.mirror_dirs]
        local += [_local_path(u) for u in s.urls if u.startswith("file:")]
        return is_cached(s, policy) or any(p.is_file() for p in local)

    return [s for s in sources if not present(s)]


@contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """Serialise fetches of one cache file across threads and processes (flock)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.with_name(f".{dest.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _mismatch(where: str, expected: str, actual: str) -> _Miss:
    return _Miss(
        f"sha256 mismatch for {where}: expected {expected}, got {actual}; the upstream file "
        "changed or the mirror is corrupt; check the sha256 in sources.yml / the override file"
    )


def _install_local(src: Path, dest: Path, sha256: str) -> None:
    """Hardlink (or copy) `src` next to `dest`, verify it, then rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        actual = sha256_file(tmp)
        if actual != sha256:
            raise _mismatch(str(src), sha256, actual)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _total(resp: requests.Response, offset: int) -> int | None:
    """The full file size, from Content-Range (206) or offset + Content-Length."""
    size = resp.headers.get("Content-Range", "").rpartition("/")[2]
    if resp.status_code == 206 and size.isdigit():
        return int(size)
    length = resp.headers.get("Content-Length", "")
    return offset + int(length) if length.isdigit() else None


def _resume_offset(resp: requests.Response) -> int | None:
    """The first byte a 206 answer carries (from `Content-Range: bytes N-M/T`)."""
    spec = resp.headers.get("Content-Range", "").removeprefix("bytes ").partition("-")[0]
    return int(spec) if spec.strip().isdigit() else None


def _check_status(resp: requests.Response, url: str) -> None:
    code = resp.status_code
    if code >= 500 or code == 429:
        raise _Transient(f"HTTP {code} {resp.reason}")
    if code not in (200, 206):  # 403/404/410 and other 4xx: next URL, no retry
        raise _Miss(f"{url}: HTTP {code} {resp.reason}")


def _chunks(resp: requests.Response) -> Iterator[bytes]:
    """The raw body as it arrives. read1 hands out every byte received before a cut
    (read() would drop a partly filled chunk), so a resume starts exactly where it broke."""
    read = getattr(resp.raw, "read1", None) or resp.raw.read
    while chunk := read(CHUNK, decode_content=False):
        yield chunk


def _get_once(
    session: requests.Session, url: str, part: Path, timeout: float, progress: Progress | None
) -> None:
    """One GET into `part`, resuming it; raises _Transient when the body came in short."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with session.get(url, headers=headers, stream=True, timeout=timeout) as resp:
        if resp.status_code == 416 and offset:
            part.unlink()
            raise _Transient("HTTP 416 for the resume range; restarting from zero")
        _check_status(resp, url)
        if resp.status_code == 200:
            offset = 0  # the server ignored the range: start over
        elif _resume_offset(resp) != offset:
            part.unlink(missing_ok=True)
            raise _Transient(f"the server resumed at the wrong offset (wanted {offset})")
        total = _total(resp, offset)
        done = offset
        with part.open("ab" if offset else "wb") as out:
            for chunk in _chunks(resp):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    if total is not None and done < total:
        raise _Transient(f"connection cut after {done} of {total} bytes")


def _get_with_retries(
    session: requests.Session, url: str, part: Path, policy: FetchPolicy, progress: Progress | None
) -> None:
    delay, last = policy.backoff, ""
    for attempt in range(1, max(1, policy.retries) + 1):
        try:
            _get_once(session, url, part, policy.timeout, progress)
            return
        except requests.exceptions.SSLError as err:
            raise _Miss(f"{url}: TLS error: {err}") from None
        except (_Transient, *TRANSIENT) as err:
            last = str(err)
        except requests.RequestException as err:
            raise _Miss(f"{url}: {err}") from None
        if attempt < policy.retries:
            time.sleep(delay)
            delay *= 2
    raise _Miss(f"{url}: gave up after {policy.retries} attempt(s): {last}")


def _from_http(
    session: requests.Session,
    url: str,
    dest: Path,
    sha256: str,
    policy: FetchPolicy,
    progress: Progress | None,
) -> None:
    part = dest.with_name(dest.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    inherited = part.exists()  # a .part from an earlier run or another URL
    while True:
        _get_with_retries(session, url, part, policy, progress)
        actual = sha256_file(part)
        if actual == sha256:
            os.replace(part, dest)
            return
        part.unlink()
        if not inherited:
            raise _mismatch(url, sha256, actual)
        inherited = False  # the old prefix may be the culprit: one fresh download


class _Attempts:
    """Tries each place in order, remembering why each one failed."""

    def __init__(self, source: Source, policy: FetchPolicy, progress: Progress | None):
        self.source, self.policy, self.progress = source, policy, progress
        self.dest = cache_path(source, policy)
        self.tried: list[str] = []
        self._session: requests.Session | None = None

    def session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
            self._session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

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
        sha = self.source.sha256
        return self._try(
            url, lambda: _from_http(self.session(), url, self.dest, sha, self.policy, self.progress)
        )

    def _try(self, place: str, action: Callable[[], None]) -> bool:
        try:
            action()
        except _Miss as err:
            self.tried.append(str(err))
            return False
        except OSError as err:
            self.tried.append(f"{place}: {err}")
            return False
        return True

    def error(self) -> FetchError:
        s, offline = self.source, self.policy.offline
        head = "offline (no downloads) and not found" if offline else "could not fetch"
        tried = "\n".join(f"    - {line}" for line in self.tried)
        where = f"{s.origin}: source '{s.name}'" if s.origin else f"source '{s.name}'"
        fix = f"{MIRROR_FIX} (sha256 {s.sha256})"
        if not offline:
            fix = f"check the network and the URLs in sources.yml, or {fix}"
        return FetchError(
            f"{head}: {s.file} (version {s.version}); tried:\n{tried}", where=where, fix=fix
        )


def fetch_source(source: Source, policy: FetchPolicy, progress: Progress | None = None) -> Path:
    """Make sure the verified file is in the cache; return its path there."""
    attempts = _Attempts(source, policy, progress)
    dest = attempts.dest
    if dest.is_file():
        return dest
    with _locked(dest):
        if dest.is_file():
            return dest
        attempts.tried.append(f"cache {dest}: not present")
        if not policy.mirror_dirs:
            attempts.tried.append("mirror dirs: none configured")
        try:
            if any(attempts.local(d / source.file) for d in policy.mirror_dirs):
                return dest
            if any(attempts.url(u) for u in source.urls):
                return dest
        finally:
            attempts.close()
    raise attempts.error()


def _bar_progress(bar: tqdm) -> Progress:
    def update(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return update


def _fetch_with_bar(source: Source, policy: FetchPolicy, disable: bool) -> Path:
    opts = {"unit": "B", "unit_scale": True, "unit_divisor": 1024, "leave": False}
    with tqdm(desc=source.name, disable=disable, file=sys.stderr, **opts) as bar:
        return fetch_source(source, policy, _bar_progress(bar))


def fetch_all(
    sources: Sequence[Source], policy: FetchPolicy, jobs: int = 4, show_progress: bool = True
) -> list[Path]:
    """Fetch in parallel; after all finished, raise one FetchError naming every failure."""
    disable = not show_progress or not sys.stderr.isatty()
    results: dict[int, Path] = {}
    failures: dict[int, Exception] = {}
    overall = tqdm(total=len(sources), desc="sources", unit="file", disable=disable)
    with overall, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            pool.submit(_fetch_with_bar, s, policy, disable): i for i, s in enumerate(sources)
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
