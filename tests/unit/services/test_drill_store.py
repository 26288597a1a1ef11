"""The drills' store and the shared step machine on a migrated database (revision
0014_drills): a drill's steps recorded before and after, a live run's claim refused to another
run, a dead run's claim taken over with its running step marked interrupted, the claim
released; a cleanup resets only the teardown and the leftover check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.domain.steps import StepStatus
from govcloud.errors import ConflictError
from govcloud.services import step_machine
from govcloud.store import drill_repo as repo
from govcloud.store.audit import write_session
from govcloud.store.tables_drill import DrillPlanRow
from tests.databases import T0


def _drill(db: Engine) -> int:
    with write_session(db) as session:
        drill_id = repo.add_plan(session, DrillPlanRow(
            department="gd-agri", system="ledger", site="DR-REMOTE", state="approved",
            requester="ops", requester_person="ops", created_at=T0))
        session.commit()
    return drill_id


def _claim(db: Engine, drill_id: int, run_id: str, seconds: float) -> None:
    step_machine.claim(
        db, lambda s: repo.get(s, drill_id), run_id, now=T0 + timedelta(seconds=seconds),
        stale_after_s=30, what=f"drill {drill_id}", hint="wait",
        interrupted=lambda s, now: repo.interrupt_running(s, drill_id, now))


def test_a_live_run_holds_the_drill_and_a_dead_one_is_taken_over(db: Engine) -> None:
    drill_id = _drill(db)
    _claim(db, drill_id, "first", 0)
    with write_session(db) as session:
        repo.set_step(session, drill_id, "snapshot_prod", StepStatus.RUNNING, at=T0)
        repo.set_step(session, drill_id, "snapshot_prod", StepStatus.SUCCEEDED,
                      at=T0 + timedelta(seconds=1), output="2 servers")
        repo.set_step(session, drill_id, "isolated_network", StepStatus.RUNNING,
                      at=T0 + timedelta(seconds=2))
        session.commit()
    with pytest.raises(ConflictError, match="drill .* is being run \\(run first"):
        _claim(db, drill_id, "second", 10)  # its heartbeat is 10 s old: alive
    _claim(db, drill_id, "first", 10)  # its own run may claim again
    _claim(db, drill_id, "second", 45)  # 35 s without a beat: dead, taken over
    with Session(db) as session:
        row = repo.get(session, drill_id)
        steps = {r.step: r for r in repo.steps(session, drill_id)}
    assert row.run_id == "second"
    assert steps["snapshot_prod"].status == "succeeded"
    assert steps["snapshot_prod"].output == "2 servers"
    assert steps["snapshot_prod"].finished_at is not None
    assert steps["isolated_network"].status == "interrupted"
    assert "the run that held it ended" in (steps["isolated_network"].output or "")
    with write_session(db) as session:
        row = repo.get(session, drill_id)
        step_machine.release(session, row, "first")  # not the holder: nothing happens
        session.commit()
        assert row.run_id == "second"
        step_machine.release(session, row, "second")
        session.commit()
    with Session(db) as session:
        assert repo.get(session, drill_id).run_id is None


def test_a_cleanup_resets_only_its_steps(db: Engine) -> None:
    drill_id = _drill(db)
    with write_session(db) as session:
        for step in ("bring_up", "teardown", "verify_leftovers"):
            repo.set_step(session, drill_id, step, StepStatus.SUCCEEDED, at=T0)
        repo.reset_steps(session, drill_id, ["teardown", "verify_leftovers"])
        session.commit()
    with Session(db) as session:
        assert {r.step: r.status for r in repo.steps(session, drill_id)} == {
            "bring_up": "succeeded", "teardown": "pending", "verify_leftovers": "pending"}
        assert repo.find(session, drill_id + 1) is None
        assert [r.id for r in repo.plans(session, ["gd-agri"])] == [drill_id]
        assert repo.plans(session, ["gd-psd"]) == []
