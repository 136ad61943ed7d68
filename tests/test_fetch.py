"""bootstrap.fetch against a real loopback HTTP server (no mocks of requests)."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bootstrap.errors import FetchError
from bootstrap.fetch import (
    FetchPolicy,
    cache_path,
    fetch_all,
    fetch_source,
    is_cached,
    missing_sources,
    sha256_file,
)
from bootstrap.sources import Source

DATA = bytes(range(256)) * 800  # 200 KiB, larger than one download chunk


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Route:
    data: bytes = b""
    statuses: list[int] = field(default_factory=list)  # answered (in order) before serving
    cut_after: int | None = None  # first request only: send this many bytes, then hang up
    ranges: bool = True  # honour Range headers


class Handler(BaseHTTPRequestHandler):
    server: LoopServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server
        with state.lock:
            state.hits[self.path].append(self.headers.get("Range"))
            first = len(state.hits[self.path]) == 1
            route = state.routes.get(self.path)
            status = route.statuses.pop(0) if route and route.statuses else None
        if route is None or status is not None:
            self.send_error(status or 404)
            return
        self.serve(route, first)

    def serve(self, route: Route, first: bool) -> None:
        data, start = route.data, 0
        wanted = self.headers.get("Range", "")
        if route.ranges and wanted.startswith("bytes=") and wanted.endswith("-"):
            start = int(wanted[6:-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if first and route.cut_after is not None:
            self.wfile.write(body[: route.cut_after])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


class LoopServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.routes: dict[str, Route] = {}
        self.hits: defaultdict[str, list[str | None]] = defaultdict(list)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the cut connection makes the handler's final flush fail: expected

    def add(self, path: str, data: bytes = DATA, **kw: object) -> str:
        self.routes[path] = Route(data=data, **kw)  # type: ignore[arg-type]
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def total_hits(self) -> int:
        return sum(len(v) for v in self.hits.values())


@pytest.fixture
def server() -> Iterator[LoopServer]:
    srv = LoopServer()
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def policy(tmp_path: Path) -> FetchPolicy:
    return FetchPolicy(cache_dir=tmp_path / "downloads", backoff=0.01, timeout=5, retries=4)


def source(url: str, *mirrors: str, data: bytes = DATA, name: str = "demo") -> Source:
    return Source(
        name=name,
        version="1.0",
        url=url,
        sha256=sha(data),
        mirrors=mirrors,
        file=f"{name}-1.0.tar.gz",
        origin="sources.yml",
    )


def part_of(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def test_plain_download_lands_in_the_cache(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/demo.tar.gz"))
    seen: list[tuple[int, int | None]] = []
    path = fetch_source(src, policy, progress=lambda n, t: seen.append((n, t)))
    assert path == cache_path(src, policy)
    assert path == policy.cache_dir / "by-sha256" / src.sha256 / "demo-1.0.tar.gz"
    assert path.read_bytes() == DATA
    assert sha256_file(path) == src.sha256
    assert seen[-1] == (len(DATA), len(DATA))
    assert not part_of(path).exists()
    assert is_cached(src, policy)


def test_cached_file_is_returned_without_a_request(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/demo.tar.gz"))
    fetch_source(src, policy)
    fetch_source(src, policy)
    assert len(server.hits["/demo.tar.gz"]) == 1


def test_resume_after_cut_connection(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/cut.tar.gz", cut_after=50_000))
    path = fetch_source(src, policy)
    assert path.read_bytes() == DATA
    first, second = server.hits["/cut.tar.gz"]
    assert first is None
    assert second == "bytes=50000-"


def test_resumes_a_part_left_by_an_earlier_run(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/demo.tar.gz"))
    part = part_of(cache_path(src, policy))
    part.parent.mkdir(parents=True)
    part.write_bytes(DATA[:1000])
    assert fetch_source(src, policy).read_bytes() == DATA
    assert server.hits["/demo.tar.gz"] == ["bytes=1000-"]


def test_server_ignoring_range_restarts_from_zero(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/norange.tar.gz", cut_after=70_000, ranges=False))
    assert fetch_source(src, policy).read_bytes() == DATA
    assert server.hits["/norange.tar.gz"] == [None, "bytes=70000-"]


def test_416_restarts_from_zero(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/demo.tar.gz"))
    part = part_of(cache_path(src, policy))
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * (len(DATA) + 10))  # longer than the file: 416
    assert fetch_source(src, policy).read_bytes() == DATA
    assert server.hits["/demo.tar.gz"] == [f"bytes={len(DATA) + 10}-", None]


def test_bad_inherited_part_gets_one_fresh_download(
    server: LoopServer, policy: FetchPolicy
) -> None:
    src = source(server.add("/demo.tar.gz"))
    part = part_of(cache_path(src, policy))
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage")
    assert fetch_source(src, policy).read_bytes() == DATA
    assert server.hits["/demo.tar.gz"] == ["bytes=7-", None]


def test_falls_back_to_the_next_url(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.url("/gone.tar.gz"), server.add("/mirror/demo.tar.gz"))
    assert fetch_source(src, policy).read_bytes() == DATA
    assert len(server.hits["/gone.tar.gz"]) == 1
    assert len(server.hits["/mirror/demo.tar.gz"]) == 1


def test_500_is_retried(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/flaky.tar.gz", statuses=[500, 500]))
    assert fetch_source(src, policy).read_bytes() == DATA
    assert len(server.hits["/flaky.tar.gz"]) == 3


def test_retries_are_bounded(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/down.tar.gz", statuses=[503] * 10))
    with pytest.raises(FetchError, match="gave up after 4 attempt"):
        fetch_source(src, policy)
    assert len(server.hits["/down.tar.gz"]) == 4


@pytest.mark.parametrize("status", [403, 404, 410])
def test_client_errors_are_not_retried(
    server: LoopServer, policy: FetchPolicy, status: int
) -> None:
    src = source(server.add("/nope.tar.gz", statuses=[status]))
    with pytest.raises(FetchError) as err:
        fetch_source(src, policy)
    assert len(server.hits["/nope.tar.gz"]) == 1
    assert f"HTTP {status}" in str(err.value)
    assert err.value.where == "sources.yml: source 'demo'"
    assert err.value.fix


def test_checksum_mismatch(server: LoopServer, policy: FetchPolicy) -> None:
    bad = b"not the real tarball" * 100
    url = server.add("/evil.tar.gz", data=bad)
    src = source(url)
    with pytest.raises(FetchError) as err:
        fetch_source(src, policy)
    text = str(err.value)
    assert url in text
    assert src.sha256 in text
    assert sha(bad) in text
    assert "sources.yml" in text
    path = cache_path(src, policy)
    assert not path.exists()
    assert not part_of(path).exists()


def test_offline_without_cache_makes_no_request(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/demo.tar.gz"))
    offline = FetchPolicy(cache_dir=policy.cache_dir, offline=True)
    with pytest.raises(FetchError) as err:
        fetch_source(src, offline)
    text = str(err.value)
    assert "offline" in text
    assert str(cache_path(src, offline)) in text
    assert src.url in text
    assert server.total_hits() == 0


def test_offline_uses_a_mirror_dir(server: LoopServer, policy: FetchPolicy, tmp_path: Path) -> None:
    src = source(server.add("/demo.tar.gz"))
    empty, mirror = tmp_path / "empty", tmp_path / "mirror"
    empty.mkdir()
    mirror.mkdir()
    (mirror / src.file).write_bytes(DATA)
    offline = FetchPolicy(cache_dir=policy.cache_dir, mirror_dirs=(empty, mirror), offline=True)
    assert missing_sources([src], offline) == []
    assert fetch_source(src, offline).read_bytes() == DATA
    assert server.total_hits() == 0


def test_bad_mirror_file_is_rejected(
    server: LoopServer, policy: FetchPolicy, tmp_path: Path
) -> None:
    src = source(server.add("/demo.tar.gz"))
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / src.file).write_bytes(b"corrupt")
    with_mirror = FetchPolicy(
        cache_dir=policy.cache_dir, mirror_dirs=(mirror,), backoff=0.01, timeout=5
    )
    assert fetch_source(src, with_mirror).read_bytes() == DATA
    assert len(server.hits["/demo.tar.gz"]) == 1
    assert (mirror / src.file).read_bytes() == b"corrupt"
    leftovers = {p.name for p in cache_path(src, policy).parent.iterdir()}
    assert leftovers == {src.file, f".{src.file}.lock"}  # no temp file, no .part


def test_file_url(policy: FetchPolicy, tmp_path: Path) -> None:
    local = tmp_path / "upstream" / "demo 1.0.tar.gz"
    local.parent.mkdir()
    local.write_bytes(DATA)
    src = source(local.as_uri())
    assert fetch_source(src, FetchPolicy(cache_dir=policy.cache_dir, offline=True)).exists()
    assert cache_path(src, policy).read_bytes() == DATA


def test_debian_url_needs_the_mirror(policy: FetchPolicy) -> None:
    src = source("debian:llvm-toolchain-17/llvm-toolchain-17_17.0.6.orig.tar.xz")
    with pytest.raises(FetchError, match=r"doit mirror"):
        fetch_source(src, policy)


def test_missing_sources(server: LoopServer, policy: FetchPolicy, tmp_path: Path) -> None:
    mirror, local = tmp_path / "mirror", tmp_path / "local.tar.gz"
    mirror.mkdir()
    local.write_bytes(b"local")
    cached = source(server.add("/a.tar.gz"), name="cached")
    mirrored = source(server.url("/b.tar.gz"), name="mirrored")
    (mirror / mirrored.file).write_bytes(DATA)
    on_disk = source(local.as_uri(), data=b"local", name="ondisk")
    absent = source(server.url("/c.tar.gz"), "file:///nonexistent/x.tar.gz", name="absent")
    fetch_source(cached, policy)
    with_mirror = FetchPolicy(cache_dir=policy.cache_dir, mirror_dirs=(mirror,))
    assert missing_sources([cached, mirrored, on_disk, absent], with_mirror) == [absent]
    assert server.total_hits() == 1


def test_fetch_all_reports_every_failure(server: LoopServer, policy: FetchPolicy) -> None:
    one = source(server.add("/one.tar.gz", data=b"one"), data=b"one", name="one")
    two = source(server.add("/two.tar.gz", cut_after=10), name="two")
    bad = source(server.url("/missing.tar.gz"), name="bad")
    worse = source("debian:foo/foo_1.orig.tar.gz", name="worse")
    with pytest.raises(FetchError) as err:
        fetch_all([one, bad, two, worse], policy, jobs=4, show_progress=True)
    text = str(err.value)
    assert "2 of 4" in text
    assert "source 'bad'" in text
    assert "source 'worse'" in text
    assert "'one'" not in text
    assert "'two'" not in text
    assert cache_path(one, policy).read_bytes() == b"one"
    assert cache_path(two, policy).read_bytes() == DATA


def test_fetch_all_returns_paths_in_order(server: LoopServer, policy: FetchPolicy) -> None:
    sources = [
        source(
            server.add(f"/{i}.tar.gz", data=bytes([i]) * 5000), data=bytes([i]) * 5000, name=f"s{i}"
        )
        for i in range(6)
    ]
    paths = fetch_all(sources, policy, jobs=3, show_progress=False)
    assert paths == [cache_path(s, policy) for s in sources]
    assert all(p.read_bytes() == bytes([i]) * 5000 for i, p in enumerate(paths))


def test_same_source_from_two_threads_downloads_once(
    server: LoopServer, policy: FetchPolicy
) -> None:
    src = source(server.add("/demo.tar.gz"))
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(fetch_source(src, policy))) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [cache_path(src, policy)] * 2
    assert cache_path(src, policy).read_bytes() == DATA
    assert len(server.hits["/demo.tar.gz"]) == 1
