"""DR failover, reprotect and failback, the use cases behind ``/dr/failovers`` (docs/dr.md,
"Failover and failback"): fail a system over to a DR site (planned, or unplanned when the
primary site is lost) in the background on the step machine, record the reversed protection
once the former primary is the copy (reprotect), fail it back to production, and plan a
whole site's failover in waves.

RBAC: failover, reprotect and failback need ``dr.failover`` on the department (operators,
city-operators for their city, the bureau) and the system named again (``confirm``); reading
needs ``department.view`` (a failover of a department the caller may not view is "no failover
N"); the site plan needs ``capacity.view`` on the whole cloud. Every change is audited.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from sqlmodel import Session

from govcloud.domain.changes import OperationKind
from govcloud.domain.failover import (
    FAILOVER_STEPS,
    FailoverAsk,
    FailoverKind,
    FailoverState,
    RoleState,
    SiteSystem,
    check_confirm,
    check_target,
    production,
)
from govcloud.domain.failover import site_plan as domain_site_plan
from govcloud.domain.rbac import Action
from govcloud.errors import ConflictError, GovCloudError, InvalidInput, NotFound
from govcloud.services import failover_run, inventory
from govcloud.services.change_gate import Ticket, finish, gate, ticket_of
from govcloud.services.dr_posture import dr_posture
from govcloud.services.failover_state import FailoverContext, state_of
from govcloud.services.failover_steps import system_posture
from govcloud.services.migration_access import Caller
from govcloud.services.step_machine import Runs
from govcloud.store import failover_repo as repo
from govcloud.store.audit import write_session
from govcloud.store.inventory import aware
from govcloud.store.tables_failover import FailoverRow, SystemRoleRow

log = logging.getLogger(__name__)


def _no_failover(failover_id: int) -> NotFound:
    return NotFound(f"no failover {failover_id}",
                    hint="list the failovers: `govcloud dr failovers`")


def _time(value: Any) -> str | None:
    found = aware(value)
    return found.isoformat() if found is not None else None


def role_json(row: SystemRoleRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"department": row.department, "system": row.system, "primary": row.primary_site,
            "copy_site": row.copy_site, "state": row.state, "failover": row.failover_id,
            "changed_at": _time(row.changed_at)}


def failover_json(ctx: FailoverContext, row: FailoverRow) -> dict[str, Any]:
    assert row.id is not None
    got = state_of(row)
    with Session(ctx.engine) as session:
        by_step = {r.step: r for r in repo.steps(session, row.id)}
    steps = []
    for step in FAILOVER_STEPS:
        r = by_step.get(step.value)
        steps.append({"step": step.value, "status": r.status if r else "pending",
                      "started_at": _time(r.started_at) if r else None,
                      "finished_at": _time(r.finished_at) if r else None,
                      "output": (r.output or "")[-4000:] if r else ""})
    return {"id": row.id, "department": row.department, "system": row.system,
            "kind": row.kind, "source": row.source, "target": row.target, "state": row.state,
            "requester": row.requester, "created_at": _time(row.created_at),
            "started_at": _time(row.started_at), "finished_at": _time(row.finished_at),
            "running": row.run_id is not None, "point_at": got.get("point_at"),
            "data_loss_s": got.get("data_loss_s"), "rto_s": got.get("rto_s"),
            "endpoints": {k: f"{a}:{p}" for k, (a, p) in (got.get("endpoints") or {}).items()},
            "steps": steps}


def _checked(ctx: FailoverContext, caller: Caller, failover_id: int,
             action: Action) -> FailoverRow:
    with Session(ctx.engine) as session:
        row = repo.find(session, failover_id)
        if row is not None:
            session.expunge(row)
    if row is None:
        raise _no_failover(failover_id)
    caller.check(action, row.department, lambda: _no_failover(failover_id))
    return row


def _launch(ctx: FailoverContext, runs: Runs, actor: str, failover_id: int,
            ticket: Ticket | None = None) -> str:
    """Take the failover and run it in the background; ``ticket`` (its change) is finished
    when it ends. Once started a failover runs to its end: stopping between stopping the
    primary and moving the endpoint would leave the service down (docs/changes.md)."""
    run_id = uuid.uuid4().hex[:12]
    failover_run.claim(ctx, failover_id, run_id)  # refuses now if a live run holds it

    def work(cancel: threading.Event) -> None:
        state = FailoverState.INTERRUPTED.value
        try:
            state = failover_run.run_failover(ctx, failover_id, actor=actor, cancel=cancel,
                                              run_id=run_id)
        except GovCloudError as exc:
            log.warning("failover %s: %s", failover_id, exc.message)
        except Exception:
            log.exception("failover %s failed unexpectedly", failover_id)
        if ctx.changes is not None:
            finish(ctx.changes, ticket, actor=actor, ok=state == FailoverState.DONE.value,
                   detail=f"failover {failover_id} {state}")

    runs.start(f"failover-{failover_id}", work)
    return run_id


def _gate(ctx: FailoverContext, caller: Caller, change_id: int | None, ask: FailoverAsk
          ) -> Ticket | None:
    """The change gate of a failover or failback (kind dr-failover, its department, both
    sites); refused (ChangeRefused), nothing was done."""
    if ctx.changes is None:
        return None
    return gate(ctx.changes, caller, change_id, OperationKind.DR_FAILOVER, [ask.department],
                operation=_ref(ask), sites=sorted({ask.source, ask.target}))


def _ref(ask: FailoverAsk) -> str:
    what = "failback" if ask.kind is FailoverKind.FAILBACK else "failover"
    return f"{what} {ask.department}/{ask.system}"


def _begin(ctx: FailoverContext, runs: Runs, caller: Caller, ask: FailoverAsk, *,
           change_id: int | None = None, under: Ticket | None = None) -> dict[str, Any]:
    """``_start`` under the change gate; ``under``: a ticket the caller holds (a site's
    failover: its systems run under its change, and it finishes it)."""
    if under is not None:
        return _start(ctx, runs, caller, ask, None)
    before = ticket_of(ctx.changes, OperationKind.DR_FAILOVER, _ref(ask)) \
        if ctx.changes is not None else None
    ticket = _gate(ctx, caller, change_id, ask)
    try:
        answer = _start(ctx, runs, caller, ask, ticket)
    except GovCloudError as exc:
        if ctx.changes is not None and ticket is not None and ticket != before:
            finish(ctx.changes, ticket, actor=caller.name, ok=False,
                   detail=f"refused: {exc.message}")
        raise
    return {**answer, "change": ticket.change_id if ticket is not None else None}


def _start(ctx: FailoverContext, runs: Runs, caller: Caller, ask: FailoverAsk,
           ticket: Ticket | None) -> dict[str, Any]:
    """Resume the system's unfinished failover when it is the same one, else start one."""
    with write_session(ctx.engine) as session:
        open_one = repo.unfinished(session, ask.department, ask.system)
        if open_one is not None and open_one.target == ask.target and \
                (open_one.kind, ask.kind) == (FailoverKind.PLANNED.value,
                                              FailoverKind.UNPLANNED):
            # production was lost during a planned failover: go on without it
            open_one.kind = ask.kind.value
            session.add(open_one)
        if open_one is not None and (open_one.kind, open_one.target) != (ask.kind.value,
                                                                          ask.target):
            raise ConflictError(
                f"failover {open_one.id} ({open_one.kind}, to {open_one.target}) of "
                f"{ask.system} has not finished", hint="run that one again to resume it "
                f"(`govcloud dr failovers {open_one.id}`)")
        resumed = open_one is not None
        if open_one is None:
            open_one = FailoverRow(department=ask.department, system=ask.system,
                                   kind=ask.kind.value, source=ask.source, target=ask.target,
                                   state=FailoverState.RUNNING.value, requester=caller.name,
                                   created_at=ctx.clock())
            repo.add(session, open_one)
        failover_id = open_one.id
        assert failover_id is not None
        session.commit()
    run_id = _launch(ctx, runs, caller.name, failover_id, ticket)
    action = "dr.failback.start" if ask.kind is FailoverKind.FAILBACK else "dr.failover.start"
    failover_run.audit(ctx, caller.name, action, ask.department,
                       {"failover": failover_id, "system": ask.system, "kind": ask.kind.value,
                        "from": ask.source, "to": ask.target, "resumed": resumed})
    return {"failover": failover_id, "run_id": run_id, "resumed": resumed,
            "kind": ask.kind.value, "source": ask.source, "target": ask.target}


