"""Database fixtures: every store test runs on SQLite (a fresh file) and, when
GOVCLOUD_TEST_DATABASE_URL is set, on PostgreSQL in a fresh schema that is dropped afterwards.

Creating and dropping a schema per test leaves dead rows in PostgreSQL's system catalogs
(about 360,000 in ``pg_attribute`` per full run); a server without autovacuum — like the test
machine's — keeps them, and planning everything on it slows down run after run. So when the
run used PostgreSQL, its end vacuums the catalogs it churned."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from govcloud.sim.server import RunningSimulator, start
from govcloud.store.engine import make_engine
from tests.databases import PG_ENV, Made, fresh_database, migrated_engine

# the catalogs a CREATE/DROP SCHEMA with govcloud's tables writes to
CHURNED_CATALOGS = ("pg_attribute", "pg_class", "pg_depend", "pg_type", "pg_index",
                    "pg_constraint", "pg_attrdef", "pg_sequence", "pg_namespace")


@pytest.fixture(autouse=True)
def isolated_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The XDG state dir points into the test's tmp_path: ``govcloud serve`` and ``admin
    bootstrap`` keep the audit key and its anchor file there (one per database, as a real
    server has), and runner artifacts; never in the home dir of whoever runs the tests.
    Processes a test starts from ``os.environ`` inherit it."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh database migrated to the newest revision (a test module that needs
    something else under this name overrides it)."""
    with migrated_engine(database_url) as eng:
        yield eng


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Vacuum the system catalogs the run's schemas churned (see the module's docstring)."""
    base = os.environ.get(PG_ENV)
    if not base or not Made.schemas:
        return
    engine = make_engine(base)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM " + ", ".join(f"pg_catalog.{t}"
                                                       for t in CHURNED_CATALOGS))
    except Exception as exc:  # noqa: BLE001 - housekeeping: say so, never fail the run
        warnings.warn(f"could not vacuum PostgreSQL's catalogs after the tests: {exc}",
                      stacklevel=1)
    finally:
        engine.dispose()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[RunningSimulator, Path]]:
    """A small simulator (seed 42) on loopback in this process, and its clouds.yaml."""
    clouds = tmp_path / "clouds.yaml"
    running = start(scale="small", seed=42, clouds_yaml=clouds, build_delay=0.2)
    try:
        yield running, clouds
    finally:
        running.stop()
