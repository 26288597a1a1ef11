"""The gate: what an operation that alters a department's service calls before it changes
anything, and after it ends (docs/changes.md, "The gate").

``gate`` loads the change, checks it with ``domain.changes.require_change`` against the
calendar in force (approved, of the operation's kind, covering its departments and sites,
inside its window, outside every freeze — an emergency change a bureau-admin approved
excepted — and, for a standard change, within its policy), refuses while an operation under
another change runs on any of the same departments, then links the operation to the change
and marks it in progress, all in one transaction with its audit entries and the departments'
notification. ``finish`` records how the operation ended and closes the change (done or
failed) unless the caller keeps it open for more operations (``close=False``: a
migration's waves) or another of its operations has not ended.

An operation that outlives one call (a wave, a drill, a drain) is found again by its link
(``kind`` and ``operation``, e.g. ``wave gd-tax-w1``): run again, it goes on under the same
change (one link). Between its steps it asks ``still_allowed``; when its change no longer
lets it run (the window closed, a freeze began) it stops at a safe step and calls ``hold``:
the link waits while the window may open again, else it ends failed and the operation waits
for a new change (``reserve``: a change whose window has not opened yet). ``due`` lists the
waiting links whose change lets them run now, and ``wake`` takes one up again — what the
change-window worker does (``workers.change_windows``).

With ``change_control: off`` an operation given no change passes (``gate`` returns None);
one given a change is checked all the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlmodel import Session

from govcloud.domain.changes import (
    Change,
    ChangeState,
    OperationKind,
    QuotaDelta,
    require_change,
)
from govcloud.domain.rbac import Action
from govcloud.domain.text import printable
from govcloud.errors import ChangeRefused, GovCloudError
from govcloud.services.change_calendar import current_calendar
from govcloud.services.changes import ChangeContext, audit, check_visible, tell
from govcloud.services.migration_access import Caller
from govcloud.store import changes_repo as repo
from govcloud.store.audit import write_session


@dataclass(frozen=True, slots=True)
class Ticket:
    """An operation let through: the change it runs under and its link's id."""

    change_id: int
    link_id: int


def _sites(ctx: ChangeContext, sites: Sequence[str] | None) -> list[str]:
    return list(sites) if sites is not None else list(ctx.sites)


def _refuse_busy(conn: Connection, change: Change, departments: Sequence[str]) -> None:
    """Operations under different changes never run on one department at once."""
    busy = repo.running_in(conn, departments, other_than=change.id)
    if busy:
        link, shared = busy[0]
        raise ChangeRefused(
            f"{printable(link.kind)} {printable(link.ref)!r} under change {link.change_id} "
            f"is running on {', '.join(shared[:10])}; operations under different changes "
            "do not run on one department at once",
            hint=f"wait for it to end (`govcloud change show {link.change_id}`), then run "
                 f"this one under change {change.id}")


def _start(session: Session, ctx: ChangeContext, change: Change, actor: str,
           after: dict[str, object]) -> None:
    """The change in progress (told to its departments when it was not already)."""
    conn = session.connection()
    if change.state is not ChangeState.IN_PROGRESS:
        repo.move(conn, change.id, expect=change.state, state=ChangeState.IN_PROGRESS,
                  started_at=ctx.clock())
        tell(session, ctx, "started", change, actor=actor)
    audit(session, ctx, actor, "change.start", change, {**after, "was": change.state.value})


def gate(ctx: ChangeContext, caller: Caller, change_id: int | None,
         kind: OperationKind | str, departments: Sequence[str], *, operation: str,
         sites: Sequence[str] | None = None,
         quota_deltas: Sequence[QuotaDelta] | None = None) -> Ticket | None:
    """Let an operation of ``kind`` on ``departments`` (at ``sites``; None: every configured
    site) through under change ``change_id``, or raise ChangeRefused naming what is missing.
    ``operation`` names the run (kept in the change's links: ``tenancy-apply`` plus its
    departments, a wave id, a drill id...); an operation whose link has not ended goes on
    under its change (``change_id`` None or the same), or is moved to another change (its
    old link ends failed). None when change control is off and no change is given or
    linked. The caller runs the operation, then calls ``finish`` with the ticket."""
    return _pass(ctx, caller, caller.name, change_id, kind, departments,
                 operation=operation, sites=sites, quota_deltas=quota_deltas)


