"""The DR posture beyond provisioned systems in their normal roles (docs/dr.md): a system
adopted from inventory (judged at its department's level, a missing copy reported missing),
a reprotected system judged against its reversed plan (the former primary as a warm copy),
a failed-over one that nothing protects, and a level-6 system whose copies must replicate
synchronously (RPO 0 by replication, or non-compliant with the reason). Also the copy servers
the protection worker sees for each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert

from govcloud.domain.protection import Compliance, CopyState, Replication, StandbyKind
from govcloud.domain.protection_config import DEFAULT_PROTECTION
from govcloud.domain.rbac import Principal, Role
from govcloud.errors import ConflictError, InvalidInput, NotFound
from govcloud.services.dr_adopt import adopt_system
from govcloud.services.dr_metrics import dr_samples, rpo_seconds
from govcloud.services.dr_posture import Posture, SystemPosture, dr_posture, system_copies
from govcloud.store import inventory as inv
from govcloud.store.dr_systems_repo import CheckRecord, put_check
from govcloud.store.engine import write_begin
from tests.unit.services.dr_seed import NOW, SITES, drill, point, protected, request, server

OPERATOR = Principal("ops", Role.OPERATOR)


def posture(engine: Engine) -> Posture:
    return dr_posture(engine, DEFAULT_PROTECTION, SITES, NOW)


def row(p: Posture, department: str, system: str) -> SystemPosture:
    (found,) = [s for s in p.systems if (s.department, s.system) == (department, system)]
    return found


def adopt(db: Engine, system: str, servers: list[str], *, level: int | None = None,
          department_level: int = 4) -> None:
    adopt_system(db, OPERATOR, SITES, department="gd-psd", department_level=department_level,
                 system=system, servers=servers, level=level,
                 now=NOW - timedelta(days=10))


def test_an_adopted_system_is_judged_at_its_departments_level(db: Engine) -> None:
    with write_begin(db) as conn:
        server(conn, "PROD", "gd-psd", "old-web", flavor="gc.c8m16")
        server(conn, "PROD", "gd-psd", "old-db", flavor="gc.c8m16")
        copy = server(conn, "DR-REMOTE", "gd-psd", "old-web", flavor="gc.c8m16",
                      status="SHELVED_OFFLOADED")
        point(conn, "gd-psd", "legacy", "DR-REMOTE", copy, timedelta(hours=2))
    adopt(db, "legacy", ["old-web", "old-db"])
    got = row(posture(db), "gd-psd", "legacy")
    assert got.level == 4 and got.plan is not None
    assert [(m.name, m.flavor) for m in got.members] == [("old-db", "gc.c8m16"),
                                                         ("old-web", "gc.c8m16")]
    assert got.verdict.status is Compliance.NON_COMPLIANT
    # the copy it lacks is reported missing, not skipped
    assert got.verdict.reasons[0] == "DR-REMOTE (cold copy): 1 of 2 servers missing (old-db)"
    assert [(c.site, c.state) for c in got.verdict.copies] == [("DR-REMOTE", CopyState.MISSING)]
    # the protection worker sees the copy server that exists, copying from production
    copies = system_copies(db, DEFAULT_PROTECTION, SITES, departments=["gd-psd"])
    assert [(c.system, c.site, c.name, c.kind, c.production_site) for c in copies] == [
        ("legacy", "DR-REMOTE", "old-web", StandbyKind.COLD, "PROD")]


def test_adoption_refuses_what_it_cannot_protect(db: Engine) -> None:
    with write_begin(db) as conn:
        server(conn, "PROD", "gd-psd", "old-web")
        request(conn, "gd-psd", "case", servers=1)
    with pytest.raises(NotFound, match="not in PROD for department gd-psd: 'nope'"):
        adopt(db, "legacy", ["old-web", "nope"])
    with pytest.raises(InvalidInput, match="lower than department gd-psd's 4"):
        adopt(db, "legacy", ["old-web"], level=3)
    with pytest.raises(ConflictError, match="built by a provisioning request"):
        adopt(db, "case", ["old-web"])
    with pytest.raises(InvalidInput, match="not a server name"):
        adopt(db, "legacy", ["bad\x1bname"])
    # raised above the department's level: level 5 keeps a hot copy in DR-LOCAL as well
    adopt(db, "legacy", ["old-web"], level=5)
    got = row(posture(db), "gd-psd", "legacy")
    assert got.level == 5
    assert [c.site for c in got.verdict.copies] == ["DR-LOCAL", "DR-REMOTE"]


def _role(db: Engine, primary: str, copy_site: str | None, state: str) -> None:
    with write_begin(db) as conn:
        conn.execute(insert(inv.table("dr_system_role")).values(
            department="gd-psd", system="case", primary_site=primary, copy_site=copy_site,
            state=state, changed_at=NOW))


def test_a_reprotected_system_is_judged_against_its_reversed_plan(db: Engine) -> None:
    with write_begin(db) as conn:
        protected(conn, "gd-psd", "case", level=4, servers=1)
    prod_id = next(c.production_id for c in system_copies(db, DEFAULT_PROTECTION, SITES))
    _role(db, "DR-REMOTE", "PROD", "reprotected")
    with write_begin(db) as conn:  # production stopped by the failover: a warm copy now
        conn.execute(inv.table("server").update().where(
            inv.table("server").c.id == prod_id).values(status="SHUTOFF"))
    got = row(posture(db), "gd-psd", "case")
    assert [(c.site, c.kind, c.state) for c in got.verdict.copies] == [
        ("PROD", StandbyKind.WARM, CopyState.PRESENT)]
    assert got.verdict.reasons[0] == "PROD (warm copy): no recovery point yet"
    (copy,) = system_copies(db, DEFAULT_PROTECTION, SITES)
    assert (copy.site, copy.server_id, copy.kind, copy.production_site) == (
        "PROD", prod_id, StandbyKind.WARM, "DR-REMOTE")
    with write_begin(db) as conn:
        point(conn, "gd-psd", "case", "PROD", prod_id, timedelta(minutes=5))
    got = row(posture(db), "gd-psd", "case")
    assert got.verdict.status is Compliance.COMPLIANT, got.verdict.reasons
    assert got.verdict.copies[0].rpo == timedelta(minutes=5)


def test_a_failed_over_system_nothing_protects_is_non_compliant(db: Engine) -> None:
    with write_begin(db) as conn:
        protected(conn, "gd-psd", "case", level=4, servers=1)
    _role(db, "DR-REMOTE", None, "failed-over")
    got = row(posture(db), "gd-psd", "case")
    assert got.verdict.status is Compliance.NON_COMPLIANT
    assert got.verdict.reasons[0] == ("serving from DR-REMOTE after a failover: no copy "
                                      "protects it until `govcloud dr reprotect`")
    assert system_copies(db, DEFAULT_PROTECTION, SITES) == []
    with write_begin(db) as conn:
        conn.execute(inv.table("dr_system_role").delete())
    _role(db, "PROD", "DR-REMOTE", "normal")  # failed back: the normal plan again
    got = row(posture(db), "gd-psd", "case")
    assert [c.site for c in got.verdict.copies] == ["DR-REMOTE"]
    assert got.verdict.status is Compliance.COMPLIANT


def test_a_cold_copy_shelved_again_by_failback_without_a_point_is_unprotected(
        db: Engine) -> None:
    """A failback whose final cycle did not run shelves the cold copy again with no point of
    what it holds (its older points name the image Nova deleted on the failover's unshelve):
    non-compliant until a point taken since the failback's start."""
    with write_begin(db) as conn:
        ids = protected(conn, "gd-psd", "case", level=4, servers=1,
                        age=timedelta(minutes=30))
        failback_id = conn.execute(insert(inv.table("dr_failover")).values(
            department="gd-psd", system="case", kind="failback", source="DR-REMOTE",
            target="PROD", state="done", requester="ops", created_at=NOW,
            started_at=NOW - timedelta(minutes=20))).inserted_primary_key[0]
        conn.execute(insert(inv.table("dr_system_role")).values(
            department="gd-psd", system="case", primary_site="PROD", copy_site="DR-REMOTE",
            state="normal", failover_id=failback_id, changed_at=NOW))
    got = row(posture(db), "gd-psd", "case")
    assert got.verdict.status is Compliance.NON_COMPLIANT
    assert got.verdict.reasons[0] == (
        "DR-REMOTE cold copy shelved again by the failback of 2026-12-07T11:40:00+00:00 with "
        "no recovery point since: unprotected until its next protection cycle "
        "(`govcloud dr protect`)")
    assert got.verdict.copies[0].rpo is None
    with write_begin(db) as conn:  # the next protection cycle (or the failback's own point)
        point(conn, "gd-psd", "case", "DR-REMOTE", ids["DR-REMOTE/case-vm-1"],
              timedelta(minutes=2))
    got = row(posture(db), "gd-psd", "case")
    assert got.verdict.status is Compliance.COMPLIANT, got.verdict.reasons
    assert got.verdict.copies[0].rpo == timedelta(minutes=2)


def _check(db: Engine, site: str, sid: str, *, ok: bool, age: timedelta,
           detail: str = "") -> None:
    with write_begin(db) as conn:
        put_check(conn, CheckRecord(site, sid, "gd-psd", "tax", NOW - age, ok, detail))


def test_level_six_copies_are_judged_by_synchronous_replication(db: Engine) -> None:
    with write_begin(db) as conn:
        ids = protected(conn, "gd-psd", "tax", servers=1, drilled=None)
        drill(conn, "gd-psd", "tax", datetime(2026, 10, 1, tzinfo=UTC),
              rto=timedelta(minutes=10))
        conn.execute(inv.table("provision_request").update().values(dr_level=6))
    got = row(posture(db), "gd-psd", "tax")
    assert got.plan is not None and got.plan.rpo == timedelta(0)
    assert {c.replication for c in got.plan.copies} == {Replication.SYNCHRONOUS}
    # periodic points do not meet RPO 0: never checked yet
    assert got.verdict.status is Compliance.NON_COMPLIANT
    assert "DR-LOCAL (hot copy): synchronous replication not checked yet" in \
        got.verdict.reasons
    local, remote = ids["DR-LOCAL/tax-vm-1"], ids["DR-REMOTE/tax-vm-1"]
    _check(db, "DR-LOCAL", local, ok=True, age=timedelta(minutes=2))
    _check(db, "DR-REMOTE", remote, ok=False, age=timedelta(minutes=1),
           detail="DR-REMOTE/tax-vm-1: volume v1 (/dev/vda) is of type 'standard', not the "
                 "replicated type 'replicated-sync'")
    got = row(posture(db), "gd-psd", "tax")
    assert got.verdict.status is Compliance.NON_COMPLIANT
    assert got.verdict.reasons == (
        "DR-REMOTE (cold copy): not replicated synchronously: DR-REMOTE/tax-vm-1: volume v1 "
        "(/dev/vda) is of type 'standard', not the replicated type 'replicated-sync'",)
    local_copy, remote_copy = got.verdict.copies
    assert (local_copy.replication, local_copy.rpo) == (Replication.SYNCHRONOUS,
                                                        timedelta(0))
    assert remote_copy.rpo is None
    _check(db, "DR-REMOTE", remote, ok=True, age=timedelta(0))
    got = row(posture(db), "gd-psd", "tax")
    assert got.verdict.status is Compliance.COMPLIANT, got.verdict.reasons
    copies = system_copies(db, DEFAULT_PROTECTION, SITES)
    assert {c.replication for c in copies} == {Replication.SYNCHRONOUS}
    # Prometheus: RPO 0 by replication at every scrape, however old the check
    ((_, at),) = dr_samples(posture(db), DEFAULT_PROTECTION, lambda *a: None).points
    assert rpo_seconds(at, NOW.timestamp() + 3600) == 0
