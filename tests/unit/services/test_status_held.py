"""``GET /status`` holds what it counts in the plane's snapshot cache while the store is
unchanged (issue 23: 20 open consoles ask every 10 s), and is never older than the store, in
a real database with one cache shared across calls as the control plane's is: a server
added, stopped or deleted shows in the next status; so does a row a writer left unstamped,
and each site's volumes after its sync; every principal's counts stay within its own scope
whoever asked first. The listing of changes finds its rows by their change number."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from govcloud.domain.inventory import ServerInfo
from govcloud.domain.rbac import Principal, Role
from govcloud.domain.sites import default_sites
from govcloud.services.inventory import SnapshotCache
from govcloud.services.inventory_status import inventory_key, status
from govcloud.store import inventory as store
from govcloud.store import server_changes as changes
from tests.databases import T0

ADMIN = Principal("boss", Role.BUREAU_ADMIN)
PSD = Principal("psd-viewer", Role.DEPARTMENT_VIEWER, department="gd-psd")
TAX = Principal("tax-viewer", Role.DEPARTMENT_VIEWER, department="gd-tax")
SITES = default_sites()
DEPARTMENTS = {"p-psd": "gd-psd", "p-tax": "gd-tax"}
CATALOGUE: dict[str, str | None] = {"gd-psd": None, "gd-tax": None}  # code → RBAC city


def _server(sid: str, project: str = "p-psd", state: str = "ACTIVE") -> ServerInfo:
    return ServerInfo(id=sid, name=f"vm-{sid}", project_id=project, status=state,
                      flavor_name="gc.c4m8", vcpus=4, ram_mb=8192, disk_gb=40, created=T0,
                      updated=T0)


def _synced(engine: Engine, *servers: ServerInfo, site: str = "PROD",
            minutes: int = 0) -> None:
    """What a sync of ``site`` writes: its servers (stamped) and its sync row."""
    at = T0 + timedelta(minutes=minutes)
    with engine.begin() as conn:
        store.upsert_servers(conn, site, servers, DEPARTMENTS)
        store.record_success(conn, site, at=at, duration_s=1.0, watermark=at, full=True,
                             servers=0, hypervisors=0)


def _prod(engine: Engine, cache: SnapshotCache, who: Principal = ADMIN) -> dict[str, Any]:
    answer = status(engine, principal=who, sites=SITES, catalogue=CATALOGUE, cache=cache,
                    now=T0)
    servers: dict[str, Any] = next(s for s in answer["sites"] if s["site"] == "PROD")["servers"]
    return servers


def test_each_change_of_the_servers_shows_in_the_next_status(db: Engine) -> None:
    _synced(db, _server("a"), _server("b"), _server("t", "p-tax"))
    cache = SnapshotCache()
    assert _prod(db, cache) == {"total": 3, "by_status": {"ACTIVE": 3}}
    assert _prod(db, cache) == {"total": 3, "by_status": {"ACTIVE": 3}}  # held

    _synced(db, _server("c"), minutes=1)  # a new server
    assert _prod(db, cache)["total"] == 4
    _synced(db, _server("a", state="SHUTOFF"), minutes=2)  # one stopped
    assert _prod(db, cache)["by_status"] == {"ACTIVE": 3, "SHUTOFF": 1}
    with db.begin() as conn:  # one deleted, the tombstone stamped (no sync row written)
        store.tombstone(conn, "PROD", ["b"], T0)
    assert _prod(db, cache) == {"total": 3, "by_status": {"ACTIVE": 2, "SHUTOFF": 1}}


def test_a_row_left_unstamped_shows_at_once_and_nothing_is_held_meanwhile(db: Engine) -> None:
    _synced(db, _server("a"))
    cache = SnapshotCache()
    assert _prod(db, cache)["total"] == 1
    with db.begin() as conn:  # a writer that did not stamp: the head does not move
        store.upsert_servers(conn, "PROD", [_server("late")], DEPARTMENTS, stamp=False)
    with db.connect() as conn:
        assert inventory_key(conn, store.sync_states(conn)) is None
    assert _prod(db, cache)["total"] == 2
    with db.begin() as conn:
        assert changes.stamp(conn) is not None
    assert _prod(db, cache)["total"] == 2


def test_each_site_s_volumes_show_after_its_sync(db: Engine) -> None:
    _synced(db, _server("a"))
    cache = SnapshotCache()

    def volumes() -> dict[str, int]:
        answer = status(db, principal=ADMIN, sites=SITES, cache=cache, now=T0)
        shown: dict[str, int] = next(s for s in answer["sites"]
                                     if s["site"] == "PROD")["volumes"]
        return shown

    assert volumes() == {"count": 0, "gb": 0}
    with db.begin() as conn:  # a sync reads two volumes: written with its sync row
        store.replace_site_rows(conn, "volume", "PROD", [
            {"site": "PROD", "id": f"v{i}", "project_id": "p-psd", "department": "gd-psd",
             "size_gb": 10 * i, "status": "available"} for i in (1, 2)])
        store.record_success(conn, "PROD", at=T0 + timedelta(minutes=1), duration_s=1.0,
                             watermark=T0, full=True, servers=1, hypervisors=0)
    assert volumes() == {"count": 2, "gb": 30}


def test_every_principal_counts_within_its_own_scope_whoever_asked_first(db: Engine) -> None:
    _synced(db, _server("a"), _server("b"), _server("t", "p-tax"))
    cache = SnapshotCache()
    assert _prod(db, cache, ADMIN)["total"] == 3
    assert _prod(db, cache, PSD)["total"] == 2
    assert _prod(db, cache, TAX)["total"] == 1
    _synced(db, _server("t2", "p-tax"), minutes=1)
    assert _prod(db, cache, TAX)["total"] == 2
    assert _prod(db, cache, PSD)["total"] == 2
    assert _prod(db, cache, ADMIN)["total"] == 4
    viewer = status(db, principal=PSD, sites=SITES, catalogue=CATALOGUE, cache=cache, now=T0)
    assert viewer["totals"] == {"servers": 2} and "volumes" not in viewer["sites"][0]


def test_the_held_values_go_with_their_key() -> None:
    cache = SnapshotCache()
    reads: list[str] = []

    def read(value: str) -> str:
        reads.append(value)
        return value

    assert cache.held(("k", 1), "x", lambda: read("one")) == "one"
    assert cache.held(("k", 1), "x", lambda: read("again")) == "one"
    assert cache.held(("k", 2), "x", lambda: read("two")) == "two"
    assert cache.held(None, "x", lambda: read("none")) == "none"
    assert cache.held(None, "x", lambda: read("none")) == "none"
    assert reads == ["one", "two", "none", "none"]


def test_a_listing_of_changes_finds_its_rows_by_change_number(db: Engine) -> None:
    _synced(db, *[_server(f"s{i:03}") for i in range(300)])
    _synced(db, _server("s007", state="SHUTOFF"), minutes=1)
    with db.connect() as conn:
        seq = changes.head(conn).seq
        rows = changes.changes_page(conn, departments=["gd-psd"], include_unmapped=False,
                                    site="PROD", since=seq - 1, upto=seq, after=None,
                                    limit=10)
        assert [(r["id"], r["status"]) for r in rows] == [("s007", "SHUTOFF")]
        if db.dialect.name == "sqlite":  # PostgreSQL's planner weighs the range itself
            query = changes.changes_query(conn, departments=["gd-psd"],
                                          include_unmapped=False, site="PROD",
                                          since=seq - 1, upto=seq,
                                          after=("PROD", "s001"), limit=10)
            compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
            plan = " ".join(r[3] for r in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}"))
            assert "ix_server_change_seq" in plan, plan
