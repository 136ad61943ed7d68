"""The Debian source mirror: deb-src derivation, .dsc parsing, versions, and one real run."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

from bootstrap.core.errors import BootstrapError, FetchError
from bootstrap.fetching import debmirror
from bootstrap.fetching.debmirror import (
    deb_src_stanzas,
    enable_deb_src,
    fill_mirror,
    list_to_stanzas,
    parse_dsc,
    upstream_version,
)
from bootstrap.model.sources import Source, apply_overrides, load_sources

SOURCES = """\
Types: deb
# a comment line
URIs: http://archive.example/debian
Suites: stable stable-updates
Components: main contrib
Signed-By: /usr/share/keyrings/example-archive-keyring.gpg

Types: deb deb-src
URIs: http://security.example/debian-security
Suites: stable-security
Components: main

Types: deb
URIs: http://disabled.example/debian
Suites: stable
Components: main
Enabled: no
"""


def test_deb_src_stanzas_copy_every_enabled_deb_stanza() -> None:
    out = deb_src_stanzas(SOURCES)
    stanzas = out.strip().split("\n\n")
    assert len(stanzas) == 2
    assert stanzas[0] == (
        "Types: deb-src\n"
        "URIs: http://archive.example/debian\n"
        "Suites: stable stable-updates\n"
        "Components: main contrib\n"
        "Signed-By: /usr/share/keyrings/example-archive-keyring.gpg"
    )
    assert stanzas[1].startswith("Types: deb-src\nURIs: http://security.example/")
    assert "disabled.example" not in out
    assert "#" not in out


def test_one_line_lists_become_deb_src_stanzas() -> None:
    text = (
        "# comment\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://archive.example/debian stable main\n"
        "deb-src http://archive.example/debian stable main\n"
    )
    assert list_to_stanzas(text) == (
        "Types: deb-src\nURIs: http://archive.example/debian\nSuites: stable\n"
        "Components: main\nArchitectures: amd64\nSigned-By: /k.gpg\n\n"
    )


def test_enable_deb_src_does_nothing_when_deb_src_exists(tmp_path: Path) -> None:
    sources_dir = tmp_path / "sources.list.d"
    sources_dir.mkdir()
    (sources_dir / "example.sources").write_text(SOURCES)  # has a `deb deb-src` stanza
    assert enable_deb_src(sources_dir) is False
    assert sorted(p.name for p in sources_dir.iterdir()) == ["example.sources"]


def test_enable_deb_src_writes_twins_and_updates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources_dir = tmp_path / "sources.list.d"
    sources_dir.mkdir()
    (sources_dir / "example.sources").write_text(SOURCES.replace("deb deb-src", "deb"))
    (sources_dir / "other.list").write_text("deb http://other.example/debian stable main\n")
    (sources_dir / "old.list.disabled").write_text("deb http://ignored.example/ x main\n")
    ran: list[list[str]] = []
    monkeypatch.setattr(debmirror, "_run", lambda argv, cwd=None: ran.append(argv) or "")
    monkeypatch.setattr(debmirror.os, "geteuid", lambda: 1000)
    with pytest.raises(BootstrapError, match="needs root"):
        enable_deb_src(sources_dir)
    monkeypatch.setattr(debmirror.os, "geteuid", lambda: 0)
    assert enable_deb_src(sources_dir) is True
    written = (sources_dir / "serpent-deb-src.sources").read_text()
    assert written.count("Types: deb-src\n") == 3
    assert "other.example" in written and "ignored.example" not in written
    assert ran == [["apt-get", "update"]]
    assert enable_deb_src(sources_dir) is False  # now configured: nothing to do


DSC = """\
-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Format: 3.0 (quilt)
Source: example
Version: 1:1.2.3+dfsg-4
Checksums-Sha1:
 {sha1} 1000 example_1.2.3+dfsg.orig.tar.xz
Checksums-Sha256:
 {a} 1000 example_1.2.3+dfsg.orig.tar.xz
 {b} 200 example_1.2.3+dfsg-4.debian.tar.xz
Files:
 0123456789abcdef0123456789abcdef 1000 example_1.2.3+dfsg.orig.tar.xz

-----BEGIN PGP SIGNATURE-----

