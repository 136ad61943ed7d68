"""YAML loading: what YAML would accept silently (a repeated key, a version read as a
number) is an error naming file and line; a syntax error names where its cause is."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from bootstrap.core.errors import ConfigError
from bootstrap.model.schema import load_yaml
from bootstrap.model.sources import load_sources

SHA_A, SHA_B = "a" * 64, "b" * 64


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def source_entry(version: str, *extra: str) -> str:
    lines = [
        "sources:",
        "  zlib:",
        f"    version: {version}",
        "    url: https://example.org/zlib-{version}.tar.gz",
        f"    sha256: {SHA_A}",
        *extra,
    ]
    return "\n".join(lines) + "\n"


def test_a_repeated_key_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "sources.yml", source_entry('"1.3"', f"    sha256: {SHA_B}"))
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    assert err.value.where == f"{path}:6:5"
    assert err.value.what == "duplicate key 'sha256' (first at line 5)"
    assert err.value.fix


def test_a_repeated_source_name_is_an_error(tmp_path: Path) -> None:
    text = source_entry('"1.3"') + source_entry('"1.4"').removeprefix("sources:\n")
    with pytest.raises(ConfigError, match="duplicate key 'zlib' \\(first at line 2\\)") as err:
        load_sources(write(tmp_path / "sources.yml", text))
    assert err.value.where.endswith("sources.yml:6:3")


def test_an_unquoted_decimal_version_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "sources.yml", source_entry("4.30"))
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    assert err.value.where == f"{path}:3:14"
    assert "'version: 4.30' is read as the number 4.3" in err.value.what
    assert err.value.fix == 'quote it: version: "4.30"'


def test_an_unquoted_decimal_version_in_an_override_is_refused(tmp_path: Path) -> None:
    sources = write(tmp_path / "sources.yml", source_entry('"1.3"'))
    override = write(tmp_path / "override.yml", "sources:\n  zlib:\n    version: 1.10\n")
    with pytest.raises(ConfigError, match=r"read as the number 1\.1") as err:
        load_sources(sources, [override])
    assert err.value.where == f"{override}:3:14"


def test_quoted_and_integer_versions_still_load(tmp_path: Path) -> None:
    sources = load_sources(write(tmp_path / "a.yml", source_entry('"4.30"')))
    assert sources["zlib"].version == "4.30"
    sources = load_sources(write(tmp_path / "b.yml", source_entry("5")))
    assert sources["zlib"].url == "https://example.org/zlib-5.tar.gz"


def test_an_unclosed_quote_is_reported_where_it_opens(tmp_path: Path) -> None:
    text = 'sources:\n  zlib:\n    url: "https://example.org/x\n    sha256: abc\n'
    path = write(tmp_path / "end.yml", text)
    with pytest.raises(ConfigError, match="closing quote") as err:
        load_yaml(path)
    assert err.value.where == f"{path}:3:10"


def test_an_unclosed_quote_closed_by_a_later_one_is_reported_where_it_opens(
    tmp_path: Path,
) -> None:
    text = (
        "sources:\n  zlib:\n    url: 'https://example.org/x\n    sha256: abc\n"
        "  bzip2:\n    url: 'https://example.org/y'\n    note: z\n"
    )
    path = write(tmp_path / "middle.yml", text)
    with pytest.raises(ConfigError) as err:
        load_yaml(path)
    assert err.value.where == f"{path}:3:10"
    assert "at line 6" in err.value.what  # where the parser gave up
    assert err.value.fix == "add the missing closing quote"


def test_other_syntax_errors_keep_their_own_place(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yml", "a: b\n c: d: e\n")
    with pytest.raises(ConfigError, match="mapping values are not allowed here") as err:
        load_yaml(path)
    assert err.value.where == f"{path}:2:3"


def test_the_repos_own_data_files_still_load() -> None:
    files = [
        REPO / "sources.yml",
        *REPO.glob("overrides/*.yml"),
        *REPO.glob("toolchain/*.yml"),
        *REPO.glob("stages/**/*.yml"),
    ]
    assert len(files) > 20
    for path in files:
        assert load_yaml(path) is not None, path
    sources = load_sources(REPO / "sources.yml", sorted(REPO.glob("overrides/*.yml")))
    assert all(isinstance(s.version, str) for s in sources.values())
