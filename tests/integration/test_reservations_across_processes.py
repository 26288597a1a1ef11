"""Reservations never over-commit when the approvers are in several OS processes — as with
several API servers or workers on one database — on SQLite (one file) and PostgreSQL.

``test_provision_reservations.py`` sends its approvers through one in-process context, whose
batcher serialises them: the database's locks are never contended there. Here every process
has its own engine, its own ``ProvisioningContext`` and so its own batcher, and all of them
start on one go signal, so their transactions meet in the database. Each test fails when one
of the locks of the reservation path is removed (``scripts/mutation_gate.py`` checks that it
does; docs/testing.md says which lock each test guards, and on which database).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from govcloud.domain.placement import Demand
from govcloud.domain.sites import default_sites
from govcloud.services import provisioning as svc
from govcloud.services.catalogue import load_catalogue
from govcloud.store.audit import AuditLog
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from govcloud.store.provisioning import SITE_TOTAL
from govcloud.store.tables_provisioning import ProvisionRequestRow, ReservationRow
from tests.unit.services.provisioning_setup import (
    ADMIN,
    OPERATOR,
    PROD_ONLY,
    TENANTS,
    one_server,
    seed,
)

pytestmark = pytest.mark.slow

PROCESSES = 5
START_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 180.0

# One call a process makes: (action, argument) — ("approve", request id), ("cancel", request
# id) or ("submit", system name); and what came of it: (action, argument, outcome, message),
# outcome "ok" or the exception's class name.
Call = tuple[str, Any]
Outcome = tuple[str, Any, str, str]


def _context(engine: Engine) -> svc.ProvisioningContext:
    catalogue = load_catalogue(TENANTS, sites=[s.name for s in default_sites()])
    return svc.ProvisioningContext(engine=engine, sites=default_sites(),
                                   catalogue=lambda: catalogue, policy=PROD_ONLY,
                                   group_policy="soft-anti-affinity")


def _call(ctx: svc.ProvisioningContext, action: str, arg: Any) -> None:
    if action == "approve":
        svc.approve(ctx, ADMIN, arg)
    elif action == "cancel":
        svc.cancel(ctx, OPERATOR, arg, "not needed after all")
    elif action == "submit":
        svc.submit(ctx, OPERATOR, one_server(arg))
    else:
        raise ValueError(action)


def _process(url: str, calls: Sequence[Call], ready: Any, go: Any, results: Any) -> None:
    """One approver process: its own engine and context (and so its own batcher), one thread
    per call; they all wait for ``go``, then make their call at once."""
    engine = make_engine(url)
    ctx = _context(engine)
    with engine.connect() as conn:  # connected before the start, not after it
        conn.exec_driver_sql("SELECT 1")
    out: list[Outcome] = []
    lock = threading.Lock()

    def run(action: str, arg: Any) -> None:
        go.wait()
        try:
            _call(ctx, action, arg)
            outcome, message = "ok", ""
        except Exception as exc:  # noqa: BLE001 - every outcome goes back to the test
            outcome, message = type(exc).__name__, str(exc)
        with lock:
            out.append((action, arg, outcome, message))

    threads = [threading.Thread(target=run, args=call) for call in calls]
    for t in threads:
        t.start()
    ready.put(len(threads))
    for t in threads:
        t.join(RUN_TIMEOUT_S)
    engine.dispose()
    results.put(out)


# Children fork from a fresh single-threaded server process that has imported govcloud once
# (fast, and never a fork of the test process with whatever threads it runs).
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["govcloud.services.provisioning",
                                 "govcloud.services.catalogue", "govcloud.store.migrate"])


def across_processes(url: str, plans: Sequence[Sequence[Call]]) -> list[Outcome]:
    """Run each plan in a process of its own (each call in a thread of its own), all started
    together on one go signal once every process is connected and its threads wait; return
    every call's outcome."""
    mp = _CONTEXT  # each child makes its own engine, context and batcher
    ready, results, go = mp.Queue(), mp.Queue(), mp.Event()
    procs = [mp.Process(target=_process, args=(url, plan, ready, go, results), daemon=True)
             for plan in plans]
    for p in procs:
        p.start()
    try:
        waiting = sum(ready.get(timeout=START_TIMEOUT_S) for _ in procs)
        assert waiting == sum(len(plan) for plan in plans)
        go.set()
        outcomes = [o for _ in procs for o in results.get(timeout=RUN_TIMEOUT_S)]
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    assert len(outcomes) == sum(len(plan) for plan in plans)
    return outcomes


