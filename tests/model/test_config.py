"""The run's configuration: the component cache settings, resolved and checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.core.errors import BootstrapError
from bootstrap.model.config import Config
from bootstrap.model.options import Selection

REPO = Path("/repo")


def test_the_cache_is_local_by_default_and_off_on_request(tmp_path: Path) -> None:
    cache = Config.create(REPO, Selection()).cache
    assert cache is not None and (cache.local, cache.remote, cache.push) == (
        REPO / "cache",
        "",
        False,
    )
    assert Config.create(REPO, Selection(cache_dir=str(tmp_path))).cache.local == tmp_path
    assert Config.create(REPO, Selection(cache_dir="off")).cache is None


@pytest.mark.parametrize(
    ("remote", "bare", "insecure"),
    [
        ("ghcr.io/owner/serpent-layers", "ghcr.io/owner/serpent-layers", False),
        ("https://ghcr.io/owner/layers", "ghcr.io/owner/layers", False),
        ("http://127.0.0.1:5000/serpent/layers", "127.0.0.1:5000/serpent/layers", True),
    ],
)
def test_a_remote_is_a_repository_and_http_only_when_said(
    remote: str, bare: str, insecure: bool
) -> None:
    cache = Config.create(REPO, Selection(cache_remote=remote, cache_push=True)).cache
    assert cache is not None and (cache.remote, cache.insecure, cache.push) == (
        bare,
        insecure,
        True,
    )


@pytest.mark.parametrize(
    ("selection", "where"),
    [
        ({"cache_push": True}, "--cache-push"),
        ({"cache_remote": "ghcr.io/owner/layers:latest"}, "--cache-remote"),
        ({"cache_remote": "ghcr.io"}, "--cache-remote"),
        ({"cache_remote": "ghcr.io/Owner/layers"}, "--cache-remote"),
        ({"cache_remote": "ghcr.io/o/layers", "cache_dir": "off"}, "--cache-dir"),
        ({"cache_max_size": "20 GB or so"}, "--cache-max-size"),
        ({"cache_max_size": "0G"}, "--cache-max-size"),
        ({"cache_max_size": "-5M"}, "--cache-max-size"),
        ({"cache_max_size": "5iB"}, "--cache-max-size"),
        ({"cache_max_size": "lots", "cache_dir": "off"}, "--cache-max-size"),
    ],
)
def test_a_cache_setting_that_cannot_work_is_an_error(selection: dict, where: str) -> None:
    with pytest.raises(BootstrapError) as err:
        Config.create(REPO, Selection(**selection))
    assert err.value.where.startswith(where) and err.value.fix


@pytest.mark.parametrize(
    ("given", "size"),
    [
        ("", None),
        ("4096", 4096),
        ("4096B", 4096),
        ("500M", 500 << 20),
        ("20G", 20 << 30),
        ("20GB", 20 << 30),
        ("1tib", 1 << 40),
    ],
)
def test_the_cache_size_limit_reads_units(given: str, size: int | None) -> None:
    cache = Config.create(REPO, Selection(cache_max_size=given)).cache
    assert cache is not None and cache.max_size == size
