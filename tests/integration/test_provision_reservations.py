"""Approvals reserve capacity and quota without ever over-committing, on SQLite and
PostgreSQL: 50 concurrent approvals against room for 10 (real threads, real databases).

The threads here share one context, whose batcher serialises them: these tests prove the
batch's decisions, not the database's locks. The locks are proven by approvers in several
OS processes, test_reservations_across_processes.py (docs/testing.md)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlmodel import Session

from govcloud.domain.rbac import Principal
from govcloud.domain.sites import default_sites
from govcloud.errors import ConflictError, Forbidden, GovCloudError, InvalidInput
from govcloud.services import provisioning as svc
from govcloud.services.catalogue import load_catalogue
from govcloud.store import inventory as inv
from govcloud.store import provisioning as store
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.bulk import write_all
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from govcloud.store.provisioning import SITE_TOTAL
from tests.unit.services.provisioning_setup import (
    ADMIN,
    OPERATOR,
    OTHER_ADMIN,
    PROD_ONLY,
    TENANTS,
    one_server,
    seed,
)

VIEWER = Principal("viewer", "department-viewer", department="gd-tax")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade_engine(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def ctx(engine: Engine) -> svc.ProvisioningContext:
    catalogue = load_catalogue(TENANTS, sites=[s.name for s in default_sites()])
    return svc.ProvisioningContext(engine=engine, sites=default_sites(),
                                   catalogue=lambda: catalogue, policy=PROD_ONLY,
                                   group_policy="soft-anti-affinity")


def approve_concurrently(ctx: svc.ProvisioningContext, ids: list[int]) -> tuple[
        list[int], list[GovCloudError]]:
    ok: list[int] = []
    errors: list[GovCloudError] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(ids))

    def run(rid: int) -> None:
        barrier.wait()
        try:
            svc.approve(ctx, ADMIN, rid)
            with lock:
                ok.append(rid)
        except GovCloudError as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(rid,)) for rid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return ok, errors


@pytest.mark.parametrize("limit", ["quota", "capacity"])
def test_fifty_concurrent_approvals_against_room_for_ten(ctx: svc.ProvisioningContext,
                                                        engine: Engine, limit: str) -> None:
    if limit == "quota":   # plenty of hosts, 40 cores of quota: room for ten 4-vCPU servers
        seed(engine, hosts=50, host_vcpu=64, quota_cores=40)
    else:                  # unlimited quota, 5 hosts × 8 vCPU: room for ten
        seed(engine, hosts=5, host_vcpu=8, quota_cores=-1)
    ids = [svc.submit(ctx, OPERATOR, one_server(f"app{i}"))["id"] for i in range(50)]
    ok, errors = approve_concurrently(ctx, ids)
    assert len(ok) == 10, [e.message for e in errors][:3]
    assert len(errors) == 40
    assert all(isinstance(e, svc.InsufficientCapacity) for e in errors), errors[:3]
    assert all(e.message.startswith("insufficient capacity: PROD: ") for e in errors)
    check = svc.ledger_check(engine)
    assert check["matches"], check
    assert check["ledger"][("PROD", SITE_TOTAL)].cores == 40
    states = {r["id"]: r["state"] for r in svc.list_requests(ctx, ADMIN)["requests"]}
    assert sorted(i for i, s in states.items() if s == "approved") == sorted(ok)
    assert sum(s == "submitted" for s in states.values()) == 40
    with Session(engine) as session:  # every approval audited, the chain intact
        log = AuditLog(session=session)
        assert log.verify().ok
        approvals = [e for e in log.iter_entries() if e.action == "request.approve"]
    assert sorted(int(e.after["request"]) for e in approvals) == sorted(ok)  # type: ignore[index]


def test_release_on_cancel_and_fail_frees_the_room(ctx: svc.ProvisioningContext,
                                                   engine: Engine) -> None:
    seed(engine, hosts=50, host_vcpu=64, quota_cores=8)  # room for two
    a, b, c = (svc.submit(ctx, OPERATOR, one_server(f"s{i}"))["id"] for i in range(3))
    svc.approve(ctx, ADMIN, a)
    svc.approve(ctx, ADMIN, b)
    with pytest.raises(svc.InsufficientCapacity, match="gd-psd quota has 0 cores left"):
        svc.approve(ctx, ADMIN, c)
    cancelled = svc.cancel(ctx, OPERATOR, a, "not needed")
    assert cancelled["state"] == "cancelled"
    svc.approve(ctx, ADMIN, c)  # a's room is free again
    assert svc.start(ctx, b)
    failed = svc.fail(ctx, b, "PROD: HTTP 403: Quota exceeded for cores")
    assert failed["state"] == "failed" and "Quota exceeded" in failed["error"]
    check = svc.ledger_check(engine)
    assert check["matches"] and check["ledger"][("PROD", "gd-psd")].cores == 4
    shown = svc.show(ctx, ADMIN, b)
    assert [e["kind"] for e in shown["events"]] == ["submitted", "approved", "provisioning",
                                                    "failed"]


def test_rules_of_deciding(ctx: svc.ProvisioningContext, engine: Engine) -> None:
    seed(engine, hosts=5, host_vcpu=64, quota_cores=-1)
    own = svc.submit(ctx, ADMIN, one_server("mine"))["id"]
    with pytest.raises(Forbidden, match="requester and approver must differ"):
        svc.approve(ctx, ADMIN, own)
    approved = svc.approve(ctx, OTHER_ADMIN, own)
    assert approved["approver"] == "deputy" and approved["requester"] == "boss"
    other = svc.submit(ctx, OPERATOR, one_server("theirs"))["id"]
    with pytest.raises(Forbidden, match="approving requests and managing principals"):
        svc.approve(ctx, OPERATOR, other)
    with pytest.raises(InvalidInput, match="needs a reason"):
        svc.reject(ctx, ADMIN, other, " ")
    assert svc.reject(ctx, ADMIN, other, "use the shared cluster")["state"] == "rejected"
    with pytest.raises(ConflictError, match="is rejected and cannot become approved"):
        svc.approve(ctx, OTHER_ADMIN, other)
    # a viewer of another department does not even learn the request exists
    from govcloud.errors import NotFound
    with pytest.raises(NotFound):
        svc.show(ctx, VIEWER, other)
    assert svc.list_requests(ctx, VIEWER)["count"] == 0


def test_bad_requests_are_refused_before_anything_is_stored(
        ctx: svc.ProvisioningContext, engine: Engine) -> None:
    seed(engine, hosts=5, host_vcpu=64, quota_cores=-1)
    for data, text in ((one_server(count=0), "count: 0 is outside"),
                       (one_server(count=10_000), "count: 10000 is outside"),
                       ({**one_server(), "servers": [{**one_server()["servers"][0],
                                                      "flavor": "gc.nope"}]},
                        "PROD: unknown flavor 'gc.nope'"),
                       ("- just\n- a list", "must be a mapping")):
        with pytest.raises(InvalidInput, match=text):
            svc.submit(ctx, OPERATOR, data)
    assert svc.list_requests(ctx, ADMIN)["count"] == 0
    assert svc.ledger_check(engine)["ledger"] == {}


def test_auto_approval_policy_is_shown_as_the_approver(ctx: svc.ProvisioningContext,
                                                       engine: Engine) -> None:
    from govcloud.domain.provisioning import AutoApprove

    seed(engine, hosts=5, host_vcpu=64, quota_cores=-1)
    ctx.auto_approve = {"gd-psd": AutoApprove("gd-psd", max_vcpu=8, per_month=1)}
    first = svc.submit(ctx, OPERATOR, one_server("a1"))
    assert first["state"] == "approved"
    assert first["approver"].startswith("policy:auto-approve gd-psd")
    second = svc.submit(ctx, OPERATOR, one_server("a2"))
    assert second["state"] == "submitted"  # one per month
    big = svc.submit(ctx, OPERATOR, one_server("a3", count=3))
    assert big["state"] == "submitted"
    notes = [e["message"] for e in svc.show(ctx, ADMIN, big["id"])["events"]]
    assert any("needs 12 vCPU in a site, above the auto-approval limit of 8" in n
               for n in notes)


def test_one_batch_of_approvals_decides_each_in_turn(ctx: svc.ProvisioningContext,
                                                     engine: Engine) -> None:
    """Approvals committed together (one batch, as concurrent approvers make) give what
    approving them one after another gives: each refused one alone, with its own reason, the
    rest written together, the ledger and the audit chain right."""
    from govcloud.errors import NotFound
    from govcloud.store.group_commit import Piece

    seed(engine, hosts=50, host_vcpu=64, quota_cores=8)  # room for two
    a, b, c, mine = (svc.submit(ctx, OPERATOR, one_server(f"b{i}"))["id"] for i in range(4))
    svc.cancel(ctx, OPERATOR, mine)  # no longer submitted
    own = svc.submit(ctx, ADMIN, one_server("own"))["id"]

    def piece(rid: int, who: Principal = ADMIN) -> Piece:
        return Piece(svc._Approval(rid, who.name, who.name, None, who))

    batch = [piece(a), piece(own), piece(9999), piece(a, OTHER_ADMIN), piece(b), piece(c),
             piece(mine), piece(c, VIEWER)]
    svc._approve_batch(ctx, batch)

    def answer(p: Piece) -> dict[str, Any]:  # what approve() returns to its caller
        row, placement = p.result
        return svc.request_json(row, placement=placement)

    assert batch[0].error is None and answer(batch[0])["state"] == "approved"
    assert isinstance(batch[1].error, Forbidden)  # the requester never decides
    assert isinstance(batch[2].error, NotFound)
    assert isinstance(batch[3].error, ConflictError)  # approved earlier in this very batch
    assert batch[4].error is None and answer(batch[4])["approver"] == "boss"
    assert isinstance(batch[5].error, svc.InsufficientCapacity)  # a and b took the room
    assert "gd-psd quota has 0 cores left" in batch[5].error.message
    assert isinstance(batch[6].error, ConflictError)  # cancelled
    assert isinstance(batch[7].error, NotFound)  # a viewer of gd-tax does not see gd-psd's
    states = {r["id"]: r["state"] for r in svc.list_requests(ctx, ADMIN)["requests"]}
    assert states == {a: "approved", b: "approved", c: "submitted", mine: "cancelled",
                      own: "submitted"}
    check = svc.ledger_check(engine)
    assert check["matches"] and check["ledger"][("PROD", "gd-psd")].cores == 8
    shown = svc.show(ctx, ADMIN, a)
    assert shown["placement"]["ok"] and shown["events"][-1]["kind"] == "approved"
    assert {k: shown[k] for k in answer(batch[0])} == answer(batch[0])  # stored as returned
    with Session(engine) as session:
        log = AuditLog(session=session)
        assert log.verify().ok
        approved = [e.after["request"] for e in log.iter_entries()  # type: ignore[index]
                    if e.action == "request.approve"]
    assert approved == [a, b]


def test_a_batch_that_cannot_commit_fails_whole_and_leaves_nothing(
        ctx: svc.ProvisioningContext, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(engine, hosts=50, host_vcpu=64, quota_cores=-1)
    ids = [svc.submit(ctx, OPERATOR, one_server(f"f{i}"))["id"] for i in range(3)]

    def broken(conn: Any, operations: Any) -> None:  # the batch's writes went out, then…
        write_all(conn, operations)
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "write_all", broken)
    from govcloud.store.group_commit import Piece

    batch = [Piece(svc._Approval(rid, "boss", "boss", None, ADMIN)) for rid in ids]
    with pytest.raises(RuntimeError, match="disk full"):
        svc._approve_batch(ctx, batch)
    monkeypatch.undo()
    assert {r["state"] for r in svc.list_requests(ctx, ADMIN)["requests"]} == {"submitted"}
    assert svc.ledger_check(engine)["ledger"] == {}
    with Session(engine) as session:
        assert not [e for e in AuditLog(session=session).iter_entries()
                    if e.action == "request.approve"]
    assert all(svc.approve(ctx, ADMIN, rid)["state"] == "approved" for rid in ids)


def test_batch_reads_read_what_the_reads_one_by_one_read(ctx: svc.ProvisioningContext,
                                                         engine: Engine) -> None:
    """``batch_reads`` sends its own SQL (one pipeline on PostgreSQL, one statement after
    another on SQLite); on both databases it reads exactly what ``lock_ledger``,
    ``placement_reads``, ``sync_states`` and the audit log's head read — projects with and
    without quotas, departments without a project, unknown flavors, sync states, ledger rows
    — and refuses ledger keys that were never made."""
    seed(engine, hosts=3, host_vcpu=64, quota_cores=40)
    at = datetime(2026, 11, 29, 8, 0, 0, 123456, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(inv.table("department_site")), [
            {"department": "gd-tax", "site": "PROD", "project_id": "p-tax",
             "project_name": "gd-tax", "city": None}])
        conn.execute(insert(inv.table("flavor")), [
            {"site": "DR-LOCAL", "id": "f8", "name": "gc.c8m16", "vcpus": 8,
             "ram_mb": 16384, "disk_gb": 80, "ephemeral_gb": 10, "swap_mb": 512,
             "is_public": True}])
        conn.execute(insert(inv.table("site_sync")), [
            {"site": "PROD", "last_attempt": at, "last_success": at, "last_full": None,
             "duration_s": 1.5, "error": "partly: nova 500", "stale": True,
             "watermark": at, "servers": 12, "hypervisors": 3}])
    approved = svc.approve(ctx, ADMIN, svc.submit(ctx, OPERATOR, one_server())["id"])
    assert approved["state"] == "approved"  # ledger rows with amounts, audit entries
    keys = store.ledger_keys("gd-psd", ["PROD"])
    pairs = [("gd-psd", "PROD"), ("gd-tax", "PROD"), ("gd-psd", "DR-LOCAL"),
             ("gd-nobody", "PROD")]
    flavors = ["gc.c4m8", "gc.c8m16", "no-such-flavor"]
    with write_session(engine) as session:
        got = store.batch_reads(session.connection(), keys, pairs, flavors)
        session.rollback()
    with write_session(engine) as session:
        conn = session.connection()
        ledger = store.lock_ledger(conn, keys)
        projects, by_site = store.placement_reads(conn, pairs, flavors)
        states = inv.sync_states(conn)
        head = AuditLog(session=session).head()
        session.rollback()
    assert got == store.BatchReads(ledger, projects, by_site, states, head)
    assert got.ledger[("PROD", SITE_TOTAL)].cores == 4
    assert set(got.projects) == {("gd-psd", "PROD"), ("gd-tax", "PROD")}
    assert got.projects[("gd-tax", "PROD")] == ("p-tax", {})
    assert got.projects[("gd-psd", "PROD")][1]["cores"].limit == 40
    assert got.flavors["DR-LOCAL"]["gc.c8m16"].ephemeral_gb == 10
    assert "gc.c4m8" in got.flavors["PROD"] and "no-such-flavor" not in got.flavors["PROD"]
    assert got.states["PROD"].error == "partly: nova 500" and got.states["PROD"].stale
    assert got.states["PROD"].last_success == at and got.audit_head.seq > 0
    with write_session(engine) as session, pytest.raises(RuntimeError, match="ensure_ledger"):
        store.batch_reads(session.connection(), [*keys, ("DR-REMOTE", "gd-psd")], pairs, [])


def test_lock_requests_reads_each_request_as_the_orm_does(ctx: svc.ProvisioningContext,
                                                           engine: Engine) -> None:
    """``lock_requests`` sends its own SQL (the ids as one array or JSON parameter); the
    columns it returns are the ORM's for every request asked for that exists — datetimes as
    SQLAlchemy returns them on each database, NULLs, an approved one's placement — in id
    order, and nothing for ids that do not exist."""
    seed(engine, hosts=3, host_vcpu=64, quota_cores=-1)
    ids = [svc.submit(ctx, OPERATOR, one_server(f"app{i}"))["id"] for i in range(3)]
    svc.approve(ctx, ADMIN, ids[1])
    with write_session(engine) as session:
        got = store.lock_requests(session.connection(), [ids[2], ids[0], ids[1], 999_999,
                                                         ids[0]])
        session.rollback()
    with Session(engine) as session:
        want = {rid: session.get(store.ProvisionRequestRow, rid).model_dump()  # type: ignore[union-attr]
                for rid in ids}
    assert list(got) == sorted(ids)
    assert got == want
    assert got[ids[1]]["state"] == "approved" and got[ids[1]]["placement_json"]
    assert got[ids[0]]["approver"] is None
    assert isinstance(got[ids[0]]["created_at"], datetime)


def test_separation_of_duties_is_per_person_not_per_principal(
        ctx: svc.ProvisioningContext, engine: Engine) -> None:
    """A second principal of the requester's person (another token, even another name) may
    neither approve (the batched path) nor reject the request; another person may."""
    seed(engine, hosts=5, host_vcpu=64, quota_cores=-1)
    boss_again = Principal("boss-laptop", "bureau-admin", person="boss")
    boss_spelled = Principal("b.o.s.s", "bureau-admin", person="  BOSS ")
    rid = svc.submit(ctx, ADMIN, one_server("mine"))["id"]
    for same in (boss_again, boss_spelled):
        with pytest.raises(Forbidden, match="requester and approver must differ"):
            svc.approve(ctx, same, rid)
        with pytest.raises(Forbidden, match="requester and approver must differ"):
            svc.reject(ctx, same, rid, "self-dealing")
    with Session(engine) as session:
        assert store.get_request(session, rid).state == "submitted"
        assert store.get_request(session, rid).requester_person == "boss"
    deputy = Principal("deputy-phone", "bureau-admin", person="Deputy")
    approved = svc.approve(ctx, deputy, rid)
    assert approved["state"] == "approved" and approved["approver"] == "deputy-phone"