def spread(calls: Sequence[Call], processes: int = PROCESSES) -> list[list[Call]]:
    """``calls`` dealt round-robin to ``processes`` plans."""
    return [list(calls[i::processes]) for i in range(processes)]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade_engine(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def ctx(engine: Engine) -> svc.ProvisioningContext:
    return _context(engine)


def check_books(engine: Engine, ctx: svc.ProvisioningContext) -> dict[int, str]:
    """What must hold whatever the order of events: the ledger equals the sum of the active
    reservations, every active reservation belongs to an approved request and no request
    holds more than one per site, the audit chain verifies. Returns the requests' states."""
    check = svc.ledger_check(engine)
    assert check["matches"], check
    with Session(engine) as session:
        states = {r.id or 0: r.state for r in session.exec(select(ProvisionRequestRow))}
        active = [r for r in session.exec(select(ReservationRow))
                  if r.released_at is None]
        verified = AuditLog(session=session).verify()
        assert verified.ok, verified
    holders = Counter((r.request_id, r.site) for r in active)
    assert [k for k, n in holders.items() if n > 1] == [], "a request reserved twice"
    assert sorted({r.request_id for r in active}) == sorted(
        i for i, s in states.items() if s == "approved"), "a reservation without approval"
    return states


def cores_reserved(engine: Engine) -> int:
    return int(svc.ledger_check(engine)["ledger"].get(("PROD", SITE_TOTAL), Demand()).cores)


def unexpected(outcomes: Sequence[Outcome], allowed: set[str]) -> list[Outcome]:
    return [o for o in outcomes if o[2] != "ok" and o[2] not in allowed]


@pytest.mark.parametrize("limit", ["quota", "capacity"])
def test_fifty_approvers_in_five_processes_against_room_for_ten(
        ctx: svc.ProvisioningContext, engine: Engine, database_url: str, limit: str) -> None:
    """5 processes × 10 threads approve 50 requests, with room for 10: exactly 10 are
    approved, the 40 others refused for want of room (none for a busy database), the ledger
    holds exactly the ten's cores. Guards the ledger rows' ``FOR UPDATE`` (PostgreSQL) and
    ``BEGIN IMMEDIATE`` (SQLite: without it a writer fails instead of waiting its turn)."""
    if limit == "quota":   # plenty of hosts, 40 cores of quota: room for ten 4-vCPU servers
        seed(engine, hosts=50, host_vcpu=64, quota_cores=40)
    else:                  # unlimited quota, 5 hosts × 8 vCPU: room for ten
        seed(engine, hosts=5, host_vcpu=8, quota_cores=-1)
    ids = [svc.submit(ctx, OPERATOR, one_server(f"app{i}"))["id"] for i in range(50)]
    started = time.monotonic()
    outcomes = across_processes(database_url, spread([("approve", i) for i in ids]))
    elapsed = time.monotonic() - started
    assert unexpected(outcomes, {"InsufficientCapacity"}) == [], elapsed
    approved = sorted(o[1] for o in outcomes if o[2] == "ok")
    assert len(approved) == 10, (len(approved), elapsed)
    refusal = "insufficient capacity: PROD: "
    assert all(o[3].startswith(refusal) for o in outcomes if o[2] != "ok")
    states = check_books(engine, ctx)
    assert sorted(i for i, s in states.items() if s == "approved") == approved
    assert cores_reserved(engine) == 40
    with Session(engine) as session:
        approvals = [e for e in AuditLog(session=session).iter_entries()
                     if e.action == "request.approve"]
    assert sorted(int(e.after["request"]) for e in approvals) == approved  # type: ignore[index]


def test_each_request_approved_once_when_every_process_approves_it(
        ctx: svc.ProvisioningContext, engine: Engine, database_url: str) -> None:
    """Five processes each approve the same 10 requests at once (room for all of them): each
    request is approved exactly once and reserved once; the 40 others are told it is already
    approved. Guards the request rows' ``FOR UPDATE`` (PostgreSQL): without it a second
    approver, waiting on the ledger, still believes the request is submitted."""
    seed(engine, hosts=50, host_vcpu=64, quota_cores=-1)
    ids = [svc.submit(ctx, OPERATOR, one_server(f"same{i}"))["id"] for i in range(10)]
    plans = [[("approve", i) for i in ids] for _ in range(PROCESSES)]
    for round_ in range(3):  # three rounds (fresh requests each): the race is given its chances
        outcomes = across_processes(database_url, plans)
        assert unexpected(outcomes, {"ConflictError"}) == []
        wins = Counter(o[1] for o in outcomes if o[2] == "ok")
        assert wins == Counter(ids), wins
        assert all("is approved and cannot become approved" in o[3]
                   for o in outcomes if o[2] == "ConflictError")
        states = check_books(engine, ctx)
        assert cores_reserved(engine) == 4 * sum(s == "approved" for s in states.values())
        for i in ids:
            svc.cancel(ctx, OPERATOR, i)
        ids = [svc.submit(ctx, OPERATOR, one_server(f"again{round_}-{i}"))["id"]
               for i in range(10)]
        plans = [[("approve", i) for i in ids] for _ in range(PROCESSES)]


def test_cancels_submits_and_approvals_at_once_keep_the_books(
        ctx: svc.ProvisioningContext, engine: Engine, database_url: str) -> None:
    """At once, from five processes: cancel 5 approved requests (each release rewrites the
    ledger the approvals are adding to), approve 30 others and cancel 10 of those same 30 (a
    cancel racing the approval of its request), and submit 10 new ones (audit entries of
    their own, racing the approvals'). Whatever the order: every cancel and submit succeeds,
    an approval fails only for want of room or because its cancel came first; the ledger
    equals the active reservations, only approved requests hold any, never more than the
    quota, and the audit chain is whole. Guards the
    ledger's ``FOR UPDATE`` in the release path (``lock_ledger``), the request's in the
    cancel path (``lock_request``) and the audit log's advisory lock in ``batch_reads``
    (PostgreSQL)."""
    seed(engine, hosts=50, host_vcpu=64, quota_cores=40)  # room for ten
    for round_ in range(3):
        held = {svc.submit(ctx, OPERATOR, one_server(f"h{round_}-{i}"))["id"] for i in range(5)}
        for i in sorted(held):
            svc.approve(ctx, ADMIN, i)
        wanted = [svc.submit(ctx, OPERATOR, one_server(f"w{round_}-{i}"))["id"]
                  for i in range(30)]
        calls: list[Call] = [("cancel", i) for i in sorted(held)]
        calls += [("approve", i) for i in wanted]
        calls += [("cancel", i) for i in wanted[::3]]
        calls += [("submit", f"n{round_}-{i}") for i in range(10)]
        outcomes = across_processes(database_url, spread(calls))
        raced = set(wanted[::3])  # the approval may come after the cancel: a conflict
        assert [o for o in outcomes if o[2] != "ok" and not (
            o[0] == "approve" and (o[2] == "InsufficientCapacity" or (
                o[2] == "ConflictError" and o[1] in raced
                and "is cancelled and cannot become approved" in o[3])))] == []
        states = check_books(engine, ctx)
        approved = sum(s == "approved" for s in states.values())
        assert approved <= 10
        assert cores_reserved(engine) == 4 * approved
        assert all(states[i] == "cancelled" for i in held | raced)
        assert all(states[o[1]] in ("approved", "cancelled") for o in outcomes
                   if o[0] == "approve" and o[2] == "ok")
        for i, s in states.items():  # free the room for the next round
            if s in ("approved", "submitted"):
                svc.cancel(ctx, OPERATOR, i)
        assert cores_reserved(engine) == 0
        check_books(engine, ctx)
