"""sources.yml validation and override files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.core.errors import ConfigError
from bootstrap.model.sources import load_sources

SHA = "a" * 64
GOOD = f"""\
sources:
  musl:
    version: 1.2.3
    url: https://musl.libc.org/releases/musl-{{version}}.tar.gz
    mirrors: ["https://mirror.example/musl-{{version}}.tar.gz"]
    sha256: {SHA}
  linux:
    version: 6.1.100
    url: https://cdn.kernel.org/pub/linux/kernel/v{{major}}.x/linux-{{version}}.tar.xz
    sha256: {SHA}
"""


def write(tmp_path: Path, text: str, name: str = "sources.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_versions_expand_into_urls(tmp_path: Path) -> None:
    sources = load_sources(write(tmp_path, GOOD))
    assert sources["musl"].url.endswith("/musl-1.2.3.tar.gz")
    assert sources["musl"].file == "musl-1.2.3.tar.gz"
    assert sources["musl"].urls[1] == "https://mirror.example/musl-1.2.3.tar.gz"
    assert "/v6.x/linux-6.1.100.tar.xz" in sources["linux"].url


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace(f"    sha256: {SHA}\n", "", 1), "missing required key 'sha256'"),
        (GOOD.replace(SHA, "abc", 1), "is not a sha256"),
        (GOOD.replace("url: https://musl", "url: gopher://musl"), "'url'"),
        (GOOD.replace("    mirrors:", "    mirrorz:"), "unknown key(s): mirrorz"),
        ("sources: [1, 2]", "'sources:' mapping"),
        ("sources:\n  musl: {version: 1\n", "invalid YAML"),
        (GOOD.replace("{version}.tar.gz\n", "{vers}.tar.gz\n", 1), "bad placeholder"),
    ],
)
def test_bad_entries_name_file_entry_and_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    rendered = err.value.render()
    assert message in rendered
    assert str(path) in rendered


def test_yaml_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  musl:\n    version: [1\n    url: x\n")
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    assert f"{path}:" in err.value.render()


def test_override_replaces_file_and_hash(tmp_path: Path) -> None:
    override = write(
        tmp_path,
        f"""\
sources:
  linux:
    url: debian:linux_6.1.100.orig.tar.xz
    sha256: {"b" * 64}
""",
        "override.yml",
    )
    sources = load_sources(write(tmp_path, GOOD), [override])
    assert sources["linux"].file == "linux_6.1.100.orig.tar.xz"
    assert sources["linux"].sha256 == "b" * 64
    assert sources["linux"].version == "6.1.100"
    assert sources["musl"].sha256 == SHA


def test_override_without_hash_is_rejected(tmp_path: Path) -> None:
    override = write(tmp_path, "sources:\n  linux:\n    url: file:///x/linux.tar.xz\n", "o.yml")
    with pytest.raises(ConfigError, match="no sha256"):
        load_sources(write(tmp_path, GOOD), [override])


def test_override_of_unknown_source_is_rejected(tmp_path: Path) -> None:
    override = write(tmp_path, f"sources:\n  glibc:\n    sha256: {SHA}\n", "o.yml")
    with pytest.raises(ConfigError, match="names no source"):
        load_sources(write(tmp_path, GOOD), [override])


def test_later_override_wins(tmp_path: Path) -> None:
    first = write(
        tmp_path,
        f"sources:\n  musl:\n    url: debian:musl_1.2.3.orig.tar.gz\n    sha256: {'b' * 64}\n",
        "first.yml",
    )
    second = write(
        tmp_path,
        f"sources:\n  musl:\n    version: 1.2.5\n    debian: musl-new\n"
        f"    url: https://x.example/musl-{{version}}.tar.gz\n    sha256: {'c' * 64}\n",
        "second.yml",
    )
    musl = load_sources(write(tmp_path, GOOD), [first, second])["musl"]
    assert (musl.version, musl.file, musl.sha256) == ("1.2.5", "musl-1.2.5.tar.gz", "c" * 64)
    assert musl.debian == "musl-new"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("    sha256:", "    file: /tmp/x.tar.gz\n    sha256:", 1), "plain file name"),
        (GOOD.replace("    sha256:", "    file: ../../../../tmp/x\n    sha256:", 1), "plain"),
        (GOOD.replace("    sha256:", "    file: ''\n    sha256:", 1), "plain file name"),
        (GOOD.replace("musl-{version}.tar.gz\n", "..\n", 1), "cannot derive a file name"),
        (GOOD.replace("url: https://musl", "url: ftp://musl"), "'url'"),
        (GOOD.replace('mirrors: ["https://', 'mirrors: ["ftp://'), "'mirrors'"),
        (GOOD.replace('mirrors: ["https://', 'mirrors: ["/srv/'), "'mirrors'"),
    ],
)
def test_file_names_and_urls_are_checked(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    assert message in err.value.what
    assert str(path) in (err.value.where or "")
    assert err.value.fix


@pytest.mark.parametrize(
    "entry",
    [
        f"url: https://x.example/musl.tar.gz\n    file: ../musl.tar.gz\n    sha256: {SHA}",
        f"url: https://x.example/\n    sha256: {SHA}",
        f"mirrors: [ftp://x.example/musl.tar.gz]\n    sha256: {SHA}",
        f"url: https://x.example/{{vers}}.tar.gz\n    sha256: {SHA}",
        "version: 1.2.5",
        f"version: 1.2.5\n    sha256: {SHA}",
        "version: 1.2.5\n    url: https://x.example/musl-{version}.tar.gz",
    ],
)
def test_override_errors_name_the_override_file(tmp_path: Path, entry: str) -> None:
    override = write(tmp_path, f"sources:\n  musl:\n    {entry}\n", "o.yml")
    with pytest.raises(ConfigError) as err:
        load_sources(write(tmp_path, GOOD), [override])
    assert err.value.where == f"{override}: override 'musl'"
    assert err.value.fix


def test_version_only_override_is_rejected(tmp_path: Path) -> None:
    override = write(tmp_path, "sources:\n  musl:\n    version: 1.2.5\n", "o.yml")
    with pytest.raises(ConfigError) as err:
        load_sources(write(tmp_path, GOOD), [override])
    assert "changes the version (1.2.3 -> 1.2.5)" in err.value.what
    assert "sha256" in (err.value.fix or "")


def test_override_with_the_same_version_and_a_note_is_fine(tmp_path: Path) -> None:
    override = write(tmp_path, "sources:\n  musl:\n    version: 1.2.3\n    note: hi\n", "o.yml")
    musl = load_sources(write(tmp_path, GOOD), [override])["musl"]
    assert (musl.version, musl.sha256) == ("1.2.3", SHA)