def _role(ctx: FailoverContext, department: str, system: str) -> SystemRoleRow | None:
    with Session(ctx.engine) as session:
        row = repo.role(session, department, system)
        if row is not None:
            session.expunge(row)
    return row


def _system(ctx: FailoverContext, department: str, system: str) -> None:
    try:
        system_posture(ctx, department, system)
    except GovCloudError:
        raise NotFound(f"no system {system!r} in {department}",
                       hint="systems: `govcloud dr posture --department D`") from None


def failover(ctx: FailoverContext, runs: Runs, caller: Caller, *, department: str,
             system: str, target: str, unplanned: bool, confirm: str | None,
             change_id: int | None = None, under: Ticket | None = None) -> dict[str, Any]:
    """Fail ``system`` over to ``target`` (planned, or unplanned) in the background, under
    change ``change_id`` (change control); a failover of it left unfinished (crashed,
    failed) is resumed instead."""
    caller.check(Action.FAILOVER_RUN, department)
    check_confirm(system, confirm)
    kind = FailoverKind.UNPLANNED if unplanned else FailoverKind.PLANNED
    site = check_target(target, ctx.sites, kind=kind)
    _system(ctx, department, system)
    role = _role(ctx, department, system)
    open_one = repo_unfinished(ctx, department, system)
    if open_one is not None and open_one.target == site.name and \
            open_one.kind in (kind.value, FailoverKind.PLANNED.value):
        source = open_one.source  # resumed: the endpoint may have moved already
    else:
        source = role.primary_site if role is not None else production(ctx.sites).name
    return _begin(ctx, runs, caller, FailoverAsk(department, system, source, site.name, kind),
                  change_id=change_id, under=under)


