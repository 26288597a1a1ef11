"""Cancelling a lifecycle request that is running but waits (docs/lifecycle.md, "Retire"):
a retirement in its grace period is **rolled back** — its phase becomes ``restoring`` and the
job worker starts its servers again, then cancels it (``lifecycle_run.Retirement``); a
request waiting for its change's window (``lifecycle_change``) is cancelled at once. Any
other running request cannot be cancelled (it is never stopped half-way)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from govcloud.domain.lifecycle import WAITING_WINDOW, RequestKind, RetirePhase
from govcloud.domain.limits import text_digest
from govcloud.domain.provisioning import RequestState
from govcloud.errors import ConflictError
from govcloud.services.provisioning_common import ProvisioningContext, request_json
from govcloud.services.provisioning_lifecycle import audit, finish


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def cancel_running(ctx: ProvisioningContext, actor: str, request_id: int,
                   reason: str) -> dict[str, Any]:
    """Cancel running request ``request_id`` if it waits (else ConflictError)."""
    now = ctx.clock()
    with ctx.repo.writing() as tx:
        row = tx.lock_request(request_id)
        running = row.state == RequestState.PROVISIONING.value
        if running and row.phase == RetirePhase.RESTORE.value:
            return request_json(row)  # asked already: the worker is rolling it back
        grace = running and row.kind == RequestKind.RETIRE.value \
            and row.phase == RetirePhase.GRACE.value and (_aware(row.not_before) or now) > now
        if running and row.phase != WAITING_WINDOW and not grace:
            raise ConflictError(
                f"request {request_id} is provisioning and cannot become cancelled",
                hint="only a retirement in its grace period, or a lifecycle request waiting "
                     "for its change's window, is cancelled while it runs; this one runs to "
                     "its end")
        if grace:
            plan = json.loads(row.plan_json or "{}")
            row.plan_json = json.dumps({**plan, "cancel": {"by": actor, "reason": reason}})
            row.phase, row.not_before, row.updated_at = RetirePhase.RESTORE.value, None, now
            tx.save(row)
            audit(tx, actor, "phase", row, row.state, phase=row.phase,
                  before_phase=RetirePhase.GRACE.value, cancel=True,
                  reason=text_digest(reason))
            tx.add_event(request_id, "cancel", f"cancelled in its grace period by {actor}: "
                                               "its servers are started again, then it is "
                                               "cancelled", at=now)
            return request_json(row)
    return finish(ctx, request_id, RequestState.CANCELLED, actor=actor, reason=reason,
                  verb="cancel")
