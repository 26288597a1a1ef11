"""A migration wave under change control (govcloud/services/migration_change.py), in a real
database with the real ansible-runner (playbooks that only run on the controller) and a
clock the test moves:

- the window of the wave's change closes while a step runs: the step finishes, and the run
  stops before the next step where every host's service still runs — nothing half-done —
  waiting for a window; the change ends failed (its window is over);
- planned for the next change's window (``migrate run --change N`` before it opens), the
  wave is taken up when that window opens (``resume_due``, what the worker calls) and
  completes; the change ends done.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.domain.changes import OperationKind
from govcloud.domain.legacy import Endpoint
from govcloud.domain.waves import Step, StepStatus
from govcloud.errors import ChangeRefused
from govcloud.services import migration as migration_service
from govcloud.services import migration_change
from govcloud.services.change_windows import resume_due
from govcloud.services.changes import ChangeContext
from govcloud.services.migration_access import import_hosts, plan
from govcloud.services.migration_run import PLAYBOOK_STEPS, RunContext, Runs
from govcloud.settings import Settings
from govcloud.store import migration as repo
from tests.unit.services.change_seed import (
    BOSS,
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

WAVE = OperationKind.MIGRATION_WAVE
HOSTS = ("a", "b")
PLAY = """- hosts: wave
  gather_facts: false
  tasks:
    - ansible.builtin.debug: {{msg: "{step} ran"}}
