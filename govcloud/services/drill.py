"""DR drills, the use cases behind ``/dr/drills`` (docs/dr.md, "Drills"): plan a drill of a
system or a whole department into a DR site, have the bureau approve it (another person than
the requester), run it in the background, show it with its steps and evidence (JSON, or the
Markdown report), and clean up after it.

RBAC: planning, running and cleaning up need ``drill.run`` on the department (operators and
the bureau); approving needs what approving a provisioning request needs
(``request.approve``: the bureau) and another person than the requester; reading needs
``department.view``. A drill of a department the caller may not view is "no drill N".
Everything that changes something is audited.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from govcloud.domain.changes import OperationKind
from govcloud.domain.drill_evidence import DrillEvidence, evidence_from_json, render_markdown
from govcloud.domain.drills import (
    DrillPlan,
    DrillState,
    check_approver,
    check_runnable,
    check_site,
)
from govcloud.domain.failover import production
from govcloud.domain.notifications import EventKind
from govcloud.domain.rbac import Action
from govcloud.errors import ConflictError, GovCloudError, NotFound
from govcloud.services import drill_run
from govcloud.services.change_gate import (
    Ticket,
    WindowCheck,
    finish,
    gate,
    hold,
    opens_later,
    reserve,
    ticket_of,
    wake,
)
from govcloud.services.drill_state import DrillContext, evidence_of
from govcloud.services.migration_access import Caller
from govcloud.services.notifications import tell
from govcloud.services.step_machine import Runs
from govcloud.store import drill_repo as repo
from govcloud.store import protection_repo
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.changes_repo import OpenLink
from govcloud.store.inventory import aware
from govcloud.store.tables_drill import DrillPlanRow

log = logging.getLogger(__name__)


def _no_drill(drill_id: int) -> NotFound:
    return NotFound(f"no drill {drill_id}", hint="list the drills: `govcloud dr drill show`")


def _time(value: Any) -> str | None:
    found = aware(value)
    return found.isoformat() if found is not None else None


def _checked(ctx: DrillContext, caller: Caller, drill_id: int,
             action: Action) -> DrillPlanRow:
    with Session(ctx.engine) as session:
        row = repo.find(session, drill_id)
        if row is not None:
            session.expunge(row)
    if row is None:
        raise _no_drill(drill_id)
    caller.check(action, row.department, lambda: _no_drill(drill_id))
    return row


def _audit(session: Session, ctx: DrillContext, actor: str, action: str, department: str,
           after: dict[str, Any]) -> None:
    AuditLog(session=session, clock=ctx.clock).append(
        actor=actor, action=action, target=f"department:{department}", after=after)


def drill_json(ctx: DrillContext, row: DrillPlanRow, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id, "department": row.department, "system": row.system, "site": row.site,
        "state": row.state, "requester": row.requester, "approver": row.approver,
        "runner": row.runner, "created_at": _time(row.created_at),
        "approved_at": _time(row.approved_at), "started_at": _time(row.started_at),
        "finished_at": _time(row.finished_at), "cleaned_at": _time(row.cleaned_at),
        "running": row.run_id is not None, "evidence_sha256": row.evidence_digest}
    if full:
        record = evidence(ctx, row)
        out["steps"] = [s.as_json() for s in record.steps]
        out["evidence"] = record.as_json()
        out["sealed"] = row.evidence_digest is not None
    return out


def evidence(ctx: DrillContext, row: DrillPlanRow) -> DrillEvidence:
    """The drill's evidence: as sealed when it finished, else as the rows say now."""
    if row.evidence:
        return evidence_from_json(json.loads(row.evidence))
    with Session(ctx.engine) as session:
        return evidence_of(session, row)


def plan(ctx: DrillContext, caller: Caller, *, department: str, system: str | None,
         site: str) -> dict[str, Any]:
    caller.check(Action.DRILL_RUN, department)
    check_site(site, ctx.sites)
    asked = DrillPlan(department, system, site, caller.name, caller.principal.person)
    with ctx.engine.connect() as conn:
        known = {r.system for r in protection_repo.system_requests(
            conn, departments=[department])}
    if system is not None and system not in known:
        raise NotFound(f"no system {system!r} in {department}",
                       hint="systems: " + (", ".join(sorted(known)[:20]) or "none") +
                            " (`govcloud dr posture --department D`)")
    if not known:
        raise NotFound(f"{department} has no protected system to drill",
                       hint="systems come from provisioning requests")
    with write_session(ctx.engine) as session:
        row = DrillPlanRow(department=department, system=system, site=site,
                           state=DrillState.PLANNED.value, requester=caller.name,
                           requester_person=asked.requester_person, created_at=ctx.clock())
        drill_id = repo.add_plan(session, row)
        _audit(session, ctx, caller.name, "dr.drill.plan", department,
               {"drill": drill_id, "system": system, "site": site})
        session.commit()
        session.refresh(row)
        return drill_json(ctx, row)


