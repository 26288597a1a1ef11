"""Change requests, the use cases behind ``/changes`` (docs/changes.md): submit, list, show,
approve, reject and cancel. The gate operations pass through is ``services.change_gate``.

RBAC: submitting needs ``change.submit`` on every department the change affects (operators
and the bureau, a city-operator for its city's); cancelling ``change.cancel`` on every one;
approving and rejecting ``change.approve`` / ``change.reject`` (the bureau) and another
person than the requester (``domain.changes.check_approver``); reading ``change.view`` on
any of its departments — a scoped principal sees only its own departments in the list, and
a change that affects none of them is "no change N". Every change of state is audited, one
entry per affected department (``department:CODE``), so a scoped audit view shows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.domain.changes import (
    Approval,
    Change,
    ChangeState,
    ChangeType,
    NewChange,
    OperationKind,
    approvals_needed,
    check_approver,
    check_cancel,
    check_new,
    check_reject,
    close_outcome,
    initial_state,
    state_after_approval,
)
from govcloud.domain.limits import text_digest
from govcloud.domain.metering import Month
from govcloud.domain.rbac import Action
from govcloud.errors import InvalidInput
from govcloud.services.change_calendar import current_calendar, month_bounds, month_view
from govcloud.services.migration_access import Caller
from govcloud.services.notifications import Notifier, enqueue_change
from govcloud.settings import Settings
from govcloud.store import changes_repo as repo
from govcloud.store.audit import AuditLog, AuditRecord, write_session
from govcloud.store.tables import utcnow

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class ChangeContext:
    """What the change use cases need: the store, the clock, the configured sites (a change
    that names none affects all), whether operations must have a change (``enforce``) and
    how long an emergency change waits for its approval."""

    engine: Engine
    sites: tuple[str, ...]
    clock: Clock = utcnow
    enforce: bool = True
    review_after: dt.timedelta = dt.timedelta(hours=72)
    notifier: Notifier | None = None  # tells the departments (None: nobody is told)

    @classmethod
    def of(cls, *, engine: Engine, settings: Settings, clock: Clock,
           notifier: Notifier | None = None) -> ChangeContext:
        return cls(engine=engine, sites=tuple(s.name for s in settings.site_list()),
                   clock=clock, enforce=settings.change_control == "enforce",
                   review_after=dt.timedelta(hours=settings.change_review_hours),
                   notifier=notifier)

    def sites_of(self, change: Change | NewChange) -> tuple[str, ...]:
        return change.sites or self.sites


class PlaneParts(Protocol):
    """What a change context is made of: the plane's store, settings, clock, notifier."""

    @property
    def engine(self) -> Engine: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def notifier(self) -> Notifier: ...


def change_context(plane: PlaneParts) -> ChangeContext:
    """The change context of a running plane (``services.plane.Plane``)."""
    return ChangeContext.of(engine=plane.engine, settings=plane.settings, clock=plane.clock,
                            notifier=plane.notifier)


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def change_json(change: Change, now: dt.datetime, *, shown: Collection[str] | None = None,
                full: bool = False) -> dict[str, Any]:
    """A change as the API answers it; ``shown``: the departments the caller may see (None:
    all), the others left out of its list."""
    departments = [d for d in change.departments if shown is None or d in shown]
    out: dict[str, Any] = {
        "id": change.id, "kind": change.kind.value, "type": change.type.value,
        "state": change.state.value, "title": change.title, "departments": departments,
        "sites": list(change.sites), "start": _time(change.start), "end": _time(change.end),
        "requester": change.requester, "requester_person": change.requester_person,
        "approvals_needed": change.approvals_needed,
        "approvals": [{"by": a.by, "person": a.person, "role": a.role, "at": _time(a.at)}
                      for a in change.approvals],
        "policy": change.policy, "review_by": _time(change.review_by),
        "in_freeze": change.in_freeze, "flags": change.flags(now),
        "created_at": _time(change.created_at), "reason": change.reason}
    if full:
        out["rollback_plan"] = change.rollback_plan
        out["links"] = [{"id": k.id, "kind": k.kind, "ref": k.ref, "actor": k.actor,
                         "at": _time(k.at), "state": k.state,
                         "finished_at": _time(k.finished_at), "detail": k.detail}
                        for k in change.links]
    return out


