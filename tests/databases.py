"""Fresh databases and clocks for the store tests: a new SQLite file, or a PostgreSQL schema of
its own (when GOVCLOUD_TEST_DATABASE_URL is set) that is dropped afterwards; and a test clock
that starts at a fixed instant. The fixtures over them are in ``tests/integration/conftest.py``
(``database_url``, ``engine``) and ``tests/integration/control/conftest.py`` (one plane per
module)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from govcloud.store.engine import make_engine, normalise_url
from govcloud.store.migrate import upgrade_engine

PG_ENV = "GOVCLOUD_TEST_DATABASE_URL"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


class Made:
    """How many PostgreSQL schemas this run created (the run's end vacuums the catalogs when
    there were any)."""

    schemas = 0


@contextmanager
def fresh_database(kind: str, directory: Path) -> Iterator[str]:
    """The URL of a new, empty database of ``kind`` ("sqlite": a file in ``directory``;
    "postgresql": a schema of its own, dropped afterwards; skips when PostgreSQL is not
    configured)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'govcloud.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    Made.schemas += 1
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = normalise_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@contextmanager
def migrated_engine(url: str) -> Iterator[Engine]:
    """An engine on the database at ``url`` migrated to the newest revision; disposed after."""
    eng = make_engine(url)
    upgrade_engine(eng)
    try:
        yield eng
    finally:
        eng.dispose()


class Clock:
    """A test's clock from ``T0``: each call moves it on by ``step`` and returns it (a step of
    zero keeps it where a test puts ``now``)."""

    def __init__(self, step: timedelta = timedelta(seconds=1)) -> None:
        self.now = T0
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now
