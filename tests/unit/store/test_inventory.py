"""What the inventory snapshot's writers decide, in a real database: a full listing tombstones
the site's live servers it lacks (once: a server already gone keeps when it went) and no other
site's; purging removes only tombstones older than the cutoff; a department → project mapping
reports whether it changed, and servers follow it; recording tenancy's mappings leaves other
departments alone; limits just set keep the stored usage; a failed sync marks the site stale
and keeps its last success, an incremental one keeps the last full one. (Through a sync:
tests/integration/test_sync_sim.py.)"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from govcloud.domain.inventory import ServerInfo, ServerTombstone
from govcloud.store.inventory import (
    ProjectMapping,
    aware,
    purge_tombstones,
    record_failure,
    record_mappings,
    record_success,
    relabel_servers,
    replace_mapping,
    replace_servers,
    set_quota_limits,
    sync_states,
    table,
    tombstone_deleted,
)
from govcloud.store.site_rows import replace_listing
from tests.databases import T0

LATER = T0 + timedelta(hours=1)


def server(sid: str, project: str = "p-psd") -> ServerInfo:
    return ServerInfo(id=sid, name=f"vm-{sid}", project_id=project, status="ACTIVE",
                      flavor_name="gc.c4m8", vcpus=4, ram_mb=8192, disk_gb=40, created=T0,
                      updated=T0)


def servers(engine: Engine) -> dict[tuple[str, str], tuple[str | None, bool]]:
    srv = table("server")
    with engine.connect() as conn:
        return {(r.site, r.id): (r.department, r.deleted_at is not None)
                for r in conn.execute(select(srv))}


def test_a_full_listing_tombstones_the_live_servers_it_lacks(db: Engine) -> None:
    with db.begin() as conn:
        replace_servers(conn, "PROD", [server("a"), server("b"), server("c")],
                        {"p-psd": "gd-psd"}, T0)
        replace_servers(conn, "DR-LOCAL", [server("x")], {}, T0)
    with db.begin() as conn:
        assert replace_servers(conn, "PROD", [server("a")], {"p-psd": "gd-psd"}, T0) == 2
    with db.begin() as conn:  # b and c are already gone: not again, and not re-dated
        assert replace_servers(conn, "PROD", [server("a")], {}, LATER) == 0
        tombstone_deleted(conn, "PROD", [ServerTombstone("b", "p-psd", LATER)], LATER)
    assert servers(db) == {("PROD", "a"): (None, False), ("PROD", "b"): ("gd-psd", True),
                           ("PROD", "c"): ("gd-psd", True), ("DR-LOCAL", "x"): (None, False)}
    srv = table("server")
    with db.connect() as conn:
        assert {aware(r[0]) for r in conn.execute(select(srv.c.deleted_at).where(
            srv.c.deleted_at.is_not(None)))} == {T0}
    with db.begin() as conn:
        assert purge_tombstones(conn, "PROD", before=T0) == 0
        assert purge_tombstones(conn, "DR-LOCAL", before=LATER) == 0
        assert purge_tombstones(conn, "PROD", before=LATER) == 2
    assert sorted(servers(db)) == [("DR-LOCAL", "x"), ("PROD", "a")]


def test_a_mapping_says_whether_it_changed_and_servers_follow_it(db: Engine) -> None:
    psd = ProjectMapping("gd-psd", "p-psd", "gd-psd", None)
    with db.begin() as conn:
        replace_servers(conn, "PROD", [server("a"), server("t", "p-tax")],
                        {"p-psd": "gd-psd"}, T0)
        assert replace_mapping(conn, "PROD", [psd]) is True
        assert replace_mapping(conn, "PROD", [psd]) is False
        assert replace_mapping(conn, "PROD", [psd, ProjectMapping(
            "gd-tax", "p-tax", "gd-tax", None)]) is True
        relabel_servers(conn, "PROD", {"p-tax": "gd-tax"})  # p-psd no longer mapped
    assert servers(db) == {("PROD", "a"): (None, False), ("PROD", "t"): ("gd-tax", False)}


def test_recording_tenancys_mappings_leaves_other_departments_alone(db: Engine) -> None:
    with db.begin() as conn:
        replace_servers(conn, "PROD", [server("a"), server("t", "p-tax")], {}, T0)
        replace_mapping(conn, "PROD", [ProjectMapping("gd-tax", "p-tax", "gd-tax", None)])
        record_mappings(conn, {"PROD": [ProjectMapping("gd-psd", "p-psd", "gd-psd", None)]})
        dept_site = table("department_site")
        mapped = {(r.department, r.project_id) for r in conn.execute(select(dept_site))}
    assert mapped == {("gd-psd", "p-psd"), ("gd-tax", "p-tax")}
    assert servers(db)[("PROD", "a")] == ("gd-psd", False)


def test_limits_just_set_keep_the_stored_usage(db: Engine) -> None:
    quota = table("quota_usage")
    with db.begin() as conn:
        conn.execute(quota.insert(), [{"site": "PROD", "project_id": "p-psd",
                                       "resource": "cores", "department": "gd-psd",
                                       "limit": 10, "in_use": 7}])
        set_quota_limits(conn, "PROD", "p-psd", "gd-psd",
                         {"cores": (20, 0), "instances": (5, 1)})
        rows = {r.resource: (r.limit, r.in_use) for r in conn.execute(select(quota))}
    assert rows == {"cores": (20, 7), "instances": (5, 1)}


def test_a_failed_sync_is_stale_and_keeps_the_last_success(db: Engine) -> None:
    later = LATER + timedelta(hours=1)
    with db.begin() as conn:
        record_failure(conn, "DR-LOCAL", at=T0, duration_s=1.0, error="cannot connect")
        record_success(conn, "PROD", at=T0, duration_s=2.0, watermark=T0, full=True,
                       servers=3, hypervisors=2)
        record_success(conn, "PROD", at=LATER, duration_s=0.5, watermark=LATER, full=False,
                       servers=4, hypervisors=2)
        record_failure(conn, "PROD", at=later, duration_s=9.0, error="x" * 3000)
        states = sync_states(conn)
    prod, dr = states["PROD"], states["DR-LOCAL"]
    assert (prod.stale, prod.last_attempt, prod.last_success, prod.last_full) == \
        (True, later, LATER, T0)
    assert (prod.servers, len(prod.error or "")) == (4, 2000)
    assert (dr.stale, dr.last_success, dr.error, dr.servers) == \
        (True, None, "cannot connect", 0)


def _flavor(fid: str, vcpus: int = 2, **extra: object) -> dict[str, object]:
    return {"site": "PROD", "id": fid, "name": f"gc.{fid}", "vcpus": vcpus, "ram_mb": 4096,
            "disk_gb": 40, **extra}


def _flavors(db: Engine, site: str = "PROD") -> dict[str, tuple[object, ...]]:
    tbl = table("flavor")
    with db.connect() as conn:
        return {r.id: (r.name, r.vcpus, r.swap_mb, r.is_public) for r in
                conn.execute(select(tbl).where(tbl.c.site == site))}


def test_a_listing_writes_only_what_changed_and_leaves_other_sites_alone(db: Engine) -> None:
    tbl = table("flavor")
    with db.begin() as conn:
        assert replace_listing(conn, tbl, "PROD", [_flavor("a"), _flavor("b"), _flavor(
            "c", swap_mb=512, is_public=False)]) == {"deleted": 0, "inserted": 3, "updated": 0}
        replace_listing(conn, tbl, "DR-LOCAL", [{**_flavor("a"), "site": "DR-LOCAL"}])
    with db.begin() as conn:  # the same listing again: nothing written
        assert replace_listing(conn, tbl, "PROD", [_flavor("a"), _flavor("b"), _flavor(
            "c", swap_mb=512, is_public=False)]) == {"deleted": 0, "inserted": 0, "updated": 0}
    with db.begin() as conn:  # b gone, a changed, c's columns left out go back to defaults
        assert replace_listing(conn, tbl, "PROD", [_flavor("a", vcpus=8), _flavor("c"),
                                                   _flavor("d")]) == {
            "deleted": 1, "inserted": 1, "updated": 2}
    assert _flavors(db) == {"a": ("gc.a", 8, 0, True), "c": ("gc.c", 2, 0, True),
                            "d": ("gc.d", 2, 0, True)}
    assert _flavors(db, "DR-LOCAL") == {"a": ("gc.a", 2, 0, True)}
    with db.begin() as conn:
        assert replace_listing(conn, tbl, "PROD", []) == {
            "deleted": 3, "inserted": 0, "updated": 0}
    assert _flavors(db) == {} and len(_flavors(db, "DR-LOCAL")) == 1
