"""The gate: what an operation that alters a department's service calls before it changes
anything, and after it ends (docs/changes.md, "The gate").

``gate`` loads the change, checks it with ``domain.changes.require_change`` against the
calendar in force (approved, of the operation's kind, covering its departments and sites,
inside its window, outside every freeze — an emergency change a bureau-admin approved
excepted — and, for a standard change, within its policy), then links the operation to the
change and marks it in progress, all in one transaction with its audit entries. ``finish``
records how the operation ended and closes the change (done or failed) unless the caller
keeps it open for more operations (``close=False``: a migration's waves).

With ``change_control: off`` an operation given no change passes (``gate`` returns None);
one given a change is checked all the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from govcloud.domain.changes import (
    ChangeState,
    OperationKind,
    QuotaDelta,
    require_change,
)
from govcloud.domain.rbac import Action
from govcloud.domain.text import printable
from govcloud.services.change_calendar import current_calendar
from govcloud.services.changes import ChangeContext, audit, check_visible
from govcloud.services.migration_access import Caller
from govcloud.store import changes_repo as repo
from govcloud.store.audit import write_session


@dataclass(frozen=True, slots=True)
class Ticket:
    """An operation let through: the change it runs under and its link's id."""

    change_id: int
    link_id: int


def gate(ctx: ChangeContext, caller: Caller, change_id: int | None,
         kind: OperationKind | str, departments: Sequence[str], *, operation: str,
         sites: Sequence[str] | None = None,
         quota_deltas: Sequence[QuotaDelta] | None = None) -> Ticket | None:
    """Let an operation of ``kind`` on ``departments`` (at ``sites``; None: every configured
    site) through under change ``change_id``, or raise ChangeRefused naming what is missing.
    ``operation`` names the run (kept in the change's links: ``tenancy-apply`` plus its
    departments, a wave id, a drill id...). None when change control is off and no change
    was given. The caller runs the operation, then calls ``finish`` with the ticket."""
    kind = OperationKind(kind)
    if change_id is None and not ctx.enforce:
        return None
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        conn = session.connection()
        change = repo.find_change(conn, change_id, lock=True) if change_id is not None \
            else None
        if change_id is not None and change is None:
            raise repo.no_change(change_id)
        if change is not None:
            check_visible(caller, change)
            for code in departments:
                caller.check(Action.CHANGE_VIEW, code)
        passed = require_change(change, kind, departments, now,
                                calendar=current_calendar(conn),
                                sites=list(sites) if sites is not None else list(ctx.sites),
                                quota_deltas=quota_deltas)
        assert change is not None  # require_change refuses None
        if change.state is not ChangeState.IN_PROGRESS:
            repo.move(conn, change.id, expect=change.state, state=ChangeState.IN_PROGRESS,
                      started_at=now)
        if passed and not change.in_freeze:
            repo.set_in_freeze(conn, change.id)
        link_id = repo.add_link(conn, change.id, kind=kind.value, ref=operation,
                                actor=caller.name, at=now)
        audit(session, ctx, caller.name, "change.start", change, {
            "operation": kind.value, "ref": operation, "link": link_id,
            "was": change.state.value, "freezes": [f.name for f in passed]})
        session.commit()
    return Ticket(change.id, link_id)


def finish(ctx: ChangeContext, ticket: Ticket | None, *, actor: str, ok: bool,
           detail: str | None = None, close: bool = True) -> None:
    """Record how the operation of ``ticket`` ended; unless ``close`` is False (more
    operations will run under the change) or another of its operations still runs, the
    change becomes done (``ok``) or failed. None (no change): nothing to record."""
    if ticket is None:
        return
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        conn = session.connection()
        repo.finish_link(conn, ticket.link_id, ok=ok, at=now,
                         detail=printable(detail) if detail else None)
        change = repo.get_change(conn, ticket.change_id, lock=True)
        state = ChangeState.DONE if ok else ChangeState.FAILED
        closing = close and change.state is ChangeState.IN_PROGRESS \
            and not repo.running_links(conn, change.id)
        if closing:
            repo.move(conn, change.id, expect=ChangeState.IN_PROGRESS, state=state,
                      finished_at=now)
        audit(session, ctx, actor, "change.done" if ok else "change.failed", change, {
            "link": ticket.link_id, "state": state.value if closing else change.state.value,
            "closed": closing})
        session.commit()
