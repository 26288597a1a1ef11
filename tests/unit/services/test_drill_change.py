"""A DR drill under change control (govcloud/services/drill.py, drill_run.py), in a real
database, its steps' cloud work replaced by recorders (the step machine, the store, the gate
and the worker's resumer are the real ones) and a clock the test moves:

- refused without a change; the change's window closes while a main step runs: the step
  ends, the other main steps are skipped, the teardown and the checks run (nothing the
  drill made is left), and the drill waits for a window, its steps reset — its RTO is
  measured in one go; the attempt stays in its state and the audit log;
- planned for the next change's window, it is taken up when that opens and passes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from govcloud.domain.changes import OperationKind
from govcloud.domain.drills import DRILL_STEPS, DrillStep
from govcloud.errors import ChangeRefused
from govcloud.services import drill, drill_run
from govcloud.services.change_windows import resume_due
from govcloud.services.drill_state import DrillContext
from govcloud.services.step_machine import Runs
from govcloud.settings import load_settings
from govcloud.store import drill_repo
from govcloud.store.audit import write_session
from govcloud.store.inventory import table
from govcloud.store.tables_drill import DrillPlanRow
from tests.unit.services.change_seed import (
    BOSS,
    OPERATOR,
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

DRILL = OperationKind.DR_DRILL


def _approved_drill(ctx: DrillContext) -> int:
    with write_session(ctx.engine) as session:
        drill_id = drill_repo.add_plan(session, DrillPlanRow(
            department="gd-psd", system="hukou", site="DR-LOCAL", state="planned",
            requester=OPERATOR.name, requester_person=OPERATOR.person,
            created_at=ctx.clock()))
        session.commit()
    drill.approve(ctx, caller(BOSS), drill_id)
    return drill_id


def _row(ctx: DrillContext, drill_id: int) -> DrillPlanRow:
    with Session(ctx.engine) as session:
        row = drill_repo.get(session, drill_id)
        session.expunge(row)
        return row


def _steps(ctx: DrillContext, drill_id: int) -> dict[str, str]:
    with Session(ctx.engine) as session:
        return {r.step: r.status for r in drill_repo.steps(session, drill_id)}


def test_a_drill_whose_window_closes_tears_down_and_runs_anew_in_the_next(
        db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = MovingClock()
    changes = context(db, clock)
    in_force(changes, "v1")
    first = approved(changes, DRILL, ["gd-psd"], SAT1)
    second = approved(changes, DRILL, ["gd-psd"], SAT2)
    ctx = DrillContext(engine=db, settings=load_settings(), connections=dict, clock=clock,
                       heartbeat_s=0.05, changes=changes)
    drill_id = _approved_drill(ctx)
    ran: list[str] = []

    def step(name: DrillStep) -> Callable[[DrillContext, object], str]:
        def handler(_ctx: DrillContext, _run: object) -> str:
            ran.append(name.value)
            if name is DrillStep.BRING_UP and clock.now < SAT2:
                clock.now = SAT1 + dt.timedelta(hours=4, minutes=1)  # the window closes
            return f"{name.value} done"
        return handler

    for name in drill_run.HANDLERS:
        monkeypatch.setitem(drill_run.HANDLERS, name, step(name))
    runs = Runs()
    clock.now = SAT1 + dt.timedelta(hours=2)
    with pytest.raises(ChangeRefused, match="dr-drill needs an approved change"):
        drill.start_run(ctx, runs, caller(), drill_id)
    assert _row(ctx, drill_id).state == "approved" and ran == []

    started = drill.start_run(ctx, runs, caller(), drill_id, change_id=first)
    assert (started["action"], started["change"]) == ("run", first)
    runs.join(f"drill-{drill_id}", 60)
    assert ran == ["snapshot_prod", "isolated_network", "bring_up", "teardown",
                   "verify_leftovers", "compare_prod"]
    row = _row(ctx, drill_id)
    assert (row.state, row.started_at, row.run_id) == ("waiting-window", None, None)
    assert set(_steps(ctx, drill_id).values()) == {"pending"}
    [attempt] = json.loads(row.state_json or "{}")["attempts"]
    assert attempt["stopped_before"] == "health_check"
    assert sorted(attempt["steps"]) == sorted(ran)
    assert f"change {first}'s window" in attempt["reason"]
    assert state(changes, first) == "failed"
    assert "stopped at a safe step" in (links(changes, first)[0]["detail"] or "")
    audit = table("audit_entry")
    with db.connect() as conn:
        actions = [r.action for r in conn.execute(select(audit.c.action))]
    assert "dr.drill.wait" in actions

    # planned for the next change's window; taken up when it opens; it passes
    clock.now = SAT1 + dt.timedelta(days=1)
    planned = drill.start_run(ctx, runs, caller(), drill_id, change_id=second)
    assert (planned["action"], planned["run_id"], planned["opens"]) == (
        "wait", None, SAT2.isoformat())
    resumers = {DRILL.value: lambda link: drill.resume(ctx, runs, link)}
    assert resume_due(changes, resumers) == []
    ran.clear()
    clock.now = SAT2 + dt.timedelta(minutes=1)
    assert resume_due(changes, resumers) == [f"dr-drill drill {drill_id}"]
    runs.join(f"drill-{drill_id}", 60)
    assert ran == [s.value for s in DRILL_STEPS if s is not DrillStep.RECORD]
    assert _row(ctx, drill_id).state == "passed"
    assert set(_steps(ctx, drill_id).values()) == {"succeeded"}
    assert state(changes, second) == "done"
    assert [k["state"] for k in links(changes, second)] == ["done"]
