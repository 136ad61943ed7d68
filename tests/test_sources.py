"""sources.yml validation and override files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.errors import ConfigError
from bootstrap.sources import load_sources

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
