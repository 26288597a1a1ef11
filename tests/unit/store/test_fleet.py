"""The console's read queries over a stored snapshot (a SQLite file migrated to head): what a
department-scoped reader sees, which servers count as live, and which compute services count
as down. (Through the API: tests/integration/control/test_fleet_api.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from govcloud.store.fleet import (
    department_activity,
    quota_usage,
    server,
    servers_on_host,
    services_down,
)
from govcloud.store.inventory import table
from tests.databases import T0, migrated_engine
from tests.unit.fleet_rows import srv


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with migrated_engine(f"sqlite:///{tmp_path / 'fleet.db'}") as eng:
        with eng.begin() as conn:
            conn.execute(table("server").insert(), [
                srv("PROD", "a", "gd-psd", minute=1), srv("PROD", "b", "gd-psd", minute=5),
                srv("PROD", "c", "gd-tax", host="cn2"), srv("PROD", "d", None),
                srv("PROD", "e", "gd-psd", deleted=True, minute=9),
                srv("DR-LOCAL", "f", "gd-psd", minute=2)])
            conn.execute(table("quota_usage").insert(), [
                {"site": "PROD", "project_id": "p1", "resource": "cores",
                 "department": "gd-psd", "limit": 40, "in_use": 8},
                {"site": "PROD", "project_id": "p2", "resource": "cores",
                 "department": "gd-tax", "limit": 20, "in_use": 2},
                {"site": "PROD", "project_id": "admin", "resource": "cores",
                 "department": None, "limit": -1, "in_use": 0}])
            conn.execute(table("compute_service").insert(), [
                {"site": "PROD", "id": "1", "binary": "nova-compute", "host": "cn1",
                 "state": "up", "status": "enabled", "forced_down": False},
                {"site": "PROD", "id": "2", "binary": "nova-compute", "host": "cn2",
                 "state": "down", "status": "enabled", "forced_down": False},
                {"site": "PROD", "id": "3", "binary": "nova-compute", "host": "cn3",
                 "state": "up", "status": "enabled", "forced_down": True},
                {"site": "DR-LOCAL", "id": "4", "binary": "nova-compute", "host": "cn1",
                 "state": "up", "status": "disabled", "forced_down": False}])
        yield eng


def test_quota_usage_is_scoped_to_the_readers_departments(engine: Engine) -> None:
    with engine.connect() as conn:
        everyone = quota_usage(conn, departments=None)
        mine = quota_usage(conn, departments=["gd-psd"])
        nobody = quota_usage(conn, departments=[])
    assert {r["department"] for r in everyone} == {"gd-psd", "gd-tax"}  # unmapped: never
    assert [(r["department"], r["limit"], r["in_use"]) for r in mine] == [("gd-psd", 40, 8)]
    assert nobody == []


def test_activity_counts_live_servers_and_their_newest_change_per_site(engine: Engine) -> None:
    with engine.connect() as conn:
        everyone = department_activity(conn, departments=None)
        mine = department_activity(conn, departments=["gd-psd"])
        nobody = department_activity(conn, departments=[])
    got = {(r["department"], r["site"]): r["servers"] for r in everyone}
    assert got == {("gd-psd", "PROD"): 2, ("gd-tax", "PROD"): 1, ("gd-psd", "DR-LOCAL"): 1}
    prod = next(r for r in mine if r["site"] == "PROD")
    assert prod["servers"] == 2  # the deleted one neither counts nor dates the activity
    assert prod["last_change"].replace(tzinfo=UTC) == T0 + timedelta(minutes=5)
    assert {r["department"] for r in mine} == {"gd-psd"}
    assert nobody == []


def test_a_hosts_servers_are_the_live_ones_by_name(engine: Engine) -> None:
    with engine.connect() as conn:
        names = [r["name"] for r in servers_on_host(conn, site="PROD", host="cn1")]
    assert names == ["vm-a", "vm-b", "vm-d"]  # not the deleted vm-e, not DR-LOCAL's vm-f


def test_a_deleted_server_is_not_found(engine: Engine) -> None:
    with engine.connect() as conn:
        assert server(conn, site="PROD", server_id="a") is not None
        assert server(conn, site="PROD", server_id="e") is None
        assert server(conn, site="DR-LOCAL", server_id="a") is None


def test_services_down_counts_state_down_and_forced_down(engine: Engine) -> None:
    with engine.connect() as conn:
        assert services_down(conn) == {"PROD": 2}  # a disabled service is not down