def repo_unfinished(ctx: FailoverContext, department: str, system: str) -> FailoverRow | None:
    with Session(ctx.engine) as session:
        row = repo.unfinished(session, department, system)
        if row is not None:
            session.expunge(row)
    return row


def reprotect(ctx: FailoverContext, caller: Caller, *, department: str, system: str,
              confirm: str | None, change_id: int | None = None) -> dict[str, Any]:
    """After a failover, the former primary becomes the copy: record the reversed roles
    (under change ``change_id``, kind dr-failover, when change control asks for one)."""
    caller.check(Action.FAILOVER_RUN, department)
    check_confirm(system, confirm)
    role = _role(ctx, department, system)
    if role is None or role.state != RoleState.FAILED_OVER.value:
        raise ConflictError(f"{system} is not failed over"
                            + (f" ({role.state})" if role is not None else ""),
                            hint="reprotect follows a failover (`govcloud dr failover`)")
    changes = ctx.changes
    ticket = gate(changes, caller, change_id, OperationKind.DR_FAILOVER, [department],
                  operation=f"reprotect {department}/{system}",
                  sites=[role.primary_site]) if changes is not None else None
    try:
        answer = _reprotect(ctx, caller, department, system)
    except Exception as exc:
        if changes is not None:
            finish(changes, ticket, actor=caller.name, ok=False,
                   detail=f"{type(exc).__name__}: {exc}")
        raise
    if changes is not None:
        finish(changes, ticket, actor=caller.name, ok=True,
               detail=f"{system} reprotected: copy in {answer['copy_site']}")
    return {**answer, "change": ticket.change_id if ticket is not None else None}