def shown_codes(caller: Caller) -> set[str] | None:
    codes = caller.codes(Action.CHANGE_VIEW)
    return None if codes is None else set(codes)


def check_visible(caller: Caller, change: Change) -> None:
    """A change none of whose departments the caller may see is "no change N"."""
    shown = shown_codes(caller)
    if shown is not None and not shown & set(change.departments):
        raise repo.no_change(change.id)


def check_each(caller: Caller, change: Change | NewChange, action: Action,
               missing: Callable[[], Any] | None = None) -> None:
    for code in change.departments:
        caller.check(action, code, missing)


def audit(session: Session, ctx: ChangeContext, actor: str, action: str, change: Change,
          after: dict[str, Any]) -> None:
    """One entry per department the change affects (a scoped audit view shows its own)."""
    AuditLog(session=session, clock=ctx.clock).append_many([
        AuditRecord(actor, action, f"department:{code}", after={"change": change.id, **after})
        for code in change.departments])


def tell(session: Session, ctx: ChangeContext, what: str, change: Change, *,
         actor: str | None, detail: str | None = None) -> None:
    """Tell the change's departments that it is ``what`` (scheduled, started, done,
    failed), in the transaction of that change of state (docs/notifications.md)."""
    enqueue_change(ctx.notifier, session.connection(), what, change=change.id,
                   departments=change.departments, at=ctx.clock(), actor=actor,
                   window=(change.start, change.end), detail=detail)


def scheduled(before: ChangeState | None, after: ChangeState) -> bool:
    """Has the change just become runnable (approved, or an emergency change that may run
    at once)? Its departments are then told it is scheduled."""
    return before in (None, ChangeState.SUBMITTED) and \
        after in (ChangeState.APPROVED, ChangeState.FLAGGED)


# --- submitting --------------------------------------------------------------------------------

def submit(ctx: ChangeContext, caller: Caller, new: NewChange) -> dict[str, Any]:
    """Store a new change: a normal one inside a maintenance window and outside the freezes
    (else ChangeRefused, nothing stored), a standard one pre-approved by its policy, an
    emergency one flagged and runnable at once (held for a bureau-admin during a freeze)."""
    now = ctx.clock()
    check_new(new, now)
    for code in new.departments:
        if caller.catalogue.find(code) is None:
            raise InvalidInput(f"department {code!r} is not in the catalogue",
                               hint="`govcloud departments list` shows the codes")
    check_each(caller, new, Action.CHANGE_SUBMIT)
    unknown = [s for s in new.sites if s not in ctx.sites]
    if unknown:
        raise InvalidInput(f"unknown site(s) {', '.join(unknown)}",
                           hint=f"configured sites: {', '.join(ctx.sites)}")
    needed = approvals_needed(new.type, [caller.level(code) for code in new.departments])
    review_by = now + ctx.review_after if new.type is ChangeType.EMERGENCY else None
    with write_session(ctx.engine) as session:
        conn = session.connection()
        state, policy, frozen = initial_state(new, current_calendar(conn), ctx.sites_of(new),
                                              now)
        change_id = repo.add_change(conn, new, requester=caller.name,
                                    person=caller.principal.person, state=state,
                                    approvals_needed=needed, policy=policy, in_freeze=frozen,
                                    review_by=review_by, at=now)
        change = repo.get_change(conn, change_id)
        if scheduled(None, state):
            tell(session, ctx, "scheduled", change, actor=caller.name)
        audit(session, ctx, caller.name, "change.submit", change, {
            "kind": new.kind.value, "type": new.type.value, "state": state.value,
            "title": text_digest(new.title), "rollback_plan": text_digest(new.rollback_plan),
            "start": new.start.isoformat(), "end": new.end.isoformat(),
            "sites": list(new.sites), "policy": policy, "in_freeze": frozen})
        session.commit()
    return change_json(change, now, full=True)


