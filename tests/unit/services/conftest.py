"""A migrated database for the services' unit tests that decide against stored state: a new
SQLite file, and a PostgreSQL schema of its own as well when GOVCLOUD_TEST_DATABASE_URL is set
(read here, at import, because the unit tests' ``isolated_env`` removes GOVCLOUD_* variables
before each test)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.databases import PG_ENV, fresh_database, migrated_engine

_PG_URL = os.environ.get(PG_ENV)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """An engine on a fresh database migrated to head (the PostgreSQL one skips unless
    GOVCLOUD_TEST_DATABASE_URL was set when the tests started)."""
    if request.param == "postgresql" and _PG_URL:
        monkeypatch.setenv(PG_ENV, _PG_URL)
    with fresh_database(request.param, tmp_path) as url, migrated_engine(url) as engine:
        yield engine
