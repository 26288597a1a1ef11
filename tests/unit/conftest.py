"""Unit tests never see the caller's govcloud settings: GOVCLOUD_* variables are removed and the
XDG directories point into the test's tmp_path. GOVCLOUD_TEST_DATABASE_URL stays: it is the
suite's own setting (which PostgreSQL the database tests use), not govcloud's, and removing it
would turn every PostgreSQL unit test into a silent skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.databases import PG_ENV


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in list(os.environ):
        if key.startswith("GOVCLOUD_") and key != PG_ENV:
            monkeypatch.delenv(key)
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                     ("XDG_STATE_HOME", "state")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path
