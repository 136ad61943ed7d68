"""bootstrap.fetching.fetch against a real loopback HTTP server (no mocks of requests)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import MiniRepo, make_tarball

from bootstrap.core.errors import FetchError
from bootstrap.fetching.fetch import (
    cache_path,
    fetch_all,
    fetch_source,
    is_cached,
    missing_sources,
    sha256_file,
    verify_cached,
)
from bootstrap.model.config import FetchPolicy
from bootstrap.model.sources import Source

DATA = bytes(range(256)) * 800  # 200 KiB, larger than one download chunk


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Route:
    data: bytes = b""
    statuses: list[int] = field(default_factory=list)  # answered (in order) before serving
    cut_after: int | None = None  # first request only: send this many bytes, then hang up
    cut_each: int | None = None  # every request: send at most this many bytes, then hang up
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
        cut = route.cut_after if first else None
        cut = route.cut_each if route.cut_each is not None else cut
        if cut is not None and cut < len(body):
            self.wfile.write(body[:cut])
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
    warnings: list[str] = []
    fetched = fetch_source(src, mirror_policy(policy, mirror), warn=warnings.append)
    assert fetched.read_bytes() == DATA
    assert len(server.hits["/demo.tar.gz"]) == 1
    # the fallback is not silent: one warning names the corrupt mirror file
    assert len(warnings) == 1
    assert f"sha256 mismatch for {mirror / src.file}" in warnings[0]
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


# -- the cache holds its own, verified bytes -------------------------------------------------


def mirror_policy(policy: FetchPolicy, *mirrors: Path, offline: bool = False) -> FetchPolicy:
    return FetchPolicy(
        cache_dir=policy.cache_dir, mirror_dirs=mirrors, offline=offline, backoff=0.01, timeout=5
    )


def test_cache_keeps_its_bytes_when_the_mirror_file_is_overwritten(
    policy: FetchPolicy, tmp_path: Path
) -> None:
    src = source("https://unused.example/demo.tar.gz")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / src.file).write_bytes(DATA)
    cached = fetch_source(src, mirror_policy(policy, mirror, offline=True))
    with (mirror / src.file).open("r+b") as f:  # rewrite the mirror file in place
        f.write(b"X" * 1000)
    assert cached.read_bytes() == DATA
    assert cached.stat().st_nlink == 1


def test_a_changed_cached_file_is_quarantined_and_fetched_again(
    server: LoopServer, policy: FetchPolicy
) -> None:
    src = source(server.add("/demo.tar.gz"))
    cached = fetch_source(src, policy)
    cached.write_bytes(b"changed under its name")
    warnings: list[str] = []
    assert fetch_source(src, policy, warn=warnings.append).read_bytes() == DATA
    assert len(server.hits["/demo.tar.gz"]) == 2
    quarantined = policy.cache_dir / "quarantine" / src.sha256 / src.file
    assert quarantined.read_bytes() == b"changed under its name"
    assert len(warnings) == 1
    assert str(quarantined) in warnings[0] and "fetching it again" in warnings[0]


def test_verify_cached_quarantines_a_changed_file(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/demo.tar.gz"))
    cached = fetch_source(src, policy)
    assert verify_cached(cached) == cached
    cached.write_bytes(b"changed under its name")
    with pytest.raises(FetchError) as err:
        verify_cached(cached)
    quarantined = policy.cache_dir / "quarantine" / src.sha256 / src.file
    assert err.value.where == str(cached)
    assert str(quarantined) in err.value.what and sha(b"changed under its name") in err.value.what
    assert "fetches the file again" in (err.value.fix or "")
    assert not cached.exists()
    assert quarantined.read_bytes() == b"changed under its name"
    assert not is_cached(src, policy)  # so the fetch task runs again


def test_verify_cached_gives_a_hard_linked_entry_its_own_bytes(
    policy: FetchPolicy, tmp_path: Path
) -> None:
    src = source("https://unused.example/demo.tar.gz")
    cached = cache_path(src, policy)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(DATA)
    linked = tmp_path / "mirror-file"
    os.link(cached, linked)  # what earlier versions made from a mirror dir
    assert verify_cached(cached) == cached
    assert cached.stat().st_nlink == 1 and cached.read_bytes() == DATA


def test_prepare_fetches_a_changed_cached_tarball_again(mini_repo: MiniRepo) -> None:
    mini_repo.doit("stage1", "--target", "aarch64")
    cached = next((mini_repo.root / "downloads" / "by-sha256").glob("*/beta-1.0.tar.gz"))
    # a valid tarball, other bytes: the mirror file it was linked to got overwritten
    make_tarball(cached, "beta-1.0", {"file.txt": "beta original\nand a trojan\n"})
    mini_repo.write_patch("beta original", "beta patched again")  # beta is prepared again

    output = mini_repo.doit("stage1", "--target", "aarch64").stdout
    assert "no longer matches its sha256" in output and "fetching it again" in output
    quarantined = mini_repo.root / "downloads" / "quarantine" / cached.parent.name / cached.name
    assert quarantined.is_file()
    assert sha256_file(cached) == cached.parent.name  # the right bytes, fetched again
    report = mini_repo.report()["tasks"]
    warned = [
        n for n, t in report.items() if any("fetching it again" in w for w in t.get("warnings", ()))
    ]
    assert warned == ["build:aarch64/stage1/b1"]
    built = mini_repo.root / "build" / "aarch64" / "stage1" / "sysroot" / "usr/share/b1/file.txt"
    assert built.read_text() == "beta patched again\n"


# -- file names stay inside the cache and the mirror dirs ------------------------------------


@pytest.mark.parametrize("name", ["../../../escaped.tar.gz", "{tmp}/abs.tar.gz", "", ".."])
def test_a_file_name_that_is_not_plain_is_refused(
    policy: FetchPolicy, tmp_path: Path, name: str
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    bad = Source(
        name="demo",
        version="1.0",
        url=(tmp_path / "up.tar.gz").as_uri(),
        sha256=sha(DATA),
        file=name.format(tmp=tmp_path),
        origin="sources.yml",
    )
    (tmp_path / "up.tar.gz").write_bytes(DATA)
    with pytest.raises(FetchError) as err:
        fetch_source(bad, mirror_policy(policy, mirror))
    assert "not a plain file name" in err.value.what
    assert err.value.where == "sources.yml: source 'demo'" and err.value.fix
    with pytest.raises(FetchError):
        missing_sources([bad], mirror_policy(policy, mirror))
    assert not list(tmp_path.rglob("escaped.tar.gz")) and not list(tmp_path.rglob("*abs.tar.gz*"))


# -- a checksum mismatch names the real suspects ---------------------------------------------


def test_checksum_mismatch_fix_names_pin_mirror_and_server(
    server: LoopServer, policy: FetchPolicy
) -> None:
    src = source(server.add("/evil.tar.gz", data=b"other bytes"))
    with pytest.raises(FetchError) as err:
        fetch_source(src, policy)
    fix = err.value.fix or ""
    assert "network" not in fix
    assert "pin" in fix and "mirror file" in fix and "server" in fix


# -- fallbacks and waits are reported --------------------------------------------------------


def test_a_404_before_a_working_mirror_url_is_a_warning(
    server: LoopServer, policy: FetchPolicy
) -> None:
    src = source(server.url("/gone.tar.gz"), server.add("/mirror/demo.tar.gz"))
    warnings: list[str] = []
    fetch_source(src, policy, warn=warnings.append)
    assert len(warnings) == 1
    assert "HTTP 404" in warnings[0] and server.url("/gone.tar.gz") in warnings[0]
    assert f"used {server.url('/mirror/demo.tar.gz')} instead" in warnings[0]


def test_no_warning_when_the_first_place_works(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/demo.tar.gz"), server.add("/mirror/demo.tar.gz"))
    warnings: list[str] = []
    fetch_source(src, policy, warn=warnings.append)
    fetch_source(src, policy, warn=warnings.append)  # from the cache
    assert warnings == []


def test_waiting_for_another_runs_lock_is_a_warning(
    server: LoopServer, policy: FetchPolicy
) -> None:
    src = source(server.add("/demo.tar.gz"))
    dest = cache_path(src, policy)
    dest.parent.mkdir(parents=True)
    warnings: list[str] = []
    with dest.with_name(f".{dest.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other run
        thread = threading.Thread(target=fetch_source, args=(src, policy, None, warnings.append))
        thread.start()
        deadline = time.monotonic() + 5
        while not warnings and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not dest.exists()  # still waiting
    thread.join(5)
    assert dest.read_bytes() == DATA
    assert len(warnings) == 1 and "waiting for another fetch" in warnings[0]


# -- retries count attempts without progress -------------------------------------------------


def test_a_link_that_drops_often_still_finishes(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/drops.tar.gz", cut_each=20_000))
    assert fetch_source(src, policy).read_bytes() == DATA
    assert len(server.hits["/drops.tar.gz"]) == -(-len(DATA) // 20_000)  # > policy.retries


def test_attempts_without_progress_are_bounded(server: LoopServer, policy: FetchPolicy) -> None:
    src = source(server.add("/stuck.tar.gz", cut_each=20_000, ranges=False))
    with pytest.raises(FetchError, match="gave up after 4 attempt"):
        fetch_source(src, policy)
    assert len(server.hits["/stuck.tar.gz"]) == 5  # the first got somewhere, 4 did not


def test_a_host_that_does_not_resolve_is_not_retried(
    policy: FetchPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    src = source("http://no-such-host.invalid/demo.tar.gz")
    with pytest.raises(FetchError) as err:
        fetch_source(src, policy)
    assert "no-such-host.invalid/demo.tar.gz: cannot resolve the host name" in err.value.what
    assert "gave up" not in err.value.what