# --- reading -----------------------------------------------------------------------------------

def show(ctx: ChangeContext, caller: Caller, change_id: int) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        change = repo.find_change(conn, change_id)
    if change is None:
        raise repo.no_change(change_id)
    check_visible(caller, change)
    return change_json(change, ctx.clock(), shown=shown_codes(caller), full=True)


def listing(ctx: ChangeContext, caller: Caller, *, department: str | None = None,
            states: Sequence[str] | None = None, kind: str | None = None,
            flagged: bool = False, limit: int = 100) -> dict[str, Any]:
    """Changes newest first, those the caller may see; ``flagged``: only those the reports
    flag (emergency changes awaiting or overdue for their approval, or run in a freeze)."""
    shown = shown_codes(caller)
    codes: Collection[str] | None = shown
    if department is not None:
        caller.check(Action.CHANGE_VIEW, department)
        codes = [department]
    wanted_states = [_parse(ChangeState, s, "state") for s in states] if states else None
    kinds = [_parse(OperationKind, kind, "kind")] if kind else None
    with ctx.engine.connect() as conn:
        found = repo.list_changes(conn, departments=codes, states=wanted_states, kinds=kinds,
                                  limit=limit)
    now = ctx.clock()
    if flagged:
        found = [c for c in found if c.flags(now)]
    return {"changes": [change_json(c, now, shown=shown) for c in found]}


