"""A whole site's failover run in waves (docs/dr.md, "The site plan"): the site plan
(``services.failover.site_plan``: by DR level, refused when a receiving site is short), then
each wave's systems failed over together — each its own resumable failover — and the next
wave only once every failover of this one is done. A wave with a failed failover stops the
run. Running the site again is safe: systems already serving elsewhere are out of the plan,
and a system's unfinished failover is resumed."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlmodel import Session, col, func, select

from govcloud.domain.changes import OperationKind
from govcloud.domain.failover import FailoverState, check_confirm
from govcloud.domain.rbac import Action
from govcloud.errors import GovCloudError
from govcloud.services import failover as service
from govcloud.services import failover_run
from govcloud.services.change_gate import Ticket, finish, gate
from govcloud.services.failover_state import FailoverContext
from govcloud.services.migration_access import Caller
from govcloud.services.step_machine import Runs
from govcloud.store import failover_repo as repo
from govcloud.store.tables_failover import FailoverRow

log = logging.getLogger(__name__)


def _newest_id(ctx: FailoverContext) -> int:
    with Session(ctx.engine) as session:
        return int(session.exec(select(func.max(col(FailoverRow.id)))).one() or 0)


def _wave(ctx: FailoverContext, runs: Runs, caller: Caller, wave: dict[str, Any], *,
          unplanned: bool, under: Ticket | None) -> list[str]:
    """Fail over every system of the wave and wait for all; what did not end done."""
    started, failed = [], []
    for s in wave["systems"]:
        try:
            got = service.failover(ctx, runs, caller, department=s["department"],
                                   system=s["system"], target=s["target"],
                                   unplanned=unplanned, confirm=s["system"],
                                   under=under)
            started.append((s, int(got["failover"])))
        except GovCloudError as exc:
            failed.append(f"{s['department']}/{s['system']}: {exc.message}")
    for s, fid in started:
        runs.join(f"failover-{fid}")
        with Session(ctx.engine) as session:
            state = repo.get(session, fid).state
        if state != FailoverState.DONE.value:
            failed.append(f"{s['department']}/{s['system']}: failover {fid} {state}")
    return failed


def _gate(ctx: FailoverContext, caller: Caller, change_id: int | None, site: str,
          plan: dict[str, Any]) -> Ticket | None:
    """One change for the whole site (kind dr-failover): it covers every department the
    plan moves, the site and the receiving sites; its systems' failovers run under it."""
    if ctx.changes is None:
        return None
    systems = [s for wave in plan["waves"] for s in wave["systems"]]
    departments = sorted({s["department"] for s in systems})
    sites = sorted({site, *(s["target"] for s in systems if s["target"])})
    return gate(ctx.changes, caller, change_id, OperationKind.DR_FAILOVER, departments,
                operation=f"site-failover {site}", sites=sites)


def run_site(ctx: FailoverContext, runs: Runs, caller: Caller, *, site: str, unplanned: bool,
             confirm: str | None, levels: dict[str, int], cache: Any = None,
             change_id: int | None = None) -> dict[str, Any]:
    """Start the site's failover in waves in the background, under change ``change_id``
    (change control); the answer is the plan, with ``after`` (the failovers it starts have
    greater ids) and ``at`` (the steps it runs of a resumed failover end after it)."""
    check_confirm(site, confirm, what="site")
    plan = service.site_plan(ctx, site=site, levels=levels, cache=cache)
    for wave in plan["waves"]:
        for s in wave["systems"]:
            caller.check(Action.FAILOVER_RUN, s["department"])
    ticket = _gate(ctx, caller, change_id, site, plan)
    after = _newest_id(ctx)
    at = ctx.clock()

    def work(cancel: threading.Event) -> None:
        outcome: dict[str, Any] = {"site": site, "unplanned": unplanned, "done": True}
        try:
            for wave in plan["waves"]:
                if cancel.is_set():
                    outcome.update(done=False, stopped_at=wave["wave"], failed=["cancelled"])
                    break
                failed = _wave(ctx, runs, caller, wave, unplanned=unplanned, under=ticket)
                if failed:
                    outcome.update(done=False, stopped_at=wave["wave"], failed=failed)
                    break
        except Exception:
            log.exception("the failover of site %s failed unexpectedly", site)
            outcome.update(done=False, failed=["unexpected error (see the server log)"])
        failover_run.audit(ctx, caller.name, "dr.failover.site", "", outcome,
                           target=f"site:{site}")
        if ctx.changes is not None:
            finish(ctx.changes, ticket, actor=caller.name, ok=bool(outcome["done"]),
                   detail=f"site {site} failover " + ("done" if outcome["done"] else
                                                       "stopped: " + "; ".join(
                                                           outcome.get("failed", []))))

    try:
        runs.start(f"site-{site}", work)
    except GovCloudError as exc:
        if ctx.changes is not None and ticket is not None:
            finish(ctx.changes, ticket, actor=caller.name, ok=False,
                   detail=f"refused: {exc.message}")
        raise
    failover_run.audit(ctx, caller.name, "dr.failover.site.start", "",
                       {"site": site, "unplanned": unplanned, "waves": len(plan["waves"])},
                       target=f"site:{site}")
    return {**plan, "after": after, "at": at.isoformat(), "unplanned": unplanned,
            "change": ticket.change_id if ticket is not None else None}
