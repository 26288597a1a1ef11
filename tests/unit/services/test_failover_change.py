"""DR failovers under change control (govcloud/services/failover.py, failover_site.py), in
a real database; the failover's run itself is replaced (its steps are the DR tests'):

- a failover is refused without an approved change of kind dr-failover covering its
  department, and nothing is recorded; under one it runs as the change's link
  (``failover DEPT/SYSTEM``) and its end closes the change;
- a whole site's failover passes the gate once, for every department its plan moves; its
  systems' failovers run under that change, which closes when the site's run ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from govcloud.domain.changes import OperationKind
from govcloud.errors import ChangeRefused
from govcloud.services import failover, failover_run, failover_site
from govcloud.services.failover_state import FailoverContext
from govcloud.services.step_machine import Runs
from govcloud.settings import load_settings
from govcloud.store import failover_repo
from govcloud.store.audit import write_session
from govcloud.store.tables_failover import FailoverRow
from tests.unit.services.change_seed import (
    SAT1,
    MovingClock,
    approved,
    caller,
    context,
    in_force,
    links,
    state,
)

FAILOVER = OperationKind.DR_FAILOVER


@pytest.fixture
def ctx(db: Engine, monkeypatch: pytest.MonkeyPatch) -> FailoverContext:
    clock = MovingClock()
    changes = context(db, clock)
    in_force(changes, "v1")
    monkeypatch.setattr(failover, "_system", lambda *_: None)  # the system exists

    def run(ctx: FailoverContext, failover_id: int, **_: Any) -> str:
        with write_session(ctx.engine) as session:
            row = failover_repo.get(session, failover_id)
            row.state = "done"
            session.add(row)
            session.commit()
        return "done"

    monkeypatch.setattr(failover_run, "run_failover", run)
    monkeypatch.setattr(failover_run, "claim", lambda *_: None)
    return FailoverContext(engine=db, settings=load_settings(), connections=dict,
                           clock=clock, changes=changes)


def _failovers(ctx: FailoverContext) -> list[tuple[str, str, str]]:
    with Session(ctx.engine) as session:
        return [(r.department, r.system, r.state)
                for r in session.exec(select(FailoverRow).order_by(FailoverRow.id))]


def test_a_failover_runs_only_under_a_change_of_its_department(ctx: FailoverContext) -> None:
    assert ctx.changes is not None and isinstance(ctx.clock, MovingClock)
    tax = approved(ctx.changes, FAILOVER, ["gd-tax"], SAT1)
    psd = approved(ctx.changes, FAILOVER, ["gd-psd"], SAT1)
    ctx.clock.now = SAT1 + dt.timedelta(minutes=20)
    runs = Runs()
    ask = {"department": "gd-psd", "system": "hukou", "target": "DR-LOCAL",
           "unplanned": False, "confirm": "hukou"}
    with pytest.raises(ChangeRefused, match="dr-failover needs an approved change"):
        failover.failover(ctx, runs, caller(), **ask)
    with pytest.raises(ChangeRefused, match=r"does not cover department\(s\) gd-psd"):
        failover.failover(ctx, runs, caller(), **ask, change_id=tax)
    assert _failovers(ctx) == [] and links(ctx.changes, tax) == []

    started = failover.failover(ctx, runs, caller(), **ask, change_id=psd)
    assert started["change"] == psd
    runs.join(f"failover-{started['failover']}", 30)
    assert _failovers(ctx) == [("gd-psd", "hukou", "done")]
    assert state(ctx.changes, psd) == "done"
    assert [(k["ref"], k["state"]) for k in links(ctx.changes, psd)] == [
        ("failover gd-psd/hukou", "done")]


def test_a_site_failover_runs_under_one_change_for_every_department_it_moves(
        ctx: FailoverContext, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ctx.changes is not None and isinstance(ctx.clock, MovingClock)
    plan = {"site": "PROD", "fits": True, "not_protected": [], "receiving": [], "waves": [
        {"wave": 1, "level": 6, "systems": [
            {"department": "gd-psd", "system": "hukou", "level": 6, "members": 1,
             "target": "DR-LOCAL"}]},
        {"wave": 2, "level": 3, "systems": [
            {"department": "gd-edu", "system": "exam", "level": 3, "members": 1,
             "target": "DR-REMOTE"}]}]}
    monkeypatch.setattr(failover, "site_plan", lambda *_, **__: plan)
    only_psd = approved(ctx.changes, FAILOVER, ["gd-psd"], SAT1)
    both = approved(ctx.changes, FAILOVER, ["gd-edu", "gd-psd"], SAT1)
    ctx.clock.now = SAT1 + dt.timedelta(minutes=20)
    runs = Runs()
    with pytest.raises(ChangeRefused, match=r"does not cover department\(s\) gd-edu"):
        failover_site.run_site(ctx, runs, caller(), site="PROD", unplanned=False,
                               confirm="PROD", levels={}, change_id=only_psd)
    assert _failovers(ctx) == []
    started = failover_site.run_site(ctx, runs, caller(), site="PROD", unplanned=False,
                                     confirm="PROD", levels={}, change_id=both)
    assert started["change"] == both
    runs.join("site-PROD", 30)
    assert _failovers(ctx) == [("gd-psd", "hukou", "done"), ("gd-edu", "exam", "done")]
    assert [(k["ref"], k["state"]) for k in links(ctx.changes, both)] == [
        ("site-failover PROD", "done")]
    assert state(ctx.changes, both) == "done"
