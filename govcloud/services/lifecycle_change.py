"""A lifecycle request under its change when the job worker runs it (docs/lifecycle.md,
"The change gate"; docs/changes.md, "When a window closes").

The request is an operation of its change like a wave or a drain: a link of kind
``lifecycle`` named ``lifecycle ID``. When the worker starts (or resumes) it, the request
passes the gate again (``change_gate.gate_as``: approved, its department, its window open,
no freeze, no other change's operation running on the department). Refused while its
change's window may still open — not opened yet, a freeze, another change busy — it
**waits**: its link is ``waiting``, the request is ``provisioning`` in phase
``waiting-window`` (the job worker leaves it alone), and the change-window worker takes it up
(``resume``) when the change lets it run. A resize asks again between members
(``may_go_on``) and stops only there. Refused for good — the window is over, the change was
cancelled or rejected — the request fails naming why (its link ends failed).

The link ends with the request: ``provisioning_lifecycle.finish`` ends it in the request's
final transaction (done, failed, cancelled), and a retirement's ends done when the system is
retired (``lifecycle_steps.Steps.retire_system``); during a retirement's grace period it
waits (``park``: it holds nobody, the change stays in progress).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from govcloud.domain.changes import OperationKind
from govcloud.domain.lifecycle import WAITING_WINDOW
from govcloud.domain.provisioning import RequestState
from govcloud.errors import ChangeRefused, GovCloudError, NotFound
from govcloud.services import provisioning_lifecycle as svc
from govcloud.services.change_gate import (
    Ticket,
    WindowCheck,
    gate_as,
    hold,
    park,
    reserve_as,
    ticket_of,
    wake,
)
from govcloud.services.provisioning_common import ProvisioningContext
from govcloud.services.provisioning_lifecycle import WORKER, audit
from govcloud.store.changes_repo import OpenLink
from govcloud.store.tables_provisioning import ProvisionRequestRow

log = logging.getLogger(__name__)
KIND = OperationKind.LIFECYCLE


def operation(request_id: int) -> str:
    """The link's name of lifecycle request ``request_id``."""
    return f"lifecycle {request_id}"


def change_number(row: ProvisionRequestRow) -> int | None:
    value = row.change_id
    return int(value) if value is not None and value.isdigit() else None


class ChangeWatch:
    """The change of one lifecycle request's run: the gate as it starts, the window between
    the steps it may stop at, its link parked during a grace period."""

    def __init__(self, ctx: ProvisioningContext, row: ProvisionRequestRow) -> None:
        self.ctx, self.changes = ctx, ctx.changes
        self.rid, self.department = row.id or 0, row.department
        self.change_id = change_number(row)
        self.actor = row.requester
        self.ticket: Ticket | None = None
        self.window: WindowCheck | None = None
        self.outcome: dict[str, Any] | None = None  # the request's answer when it failed

    def enter(self) -> bool:
        """Pass the gate as the run starts or resumes: True to go on; False when the
        request waits for its change's window (or failed: ``outcome``)."""
        if self.change_id is None:
            return True
        try:
            self.ticket = gate_as(self.changes, self.actor, self.change_id, KIND,
                                  [self.department], operation=operation(self.rid))
        except ChangeRefused as exc:
            return self._refused(exc.message)
        if self.ticket is not None:
            self.window = WindowCheck(self.changes, self.ticket, [self.department])
        return True

    def may_go_on(self, done: str) -> bool:
        """Asked at a safe step (between two members of a resize): True while the change
        lets the request run; else it waits for the window (or fails when the window is
        over), with what was ``done`` said."""
        if self.window is None or self.ticket is None:
            return True
        why = self.window()
        if why is None:
            return True
        if hold(self.changes, self.ticket, actor=self.actor, reason=why):
            self._wait(f"stopped at a safe step ({done}): {why}")
        else:
            self.outcome = svc.fail(self.ctx, self.rid, f"stopped at a safe step ({done}), "
                                    f"not finished: {why}")
        return False

    def park(self, reason: str) -> None:
        """The request waits on its own clock (a retirement's grace period)."""
        ticket = self.ticket or ticket_of(self.changes, KIND, operation(self.rid))
        if ticket is not None:
            park(self.changes, ticket, actor=self.actor, reason=reason)

    def _refused(self, why: str) -> bool:
        """The gate refused: wait while the change's window may still let the request run
        (its link waiting), else fail."""
        assert self.change_id is not None
        found = ticket_of(self.changes, KIND, operation(self.rid))
        if found is not None and found.change_id == self.change_id:
            if hold(self.changes, found, actor=self.actor, reason=why):
                self._wait(why)
                return False
            self.outcome = svc.fail(self.ctx, self.rid, f"change {self.change_id}: {why}")
            return False
        try:  # its first run: planned for the window when it is still to come
            reserve_as(self.changes, self.actor, self.change_id, KIND, [self.department],
                       operation=operation(self.rid))
        except GovCloudError as exc:
            self.outcome = svc.fail(self.ctx, self.rid,
                                    f"change {self.change_id}: {exc.message}")
            return False
        self._wait(why)
        return False

    def _wait(self, why: str) -> None:
        with self.ctx.repo.writing() as tx:
            row = tx.lock_request(self.rid)
            before = row.phase
            row.phase, row.not_before, row.updated_at = WAITING_WINDOW, None, self.ctx.clock()
            tx.save(row)
            audit(tx, WORKER, "wait", row, row.state, change=self.change_id,
                  before_phase=before, reason=why[:500])
            tx.add_event(self.rid, "waiting", f"waits for change {self.change_id}'s window: "
                                              f"{why}")


def resume(ctx: ProvisioningContext, link: OpenLink, poke: Callable[[], None] | None) -> bool:
    """Take up a lifecycle request waiting for its change's window, now that the change lets
    it run (the change-window worker): its link running again, the request handed back to
    the job worker (``poke`` wakes it). False when it did not start (it keeps waiting: a
    retirement in its grace period is not waiting for a window)."""
    number = link.ref.removeprefix("lifecycle ")
    if not number.isdigit():
        return False
    try:
        row = ctx.repo.request(int(number))
    except NotFound:
        return False
    if row.state != RequestState.PROVISIONING.value or row.phase != WAITING_WINDOW:
        return False
    if wake(ctx.changes, link, [row.department]) is None:
        return False
    with ctx.repo.writing() as tx:
        row = tx.lock_request(int(number))
        if row.phase != WAITING_WINDOW:
            return False
        row.phase, row.updated_at = None, ctx.clock()
        tx.save(row)
        audit(tx, WORKER, "phase", row, row.state, phase=None, before_phase=WAITING_WINDOW,
              change=link.change_id)
        tx.add_event(row.id or 0, "resumed", f"change {link.change_id}'s window lets it run: "
                                             "it goes on where it stopped")
    if poke is not None:
        poke()
    return True
