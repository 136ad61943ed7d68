"""The run report through the real doit CLI: warnings a task returned reach the JSON report
and the end of the output; they do not fail the run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import MiniRepo


class Gone(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gone_url() -> Iterator[str]:
    """A loopback server answering 404 to everything."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gone)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alpha-1.0.tar.gz"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("processes", [[], ["-n", "2"]], ids=["one-process", "two-processes"])
def test_a_fetch_fallback_is_a_warning_in_the_report(
    mini_repo: MiniRepo, gone_url: str, processes: list[str]
) -> None:
    sources_file = mini_repo.root / "sources.yml"
    sources = json.loads(sources_file.read_text())
    alpha = sources["sources"]["alpha"]
    alpha["mirrors"] = [alpha["url"]]  # the file:// URL still works
    alpha["url"] = gone_url
    sources_file.write_text(json.dumps(sources))

    proc = mini_repo.doit(*processes, "stage1", "--target", "aarch64")

    report = mini_repo.report()
    assert report["ok"] is True
    fetched = report["tasks"]["fetch:alpha"]
    assert fetched["status"] == "ok"
    [warning] = fetched["warnings"]
    assert f"{gone_url}: HTTP 404" in warning and "used" in warning
    assert "warnings" not in report["tasks"]["fetch:beta"]
    line = f"warning: fetch:alpha: source 'alpha': {gone_url}: HTTP 404"
    assert proc.stdout.count(line) == 2  # when the task ends, and above the verdict

    mini_repo.doit(*processes, "stage1", "--target", "aarch64")  # up to date: no stale warnings
    assert "warnings" not in mini_repo.report()["tasks"]["fetch:alpha"]