iQIzBAEBCAAdFiEE
-----END PGP SIGNATURE-----
""".format(sha1="f" * 40, a="a" * 64, b="b" * 64)


def test_parse_dsc_reads_checksums_sha256_only() -> None:
    assert parse_dsc(DSC) == {
        "example_1.2.3+dfsg.orig.tar.xz": "a" * 64,
        "example_1.2.3+dfsg-4.debian.tar.xz": "b" * 64,
    }


def test_parse_dsc_without_armour() -> None:
    body = DSC.split("\n\n", 1)[1].split("-----BEGIN PGP SIGNATURE-----")[0]
    assert parse_dsc(body) == parse_dsc(DSC)


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [
        ("1.2.3-1", "1.2.3"),
        ("1:1.2.13.dfsg-1", "1.2.13"),
        ("1.34+dfsg-1.2+deb12u1", "1.34"),
        ("1.5.4+dfsg2-5", "1.5.4"),
        ("2.0+ds-3", "2.0"),
        ("1:22.1.8-1~deb12u1", "22.1.8"),
        ("1:1.35.0-4+deb12u1", "1.35.0"),
        ("0.9.27+git20200814.62c30a4a-1", "0.9.27+git20200814.62c30a4a"),
        ("6.1.192-2", "6.1.192"),
        ("0.5.12", "0.5.12"),  # a native package: no revision
    ],
)
def test_upstream_version(debian: str, upstream: str) -> None:
    assert upstream_version(debian) == upstream


def _apt_source_works() -> str | None:
    """Why the real mirror test cannot run here, or None when it can."""
    if shutil.which("apt-get") is None or shutil.which("apt-cache") is None:
        return "apt-get is not available (not a Debian host)"
    if os.geteuid() != 0:
        return "needs root (apt-get update for deb-src entries)"
    probe = subprocess.run(
        ["apt-cache", "showsrc", "--only-source", "musl"], capture_output=True, text=True
    )
    if probe.returncode != 0 or "Version:" not in probe.stdout:
        return "no deb-src entries (run python -m bootstrap.fetching.debmirror once as root)"
    return None


@pytest.mark.slow
@pytest.mark.root
def test_fill_mirror_musl_is_upstream_bytes_and_idempotent(tmp_path: Path) -> None:
    if reason := _apt_source_works():
        pytest.skip(reason)
    sources = load_sources(REPO / "sources.yml")
    musl = sources["musl"]
    mirror, override = tmp_path / "mirror", tmp_path / "mirror" / "sources-override.yml"
    logged: list[str] = []
    report = fill_mirror([musl], mirror, override, log=logged.append)
    assert [(name, status) for name, status, _ in report.rows] == [("musl", "pinned")]
    tarball = mirror / "musl-1.2.3.tar.gz"
    assert hashlib.sha256(tarball.read_bytes()).hexdigest() == musl.sha256
    assert apply_overrides({"musl": musl}, override)["musl"].url == musl.url  # no override
    assert sorted(p.name for p in mirror.iterdir()) == ["musl-1.2.3.tar.gz", "sources-override.yml"]
    before = {p.name: p.stat().st_mtime_ns for p in mirror.iterdir()}

    logged.clear()
    again = fill_mirror([musl], mirror, override, log=logged.append)
    assert [row[1] for row in again.rows] == ["present"]
    assert logged == []  # no apt-get run
    assert {p.name: p.stat().st_mtime_ns for p in mirror.iterdir()} == before


def test_override_names_outside_the_mirror_dir_are_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside.tar.gz"
    outside.write_bytes(b"somewhere else")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    override = mirror / "sources-override.yml"
    sha = hashlib.sha256(b"somewhere else").hexdigest()
    override.write_text(
        f"sources:\n  demo:\n    version: '1.0'\n    url: debian:../outside.tar.gz\n"
        f"    sha256: {sha}\n"
    )
    demo = Source(
        name="demo",
        version="1.0",
        url="https://x.example/demo-1.0.tar.gz",
        sha256="a" * 64,
        file="demo-1.0.tar.gz",
        debian="demo",
    )
    ran: list[list[str]] = []

    def no_apt(argv: list[str], cwd: Path | None = None) -> str:
        ran.append(argv)
        raise FetchError("apt is not reachable here")

    monkeypatch.setattr(debmirror, "_run", no_apt)
    report = fill_mirror([demo], mirror, override, log=lambda _: None)
    assert [(name, status) for name, status, _ in report.rows] == [("demo", "error")]
    assert ran  # not taken as already mirrored: it went to apt
