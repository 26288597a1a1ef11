"""A request's life after the decision: the job worker's state changes (start, record its
servers, done or failed), and the final moves (rejected, cancelled, done, failed) that release
what the request holds. Each is one write transaction with its audit entry and event.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from govcloud.domain.changes import OperationKind
from govcloud.domain.inventory import QuotaInfo, ServerInfo
from govcloud.domain.lifecycle import WAITING_WINDOW
from govcloud.domain.limits import text_digest
from govcloud.domain.notifications import EventKind
from govcloud.domain.placement import Demand
from govcloud.domain.provisioning import RequestSpec, RequestState, SiteTarget, transition
from govcloud.errors import PermanentError, TemporaryError
from govcloud.services.change_gate import end_in
from govcloud.services.notifications import tell
from govcloud.services.provisioning_common import (
    ProvisioningContext,
    request_json,
    targets_of,
)
from govcloud.store import provisioning as sql
from govcloud.store.provisioning_repo import ProvisioningStore, Writer
from govcloud.store.tables_provisioning import ProvisionRequestRow

WORKER = "provisioner"
# the final states the department is told about (a cancelled request is its own doing)
_TOLD = {RequestState.REJECTED: EventKind.REQUEST_REJECTED,
         RequestState.DONE: EventKind.REQUEST_DONE, RequestState.FAILED: EventKind.REQUEST_FAILED}


def audit(tx: Writer, actor: str, verb: str, row: ProvisionRequestRow, before: str | None,
          **after: Any) -> None:
    """The audit entry of a request's move (``request.<verb>``)."""
    tx.audit(actor=actor, action=f"request.{verb}", target=f"department:{row.department}",
             before=None if before is None else {"request": row.id, "state": before},
             after={"request": row.id, "state": row.state, "system": row.system, **after})


def finish(ctx: ProvisioningContext, request_id: int, state: RequestState, *, actor: str,
           reason: str | None, verb: str, error: str | None = None) -> dict[str, Any]:
    """Move to ``state`` (a final one) and release whatever the request holds."""
    repo = ctx.repo
    row = repo.request(request_id)
    repo.ensure_ledger(sql.ledger_keys(row.department, [t.site for t in targets_of(row)]))
    with repo.writing() as tx:
        row = tx.lock_request(request_id)
        before = row.state
        transition(request_id, row.state, state)
        now = ctx.clock()
        released = tx.release(row, now)
        row.state = state.value
        row.reason = reason if reason is not None else row.reason
        row.error = error if error is not None else row.error
        row.updated_at = now
        tx.save(row)
        audit(tx, actor, verb, row, before, reason=text_digest(reason), error=error,
              released_sites=released)
        text = f"{state} by {actor}" + (f": {reason}" if reason else "") \
            + (f" — {error}" if error else "") \
            + (f"; released the reservation in {released} site(s)" if released else "")
        tx.add_event(request_id, state.value, text, at=now)
        if (row.kind or "provision") != "provision":  # its change's link ends with it
            end_in(tx.session, ctx.changes, OperationKind.LIFECYCLE, f"lifecycle {request_id}",
                   actor=actor, ok=state is RequestState.DONE,
                   detail=f"request {request_id} {state}" + (f": {error or reason}"
                                                            if error or reason else ""))
        kind = _TOLD.get(state)
        if kind is not None:  # the department hears of it with the change, or not at all
            tell(ctx.notify, tx.connection(), kind, row.department, request_id, now,
                 actor=actor, system=row.system, detail=error or reason)
        return request_json(row)


def start(ctx: ProvisioningContext, request_id: int) -> bool:
    """approved → provisioning; False if someone else moved it first (cancelled, say). A
    lifecycle request is audited as ``request.<kind>`` (scale, resize, retire)."""
    with ctx.repo.writing() as tx:
        row = tx.lock_request(request_id)
        if row.state != RequestState.APPROVED.value:
            return False
        row.state = RequestState.PROVISIONING.value
        row.updated_at = ctx.clock()
        tx.save(row)
        kind = row.kind or "provision"
        audit(tx, WORKER, kind, row, RequestState.APPROVED.value)
        tx.add_event(request_id, "provisioning" if kind == "provision" else "started",
                     f"{'provisioning' if kind == 'provision' else kind} started",
                     at=row.updated_at)
        return True