def gate_as(ctx: ChangeContext, actor: str, change_id: int | None,
            kind: OperationKind | str, departments: Sequence[str], *, operation: str,
            sites: Sequence[str] | None = None) -> Ticket | None:
    """``gate`` for a worker running an operation someone asked for earlier (a lifecycle
    request: the requester passed the access checks when it was submitted); ``actor`` is
    who the link names."""
    return _pass(ctx, None, actor, change_id, kind, departments, operation=operation,
                 sites=sites)


def _check_caller(caller: Caller | None, change: Change, departments: Sequence[str]) -> None:
    if caller is None:
        return
    check_visible(caller, change)
    for code in departments:
        caller.check(Action.CHANGE_VIEW, code)


def _pass(ctx: ChangeContext, caller: Caller | None, actor: str, change_id: int | None,
          kind: OperationKind | str, departments: Sequence[str], *, operation: str,
          sites: Sequence[str] | None,
          quota_deltas: Sequence[QuotaDelta] | None = None) -> Ticket | None:
    kind = OperationKind(kind)
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        conn = session.connection()
        open_link = repo.find_open_link(conn, kind.value, operation)
        if change_id is None and open_link is not None:
            change_id = open_link.change_id
        if change_id is None and not ctx.enforce:
            return None
        change = repo.find_change(conn, change_id, lock=True) if change_id is not None \
            else None
        if change_id is not None and change is None:
            raise repo.no_change(change_id)
        if change is not None:
            _check_caller(caller, change, departments)
        passed = require_change(change, kind, departments, now,
                                calendar=current_calendar(conn), sites=_sites(ctx, sites),
                                quota_deltas=quota_deltas)
        assert change is not None  # require_change refuses None
        _refuse_busy(conn, change, departments)
        if passed and not change.in_freeze:
            repo.set_in_freeze(conn, change.id)
        if open_link is not None and open_link.change_id == change.id:
            link_id = open_link.id
            repo.set_link_state(conn, link_id, "running")
        else:
            if open_link is not None:
                _end_link(session, ctx, open_link.id, actor=actor, ok=False,
                          detail=f"continued under change {change.id}")
            link_id = repo.add_link(conn, change.id, kind=kind.value, ref=operation,
                                    actor=actor, at=now)
        _start(session, ctx, change, actor, {
            "operation": kind.value, "ref": operation, "link": link_id,
            "resumed": open_link is not None and open_link.change_id == change.id,
            "freezes": [f.name for f in passed]})
        session.commit()
    return Ticket(change.id, link_id)


def _end_link(session: Session, ctx: ChangeContext, link_id: int, *, actor: str, ok: bool,
              detail: str | None, close: bool = True) -> None:
    """End the link (done or failed) and close its change when nothing else runs under it
    (and ``close``), telling its departments, in the caller's transaction."""
    conn = session.connection()
    link = repo.get_open_link(conn, link_id)
    change_id = link.change_id if link is not None else None
    repo.finish_link(conn, link_id, ok=ok, at=ctx.clock(),
                     detail=printable(detail) if detail else None)
    if change_id is None:
        return
    change = repo.get_change(conn, change_id, lock=True)
    state = ChangeState.DONE if ok else ChangeState.FAILED
    closing = close and change.state is ChangeState.IN_PROGRESS \
        and not repo.running_links(conn, change.id)
    if closing:
        repo.move(conn, change.id, expect=ChangeState.IN_PROGRESS, state=state,
                  finished_at=ctx.clock())
        tell(session, ctx, state.value, change, actor=actor,
             detail=printable(detail)[:500] if detail else None)
    audit(session, ctx, actor, "change.done" if ok else "change.failed", change, {
        "link": link_id, "state": state.value if closing else change.state.value,
        "closed": closing})


def finish(ctx: ChangeContext, ticket: Ticket | None, *, actor: str, ok: bool,
           detail: str | None = None, close: bool = True) -> None:
    """Record how the operation of ``ticket`` ended; unless ``close`` is False (more
    operations will run under the change) or another of its operations has not ended, the
    change becomes done (``ok``) or failed. None (no change): nothing to record."""
    if ticket is None:
        return
    with write_session(ctx.engine) as session:
        _end_link(session, ctx, ticket.link_id, actor=actor, ok=ok, detail=detail,
                  close=close)
        session.commit()