def approve(ctx: DrillContext, caller: Caller, drill_id: int) -> dict[str, Any]:
    row = _checked(ctx, caller, drill_id, Action.REQUEST_APPROVE)
    check_approver(caller.principal, row.requester_person, DrillState(row.state))
    with write_session(ctx.engine) as session:
        stored = repo.get(session, drill_id)
        check_approver(caller.principal, stored.requester_person, DrillState(stored.state))
        stored.state, stored.approver = DrillState.APPROVED.value, caller.name
        stored.approved_at = ctx.clock()
        session.add(stored)
        _audit(session, ctx, caller.name, "dr.drill.approve", stored.department,
               {"drill": drill_id, "requester": stored.requester})
        tell(ctx.notify, session.connection(), EventKind.DRILL_SCHEDULED, stored.department,
             drill_id, stored.approved_at, actor=caller.name, system=stored.system,
             site=stored.site)
        session.commit()
        session.refresh(stored)
        return drill_json(ctx, stored)


def _sites(ctx: DrillContext, row: DrillPlanRow) -> list[str]:
    """The sites a drill touches: production (its snapshot) and the DR site it runs in."""
    return list(dict.fromkeys([production(ctx.sites).name, row.site]))


def _launch(ctx: DrillContext, runs: Runs, drill_id: int, actor: str,
            ticket: Ticket | None, department: str, sites: list[str]) -> str:
    """Take the drill and run it in the background; its ticket finished (or held, when its
    window stopped it) when the run ends."""
    changes = ctx.changes
    window = WindowCheck(changes, ticket, [department], sites=sites) \
        if changes is not None and ticket is not None else None
    run_id = uuid.uuid4().hex[:12]
    drill_run.claim(ctx, drill_id, run_id)  # refuses now if a live run holds it

    def work(cancel: threading.Event) -> None:
        state = DrillState.INTERRUPTED.value
        try:
            state = drill_run.run_drill(ctx, drill_id, actor=actor, cancel=cancel,
                                        run_id=run_id, window=window)
        except GovCloudError as exc:
            log.warning("drill %s: %s", drill_id, exc.message)
        except Exception:
            log.exception("drill %s failed unexpectedly", drill_id)
        if changes is None or ticket is None:
            return
        if state == DrillState.WAITING.value and window is not None:
            hold(changes, ticket, actor=actor, reason=window.reason)
        else:
            finish(changes, ticket, actor=actor, ok=state == DrillState.PASSED.value,
                   detail=f"drill {drill_id} {state}")

    runs.start(f"drill-{drill_id}", work)
    return run_id


def start_run(ctx: DrillContext, runs: Runs, caller: Caller, drill_id: int, *,
              change_id: int | None = None) -> dict[str, Any]:
    """Run (or resume) an approved drill in the background; refused while a run holds it,
    and without a change that lets it run (change control: kind dr-drill, its department,
    production and its DR site). Given a change whose window has not opened, the drill
    waits for it."""
    row = _checked(ctx, caller, drill_id, Action.DRILL_RUN)
    check_runnable(DrillState(row.state), row.approver)
    sites, changes, ref = _sites(ctx, row), ctx.changes, f"drill {drill_id}"
    if changes is not None and opens_later(changes, change_id) is not None:
        assert change_id is not None
        return _plan_for(ctx, caller, row, change_id, sites)
    before = ticket_of(changes, OperationKind.DR_DRILL, ref) if changes is not None else None
    ticket = gate(changes, caller, change_id, OperationKind.DR_DRILL, [row.department],
                  operation=ref, sites=sites) if changes is not None else None
    try:
        run_id = _launch(ctx, runs, drill_id, caller.name, ticket, row.department, sites)
    except GovCloudError as exc:
        if changes is not None and ticket is not None and ticket != before:
            finish(changes, ticket, actor=caller.name, ok=False,
                   detail=f"refused: {exc.message}")
        raise
    return {"drill": drill_id, "action": "run", "run_id": run_id,
            "change": ticket.change_id if ticket is not None else None}


