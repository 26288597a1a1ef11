"""High availability with the real thing, on loopback: PostgreSQL servers of the test's own
(a primary, and a synchronous streaming standby where the test needs one; ``cluster.py``) and
several ``govcloud serve`` processes (``replicas.py``). Every test here starts its own, on free
ports in folders of its own, so they run beside any other test (pytest-xdist). Without the
PostgreSQL binaries they skip, saying so; the Makefile's apt list installs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.ha.cluster import PG_BIN_ENV, Cluster, find_pg_bin


@pytest.fixture(scope="session")
def pg_bin() -> Path:
    found = find_pg_bin()
    if found is None:
        pytest.skip(f"no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) in "
                    f"/usr/lib/postgresql/*/bin or ${PG_BIN_ENV}: `make apt` installs them")
    return found


@pytest.fixture
def primary(pg_bin: Path) -> Iterator[Cluster]:
    """A PostgreSQL primary of the test's own (no standby)."""
    cluster = Cluster(pg_bin)
    try:
        cluster.start_primary()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def replicated(pg_bin: Path) -> Iterator[Cluster]:
    """A PostgreSQL primary and its synchronous streaming standby, both the test's own."""
    cluster = Cluster(pg_bin)
    try:
        cluster.start_primary()
        cluster.start_standby(synchronous=True)
        yield cluster
    finally:
        cluster.close()
