"""Shared fixtures and helpers (test modules import them: `from conftest import ...`): a
small throwaway bootstrap repo driven through the real doit CLI, and archives for unpack tests."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def make_tarball(path: Path, top: str, files: dict[str, str]) -> str:
    """Write a .tar.gz with `files` under `top/`; return its sha256."""
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- archives, for unpack and prepare tests ------------------------------------------------

MTIME = 1_600_000_000

# A member: name -> bytes (file), "dir", ("dir", mode), ("sym", target), ("hard", target),
# ("chr",), ("fifo",)
Members = list[tuple[str, object]]


def tar_info(name: str, spec: object) -> tuple[tarfile.TarInfo, bytes | None]:
    info, data = tarfile.TarInfo(name), None
    info.mtime, info.mode = MTIME, 0o644
    if spec == "dir" or (isinstance(spec, tuple) and spec[0] == "dir"):
        info.type, info.mode = tarfile.DIRTYPE, spec[1] if isinstance(spec, tuple) else 0o755
    elif isinstance(spec, bytes | tuple) and not isinstance(spec[0], str):
        data, mode = spec if isinstance(spec, tuple) else (spec, 0o644)
        info.size, info.mode = len(data), mode
    else:
        kinds = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}
        kinds |= {"chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}
        info.type = kinds[spec[0]]
        info.linkname = spec[1] if len(spec) > 1 else ""
    return info, data


def make_tar(path: Path, members: Members, mode: str = "w") -> Path:
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT) as tf:
        for name, spec in members:
            info, data = tar_info(name, spec)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def truncate(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


BIG: Members = [("p", "dir"), *[(f"p/f{i}", os.urandom(3072)) for i in range(8)]]


def killed_unpack(dest: Path, scratch: Path) -> Path:
    """`kill -9` an unpack into `dest` while it is extracting; return what it left.

    A stand-in `zstd` serves half of a tar and then hangs, so the kill lands mid-archive."""
    scratch.mkdir(parents=True, exist_ok=True)
    half = truncate(make_tar(scratch / "big.tar", BIG), 0.5)
    fake = scratch / "bin" / "zstd"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f"#!/bin/sh\ncat {half}\nexec sleep 60\n")
    fake.chmod(0o755)
    archive = scratch / "src.tar.zst"
    archive.write_bytes(b"\x28\xb5\x2f\xfd")
    code = (
        "import sys; from bootstrap.fetching.unpack import unpack; unpack(sys.argv[1], sys.argv[2])"
    )
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(archive), str(dest)], env=env, start_new_session=True
    )
    leftover = dest.parent / f".{dest.name}.tmp-{child.pid}"
    try:
        deadline = time.monotonic() + 30
        while not (leftover / "p" / "f0").exists():
            assert child.poll() is None and time.monotonic() < deadline, "unpack never started"
            time.sleep(0.02)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    return leftover


def clean_environ() -> dict[str, str]:
    """The caller's environment without SERPENT_* settings (a user's override file or
    target must not leak into a test repo)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SERPENT_")}


COPY_RECIPE = """\
doc: copy {name}'s source into the root
source: {source}
style: custom
steps:
  install:
    - [sh, -c, 'mkdir -p "$1" && cp -r "$2"/. "$1"/', copy,
       "${{destdir}}/usr/share/{name}", "${{srcdir}}"]
"""


class MiniRepo:
    """A repo with two sources, patches and a 3-component profile, plus a doit runner."""

    def __init__(self, root: Path):
        self.root = root
        tarballs = root / "upstream"
        tarballs.mkdir(parents=True)
        entries = {}
        for name in ("alpha", "beta"):
            tarball = tarballs / f"{name}-1.0.tar.gz"
            sha = make_tarball(tarball, f"{name}-1.0", {"file.txt": f"{name} original\n"})
            entries[name] = {"version": "1.0", "url": tarball.as_uri(), "sha256": sha}
        (root / "sources.yml").write_text(json.dumps({"sources": entries}))
        shutil.copytree(REPO / "toolchain", root / "toolchain")
        shutil.copy(REPO / "dodo.py", root / "dodo.py")
        recipes = root / "stages" / "recipes"
        recipes.mkdir(parents=True)
        for comp, source in (("a1", "alpha"), ("b1", "beta"), ("a2", "alpha")):
            (recipes / f"{comp}.yml").write_text(COPY_RECIPE.format(name=comp, source=source))
        (root / "stages" / "profiles.yml").write_text(
            "profiles:\n  test:\n    doc: test\n    toolchain: host\n"
            "    stage1: [a1, b1]\n    stage2: [a2]\n    stage3: []\n"
        )
        patches = root / "patches" / "beta"
        patches.mkdir(parents=True)
        self.write_patch("beta original", "beta patched")

    def write_patch(self, old: str, new: str) -> Path:
        patch = self.root / "patches" / "beta" / "0001-change.patch"
        patch.write_text(f"--- a/file.txt\n+++ b/file.txt\n@@ -1 +1 @@\n-{old}\n+{new}\n")
        return patch

    def doit(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`doit *args` in this repo; `env`: more environment (e.g. SERPENT_BUILD_DIR)."""
        env = {**clean_environ(), "PYTHONPATH": str(REPO), "SERPENT_PROFILE": "test", **(env or {})}
        proc = subprocess.run(
            [sys.executable, "-m", "doit", "-f", str(self.root / "dodo.py"), *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"doit {args} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def report(self) -> dict:
        return json.loads((self.root / "build" / "reports" / "latest.json").read_text())

    def ran(self) -> set[str]:
        """Tasks that executed (not up-to-date) in the last run."""
        return {n for n, r in self.report()["tasks"].items() if r["status"] != "up-to-date"}

    def ran_in_targets(self) -> set[str]:
        """Tasks of a target that executed: without the shared fetches."""
        return {n for n in self.ran() if not n.startswith("fetch:")}


@pytest.fixture
def mini_repo(tmp_path: Path) -> MiniRepo:
    return MiniRepo(tmp_path / "repo")


# -- a real OCI registry on loopback (Debian's docker-registry, distribution 2.8) -----------


def free_port() -> int:
    """A loopback port nothing listens on (the registry takes it, or a test wants it dead)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:<port>
    storage: Path

    def repository(self, name: str = "serpent/layers") -> str:
        return f"http://{self.host}/{name}"  # plain http: the --cache-remote form for it

    def get(self, path: str, accept: str = "application/vnd.oci.image.manifest.v1+json") -> dict:
        request = urllib.request.Request(f"http://{self.host}{path}", headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (its filesystem storage driver)."""
        hexdigest = digest.removeprefix("sha256:")
        return self.storage / f"docker/registry/v2/blobs/sha256/{hexdigest[:2]}/{hexdigest}/data"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("needs /usr/bin/docker-registry: apt-get install docker-registry")
    host = f"127.0.0.1:{free_port()}"
    storage = tmp_path / "registry"
    config = tmp_path / "registry.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {storage}\nhttp:\n  addr: {host}\n"
    )
    with (tmp_path / "registry.log").open("w") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "registry.log").read_text()
                assert time.monotonic() < deadline, "the registry did not come up in 30 s"
                time.sleep(0.1)
        yield Registry(host, storage)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
