"""The operator scorecard from a real store (SQLite, and PostgreSQL when
GOVCLOUD_TEST_DATABASE_URL is set): availability from the hours each site was read, request
fulfilment from the stored requests, drills held in the month; migration progress of waves
planned by the migration service, alerts from failed recovery points, drills and migration
steps, each department's ACTIVE server-hours from the sync's metering, capacity as of the
month's end from the sync's samples; only the whole-cloud roles read it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlmodel import Session

from govcloud.domain.capacity import Resources
from govcloud.domain.metering import Resource, UsageKind, UsageRow
from govcloud.domain.rbac import Principal, Role
from govcloud.domain.recovery import PointKind, PointRecord, PointStatus
from govcloud.domain.scorecard import Targets
from govcloud.domain.sites import Site, SiteRole
from govcloud.domain.waves import Step, StepStatus
from govcloud.errors import Forbidden
from govcloud.services.dr_posture import Posture, Totals
from govcloud.services.migration_access import Caller, import_hosts, plan
from govcloud.services.scorecard import scorecard
from govcloud.store import inventory as inventory_store
from govcloud.store import metering_repo, protection_repo
from govcloud.store import migration as migration_store
from govcloud.store.engine import write_begin
from govcloud.store.inventory import table
from tests.unit.services.provisioning_setup import catalogue

from .statements_seed import AFTER, NOV, seed

SITES = [Site("PROD", "c", "r1", SiteRole.PRODUCTION),
         Site("DR-REMOTE", "c", "r2", SiteRole.REMOTE_DR)]
H = dt.timedelta(hours=1)


def _request(created: dt.datetime, updated: dt.datetime, state: str) -> dict[str, Any]:
    return {"department": "gd-tax", "system": "s", "dr_level": 1, "state": state,
            "requester": "ci", "requester_person": "CI", "spec_json": "{}",
            "created_at": created, "updated_at": updated}


def test_the_scorecard_from_the_store(db: Engine) -> None:
    seed(db)
    day = NOV.start + dt.timedelta(days=3)
    with write_begin(db) as conn:
        conn.execute(insert(table("provision_request")), [
            _request(day, day + 2 * H, "done"), _request(day, day + 4 * H, "done"),
            _request(day, day + 100 * H, "done"), _request(day, day + H, "rejected"),
            _request(NOV.end - 90 * H, NOV.end - 89 * H, "approved")])
        conn.execute(insert(table("dr_drill")), [
            {"department": "gd-tax", "system": "s", "site": "DR-REMOTE", "at": day,
             "result": "passed", "rto_s": 600.0},
            {"department": "gd-tax", "system": "s", "site": "DR-REMOTE", "at": day + H,
             "result": "failed", "rto_s": None},
            {"department": "gd-tax", "system": "s", "site": "DR-REMOTE",
             "at": NOV.start - H, "result": "failed", "rto_s": None}])
    posture = Posture(AFTER, (), {}, {}, Totals(compliant=1))  # one system, compliant
    card = scorecard(db, Principal("auditor", Role.BUREAU_AUDITOR), NOV, sites=SITES,
                     targets=Targets(), clock=lambda: AFTER, posture=lambda: posture)
    got = {f["name"]: (f["value"], f["met"]) for f in card["figures"]}
    assert got["PROD API"] == ("90.91 %", False)  # 10 read, 1 failed (timeout)
    assert got["DR-REMOTE API"] == ("100 %", True)
    assert got["requests done"] == ("3", None)
    assert got["fulfilment p50"] == ("4 h", True) and got["fulfilment p95"] == ("100 h", False)
    assert got["breaches"] == ("2", False)  # 100 h done, 90 h still open at the month's end
    assert got["systems compliant"] == ("1 of 1", True)
    assert got["drills overdue"] == ("0", True)
    assert got["drills held in the month"] == ("2", False)  # one failed (October's not counted)
    assert got["PROD vCPU headroom"] == ("-", None)  # nothing synced: no capacity known
    assert card["targets"]["availability_pct"] == "99.5"
    assert got["gd-tax alerts"] == ("1", False)  # the drill that failed
    assert got["waves"] == ("0", None)  # no migration planned
    assert (card["met"], card["missed"]) == (4, 5)
    with pytest.raises(Forbidden):
        scorecard(db, Principal("v", Role.DEPARTMENT_VIEWER, department="gd-tax"), NOV,
                  sites=SITES, targets=Targets(), clock=lambda: AFTER)


ADMIN = Principal("boss", Role.BUREAU_ADMIN)
DAY = dt.timedelta(days=1)


def _server(sid: str, status: str) -> dict[str, Any]:
    return {"site": "PROD", "id": sid, "name": sid, "project_id": "p-tax",
            "department": "gd-tax", "status": status, "flavor_name": "m1.small", "vcpus": 1,
            "ram_mb": 2048, "disk_gb": 20, "ephemeral_gb": 0, "created": NOV.start - DAY,
            "updated": NOV.start - DAY, "deleted_at": None}


def _point(at: dt.datetime, status: PointStatus) -> PointRecord:
    return PointRecord("gd-tax", "hukou", "DR-REMOTE", "copy-1", at, PointKind.FILE_SYNC, 1,
                       "sha256:" + "a" * 64 if status is PointStatus.OK else None, status,
                       None if status is PointStatus.OK else "rsync failed")


def _migrate(db: Engine) -> str:
    """gd-psd's hosts imported and planned by the migration service; the hukou system's two
    hosts then finish their last step in November (as a run records it), the tax system's
    host fails a step."""
    caller = Caller(ADMIN, catalogue())
    text = ("all:\n  vars: {govcloud_department: gd-psd}\n  hosts:\n"
            "    db1: {ansible_host: 10.0.0.1, govcloud_system: hukou}\n"
            "    web1: {ansible_host: 10.0.0.2, govcloud_system: hukou}\n"
            "    app1: {ansible_host: 10.0.0.3, govcloud_system: tax}\n")
    import_hosts(db, caller, text=text, name="psd.yaml", clock=lambda: NOV.start)
    waves = plan(db, caller, department="gd-psd", first_window=NOV.start + 5 * DAY,
                 window_hours=4, every_days=7, max_hosts=10, clock=lambda: NOV.start)["waves"]
    where = {h: w["wave"] for w in waves for h in w["hosts"]}
    with Session(db) as session:
        for host in ("db1", "web1"):
            migration_store.set_step(session, where[host], host, Step.DONE,
                                     StepStatus.SUCCEEDED, at=NOV.start + 6 * DAY)
        migration_store.set_step(session, where["app1"], "app1", Step.INITIAL_SYNC,
                                 StepStatus.FAILED, at=NOV.start + 13 * DAY,
                                 error="rsync failed", ident="job-7")
        migration_store.add_events(session, [{
            "wave": where["app1"], "step": "initial_sync", "ident": "job-7",
            "at": NOV.start + 13 * DAY, "event": "job_failed", "message": "rsync failed"}])
        session.commit()
    return where["app1"]


def test_migration_alerts_server_hours_and_capacity_as_of_the_months_end(db: Engine) -> None:
    _migrate(db)
    day = NOV.start + 10 * DAY
    with write_begin(db) as conn:
        conn.execute(insert(table("server")), [_server("a", "ACTIVE"), _server("b", "ACTIVE"),
                                               _server("c", "SHUTOFF")])
        for h in range(4):  # four hours metered by syncs
            metering_repo.record_site_hour(conn, "PROD", SiteRole.PRODUCTION, day + h * H)
        metering_repo.replace_month(conn, "DR-REMOTE", NOV, [UsageRow(  # before the count
            day, "gd-tax", "DR-REMOTE", "m1.small", UsageKind.PRIMARY, Resource.SERVERS,
            Decimal(1))], [day], at=day)
        for at, status in ((day, PointStatus.OK), (day + 2 * H, PointStatus.FAILED),
                           (day + 4 * H, PointStatus.PARTIAL), (day + 7 * H, PointStatus.OK)):
            protection_repo.add_recovery_point(conn, _point(at, status))
        for at, allocated, up in ((NOV.start + 19 * DAY, 100, 2), (NOV.start + 29 * DAY, 200, 1),
                                  (NOV.end + H, 900, 0)):  # December's is not November's
            inventory_store.add_sample(conn, "PROD", at, Resources(allocated, 0, 0),
                                       Resources(1000, 0, 0), hosts_in_service=2, hosts_up=up)
    card = scorecard(db, ADMIN, NOV, sites=SITES, targets=Targets(), clock=lambda: AFTER)
    got = {f["name"]: f for f in card["figures"]}
    sections = [f["section"] for f in card["figures"]]
    assert list(dict.fromkeys(sections)) == [
        "availability", "requests", "migration", "dr", "capacity", "alerts"]
    waves = [f for f in card["figures"] if f["section"] == "migration"]
    assert sum(int(f["value"].split()[0]) for f in waves) == 1  # hukou, both hosts done
    assert sum(int(f["value"].split()[2]) for f in waves) == 2  # of hukou and tax
    assert all(f["met"] is not None for f in waves)  # every window ended in November
    tax_wave = next(f for f in waves if f["value"] == "0 of 1 systems")
    assert tax_wave["met"] is False and "0 of 1 hosts" in tax_wave["detail"]
    assert (got["gd-tax servers ACTIVE"]["value"], got["gd-tax servers ACTIVE"]["met"]) == (
        "66.67 %", None)  # 8 of 12: DR-REMOTE's hour before the count is left out
    assert got["gd-tax servers ACTIVE"]["detail"].startswith("8 of 12 server-hours")
    assert got["gd-tax alerts"]["value"] == "1"
    assert got["gd-tax alerts"]["detail"] == "1 DR protection failing; longest 5 h"
    assert got["gd-psd alerts"]["detail"] == "1 migration step failed"  # one job, once
    assert (got["PROD compute"]["value"], got["PROD compute"]["met"]) == ("75 %", False)
    assert got["PROD compute"]["detail"] == "3 of 4 host-syncs up, 2 syncs"
    assert got["DR-REMOTE compute"]["value"] == "-"  # no sync counted its hosts
    headroom, full = got["PROD vCPU headroom"], got["PROD days to full"]
    assert (headroom["value"], headroom["met"]) == ("80 %", True)  # 800 of 1000 on 30 Nov
    assert headroom["detail"].endswith("as of 2026-11-30 00:00 UTC (the month's last sync)")
    assert (full["value"], full["met"]) == ("79", False)  # +10/day from 200: 79 days left
    assert got["DR-REMOTE vCPU headroom"]["detail"] == \
        "no capacity known (as of the month's end (no sync in it or before))"
    assert "as of now" in got["DR posture"]["detail"]


def test_dr_is_judged_as_of_the_months_end_once_it_is_over(db: Engine) -> None:
    asked: list[dt.datetime] = []

    def at(moment: dt.datetime) -> Posture:
        asked.append(moment)
        return Posture(moment, (), {}, {}, Totals(compliant=2, at_risk=1))

    def now_posture() -> Posture:
        raise AssertionError("a month that is over is not judged as of now")

    card = scorecard(db, Principal("auditor", Role.BUREAU_AUDITOR), NOV, sites=SITES,
                     targets=Targets(), clock=lambda: AFTER, posture=now_posture,
                     posture_at=at)
    got = {f["name"]: f for f in card["figures"]}
    assert asked == [NOV.end]
    assert (got["systems compliant"]["value"], got["systems compliant"]["met"]) == \
        ("2 of 3", False)
    assert got["systems compliant"]["detail"] == (
        "1 at risk, 0 non-compliant, as of the month's end (2026-12-01 00:00 UTC): recovery "
        "points and drills up to then, servers as last synced")
    # the current month: as of now
    during = NOV.start + dt.timedelta(days=10)
    current = scorecard(db, Principal("auditor", Role.BUREAU_AUDITOR), NOV, sites=SITES,
                        targets=Targets(), clock=lambda: during,
                        posture=lambda: Posture(during, (), {}, {}, Totals(compliant=1)),
                        posture_at=at)
    (compliant,) = [f for f in current["figures"] if f["name"] == "systems compliant"]
    assert compliant["detail"].endswith("as of now (2026-11-11 00:00 UTC)")
    assert asked == [NOV.end]
    # no alert was ever posted to govcloud: the Prometheus alerts are not judged
    (prom,) = [f for f in card["figures"] if f["name"] == "Prometheus alerts"]
    assert (prom["value"], prom["met"]) == ("-", None)
