"""HTTP downloads into the fetch cache: a GET that resumes with `Range` after a cut,
transient failures retried with backoff, the file hashed before it is renamed into place.

Apart from fetch.py because requests takes ~70 ms to import, and a run that finds every
source in the cache (every no-op run) never downloads.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import requests
import urllib3

from ..core.fsutil import sha256_file
from ..model.config import FetchPolicy
from .misses import Miss, Progress, mismatch

USER_AGENT = "serpent-bootstrap/0.1"
CHUNK = 1 << 16
TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,  # body cut short of Content-Length, read timeout
)


class _Transient(Exception):
    """A failure worth retrying (connection, timeout, truncated body, 5xx/429)."""


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
        raise Miss(f"{url}: HTTP {code} {resp.reason}")


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


def _unresolved(err: BaseException) -> bool:
    """Whether `err` comes from a failed host name lookup (retrying it only costs time)."""
    seen: BaseException | None = err
    for _ in range(10):  # a chain is short; a bound guards against a cycle
        if seen is None:
            break
        if isinstance(seen, (urllib3.exceptions.NameResolutionError, socket.gaierror)):
            return True
        reason = getattr(seen, "reason", None)  # urllib3's MaxRetryError keeps its cause here
        seen = reason if isinstance(reason, BaseException) else seen.__cause__ or seen.__context__
    return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _get_with_retries(
    session: requests.Session, url: str, part: Path, policy: FetchPolicy, progress: Progress | None
) -> None:
    """GET `url` into `part`, resuming after cuts. Only attempts that got no further than
    the best so far count toward `policy.retries`: a link that drops every few MB still
    finishes a large file, a dead server does not get retried forever."""
    limit, stalled, best = max(1, policy.retries), 0, _size(part)
    delay, last = policy.backoff, ""
    while True:
        try:
            _get_once(session, url, part, policy.timeout, progress)
            return
        except requests.exceptions.SSLError as err:
            raise Miss(f"{url}: TLS error: {err}") from None
        except (_Transient, *TRANSIENT) as err:
            if _unresolved(err):
                raise Miss(f"{url}: cannot resolve the host name: {err}") from None
            last = str(err)
        except requests.RequestException as err:
            raise Miss(f"{url}: {err}") from None
        if _size(part) > best:
            best, stalled, delay = _size(part), 0, policy.backoff
        else:
            stalled += 1
            if stalled >= limit:
                raise Miss(f"{url}: gave up after {stalled} attempt(s) without progress: {last}")
        time.sleep(delay)
        delay *= 2


class Downloader:
    """One HTTP session for the URLs of one source."""

    def __init__(self, policy: FetchPolicy, progress: Progress | None):
        self.policy, self.progress = policy, progress
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})

    def close(self) -> None:
        self.session.close()

    def fetch(self, url: str, dest: Path, sha256: str) -> None:
        """Download `url` to `dest` if its bytes hash to `sha256`; raise Miss otherwise."""
        part = dest.with_name(dest.name + ".part")
        part.parent.mkdir(parents=True, exist_ok=True)
        inherited = part.exists()  # a .part from an earlier run or another URL
        while True:
            _get_with_retries(self.session, url, part, self.policy, self.progress)
            actual = sha256_file(part)
            if actual == sha256:
                os.replace(part, dest)
                return
            part.unlink()
            if not inherited:
                raise mismatch(url, sha256, actual)
            inherited = False  # the old prefix may be the culprit: one fresh download