def _reprotect(ctx: FailoverContext, caller: Caller, department: str,
               system: str) -> dict[str, Any]:
    with write_session(ctx.engine) as session:
        role = repo.role(session, department, system)
        if role is None or role.state != RoleState.FAILED_OVER.value:
            raise ConflictError(f"{system} is not failed over"
                                + (f" ({role.state})" if role is not None else ""),
                                hint="reprotect follows a failover (`govcloud dr failover`)")
        assert role.failover_id is not None
        former = repo.get(session, role.failover_id).source
        row = repo.set_role(session, department, system, primary=role.primary_site,
                            copy_site=former, state=RoleState.REPROTECTED.value,
                            failover_id=role.failover_id, at=ctx.clock())
        answer = role_json(row)
        primary = row.primary_site
        session.commit()
    failover_run.audit(ctx, caller.name, "dr.reprotect", department,
                       {"system": system, "primary": primary, "copy": former})
    assert answer is not None
    return answer


def failback(ctx: FailoverContext, runs: Runs, caller: Caller, *, department: str,
             system: str, confirm: str | None, change_id: int | None = None
             ) -> dict[str, Any]:
    """A planned failover back to production, once the system is reprotected."""
    caller.check(Action.FAILOVER_RUN, department)
    check_confirm(system, confirm)
    role = _role(ctx, department, system)
    open_one = repo_unfinished(ctx, department, system)
    resuming = open_one is not None and open_one.kind == FailoverKind.FAILBACK.value
    if not resuming and (role is None or role.state != RoleState.REPROTECTED.value):
        raise ConflictError(f"{system} is not reprotected"
                            + (f" ({role.state})" if role is not None else ""),
                            hint="fail back a system that was failed over and reprotected "
                                 "(`govcloud dr reprotect`)")
    prod = production(ctx.sites).name
    source = open_one.source if resuming and open_one is not None else \
        (role.primary_site if role is not None else prod)
    return _begin(ctx, runs, caller, FailoverAsk(department, system, source, prod,
                                                 FailoverKind.FAILBACK), change_id=change_id)


def show(ctx: FailoverContext, caller: Caller, failover_id: int) -> dict[str, Any]:
    row = _checked(ctx, caller, failover_id, Action.VIEW_DEPARTMENT)
    out = failover_json(ctx, row)
    out["role"] = role_json(_role(ctx, row.department, row.system))
    return out


def listing(ctx: FailoverContext, caller: Caller, *, department: str | None = None,
            limit: int = 100) -> dict[str, Any]:
    codes = caller.codes(Action.VIEW_DEPARTMENT)
    if department is not None:
        caller.check(Action.VIEW_DEPARTMENT, department)
        codes = [department]
    with Session(ctx.engine) as session:
        rows = repo.listing(session, codes, limit=limit)
        for r in rows:
            session.expunge(r)
    return {"failovers": [failover_json(ctx, r) for r in rows]}


# --- the site-level plan --------------------------------------------------------------------------

_KIND_ORDER = {"hot": 0, "warm": 1, "cold": 2}


def site_plan(ctx: FailoverContext, *, site: str, levels: dict[str, int],
              cache: Any = None) -> dict[str, Any]:
    """Losing ``site`` (production): its systems by DR level, highest first, in waves, each
    to its best copy (hot, then warm, then cold); refused, saying what is short, when a
    receiving site cannot take what moves to it (the lose-a-site what-if)."""
    prod = production(ctx.sites)
    if site != prod.name:
        raise InvalidInput(f"a site failover plan is for the production site, not "
                           f"{site[:64]!r}", hint=f"`govcloud dr failover --site {prod.name} "
                                                   "--plan`")
    answer = inventory.capacity(ctx.engine, sites=ctx.sites, what_if_lose=site,
                                dr_levels=levels, now=ctx.clock(), cache=cache)
    receiving = answer["what_if"]["receiving"]
    posture = dr_posture(ctx.engine, ctx.policy, ctx.sites, ctx.clock())
    with Session(ctx.engine) as session:  # systems failed over already serve elsewhere
        elsewhere = {(r.department, r.system) for r in repo.roles(session)
                     if r.primary_site != site}
    systems = []
    for s in posture.systems:
        if (s.department, s.system) in elsewhere:
            continue
        copies = sorted(s.plan.copies if s.plan else (),
                        key=lambda c: _KIND_ORDER.get(str(c.kind.value), 9))
        systems.append(SiteSystem(s.department, s.system, s.level, len(s.members),
                                  copies[0].site if copies else None))
    return domain_site_plan(site, systems, receiving).as_json()