def end_in(session: Session, ctx: ChangeContext, kind: OperationKind | str, operation: str,
           *, actor: str, ok: bool, detail: str | None = None) -> bool:
    """``finish`` in the caller's transaction, for an operation found by its name (a
    lifecycle request's end is written with the request's final state); False when it has
    no open link."""
    link = repo.find_open_link(session.connection(), OperationKind(kind).value, operation)
    if link is None:
        return False
    _end_link(session, ctx, link.id, actor=actor, ok=ok, detail=detail)
    return True


def park(ctx: ChangeContext, ticket: Ticket, *, actor: str, reason: str) -> None:
    """The operation waits on its own clock, not its window (a retirement's grace period):
    its link waits whatever the window — it holds nobody, and the change stays in progress
    until the operation ends (``finish``)."""
    with write_session(ctx.engine) as session:
        conn = session.connection()
        change = repo.get_change(conn, ticket.change_id, lock=True)
        if repo.set_link_state(conn, ticket.link_id, "waiting", detail=printable(reason)):
            audit(session, ctx, actor, "change.wait", change,
                  {"link": ticket.link_id, "reason": printable(reason)[:500]})
        session.commit()


def ticket_of(ctx: ChangeContext, kind: OperationKind | str, operation: str) -> Ticket | None:
    """The ticket of ``operation`` while its link has not ended (None: it runs under no
    change, or its link ended)."""
    with ctx.engine.connect() as conn:
        found = repo.find_open_link(conn, OperationKind(kind).value, operation)
    return Ticket(found.change_id, found.id) if found is not None else None


def rename(ctx: ChangeContext, ticket: Ticket | None, operation: str) -> None:
    """Name the operation of ``ticket`` by its id, once it has one (a new drain)."""
    if ticket is None:
        return
    with write_session(ctx.engine) as session:
        repo.set_link_ref(session.connection(), ticket.link_id, operation)
        session.commit()


# --- between the steps of an operation: may it go on? -------------------------------------

def still_allowed(ctx: ChangeContext, ticket: Ticket | None, departments: Sequence[str], *,
                  sites: Sequence[str] | None = None) -> str | None:
    """None while the change of ``ticket`` lets its operation go on now (what the gate
    checks, but the policy); else why not: its window closed, a freeze began, it was
    cancelled... What a run asks before each step it may stop at."""
    if ticket is None:
        return None
    with ctx.engine.connect() as conn:
        change = repo.find_change(conn, ticket.change_id)
        if change is None:
            return f"change {ticket.change_id} is gone"
        try:
            require_change(change, change.kind, departments, ctx.clock(),
                           calendar=current_calendar(conn), sites=_sites(ctx, sites))
        except GovCloudError as exc:
            return exc.message
    return None


class WindowCheck:
    """What a run asks before each step it may stop at (``still_allowed`` of its ticket);
    it keeps the last reason it gave, for ``hold``."""

    def __init__(self, ctx: ChangeContext, ticket: Ticket, departments: Sequence[str], *,
                 sites: Sequence[str] | None = None) -> None:
        self.ctx, self.ticket = ctx, ticket
        self.departments, self.sites = list(departments), sites
        self.reason = "its change's window closed"

    def __call__(self) -> str | None:
        why = still_allowed(self.ctx, self.ticket, self.departments, sites=self.sites)
        if why is not None:
            self.reason = why
        return why


def hold(ctx: ChangeContext, ticket: Ticket, *, actor: str, reason: str) -> bool:
    """The operation stopped at a safe step because its change no longer lets it run
    (``reason``). While the change's window is not over (a freeze, a new calendar), its link
    waits to be taken up again in it: True. Once the window is over, its link ends failed —
    the change closes failed unless other operations run under it — and the operation waits
    for a new change (run it again with ``--change``): False."""
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        conn = session.connection()
        change = repo.get_change(conn, ticket.change_id, lock=True)
        waits = now < change.end
        if waits:
            repo.set_link_state(conn, ticket.link_id, "waiting", detail=reason)
            audit(session, ctx, actor, "change.wait", change,
                  {"link": ticket.link_id, "reason": printable(reason)[:500]})
        else:
            _end_link(session, ctx, ticket.link_id, actor=actor, ok=False,
                      detail=f"stopped at a safe step, not finished: {reason}")
        session.commit()
    return waits


def reserve(ctx: ChangeContext, caller: Caller, change_id: int, kind: OperationKind | str,
            departments: Sequence[str], *, operation: str,
            sites: Sequence[str] | None = None) -> tuple[Ticket, Change]:
    """Plan ``operation`` under a change whose window has not opened yet: every check of the
    gate as it will be when the window opens (approved, kind, departments, sites, no freeze
    then), and the link waits; ``wake`` starts it then. An open link of the operation under
    another change ends failed (it goes on under this one)."""
    return _reserve(ctx, caller, caller.name, change_id, kind, departments,
                    operation=operation, sites=sites)