def complete(ctx: ProvisioningContext, request_id: int) -> dict[str, Any]:
    return finish(ctx, request_id, RequestState.DONE, actor=WORKER, reason=None, verb="done")


def fail(ctx: ProvisioningContext, request_id: int, error: str) -> dict[str, Any]:
    return finish(ctx, request_id, RequestState.FAILED, actor=WORKER, reason=None,
                  verb="fail", error=error)


_WORKING = (RequestState.APPROVED.value, RequestState.PROVISIONING.value)


def pending(ctx: ProvisioningContext) -> list[tuple[int, str]]:
    """Requests the worker should work on: approved ones, and provisioning ones (left by a
    worker that stopped or a server that died), oldest first — but not one that waits
    (``not_before``: a retirement's grace period or snapshot retention) until its time, nor
    a lifecycle request waiting for its change's window (``lifecycle_change``)."""
    now = ctx.clock()
    with ctx.repo.reading() as tx:
        rows = tx.list_requests(departments=None, states=_WORKING, limit=1000)
        return sorted((r.id or 0, r.state) for r in rows if r.phase != WAITING_WINDOW
                      and (r.not_before is None or _aware(r.not_before) <= now))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def system_in_progress(ctx: ProvisioningContext, department: str, system: str, *,
                       excluding: int) -> bool:
    """Whether a request of the system other than ``excluding`` is approved or being
    provisioned (its servers go into the system's server groups)."""
    with ctx.repo.reading() as tx:
        return any(r.id != excluding and r.system == system for r in tx.list_requests(
            departments=[department], states=_WORKING, limit=1000))


def request_kind(ctx: ProvisioningContext, request_id: int) -> str:
    """What request ``request_id`` is: provision, or a lifecycle kind (scale, resize,
    retire) that ``lifecycle_run`` runs."""
    return ctx.repo.request(request_id).kind or "provision"


def event(ctx: ProvisioningContext, request_id: int, kind: str, message: str) -> None:
    ctx.repo.note(request_id, kind, message)


def record_server(ctx: ProvisioningContext, request_id: int, *, site: str, ordinal: int,
                  name: str, key: str, server_id: str | None, status: str,
                  error: str | None = None, event: tuple[str, str] | None = None) -> None:
    """Record a server of the request, and with it ``event`` (kind, message) if given: one
    transaction."""
    with ctx.repo.writing() as tx:
        tx.record_server(request_id, site=site, ordinal=ordinal, name=name, key=key,
                         server_id=server_id, status=status, error=error)
        if event is not None:
            tx.add_event(request_id, *event)


def request_spec(ctx: ProvisioningContext, request_id: int
                 ) -> tuple[ProvisionRequestRow, RequestSpec, list[SiteTarget]]:
    """The request (detached), its spec and its target sites."""
    row = ctx.repo.request(request_id)
    return row, ctx.specs.of(request_id, row.spec_json), targets_of(row)


def project_of(ctx: ProvisioningContext, department: str, site: str) -> str:
    """The department's project in ``site`` (PermanentError: it has none)."""
    with ctx.repo.reading() as tx:
        project = tx.project_of(department, site)
    if project is None:
        raise PermanentError(f"{site}: department {department} has no project")
    return project


def write_inventory(ctx: ProvisioningContext, site: str, servers: Sequence[ServerInfo],
                    quotas: Sequence[QuotaInfo], *, project: str, department: str) -> None:
    """The request's new servers and its project's quota usage into the inventory, now."""
    ctx.repo.write_inventory(site, servers, quotas, project=project, department=department)


def wait_for(ctx: ProvisioningContext, request_id: int, timeout_s: float,
             poll_s: float = 0.2) -> dict[str, Any]:
    """Wait until the request is final; TemporaryError on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        row = ctx.repo.request(request_id)
        if RequestState(row.state).final:
            return request_json(row)
        if time.monotonic() > deadline:
            raise TemporaryError(f"request {request_id} is still {row.state} after "
                                 f"{timeout_s:.0f} s")
        time.sleep(poll_s)


def ledger_check(engine: Engine) -> dict[str, Any]:
    """The ledger next to the sums of active reservations (they must be equal)."""
    with ProvisioningStore(engine).reading() as tx:
        ledger = {k: v for k, v in tx.ledger_totals().items() if v != Demand()}
        sums = tx.reservation_sums()
    return {"ledger": ledger, "reservations": sums, "matches": ledger == sums}
