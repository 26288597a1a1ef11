"""``GET /status`` counts servers from a cache kept by the servers' change number (docs/
city-clouds.md, Performance): with one cache shared across calls, as the control plane's is,
the counts follow every sync write — a server added, tombstoned, moved to another department
— and each principal's scope is counted on its own."""

from __future__ import annotations

from sqlalchemy import Engine

from govcloud.domain.inventory import ServerInfo, ServerTombstone
from govcloud.domain.rbac import Principal
from govcloud.domain.sites import default_sites
from govcloud.services.inventory import SnapshotCache, status
from govcloud.store import inventory as store
from govcloud.store import server_changes
from tests.databases import T0

ADMIN = Principal("boss", "bureau-admin")
PSD = Principal("psd-viewer", "department-viewer", department="gd-psd")
SITES = default_sites()
OWNERS = {"p-psd": "gd-psd", "p-tax": "gd-tax"}


def _server(sid: str, project: str, status: str = "ACTIVE") -> ServerInfo:
    return ServerInfo(id=sid, name=f"vm-{sid}", project_id=project, status=status,
                      flavor_name="gc.c2m4", vcpus=2, ram_mb=4096, disk_gb=20, created=T0,
                      updated=T0)


def _counts(engine: Engine, cache: SnapshotCache, who: Principal) -> dict[str, dict[str, int]]:
    answer = status(engine, principal=who, sites=SITES, catalogue={"gd-psd": None,
                                                                   "gd-tax": None},
                    now=T0, cache=cache)
    return {s["site"]: s["servers"]["by_status"] for s in answer["sites"]}


def _write(engine: Engine, site: str, servers: list[ServerInfo],
           owners: dict[str, str] = OWNERS) -> None:
    with engine.begin() as conn:  # as a sync writes: the rows, then one change number
        store.upsert_servers(conn, site, servers, owners, stamp=False)
        server_changes.stamp(conn)


def test_the_counts_follow_every_write_with_one_cache(db: Engine) -> None:
    cache = SnapshotCache()
    _write(db, "PROD", [_server("a", "p-psd"), _server("b", "p-tax")])
    assert _counts(db, cache, ADMIN)["PROD"] == {"ACTIVE": 2}
    assert _counts(db, cache, PSD)["PROD"] == {"ACTIVE": 1}
    assert _counts(db, cache, ADMIN)["PROD"] == {"ACTIVE": 2}  # asked again: the same

    _write(db, "DR-LOCAL", [_server("c", "p-psd", "SHUTOFF")])
    assert _counts(db, cache, ADMIN)["DR-LOCAL"] == {"SHUTOFF": 1}
    assert _counts(db, cache, PSD)["DR-LOCAL"] == {"SHUTOFF": 1}

    with db.begin() as conn:
        store.tombstone_deleted(conn, "PROD", [ServerTombstone("a", "p-psd", T0)], T0)
        server_changes.stamp(conn)
    assert _counts(db, cache, ADMIN)["PROD"] == {"ACTIVE": 1}
    assert _counts(db, cache, PSD)["PROD"] == {}

    with db.begin() as conn:  # the tax project's servers now belong to gd-psd
        store.relabel_servers(conn, "PROD", {"p-tax": "gd-psd"})
        server_changes.stamp(conn)
    assert _counts(db, cache, PSD)["PROD"] == {"ACTIVE": 1}


def test_rows_written_without_a_change_number_are_counted_afresh(db: Engine) -> None:
    cache = SnapshotCache()
    _write(db, "PROD", [_server("a", "p-psd")])
    assert _counts(db, cache, ADMIN)["PROD"] == {"ACTIVE": 1}
    with db.begin() as conn:  # a write that bypassed the change numbers
        store.upsert_servers(conn, "PROD", [_server("b", "p-psd")], OWNERS, stamp=False)
    assert _counts(db, cache, ADMIN)["PROD"] == {"ACTIVE": 2}