def reserve_as(ctx: ChangeContext, actor: str, change_id: int, kind: OperationKind | str,
               departments: Sequence[str], *, operation: str,
               sites: Sequence[str] | None = None) -> tuple[Ticket, Change]:
    """``reserve`` for a worker (as ``gate_as``), also while the window is open: the
    operation waits for what keeps it from running now — the window to open, a freeze to
    end, another change's operation to end (``wake`` checks them all); refused only when
    the change will never let it run (its window over, its state, kind or scope)."""
    return _reserve(ctx, None, actor, change_id, kind, departments, operation=operation,
                    sites=sites, freezes=False)


def _reserve(ctx: ChangeContext, caller: Caller | None, actor: str, change_id: int,
             kind: OperationKind | str, departments: Sequence[str], *, operation: str,
             sites: Sequence[str] | None, freezes: bool = True) -> tuple[Ticket, Change]:
    kind = OperationKind(kind)
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        conn = session.connection()
        change = repo.find_change(conn, change_id, lock=True)
        if change is None:
            raise repo.no_change(change_id)
        _check_caller(caller, change, departments)
        require_change(change, kind, departments, max(now, change.start),
                       calendar=current_calendar(conn) if freezes else None,
                       sites=_sites(ctx, sites))
        open_link = repo.find_open_link(conn, kind.value, operation)
        if open_link is not None and open_link.change_id == change.id:
            link_id = open_link.id
            repo.set_link_state(conn, link_id, "waiting", detail="waiting for its window")
        else:
            if open_link is not None:
                _end_link(session, ctx, open_link.id, actor=actor, ok=False,
                          detail=f"continued under change {change.id}")
            link_id = repo.add_link(conn, change.id, kind=kind.value, ref=operation,
                                    actor=actor, at=now)
            repo.set_link_state(conn, link_id, "waiting", detail="waiting for its window")
        audit(session, ctx, actor, "change.wait", change,
              {"link": link_id, "operation": kind.value, "ref": operation,
               "reason": "planned for the change's window"})
        session.commit()
    return Ticket(change.id, link_id), change


def opens_later(ctx: ChangeContext, change_id: int | None) -> dt.datetime | None:
    """When change ``change_id``'s window opens, if that is still to come (None: it is
    open or over, or there is no such change — the gate says which)."""
    if change_id is None:
        return None
    with ctx.engine.connect() as conn:
        change = repo.find_change(conn, change_id)
    return change.start if change is not None and ctx.clock() < change.start else None


def due(ctx: ChangeContext) -> list[repo.OpenLink]:
    """The waiting links whose change lets their operation run now."""
    with ctx.engine.connect() as conn:
        waiting = repo.waiting_links(conn)
        calendar = current_calendar(conn)
        out = []
        now = ctx.clock()
        for link in waiting:
            change = repo.find_change(conn, link.change_id)
            if change is None:
                continue
            try:
                require_change(change, change.kind, (), now, calendar=calendar,
                               sites=[])
            except GovCloudError:
                continue
            out.append(link)
    return out


def wake(ctx: ChangeContext, link: repo.OpenLink, departments: Sequence[str], *,
         sites: Sequence[str] | None = None) -> Ticket | None:
    """Take up a waiting operation: checked again as the gate does (None, the link left
    waiting, when its change still does not let it run or another change's operation runs
    on its departments), then running, the change in progress."""
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        conn = session.connection()
        change = repo.get_change(conn, link.change_id, lock=True)
        current = repo.get_open_link(conn, link.id)
        if current is None or current.state != "waiting":
            return None
        try:
            passed = require_change(change, change.kind, departments, now,
                                    calendar=current_calendar(conn), sites=_sites(ctx, sites))
            _refuse_busy(conn, change, departments)
        except GovCloudError:
            return None
        if passed and not change.in_freeze:
            repo.set_in_freeze(conn, change.id)
        repo.set_link_state(conn, link.id, "running")
        _start(session, ctx, change, link.actor, {
            "operation": link.kind, "ref": link.ref, "link": link.id, "resumed": True,
            "freezes": [f.name for f in passed]})
        session.commit()
    return Ticket(change.id, link.id)