def _parse(enum: Any, value: str, what: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise InvalidInput(f"unknown {what} {value[:40]!r}",
                           hint=f"{what}s: " + ", ".join(e.value for e in enum)) from None


# --- deciding ----------------------------------------------------------------------------------

def _decided(ctx: ChangeContext, caller: Caller, change_id: int, action: Action) -> Change:
    """The change, once the caller may see it and ``action`` every department of it."""
    with ctx.engine.connect() as conn:
        change = repo.find_change(conn, change_id)
    if change is None:
        raise repo.no_change(change_id)
    check_visible(caller, change)
    check_each(caller, change, action, lambda: repo.no_change(change_id))
    return change


def approve(ctx: ChangeContext, caller: Caller, change_id: int) -> dict[str, Any]:
    """One more approval, by another person than the requester (and than any earlier
    approver); a normal change's window is checked against the calendar again."""
    _decided(ctx, caller, change_id, Action.CHANGE_APPROVE)
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        conn = session.connection()
        change = repo.get_change(conn, change_id, lock=True)
        check_approver(change, caller.principal)
        state = state_after_approval(change, current_calendar(conn), ctx.sites_of(change),
                                     now)
        p = caller.principal
        repo.add_approval(conn, change_id, Approval(p.name, p.person, p.role.value, now))
        if state is not change.state:
            values = {"approved_at": now} if state is ChangeState.APPROVED else {}
            repo.move(conn, change_id, expect=change.state, state=state, **values)
        after = repo.get_change(conn, change_id)
        if scheduled(change.state, state):
            tell(session, ctx, "scheduled", after, actor=caller.name)
        audit(session, ctx, caller.name, "change.approve", after, {
            "state": state.value, "approvals": len(after.approvals),
            "approvals_needed": after.approvals_needed,
            "after_the_fact": change.state in (ChangeState.IN_PROGRESS, ChangeState.DONE,
                                               ChangeState.FAILED)})
        session.commit()
    return change_json(after, now, shown=shown_codes(caller), full=True)


def reject(ctx: ChangeContext, caller: Caller, change_id: int, *,
           reason: str) -> dict[str, Any]:
    _decided(ctx, caller, change_id, Action.CHANGE_REJECT)
    return _close(ctx, caller, change_id, ChangeState.REJECTED, "change.reject", reason,
                  lambda c: check_reject(c, caller.principal))


def cancel(ctx: ChangeContext, caller: Caller, change_id: int, *,
           reason: str | None) -> dict[str, Any]:
    _decided(ctx, caller, change_id, Action.CHANGE_CANCEL)
    return _close(ctx, caller, change_id, ChangeState.CANCELLED, "change.cancel", reason,
                  check_cancel)


def close(ctx: ChangeContext, caller: Caller, change_id: int, *,
          reason: str) -> dict[str, Any]:
    """Close a change whose work ended or was abandoned but that nothing closed (an approved
    change never run, one left in progress): refused while an operation runs under it; an
    operation still waiting for its window is abandoned (its link ends failed); done when
    every operation ran under it ended done, else failed; its departments are told."""
    _decided(ctx, caller, change_id, Action.CHANGE_CLOSE)
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        conn = session.connection()
        change = repo.get_change(conn, change_id, lock=True)
        state = close_outcome(change)
        abandoned = [k.id for k in change.links if k.state == "waiting"]
        for link_id in abandoned:
            repo.finish_link(conn, link_id, ok=False, at=now,
                             detail=f"abandoned: change closed by {caller.name}")
        repo.move(conn, change_id, expect=change.state, state=state, decided_by=caller.name,
                  reason=reason, finished_at=now)
        after = repo.get_change(conn, change_id)
        audit(session, ctx, caller.name, "change.close", after,
              {"state": state.value, "was": change.state.value, "abandoned": abandoned,
               "reason": text_digest(reason)})
        tell(session, ctx, state.value, after, actor=caller.name, detail=reason[:500])
        session.commit()
    return change_json(after, now, shown=shown_codes(caller), full=True)


def _close(ctx: ChangeContext, caller: Caller, change_id: int, state: ChangeState,
           action: str, reason: str | None, check: Callable[[Change], None]) -> dict[str, Any]:
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        conn = session.connection()
        change = repo.get_change(conn, change_id, lock=True)
        check(change)
        repo.move(conn, change_id, expect=change.state, state=state, decided_by=caller.name,
                  reason=reason, finished_at=now)
        after = repo.get_change(conn, change_id)
        audit(session, ctx, caller.name, action, after,
              {"state": state.value, "was": change.state.value,
               "reason": text_digest(reason)})
        session.commit()
    return change_json(after, now, shown=shown_codes(caller), full=True)


# --- the calendar's month, with the changes planned in it ------------------------------------

def calendar_month(ctx: ChangeContext, caller: Caller, month: str, *, site: str | None = None,
                   department: str | None = None) -> dict[str, Any]:
    """The calendar in force over ``month`` (YYYY-MM, of the calendar's time zone) and the
    changes whose window falls in it, as the caller may see them."""
    if site is not None and site not in ctx.sites:
        raise InvalidInput(f"unknown site {site[:64]!r}",
                           hint=f"configured sites: {', '.join(ctx.sites)}")
    shown = shown_codes(caller)
    if department is not None:
        caller.check(Action.CALENDAR_VIEW, department)
    elif caller.codes(Action.CALENDAR_VIEW) is not None:
        shown = set(caller.codes(Action.CALENDAR_VIEW) or ())
    wanted = Month.parse(month)
    with ctx.engine.connect() as conn:
        view = month_view(conn, wanted, site=site, department=department, shown=shown)
        codes = [department] if department is not None else shown
        changes = repo.list_changes(conn, departments=codes,
                                    between=month_bounds(conn, wanted), limit=repo.MAX_LIST)
    if site is not None:
        changes = [c for c in changes if not c.sites or site in c.sites]
    now = ctx.clock()
    return {**view, "changes": [change_json(c, now, shown=shown)
                                for c in sorted(changes, key=lambda c: (c.start, c.id))]}