"""
MARKING = PLAY + """- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.file: {{path: "{marker}", state: touch}}
"""


class WindowClock(MovingClock):
    """A clock that jumps to ``late`` once ``marker`` exists (the step that makes it ran):
    time passes while a step runs."""

    def __init__(self, marker: Path, late: dt.datetime) -> None:
        super().__init__()
        self.marker, self.late, self.jumped = marker, late, False

    def __call__(self) -> dt.datetime:
        if not self.jumped and self.marker.exists():
            self.now, self.jumped = self.late, True
        return super().__call__()


def _playbooks(root: Path, marker: Path) -> Path:
    """Every step runs on the controller only; the initial sync makes ``marker``."""
    (root / "hooks").mkdir(parents=True)
    for step in (*(s.value for s in PLAYBOOK_STEPS), "rollback"):
        text = MARKING if step == Step.INITIAL_SYNC.value else PLAY
        (root / f"{step}.yml").write_text(text.format(step=step, marker=marker))
    return root


def _wave(db: Engine, clock: MovingClock) -> str:
    """gd-psd's one wave of two hosts, past precheck and provision, its entry gate
    overridden by the bureau."""
    text = ("all:\n  vars: {govcloud_department: gd-psd, govcloud_system: hukou}\n  hosts:\n"
            + "".join(f"    {h}: {{ansible_host: 10.0.0.{i + 1}}}\n"
                      for i, h in enumerate(HOSTS)))
    import_hosts(db, caller(BOSS), text=text, name="psd.yaml")
    [planned] = plan(db, caller(BOSS), department="gd-psd", first_window=SAT1,
                     window_hours=4, every_days=7, max_hosts=10, clock=clock)["waves"]
    wave_id: str = planned["wave"]
    with Session(db) as session:
        for i, h in enumerate(HOSTS):
            for s in (Step.PRECHECK, Step.PROVISION):
                repo.set_step(session, wave_id, h, s, StepStatus.SUCCEEDED, at=clock())
            repo.set_target(session, wave_id, h, Endpoint(f"10.1.0.{i + 1}"), f"srv-{h}")
        session.commit()
    migration_service.override(db, wave_id=wave_id, actor="boss", reason="rehearsed",
                               clock=clock)
    return wave_id


def _statuses(db: Engine, wave: str) -> dict[str, dict[str, str]]:
    with Session(db) as session:
        return {h: {s.value: st.value for s, st in steps.items()
                    if st is not StepStatus.PENDING}
                for h, steps in repo.step_statuses(session, wave).items()}


def _status(db: Engine, wave: str) -> str:
    with Session(db) as session:
        return repo.get_wave(session, wave).status


def _events(db: Engine, wave: str, kind: str) -> list[str]:
    with Session(db) as session:
        return [e.message or "" for e in repo.events(session, wave, limit=10_000)
                if e.event == kind]


def _resume(ctx: RunContext, runs: Runs, changes: ChangeContext) -> list[str]:
    return resume_due(changes, {WAVE.value: lambda link: migration_change.resume(
        ctx, runs, changes, link)})


@pytest.fixture
def setting(db: Engine, tmp_path: Path) -> tuple[RunContext, ChangeContext, WindowClock]:
    marker = tmp_path / "initial-sync-ran"
    clock = WindowClock(marker, late=SAT1 + dt.timedelta(hours=4, minutes=2))
    ctx = RunContext(engine=db, settings=Settings(migrate_dir=tmp_path / "m"), clock=clock,
                     playbooks=_playbooks(tmp_path / "pb", marker), heartbeat_s=0.05)
    return ctx, context(db, clock), clock


def test_a_wave_whose_window_closes_stops_at_a_safe_step_and_completes_in_the_next(
        db: Engine, setting: tuple[RunContext, ChangeContext, WindowClock]) -> None:
    ctx, changes, clock = setting
    in_force(changes, "v1")
    first = approved(changes, WAVE, ["gd-psd"], SAT1)
    second = approved(changes, WAVE, ["gd-psd"], SAT2)
    wave = _wave(db, clock)
    runs = Runs()
    clock.now = SAT1 + dt.timedelta(hours=3, minutes=30)
    started = migration_change.start_run(ctx, runs, caller(), wave, changes=changes,
                                         change_id=first, flavors=list)
    assert started["change"] == first and started["action"] == "run"
    runs.join(wave, 120)
    assert not runs.running(wave)

    # the initial sync ran to its end as the window closed; the run stopped before the
    # freeze: every host's service still runs, no step is running or interrupted
    assert clock.jumped
    assert _status(db, wave) == "waiting-window"
    assert _statuses(db, wave) == {h: {"precheck": "succeeded", "provision": "succeeded",
                                       "initial_sync": "succeeded"} for h in HOSTS}
    [stopped] = _events(db, wave, "waiting_window")
    assert stopped.startswith("stopped before freeze, every host's service running: "
                              f"change {first}'s window")
    assert state(changes, first) == "failed"
    [link] = links(changes, first)
    assert link["ref"] == f"wave {wave}" and link["state"] == "failed"
    assert "stopped at a safe step, not finished" in link["detail"]

    # run again without a change: the gate refuses (change control), nothing runs
    clock.now = SAT1 + dt.timedelta(days=1)
    with pytest.raises(ChangeRefused, match="migration-wave needs an approved change"):
        migration_change.start_run(ctx, runs, caller(), wave, changes=changes,
                                   change_id=None, flavors=list)
    # planned for the next change's window, which has not opened: it waits for it
    planned = migration_change.start_run(ctx, runs, caller(), wave, changes=changes,
                                         change_id=second, flavors=list)
    assert planned["action"] == "wait" and planned["run_id"] is None
    assert planned["opens"] == SAT2.isoformat()
    assert _resume(ctx, runs, changes) == [] and not runs.running(wave)
    assert state(changes, second) == "approved"

    clock.now = SAT2 + dt.timedelta(minutes=1)
    assert _resume(ctx, runs, changes) == [f"migration-wave wave {wave}"]
    runs.join(wave, 120)
    assert _status(db, wave) == "done"
    assert all(set(s.values()) == {"succeeded"} and len(s) == 8
               for s in _statuses(db, wave).values())
    assert state(changes, second) == "done"
    assert [(k["state"], k["detail"]) for k in links(changes, second)] == [
        ("done", f"wave {wave} done")]
    assert _resume(ctx, runs, changes) == []


def test_a_wave_stops_only_where_every_hosts_service_runs(
        db: Engine, setting: tuple[RunContext, ChangeContext, WindowClock]) -> None:
    """A host already frozen (a run stopped in the middle): the wave runs on to the end
    although its window closed."""
    ctx, changes, clock = setting
    in_force(changes, "v1")
    first = approved(changes, WAVE, ["gd-psd"], SAT1)
    wave = _wave(db, clock)
    with Session(db) as session:
        for s in (Step.INITIAL_SYNC, Step.FREEZE):
            repo.set_step(session, wave, "a", s, StepStatus.SUCCEEDED, at=clock())
        session.commit()
    clock.now = SAT1 + dt.timedelta(hours=3, minutes=59)
    runs = Runs()
    migration_change.start_run(ctx, runs, caller(), wave, changes=changes, change_id=first,
                               flavors=list)
    runs.join(wave, 120)
    assert clock.jumped and _status(db, wave) == "done"
    assert _events(db, wave, "waiting_window") == []
    assert state(changes, first) == "done"