def _plan_for(ctx: DrillContext, caller: Caller, row: DrillPlanRow, change_id: int,
              sites: list[str]) -> dict[str, Any]:
    """The drill waits for change ``change_id``'s window, not open yet."""
    assert ctx.changes is not None and row.id is not None
    if row.run_id is not None and ctx.clock() - (aware(row.heartbeat_at) or ctx.clock()) \
            < timedelta(seconds=ctx.stale_after_s):
        raise ConflictError(f"drill {row.id} is running",
                            hint="plan it for another window once it has stopped")
    ticket, change = reserve(ctx.changes, caller, change_id, OperationKind.DR_DRILL,
                             [row.department], operation=f"drill {row.id}", sites=sites)
    with write_session(ctx.engine) as session:
        stored = repo.get(session, row.id)
        if stored.state not in (DrillState.RUNNING.value,):
            stored.state = DrillState.WAITING.value
            session.add(stored)
        _audit(session, ctx, caller.name, "dr.drill.wait", stored.department,
               {"drill": row.id, "change": change_id, "opens": change.start.isoformat(),
                "link": ticket.link_id})
        session.commit()
    return {"drill": row.id, "action": "wait", "run_id": None, "change": change_id,
            "opens": change.start.isoformat()}


def resume(ctx: DrillContext, runs: Runs, link: OpenLink) -> bool:
    """Take a drill waiting for its window up again, now that its change lets it run (the
    change-window worker); False when it did not start (it keeps waiting)."""
    changes = ctx.changes
    drill_id = link.ref.removeprefix("drill ")
    if changes is None or not drill_id.isdigit():
        return False
    with Session(ctx.engine) as session:
        row = repo.find(session, int(drill_id))
        if row is not None:
            session.expunge(row)
    if row is None or row.id is None:
        return False
    sites = _sites(ctx, row)
    ticket = wake(changes, link, [row.department], sites=sites)
    if ticket is None:
        return False
    try:
        _launch(ctx, runs, row.id, link.actor, ticket, row.department, sites)
    except GovCloudError as exc:
        log.warning("drill %s did not resume in its window: %s", row.id, exc.message)
        hold(changes, ticket, actor=link.actor, reason=f"could not resume: {exc.message}")
        return False
    return True


def take_over(ctx: DrillContext, runs: Runs, drill_id: int) -> tuple[str, str]:
    """Resume a running drill whose run died with its replica (``services.run_takeover``),
    as the person who ran it, under the change it ran under (if any); its department and
    the new run's id. Refused (``ConflictError``) while a live run holds it."""
    with Session(ctx.engine) as session:
        row = repo.get(session, drill_id)
        session.expunge(row)
    assert row.id is not None
    ticket = ticket_of(ctx.changes, OperationKind.DR_DRILL, f"drill {row.id}") \
        if ctx.changes is not None else None
    run_id = _launch(ctx, runs, row.id, row.runner or "drill", ticket, row.department,
                     _sites(ctx, row))
    return row.department, run_id


def cleanup(ctx: DrillContext, runs: Runs, caller: Caller, drill_id: int) -> dict[str, Any]:
    _checked(ctx, caller, drill_id, Action.DRILL_RUN)
    if runs.running(f"drill-{drill_id}"):
        raise ConflictError(f"drill {drill_id} is running here",
                            hint="wait for it to end; its own teardown runs last")
    return drill_run.cleanup(ctx, drill_id, actor=caller.name)


def show(ctx: DrillContext, caller: Caller, drill_id: int) -> dict[str, Any]:
    row = _checked(ctx, caller, drill_id, Action.VIEW_DEPARTMENT)
    return drill_json(ctx, row, full=True)


def markdown(ctx: DrillContext, caller: Caller, drill_id: int) -> str:
    row = _checked(ctx, caller, drill_id, Action.VIEW_DEPARTMENT)
    return render_markdown(evidence(ctx, row))


def pdf(ctx: DrillContext, caller: Caller, drill_id: int) -> bytes:
    """The drill's report as a PDF: its Markdown report, rendered (the same text, to file)."""
    from govcloud.reports.pdf import evidence_pdf  # reportlab loads with the first PDF

    row = _checked(ctx, caller, drill_id, Action.VIEW_DEPARTMENT)
    ev = evidence(ctx, row)
    return evidence_pdf(render_markdown(ev), f"DR drill {ev.drill_id} — {ev.department}")


def listing(ctx: DrillContext, caller: Caller, *, department: str | None = None,
            limit: int = 100) -> dict[str, Any]:
    codes = caller.codes(Action.VIEW_DEPARTMENT)
    if department is not None:
        caller.check(Action.VIEW_DEPARTMENT, department)
        codes = [department]
    with Session(ctx.engine) as session:
        rows = repo.plans(session, codes, limit=limit)
    return {"drills": [drill_json(ctx, r) for r in rows]}

