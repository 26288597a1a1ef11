"""The server's catalogue is re-read when a file changes, and only then."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from govcloud.domain.catalogue import CatalogueError
from govcloud.services.inventory import CatalogueCache

from .conftest import small_catalogue

SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")


def test_catalogue_is_cached_until_a_file_changes(tmp_path: Path) -> None:
    directory = small_catalogue(tmp_path / "tenants")
    cache = CatalogueCache(directory, SITES)
    first = cache.get()
    assert cache.get() is first
    path = directory / "gd-psd.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Public Security Department", "Public Security Dept."),
                    encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a different mtime even on a coarse clock
    second = cache.get()
    assert second is not first and second.get("gd-psd").name_en == "Public Security Dept."
    (directory / "shantou.yaml").unlink()
    assert "shantou" not in cache.get().codes
    path.write_text("code: [", encoding="utf-8")
    with pytest.raises(CatalogueError):
        cache.get()
