"""A migrated database for the services' unit tests that decide against stored state: a new
SQLite file, and a PostgreSQL schema of its own as well when GOVCLOUD_TEST_DATABASE_URL is set
(the unit tests' ``isolated_env`` keeps that one variable)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.databases import fresh_database, migrated_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh database migrated to head (the PostgreSQL one skips unless
    GOVCLOUD_TEST_DATABASE_URL was set when the tests started)."""
    with fresh_database(request.param, tmp_path) as url, migrated_engine(url) as engine:
        yield engine
