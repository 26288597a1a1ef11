"""Tenancy apply under change control: the pattern every operation that alters a
department's service follows (docs/changes.md, "The gate").

The apply plans first; before it changes anything, the plan is passed through the gate
(``services.change_gate.gate``) with the departments it touches, every configured site and
its quota changes (a standard change must stay within its policy). Refused: nothing was
changed. Let through: the apply runs, and its outcome closes the change (done or failed; a
failed change may be applied again inside its window, as apply adopts what exists).

Given a change and no departments, the apply works on the change's departments.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from govcloud.domain.catalogue import Catalogue
from govcloud.domain.changes import OperationKind, QuotaDelta
from govcloud.domain.rbac import Action
from govcloud.domain.tenancy import TenancyPlan
from govcloud.services import changes
from govcloud.services.access import codes_asked
from govcloud.services.change_gate import Ticket, finish, gate
from govcloud.services.changes import ChangeContext
from govcloud.services.migration_access import Caller
from govcloud.services.tenancy import TenancyResult, apply_recorded


def quota_deltas(plan: TenancyPlan) -> list[QuotaDelta]:
    """Every quota the plan would set (``current`` None: the project is new)."""
    return [QuotaDelta(q.code, s.site, q.field, q.current, q.desired)
            for s in plan.sites for q in s.quota_changes]


def apply_under_change(ctx: ChangeContext, caller: Caller, catalogue: Catalogue, *,
                       connections: Mapping[str, Any], engine: Engine,
                       departments: Sequence[str] | None, change_id: int | None,
                       lock: threading.Lock) -> dict[str, Any]:
    """``tenants apply`` as the API runs it (``services.tenancy.apply_recorded``), through
    the change gate; the answer names the change it ran under."""
    asked = departments
    if change_id is not None and not asked:
        asked = changes.show(ctx, caller, change_id)["departments"]
    codes = codes_asked(caller.principal, catalogue, Action.TENANCY_APPLY, asked)
    tickets: list[Ticket | None] = []

    def check_plan(plan: TenancyPlan) -> None:
        tickets.append(gate(ctx, caller, change_id, OperationKind.TENANCY_APPLY, codes,
                            operation="tenancy-apply " + ",".join(codes[:20]),
                            quota_deltas=quota_deltas(plan)))

    try:
        result: TenancyResult = apply_recorded(
            catalogue, connections=connections, engine=engine, actor=caller.name,
            departments=codes, lock=lock, clock=ctx.clock, check_plan=check_plan)
    except Exception as exc:
        if tickets:
            finish(ctx, tickets[0], actor=caller.name, ok=False,
                   detail=f"{type(exc).__name__}: {exc}")
        raise
    ticket = tickets[0] if tickets else None
    finish(ctx, ticket, actor=caller.name, ok=True, detail=result.summary())
    answer = result.to_dict()
    if ticket is not None:
        answer["change"] = ticket.change_id
    return answer
