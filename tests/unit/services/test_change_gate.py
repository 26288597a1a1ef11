"""The change gate as operations that outlive one call use it, in a real database
(govcloud/services/change_gate.py; docs/changes.md):

- an operation run again goes on under the change it ran under (one link);
- one whose change stops letting it run (a freeze began) waits, and is taken up again under
  the same change once its window lets it (``due``, ``wake``); once the window is over, its
  link ends failed and the change with it;
- operations under different changes never run on one department at once, while one
  change's several operations may; other departments are not held up;
- a change's departments are told, in the transaction of each change of state, that it is
  scheduled (approved), started, done or failed.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine, select

from govcloud.domain.changes import OperationKind
from govcloud.domain.notify_delivery import routes_from_config
from govcloud.errors import ChangeRefused
from govcloud.services.change_gate import (
    due,
    finish,
    gate,
    hold,
    reserve,
    still_allowed,
    ticket_of,
    wake,
)
from govcloud.services.notifications import Notifier, NotifyConfig
from govcloud.store.inventory import table
from tests.unit.services.change_seed import (
    SAT1,
    SAT2,
    MovingClock,
    approved,
    caller,
    context,
    in_force,
    links,
    state,
)
from tests.unit.services.provisioning_setup import catalogue

DRILL = OperationKind.DR_DRILL
WAVE = OperationKind.MIGRATION_WAVE


def test_a_run_waits_through_a_freeze_and_goes_on_under_the_same_change(db: Engine) -> None:
    clock = MovingClock()
    ctx = context(db, clock)
    in_force(ctx, "v1")
    change = approved(ctx, DRILL, ["gd-psd"], SAT1)
    clock.now = SAT1 + dt.timedelta(minutes=30)
    ticket = gate(ctx, caller(), change, DRILL, ["gd-psd"], operation="drill 7")
    assert ticket is not None and state(ctx, change) == "in-progress"
    assert still_allowed(ctx, ticket, ["gd-psd"]) is None
    # run again (a resumed drill): the same link, no second one
    assert gate(ctx, caller(), None, DRILL, ["gd-psd"], operation="drill 7") == ticket
    assert ticket_of(ctx, DRILL, "drill 7") == ticket

    # a freeze is declared for the day: the run stops at its next safe step and waits
    in_force(ctx, "v2", [("storm", "2026-12-05", "2026-12-05")])
    why = still_allowed(ctx, ticket, ["gd-psd"])
    assert why is not None and "freeze storm" in why
    assert hold(ctx, ticket, actor="op", reason=why) is True
    assert [k["state"] for k in links(ctx, change)] == ["waiting"]
    assert state(ctx, change) == "in-progress" and due(ctx) == []
    with pytest.raises(ChangeRefused, match="freeze storm"):
        gate(ctx, caller(), None, DRILL, ["gd-psd"], operation="drill 7")

    # the freeze is lifted inside the window: the worker takes it up again
    in_force(ctx, "v3")
    found = due(ctx)
    assert [(k.ref, k.state) for k in found] == [("drill 7", "waiting")]
    assert wake(ctx, found[0], ["gd-psd"]) == ticket
    assert wake(ctx, found[0], ["gd-psd"]) is None  # once
    assert [k["state"] for k in links(ctx, change)] == ["running"]
    finish(ctx, ticket, actor="op", ok=True, detail="drill 7 passed")
    assert state(ctx, change) == "done" and links(ctx, change)[0]["state"] == "done"


def test_a_run_whose_window_is_over_ends_its_change_and_waits_for_another(db: Engine) -> None:
    clock = MovingClock()
    ctx = context(db, clock)
    in_force(ctx, "v1")
    first = approved(ctx, WAVE, ["gd-psd"], SAT1)
    second = approved(ctx, WAVE, ["gd-psd"], SAT2)
    clock.now = SAT1 + dt.timedelta(hours=3, minutes=59)
    ticket = gate(ctx, caller(), first, WAVE, ["gd-psd"], operation="wave gd-psd-w1")
    assert ticket is not None
    clock.now = SAT1 + dt.timedelta(hours=4, minutes=1)
    why = still_allowed(ctx, ticket, ["gd-psd"])
    assert why is not None and "is over" in why
    assert hold(ctx, ticket, actor="op", reason=why) is False
    assert state(ctx, first) == "failed"
    [link] = links(ctx, first)
    assert link["state"] == "failed" and "stopped at a safe step" in link["detail"]
    assert ticket_of(ctx, WAVE, "wave gd-psd-w1") is None

    # planned for the next change's window: it waits, and is due once that window opens
    planned, change = reserve(ctx, caller(), second, WAVE, ["gd-psd"],
                              operation="wave gd-psd-w1")
    assert change.start == SAT2 and due(ctx) == []
    assert state(ctx, second) == "approved"
    clock.now = SAT2 + dt.timedelta(minutes=1)
    [link_due] = due(ctx)
    assert wake(ctx, link_due, ["gd-psd"]) == planned
    assert state(ctx, second) == "in-progress"


def test_a_change_of_the_wrong_kind_or_departments_is_not_planned(db: Engine) -> None:
    clock = MovingClock()
    ctx = context(db, clock)
    in_force(ctx, "v1")
    drill_change = approved(ctx, DRILL, ["gd-psd"], SAT2)
    with pytest.raises(ChangeRefused, match="is for dr-drill, not migration-wave"):
        reserve(ctx, caller(), drill_change, WAVE, ["gd-psd"], operation="wave w")
    with pytest.raises(ChangeRefused, match="does not cover department"):
        reserve(ctx, caller(), drill_change, DRILL, ["gd-tax"], operation="drill 1")
    assert links(ctx, drill_change) == []


def test_operations_under_different_changes_do_not_run_on_one_department_at_once(
        db: Engine) -> None:
    clock = MovingClock()
    ctx = context(db, clock)
    in_force(ctx, "v1")
    # two approved changes of gd-psd whose windows overlap may both exist
    one = approved(ctx, WAVE, ["gd-psd"], SAT1)
    other = approved(ctx, WAVE, ["gd-psd", "gd-tax"], SAT1 + dt.timedelta(hours=1),
                     SAT1 + dt.timedelta(hours=3))
    tax = approved(ctx, WAVE, ["gd-tax"], SAT1)
    clock.now = SAT1 + dt.timedelta(hours=1, minutes=30)
    first = gate(ctx, caller(), one, WAVE, ["gd-psd"], operation="wave gd-psd-w1")
    with pytest.raises(ChangeRefused) as refused:
        gate(ctx, caller(), other, WAVE, ["gd-psd"], operation="wave gd-psd-w2")
    assert f"'wave gd-psd-w1' under change {one} is running on gd-psd" in \
        refused.value.message
    assert f"govcloud change show {one}" in (refused.value.hint or "")
    assert links(ctx, other) == [] and state(ctx, other) == "approved"
    # the same change runs several operations at once; another department is free
    second = gate(ctx, caller(), one, WAVE, ["gd-psd"], operation="rollback gd-psd-w0")
    assert gate(ctx, caller(), tax, WAVE, ["gd-tax"], operation="wave gd-tax-w1")
    finish(ctx, first, actor="op", ok=True, close=False)
    with pytest.raises(ChangeRefused):  # its second operation still runs
        gate(ctx, caller(), other, WAVE, ["gd-psd"], operation="wave gd-psd-w2")
    finish(ctx, second, actor="op", ok=True)
    assert state(ctx, one) == "done"
    with pytest.raises(ChangeRefused, match="gd-tax"):  # gd-tax's own wave still runs
        gate(ctx, caller(), other, WAVE, ["gd-psd", "gd-tax"], operation="wave both")
    assert gate(ctx, caller(), other, WAVE, ["gd-psd"], operation="wave gd-psd-w2")


def test_change_control_off_lets_an_operation_without_a_change_through(db: Engine) -> None:
    clock = MovingClock()
    ctx = context(db, clock, enforce=False)
    assert gate(ctx, caller(), None, DRILL, ["gd-psd"], operation="drill 1") is None
    assert still_allowed(ctx, None, ["gd-psd"]) is None
    enforced = context(db, clock)
    with pytest.raises(ChangeRefused, match="dr-drill needs an approved change"):
        gate(enforced, caller(), None, DRILL, ["gd-psd"], operation="drill 1")


def test_the_departments_are_told_of_each_change_of_state(db: Engine) -> None:
    clock = MovingClock()
    notifier = Notifier(engine=db, config=NotifyConfig(
        email=True, webhooks=routes_from_config(None)), catalogue=catalogue, clock=clock)
    ctx = context(db, clock, notifier=notifier)
    in_force(ctx, "v1")
    change = approved(ctx, DRILL, ["gd-psd"], SAT1)
    assert _told(db) == [("change.scheduled", str(change))] * 2  # two contacts
    clock.now = SAT1 + dt.timedelta(minutes=5)
    ticket = gate(ctx, caller(), change, DRILL, ["gd-psd"], operation="drill 3")
    gate(ctx, caller(), change, DRILL, ["gd-psd"], operation="drill 3")  # taken up again
    assert _told(db)[2:] == [("change.started", str(change))] * 2
    finish(ctx, ticket, actor="op", ok=False, detail="drill 3 failed: health_check")
    assert _told(db)[4:] == [("change.failed", str(change))] * 2
    payload = json.loads(_payloads(db)[-1])
    assert "drill 3 failed" in json.dumps(payload, ensure_ascii=False)


def _told(db: Engine) -> list[tuple[str, str]]:
    outbox = table("notification")
    with db.connect() as conn:
        return [(r.event, r.ref) for r in conn.execute(
            select(outbox.c.event, outbox.c.ref).order_by(outbox.c.id))]


def _payloads(db: Engine) -> list[str]:
    outbox = table("notification")
    with db.connect() as conn:
        return [r.payload for r in conn.execute(
            select(outbox.c.payload).order_by(outbox.c.id))]
