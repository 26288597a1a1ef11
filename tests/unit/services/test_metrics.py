"""Which series ``/metrics`` exports from what the store holds (govcloud/services/metrics.py),
built from a real database: every site gets its info, hypervisor and freshness series (a site
never synced is stale, a failing one names its reason); *used* counts only live ACTIVE
servers; a department's quota limit is exported only when every project of it is limited,
and none of its quota series in a site where it has no quota and uses none;
servers, requests and migration steps are counted per label; the flavor headroom follows the
most used flavors; a broken catalogue or an edited audit chain shows in the figures, not as a
failed scrape; and a scrape serves the held snapshot at once, never waiting for the store,
refreshing it in the background only when the store changed. (The families' documentation:
tests/unit/test_metrics_doc.py; the endpoint: tests/integration/control/test_metrics_api.py
and test_serve_metrics.py.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, update
from sqlmodel import Session

from govcloud.domain.metrics import GIB, MIB
from govcloud.domain.sites import default_sites
from govcloud.services.metrics import MetricsSnapshots, Snapshot, SnapshotBuilder
from govcloud.services.provisioning_approval import approve
from govcloud.services.provisioning_requests import submit
from govcloud.store import inventory as inv
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.engine import make_engine
from tests.databases import T0
from tests.unit.services.provisioning_setup import ADMIN, OPERATOR, context, one_server, seed

SITES = default_sites()
NAMES = [s.name for s in SITES]
Values = dict[tuple[str, ...], float]


@pytest.fixture
def engine(db: Engine) -> Iterator[Engine]:
    seed(db)  # PROD: 4 hosts of 16 vCPU, gd-psd's project with unlimited quotas
    yield db


def builder(engine: Engine, **kw: Any) -> SnapshotBuilder:
    return SnapshotBuilder(engine=engine, sites=SITES, **kw)


def values(snap: Snapshot, name: str) -> Values:
    return dict(snap.families.get(name, []))


def of_site(found: Values, site: str) -> Values:
    return {k: v for k, v in found.items() if k[0] == site}


def add(engine: Engine, table: str, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(inv.table(table)), rows)


def servers(engine: Engine, *rows: tuple[str, str, str | None, str, int, bool]) -> None:
    """(site, id, department, status, vcpus, deleted): servers of flavor gc.c<vcpus>."""
    add(engine, "server", [
        {"site": site, "id": sid, "name": sid, "project_id": "p", "department": dept,
         "status": status, "flavor_name": f"gc.c{vcpus}", "vcpus": vcpus, "ram_mb": 8192,
         "disk_gb": 40, "created": T0, "updated": T0, "deleted_at": T0 if deleted else None}
        for site, sid, dept, status, vcpus, deleted in rows])


def sync(engine: Engine, site: str, **row: Any) -> None:
    add(engine, "site_sync", [{"site": site, **row}])


def audit(engine: Engine, n: int) -> None:
    with write_session(engine) as session:
        log = AuditLog(session=session)
        for i in range(n):
            log.append(actor="boss", action="test.entry", target=f"thing:{i}")
        session.commit()


def test_every_site_gets_its_series_and_a_site_never_synced_is_stale(engine: Engine) -> None:
    with engine.begin() as conn:
        hv = inv.table("hypervisor")
        conn.execute(update(hv).where(hv.c.id == "h3").values(state="down", status="disabled"))
    sync(engine, "PROD", last_attempt=T0 + timedelta(minutes=1), last_success=T0,
         duration_s=3.5, stale=False)
    sync(engine, "DR-LOCAL", last_attempt=T0, stale=True, error="connection refused")
    snap = builder(engine).build()
    assert values(snap, "govcloud_site_info") == {
        ("PROD", "production"): 1, ("DR-LOCAL", s_role(1)): 1, ("DR-REMOTE", s_role(2)): 1}
    assert values(snap, "govcloud_site_hypervisors") == {
        **{(site, st, status): 0 for site in NAMES for st in ("up", "down")
           for status in ("enabled", "disabled")},
        ("PROD", "up", "enabled"): 3, ("PROD", "down", "disabled"): 1}
    assert values(snap, "govcloud_site_stale") == {
        ("PROD",): 0, ("DR-LOCAL",): 1, ("DR-REMOTE",): 1}
    assert values(snap, "govcloud_sync_last_success_timestamp_seconds") == {
        ("PROD",): T0.timestamp()}
    assert values(snap, "govcloud_sync_last_attempt_timestamp_seconds") == {
        ("PROD",): (T0 + timedelta(minutes=1)).timestamp(), ("DR-LOCAL",): T0.timestamp()}
    assert values(snap, "govcloud_sync_last_duration_seconds") == {("PROD",): 3.5}
    failing = values(snap, "govcloud_sync_failing")
    assert len(failing) == 3 * 6  # every site × every reason, so an alert can match on 0
    assert {k: v for k, v in failing.items() if v} == {("DR-LOCAL", "unreachable"): 1}
    assert snap.last_success == {"PROD": T0.timestamp(), "DR-LOCAL": None, "DR-REMOTE": None}
    for fig in ("capacity", "allocated", "used", "free", "headroom"):
        assert set(values(snap, f"govcloud_site_vcpu_{fig}")) == {(n,) for n in NAMES}
    assert values(snap, "govcloud_site_vcpu_capacity")[("DR-LOCAL",)] == 0


def s_role(i: int) -> str:
    return SITES[i].role.value


def test_used_counts_live_active_servers_only(engine: Engine) -> None:
    servers(engine, ("PROD", "a", "gd-psd", "ACTIVE", 4, False),
            ("PROD", "b", "gd-psd", "ACTIVE", 2, False),
            ("PROD", "c", "gd-psd", "SHUTOFF", 8, False),
            ("PROD", "d", "gd-psd", "ACTIVE", 16, True),
            ("DR-LOCAL", "e", None, "ACTIVE", 1, False))
    snap = builder(engine).build()
    assert values(snap, "govcloud_site_vcpu_used") == {
        ("PROD",): 6, ("DR-LOCAL",): 1, ("DR-REMOTE",): 0}
    assert values(snap, "govcloud_site_memory_used_bytes")[("PROD",)] == 2 * 8192 * MIB
    assert values(snap, "govcloud_site_disk_used_bytes")[("PROD",)] == 2 * 40 * GIB
    assert values(snap, "govcloud_department_servers") == {
        ("gd-psd", "PROD", "ACTIVE"): 2, ("gd-psd", "PROD", "SHUTOFF"): 1}


def test_a_quota_limit_is_exported_only_when_every_project_is_limited(engine: Engine) -> None:
    rows = [("p-tax", "gd-tax", "cores", 100, 12), ("p-tax", "gd-tax", "ram", 2048, 1024),
            ("p-tax2", "gd-tax", "cores", 50, 3), ("p-tax", "gd-tax", "gigabytes", 10, 2),
            ("p-tax", "gd-tax", "server_groups", 10, 1),
            ("p-tax2", "gd-tax", "ram", -1, 512),   # one project unlimited: no limit
            ("p-admin", None, "cores", 10, 10)]       # no department: not a tenant's
    add(engine, "quota_usage", [
        {"site": "PROD", "project_id": p, "department": d, "resource": r, "limit": lim,
         "in_use": use} for p, d, r, lim, use in rows])
    snap = builder(engine).build()
    tax = {k: v for k, v in values(snap, "govcloud_department_quota_limit").items()
           if k[0] == "gd-tax"}
    assert tax == {("gd-tax", "PROD", "cores"): 150,
                   ("gd-tax", "PROD", "volume_bytes"): 10 * GIB}
    assert not [k for k in values(snap, "govcloud_department_quota_limit") if k[0] == "gd-psd"]
    in_use = values(snap, "govcloud_department_quota_in_use")
    assert {k: v for k, v in in_use.items() if k[0] == "gd-tax"} == {
        ("gd-tax", "PROD", "cores"): 15, ("gd-tax", "PROD", "ram_bytes"): 1536 * MIB,
        ("gd-tax", "PROD", "volume_bytes"): 2 * GIB}
    assert {k for k in in_use if k[0] == "gd-psd"} == {
        ("gd-psd", "PROD", "cores"), ("gd-psd", "PROD", "ram_bytes"),
        ("gd-psd", "PROD", "instances")}


def test_a_site_where_a_department_has_no_quota_and_uses_none_has_no_quota_series(
        engine: Engine) -> None:
    # a city tenant's project exists in every region of its cloud: zero quotas in the others
    rows = [("DR-LOCAL", "shantou", "cores", 0, 0), ("DR-LOCAL", "shantou", "ram", 0, 0),
            ("DR-LOCAL", "gd-tax", "cores", 0, 0), ("DR-LOCAL", "gd-tax", "ram", 0, 4),
            ("DR-REMOTE", "gd-tax", "cores", 0, 0), ("DR-REMOTE", "gd-tax", "ram", 8, 0),
            ("DR-REMOTE", "gd-edu", "cores", -1, 0), ("DR-REMOTE", "gd-edu", "ram", 0, 0)]
    add(engine, "quota_usage", [
        {"site": site, "project_id": f"p-{d}", "department": d, "resource": r, "limit": lim,
         "in_use": use} for site, d, r, lim, use in rows])
    snap = builder(engine).build()
    limits = values(snap, "govcloud_department_quota_limit")
    in_use = values(snap, "govcloud_department_quota_in_use")
    assert not [k for k in (*limits, *in_use) if k[0] == "shantou"]  # 0/0 everywhere
    # used beyond a zero quota, a quota given, an unlimited one: all still exported
    assert {k for k in in_use if k[0] in ("gd-tax", "gd-edu")} == {
        ("gd-tax", "DR-LOCAL", "cores"), ("gd-tax", "DR-LOCAL", "ram_bytes"),
        ("gd-tax", "DR-REMOTE", "cores"), ("gd-tax", "DR-REMOTE", "ram_bytes"),
        ("gd-edu", "DR-REMOTE", "cores"), ("gd-edu", "DR-REMOTE", "ram_bytes")}
    assert limits[("gd-tax", "DR-LOCAL", "ram_bytes")] == 0
    assert limits[("gd-tax", "DR-REMOTE", "ram_bytes")] == 8 * MIB
    assert ("gd-edu", "DR-REMOTE", "cores") not in limits


def test_requests_and_migration_steps_are_counted_per_label(engine: Engine) -> None:
    ctx = context(engine)
    approve(ctx, ADMIN, submit(ctx, OPERATOR, one_server("one"))["id"])
    submit(ctx, OPERATOR, one_server("two"))
    submit(ctx, OPERATOR, one_server("three"))
    started = T0 + timedelta(hours=1)
    steps = [("w1", "a", "precheck", "succeeded", None), ("w1", "a", "provision", "failed", None),
             ("w1", "b", "provision", "interrupted", None),
             ("w1", "c", "initial_sync", "running", started),
             ("w1", "d", "initial_sync", "running", started + timedelta(minutes=5)),
             ("w2", "e", "precheck", "succeeded", None)]
    add(engine, "step_run", [{"wave": w, "host": h, "step": s, "status": st, "started_at": at}
                             for w, h, s, st, at in steps])
    snap = builder(engine).build()
    assert values(snap, "govcloud_requests") == {("approved",): 1, ("submitted",): 2}
    assert values(snap, "govcloud_migration_hosts") == {
        ("w1", "precheck", "succeeded"): 1, ("w1", "provision", "failed"): 1,
        ("w1", "provision", "interrupted"): 1, ("w1", "initial_sync", "running"): 2,
        ("w2", "precheck", "succeeded"): 1}
    assert values(snap, "govcloud_migration_step_failures") == {("w1",): 2, ("w2",): 0}
    assert values(snap, "govcloud_migration_step_running_since_timestamp_seconds") == {
        ("w1", "initial_sync"): started.timestamp()}


def test_the_flavor_headroom_follows_the_most_used_flavors(engine: Engine) -> None:
    rows: list[tuple[str, str, str | None, str, int, bool]] = []
    for vcpus, count in ((1, 6), (2, 5), (4, 4), (8, 3), (16, 2), (32, 1)):
        rows += [("PROD", f"s{vcpus}-{i}", "gd-psd", "ACTIVE", vcpus, False)
                 for i in range(count)]
    rows += [("PROD", f"gone-{i}", "gd-psd", "ACTIVE", 32, True) for i in range(9)]
    rows += [("PROD", f"zero-{i}", "gd-psd", "ACTIVE", 0, False) for i in range(9)]
    servers(engine, *rows)
    snap = builder(engine).build()
    headroom = values(snap, "govcloud_site_flavor_headroom")
    chosen = {"gc.c1", "gc.c2", "gc.c4", "gc.c8", "gc.c16"}  # five, by use; never gc.c0
    assert set(headroom) == {(site, f) for site in NAMES for f in chosen}
    assert headroom[("DR-LOCAL", "gc.c1")] == 0  # no hosts there
    # PROD: 4 free hosts of 16 vCPU each (the hosts' figures, not the server rows, count)
    assert of_site(headroom, "PROD") == {("PROD", f"gc.c{v}"): 64 // v for v in (1, 2, 4, 8, 16)}


def test_a_broken_catalogue_still_gives_the_what_if(engine: Engine) -> None:
    def broken() -> Mapping[str, int]:
        raise RuntimeError("the catalogue is unreadable")

    snap = builder(engine, dr_levels=broken).build()
    assert set(values(snap, "govcloud_whatif_lose_site_fits")) == {(n,) for n in NAMES}


def test_probes_of_unknown_sites_are_left_out(engine: Engine) -> None:
    at = T0 + timedelta(seconds=30)
    add(engine, "probe_result", [
        {"site": "PROD", "service": "nova", "up": False, "latency_s": 2.5, "checked_at": at,
         "failures": 3},
        {"site": "OLD-SITE", "service": "nova", "up": True, "latency_s": 0.1,
         "checked_at": at, "failures": 0}])
    snap = builder(engine).build()
    assert values(snap, "govcloud_probe_up") == {("PROD", "nova"): 0}
    assert values(snap, "govcloud_probe_latency_seconds") == {("PROD", "nova"): 2.5}
    assert values(snap, "govcloud_probe_consecutive_failures") == {("PROD", "nova"): 3}
    assert values(snap, "govcloud_probe_timestamp_seconds") == {("PROD", "nova"): at.timestamp()}


def test_an_edited_audit_chain_shows_as_not_verified(engine: Engine) -> None:
    audit(engine, 3)
    check = builder(engine, audit_recheck_s=3600.0)
    snap = check.build()
    assert values(snap, "govcloud_audit_chain_verified") == {(): 1}
    assert values(snap, "govcloud_audit_entries_total") == {(): 3}
    with engine.begin() as conn:
        entry = inv.table("audit_entry")
        conn.execute(update(entry).where(entry.c.seq == 2).values(actor="mallory"))
    # the head did not move and the recheck is an hour away: the last verdict stands
    assert values(check.build(), "govcloud_audit_chain_verified") == {(): 1}
    audit(engine, 1)  # the head moves: verified again, and the edit is found
    snap = check.build()
    assert values(snap, "govcloud_audit_chain_verified") == {(): 0}
    assert values(snap, "govcloud_audit_entries_total") == {(): 4}
    assert values(builder(engine, audit_recheck_s=3600.0).build(),
                  "govcloud_audit_chain_verified") == {(): 0}


def test_an_anchor_file_that_is_not_one_gives_no_checkpoint(engine: Engine,
                                                            tmp_path: Path) -> None:
    audit(engine, 2)
    anchors = tmp_path / "anchors"
    anchors.write_text("this is not a checkpoint\n")
    snap = builder(engine, anchor_file=anchors).build()
    assert values(snap, "govcloud_audit_checkpoint_seq") == {(): 0}
    assert values(snap, "govcloud_audit_checkpoint_timestamp_seconds") == {}
    # an engine without an audit key has no signed checkpoints to check: the chain stands
    assert values(snap, "govcloud_audit_chain_verified") == {(): 1}
    assert "govcloud_audit_checkpoint_seq" not in builder(engine).build().families


def wait_for(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_scrape_serves_the_held_snapshot_and_refreshes_only_on_change(
        engine: Engine) -> None:
    held = MetricsSnapshots(builder(engine), max_age_s=3600.0)
    first = held.current()  # the very first scrape waits for a build
    assert held.refreshes == 1
    assert held.current() is first
    time.sleep(0.2)
    assert held.refreshes == 1  # nothing changed: no refresh
    ctx = context(engine)
    submit(ctx, OPERATOR, one_server("new"))
    assert held.current() is first  # served at once; the refresh runs in the background
    wait_for(lambda: held.refreshes == 2)
    second = held.current()
    assert second is not first
    assert values(second, "govcloud_requests") == {("submitted",): 1}
    held.builder.engine = make_engine(f"sqlite:///{Path('/nonexistent') / 'gone.db'}")
    assert held.current() is second  # the store is failing: what is held is served
    time.sleep(0.2)
    assert held.refreshes == 2


def test_a_scrape_never_waits_for_the_store(engine: Engine) -> None:
    b = builder(engine)
    held = MetricsSnapshots(b, max_age_s=3600.0)
    first = held.current()
    looking, go, looked = threading.Event(), threading.Event(), threading.Event()
    look = b.fingerprint

    def blocked(conn: Any) -> tuple[Any, ...]:  # a database that does not answer yet
        looking.set()
        go.wait(30)
        looked.set()
        return look(conn)

    b.fingerprint = blocked  # type: ignore[method-assign]
    try:
        assert held.current() is first
        assert looking.wait(30)  # the look-up runs behind the scrape...
        assert held.current() is first and not looked.is_set()  # ...which did not wait
    finally:
        go.set()
    wait_for(lambda: not held._refreshing)
    assert held.refreshes == 1  # one look-up at a time, and nothing changed


def test_an_old_snapshot_is_refreshed_at_the_next_scrape(engine: Engine) -> None:
    held = MetricsSnapshots(builder(engine), max_age_s=0.0)
    first = held.current()
    time.sleep(0.01)
    assert held.current() is first
    wait_for(lambda: held.refreshes == 2)
    assert held.current() is not first
    held.refresh_soon()
    wait_for(lambda: held.refreshes >= 3)


def test_the_fingerprint_moves_with_each_writer(engine: Engine) -> None:
    b = builder(engine)

    def now() -> tuple[Any, ...]:
        with engine.connect() as conn:
            return b.fingerprint(conn)

    seen = [now()]
    sync(engine, "PROD", last_attempt=T0, stale=False)
    seen.append(now())
    add(engine, "probe_result", [{"site": "PROD", "service": "nova", "up": True,
                                  "latency_s": 0.1, "checked_at": T0, "failures": 0}])
    seen.append(now())
    audit(engine, 1)
    seen.append(now())
    submit(context(engine), OPERATOR, one_server("xx"))
    seen.append(now())
    add(engine, "step_run", [{"wave": "w", "host": "h", "step": "precheck",
                              "status": "running", "started_at": T0}])
    seen.append(now())
    assert len(set(seen)) == len(seen)
    with Session(engine) as session:  # a read changes nothing
        AuditLog(session=session).head()
    assert now() == seen[-1]

