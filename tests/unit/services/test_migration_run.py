"""What running and rolling back a wave decides (govcloud/services/migration_run.py), in a real
database, with the seams the run takes: its playbook directory (small real playbooks that only
run on the controller — ``debug``, ``fail``, ``pause`` — through the real ansible-runner, so no
host is reached) and its target provisioner (a fake where a cloud would build servers):

- one run holds a wave; another takes it over only once the holder's heartbeat is stale, and
  the dead run's running steps become interrupted;
- a cancelled run stops before its next step; every run is audited, with its window override;
- each step runs for the hosts still at it: a host that fails (its playbook, its target, the
  cutover hook) goes no further while the others finish; the cutover switches the live side;
  a step that times out interrupts the run;
- a rollback puts the legacy side back, marks every step rolled back, and releases the targets
  a provisioner made (a failed release keeps the target recorded).
(End to end over SSH: tests/integration/migrate/.)"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from govcloud.domain.legacy import Endpoint, LegacyHost, TargetCopy
from govcloud.domain.rbac import Principal, Role
from govcloud.domain.waves import STEPS, Step, StepStatus
from govcloud.errors import ConflictError, InvalidInput, PermanentError
from govcloud.services import step_machine
from govcloud.services.changes import ChangeContext
from govcloud.services.migration_access import Caller, import_hosts, plan
from govcloud.services.migration_rollback import rollback
from govcloud.services.migration_run import (
    PLAYBOOK_STEPS,
    RUN_START,
    DeclaredTargets,
    Provisioned,
    Recorder,
    RunContext,
    Runs,
    claim,
    hook_path,
    run_wave,
)
from govcloud.services.migration_run import _release as release_run
from govcloud.services.run_takeover import take_over_waves
from govcloud.settings import Settings
from govcloud.store import inventory as inv
from govcloud.store import migration as repo
from tests.databases import T0, Clock
from tests.processes import processes_naming
from tests.unit.services.provisioning_setup import catalogue

BOSS = Principal("boss", Role.BUREAU_ADMIN)
HOSTS = ("a", "b", "c")
PLAY = """- hosts: wave
  gather_facts: false
  tasks:
    - name: {step}
      ansible.builtin.debug: {{msg: "{step} ran"}}
    - name: {step} check
      ansible.builtin.fail: {{msg: "{step} refused"}}
      when: inventory_hostname in {failing}
"""
PAUSE = """- hosts: wave
  gather_facts: false
  tasks:
    - ansible.builtin.pause: {seconds: 60}
"""


@dataclass
class FakeProvisioner:
    """Targets as a cloud would build them: the calls are recorded; ``release_fails`` makes
    every release raise."""

    made: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    release_fails: bool = False

    def provision(self, host: LegacyHost, wave: str, *, actor: str) -> Provisioned:
        self.made.append(host.name)
        raise PermanentError(f"request for {host.name}: quota exceeded")

    def release(self, host: LegacyHost, wave: str, made: Provisioned, *,
                actor: str) -> list[str]:
        if self.release_fails:
            raise PermanentError("site PROD: 503")
        if made.request is None:  # as CloudTargets: a declared target is kept
            return DeclaredTargets().release(host, wave, made, actor=actor)
        self.released.append(host.name)
        return [f"deleted server {made.server} of request {made.request}"]

    def expected_keys(self, host: LegacyHost, made: Provisioned) -> dict[str, Any]:
        return {}  # no cloud says anything: a recorded key is checked, no other accepted


def playbooks(root: Path, failing: dict[str, Sequence[str]] | None = None,
              pause: str | None = None) -> Path:
    """A playbook directory: every step (and the rollback) runs on the controller only; the
    hosts ``failing[step]`` fail it; the step ``pause`` waits a minute."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "hooks").mkdir(exist_ok=True)
    for step in (*(s.value for s in PLAYBOOK_STEPS), "rollback", "hooks/notify"):
        text = PAUSE if step == pause else PLAY.format(
            step=step, failing=list((failing or {}).get(step, ())))
        (root / f"{step}.yml").write_text(text)
    return root


@pytest.fixture
def wave(db: Engine) -> str:
    caller = Caller(BOSS, catalogue())
    text = ("all:\n  vars: {govcloud_department: gd-psd, govcloud_system: hukou}\n  hosts:\n"
            + "".join(f"    {h}: {{ansible_host: 10.0.0.{i + 1}}}\n"
                      for i, h in enumerate(HOSTS)))
    import_hosts(db, caller, text=text, name="psd.yaml")
    waves = plan(db, caller, department="gd-psd",
                 first_window=datetime(2026, 12, 5, 1, tzinfo=UTC), window_hours=4,
                 every_days=7, max_hosts=10)["waves"]
    assert [w["hosts"] for w in waves] == [list(HOSTS)]
    wave_id: str = waves[0]["wave"]
    return wave_id


@pytest.fixture
def ctx(db: Engine, tmp_path: Path) -> Iterator[RunContext]:
    yield RunContext(engine=db, settings=Settings(migrate_dir=tmp_path / "m"),
                     provisioner=FakeProvisioner(), clock=Clock(),
                     playbooks=playbooks(tmp_path / "pb"), stale_after_s=30.0,
                     heartbeat_s=0.05)


def set_steps(ctx: RunContext, wave: str, hosts: Sequence[str], steps: Sequence[Step],
              status: StepStatus = StepStatus.SUCCEEDED) -> None:
    with Session(ctx.engine) as session:
        for h in hosts:
            for s in steps:
                repo.set_step(session, wave, h, s, status, at=T0)
        session.commit()


def set_target(ctx: RunContext, wave: str, host: str, target: Endpoint, *,
               request: int | None = None) -> None:
    with Session(ctx.engine) as session:
        repo.set_target(session, wave, host, target, f"srv-{host}", request=request,
                        copies=[TargetCopy("DR-REMOTE", "cold", Endpoint("10.9.0.1"))]
                        if request else ())
        session.commit()


def ready(ctx: RunContext, wave: str, hosts: Sequence[str] = HOSTS) -> None:
    """The hosts passed precheck and have targets (a run that got this far and stopped)."""
    set_steps(ctx, wave, hosts, (Step.PRECHECK, Step.PROVISION))
    for i, h in enumerate(hosts):
        set_target(ctx, wave, h, Endpoint(f"10.1.0.{i + 1}"))


def statuses(ctx: RunContext, wave: str) -> dict[str, dict[str, str]]:
    """Each host's steps that are not pending (the plan records every step as pending)."""
    with Session(ctx.engine) as session:
        return {h: {s.value: st.value for s, st in steps.items()
                    if st is not StepStatus.PENDING}
                for h, steps in repo.step_statuses(session, wave).items()}


def step_errors(ctx: RunContext, wave: str, step: Step) -> dict[str, str | None]:
    with Session(ctx.engine) as session:
        return {r.host: r.error for r in repo.step_rows(session, wave) if r.step == step.value}


def wave_row(ctx: RunContext, wave: str) -> Any:
    with Session(ctx.engine) as session:
        row = repo.get_wave(session, wave)
        session.expunge(row)
        return row


def live(ctx: RunContext, wave: str) -> dict[str, str | None]:
    with Session(ctx.engine) as session:
        return {p.host: p.live for p in repo.wave_hosts(session, wave)}


def audited(ctx: RunContext) -> list[tuple[str, str]]:
    entry = inv.table("audit_entry")
    with ctx.engine.connect() as conn:
        return [(r.action, r.after_json or "") for r in conn.execute(
            select(entry.c.action, entry.c.after_json).order_by(entry.c.seq))
                if r.action.startswith("migrate.") and r.action != "migrate.plan"]


def events(ctx: RunContext, wave: str, kind: str | None = None) -> list[Any]:
    with Session(ctx.engine) as session:
        return [e for e in repo.events(session, wave, limit=10_000)
                if kind is None or e.event == kind]


def run(ctx: RunContext, wave: str, **kw: Any) -> str:
    return run_wave(ctx, wave, actor="alice", cancel=kw.pop("cancel", threading.Event()), **kw)


# --- holding the wave ---------------------------------------------------------------------------

def test_a_live_run_holds_the_wave_and_a_dead_ones_steps_become_interrupted(
        ctx: RunContext, wave: str) -> None:
    claim(ctx, wave, "run-1")
    claim(ctx, wave, "run-1")  # its own run may claim it again (start, then the thread)
    set_steps(ctx, wave, ["a"], [Step.PRECHECK], StepStatus.RUNNING)
    with pytest.raises(ConflictError, match=f"{wave} is being run \\(run run-1, alive"):
        claim(ctx, wave, "run-2")
    assert statuses(ctx, wave)["a"] == {"precheck": "running"}  # the refusal changed nothing
    assert wave_row(ctx, wave).run_id == "run-1"
    assert isinstance(ctx.clock, Clock)
    ctx.clock.now += timedelta(seconds=31)  # run-1 stopped beating
    claim(ctx, wave, "run-2")
    assert wave_row(ctx, wave).run_id == "run-2"
    assert statuses(ctx, wave)["a"] == {"precheck": "interrupted"}
    assert step_errors(ctx, wave, Step.PRECHECK)["a"] == "the run that held it ended"


def test_runs_of_this_process_one_per_wave_and_cancellable() -> None:
    runs = Runs()
    go, seen = threading.Event(), threading.Event()

    def work(cancel: threading.Event) -> None:
        go.wait(10)
        if cancel.is_set():
            seen.set()

    assert runs.cancel("w1") is False
    runs.start("w1", work)
    assert runs.running("w1")
    with pytest.raises(ConflictError, match="w1 is already running here"):
        runs.start("w1", work)
    assert runs.cancel("w1") is True
    go.set()
    runs.join("w1", 10)
    assert seen.is_set() and not runs.running("w1")
    assert runs.cancel("w1") is False  # ended: nothing to cancel
    runs.start("w1", lambda cancel: None)  # a new run once the last one ended
    runs.join("w1", 10)


# --- running ------------------------------------------------------------------------------------

def test_a_cancelled_run_stops_before_its_next_step_and_is_audited(ctx: RunContext,
                                                                   wave: str) -> None:
    cancel = threading.Event()
    cancel.set()
    override = {"wave": wave, "reason": "the bureau asked"}
    assert run(ctx, wave, cancel=cancel, window_override=override) == "interrupted"
    assert statuses(ctx, wave) == {h: {} for h in HOSTS}  # no step ran
    row = wave_row(ctx, wave)
    assert (row.status, row.run_id, row.heartbeat_at) == ("interrupted", None, None)
    actions = [a for a, _ in audited(ctx)]
    assert actions == ["migrate.window_override", "migrate.run", "migrate.run.end"]
    # the chain keeps the reason's digest; the text stays with the wave's events (issue 17)
    assert json.loads(audited(ctx)[0][1])["reason"] == {
        "length": 16,
        "sha256": "d2cfc666604e0ad4494e454f79d1229d4877ebbfb1bc998718e37936be18a3d7"}
    assert [e.message for e in events(ctx, wave, "window_override")] == [
        "run outside the maintenance window by alice: the bureau asked"]
    assert json.loads(audited(ctx)[-1][1])["status"] == "interrupted"
    assert [e.message for e in events(ctx, wave, "run_end")] == ["interrupted"]


def test_hosts_at_the_last_step_are_marked_done(ctx: RunContext, wave: str) -> None:
    set_steps(ctx, wave, HOSTS, [s for s in STEPS if s is not Step.DONE])
    assert run(ctx, wave) == "done"
    assert all(s == {step.value: "succeeded" for step in STEPS}
               for s in statuses(ctx, wave).values())
    assert wave_row(ctx, wave).status == "done"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_host_without_a_target_fails_at_provision_and_goes_no_further(
        ctx: RunContext, wave: str) -> None:
    set_steps(ctx, wave, HOSTS, [Step.PRECHECK])
    # c was provisioned before the run stopped: it is not provisioned again, only checked
    set_target(ctx, wave, "c", Endpoint("127.0.0.1", closed_port()))
    assert run(ctx, wave) == "failed"
    assert isinstance(ctx.provisioner, FakeProvisioner)
    assert ctx.provisioner.made == ["a", "b"]
    assert {h: s.get("provision") for h, s in statuses(ctx, wave).items()} == \
        {"a": "failed", "b": "failed", "c": "failed"}
    errors = step_errors(ctx, wave, Step.PROVISION)
    assert errors["a"] == "request for a: quota exceeded"
    assert (errors["c"] or "").startswith("cannot reach [127.0.0.1]:")
    assert all(set(s) == {"precheck", "provision"} for s in statuses(ctx, wave).values())
    assert wave_row(ctx, wave).status == "failed"


def test_a_declared_target_is_needed_without_a_provisioner(ctx: RunContext) -> None:
    host = LegacyHost("a", "gd-psd", "hukou", Endpoint("10.0.0.1"))
    with pytest.raises(PermanentError, match="a declares no govcloud_target"):
        DeclaredTargets().provision(host, "w")
    made = Provisioned(Endpoint("10.0.0.9"), "srv-1", request=4)
    with pytest.raises(PermanentError, match="was made by request 4"):
        DeclaredTargets().release(host, "w", made)
    assert DeclaredTargets().release(host, "w", Provisioned(Endpoint("10.0.0.9")))[0] \
        .startswith("kept the declared target 10.0.0.9")


def test_a_declared_target_expects_the_key_its_inventory_pins() -> None:
    pinned = "SHA256:" + "A" * 43
    target = Endpoint("10.0.0.9", 2222)
    host = LegacyHost("a", "gd-psd", "hukou", Endpoint("10.0.0.1"), target=target,
                      target_host_key=pinned)
    (name, expected), = DeclaredTargets().expected_keys(host, Provisioned(target)).items()
    assert name == "[10.0.0.9]:2222" and expected is not None
    assert expected.fingerprints == {pinned} and "govcloud_target.host_key" in expected.source
    unpinned = LegacyHost("a", "gd-psd", "hukou", Endpoint("10.0.0.1"), target=target)
    assert DeclaredTargets().expected_keys(unpinned, Provisioned(target)) == {}
    assert LegacyHost.from_dict(host.to_dict()) == host  # kept in the store


def test_each_step_runs_for_the_hosts_still_at_it(ctx: RunContext, wave: str,
                                                   tmp_path: Path) -> None:
    ready(ctx, wave)
    ctx.playbooks = playbooks(tmp_path / "pb2", {"freeze": ["b"], "hooks/notify": ["c"]})
    assert run(ctx, wave, hook="notify") == "failed"
    s = statuses(ctx, wave)
    assert s["a"] == {step.value: "succeeded" for step in STEPS}
    assert s["b"] == {"precheck": "succeeded", "provision": "succeeded",
                      "initial_sync": "succeeded", "freeze": "failed"}
    assert s["c"]["cutover"] == "failed" and "verify" not in s["c"]
    assert step_errors(ctx, wave, Step.FREEZE)["b"] == "freeze check: freeze refused"
    assert step_errors(ctx, wave, Step.CUTOVER)["c"] == \
        "cutover hook: hooks/notify check: hooks/notify refused"
    # the cutover switched a and c to their targets before the hook ran; b never got there
    assert live(ctx, wave) == {"a": "target", "b": "legacy", "c": "target"}
    ran = [(e.step, e.host) for e in events(ctx, wave, "ok") if e.host]
    assert ("final_sync", "b") not in ran and ("final_sync", "a") in ran
    assert wave_row(ctx, wave).status == "failed"

    # resumed: only b's freeze and c's cutover are tried again; both pass now
    ctx.playbooks = playbooks(tmp_path / "pb3")
    assert run(ctx, wave, hook="notify") == "done"
    with Session(ctx.engine) as session:
        attempts = {(r.host, r.step): r.attempts for r in repo.step_rows(session, wave)}
    assert attempts[("b", "freeze")] == 2 and attempts[("a", "freeze")] == 1
    assert attempts[("c", "cutover")] == 2 and attempts[("b", "cutover")] == 1


def test_a_step_that_times_out_interrupts_the_run(ctx: RunContext, wave: str,
                                                  tmp_path: Path) -> None:
    ready(ctx, wave)
    ctx.playbooks = playbooks(tmp_path / "pb2", pause="initial_sync")
    ctx.settings = Settings(migrate_dir=ctx.settings.migrate_dir, step_timeout_s=3.0)
    assert run(ctx, wave) == "interrupted"
    assert {h: s["initial_sync"] for h, s in statuses(ctx, wave).items()} == \
        dict.fromkeys(HOSTS, "interrupted")
    assert set(step_errors(ctx, wave, Step.INITIAL_SYNC).values()) == \
        {"initial_sync timed out (job or idle timeout)"}
    assert wave_row(ctx, wave).status == "interrupted"
    assert processes_naming(str(tmp_path)) == []  # no playbook worker outlives the job


def test_an_unknown_cutover_hook_is_refused(ctx: RunContext) -> None:
    assert hook_path(ctx, "notify") == ctx.playbooks / "hooks" / "notify.yml"
    with pytest.raises(InvalidInput, match="no cutover hook 'page'") as err:
        hook_path(ctx, "page")
    assert err.value.hint is not None and err.value.hint.startswith("hooks: notify ")
    with pytest.raises(InvalidInput):
        hook_path(ctx, "../rollback")


# --- rolling back -------------------------------------------------------------------------------

def test_a_wave_never_started_is_rolled_back_without_a_job(ctx: RunContext, wave: str,
                                                           tmp_path: Path) -> None:
    ctx.playbooks = Path("/nonexistent")  # a job would fail: none is run
    assert rollback(ctx, "b", actor="alice", cancel=threading.Event()) == "rolled_back"
    assert statuses(ctx, wave)["b"] == {s.value: "rolled_back" for s in STEPS}
    assert statuses(ctx, wave)["a"] == {}
    row = wave_row(ctx, wave)
    assert (row.status, row.rolled_back_at is not None) == ("partly_rolled_back", True)
    assert live(ctx, wave)["b"] == "legacy"
    ctx.playbooks = playbooks(tmp_path / "pb2")  # b is not pending now: its job runs again
    assert rollback(ctx, wave, actor="alice", cancel=threading.Event()) == "rolled_back"
    assert wave_row(ctx, wave).status == "rolled_back"
    assert [a for a, _ in audited(ctx)] == ["migrate.rollback", "migrate.rollback"]


def test_a_rollback_releases_what_the_provisioner_made(ctx: RunContext, wave: str) -> None:
    set_steps(ctx, wave, HOSTS, [s for s in STEPS if s is not Step.DONE])
    set_target(ctx, wave, "a", Endpoint("10.1.0.1"), request=7)
    set_target(ctx, wave, "b", Endpoint("10.1.0.2"))  # declared
    known = ctx.settings.migrate_path() / "known_hosts"
    known.parent.mkdir(parents=True, exist_ok=True)
    known.write_text("10.1.0.1 ssh-ed25519 AAAA1\n10.9.0.1 ssh-ed25519 AAAA2\n"
                     "10.1.0.2 ssh-ed25519 AAAA3\n")
    assert isinstance(ctx.provisioner, FakeProvisioner)
    ctx.provisioner.release_fails = True
    assert rollback(ctx, wave, actor="alice", cancel=threading.Event()) == "rolled_back"
    assert live(ctx, wave) == dict.fromkeys(HOSTS, "legacy")
    failed = events(ctx, wave, "release_failed")
    assert [(e.host, (e.message or "").split(";")[0]) for e in failed] == \
        [("a", "site PROD: 503"), ("b", "site PROD: 503")]
    with Session(ctx.engine) as session:  # kept and still recorded, to retry
        assert repo.request_of(repo.wave_hosts(session, wave)[0]) == 7
    assert "10.1.0.1 " in known.read_text()

    ctx.provisioner.release_fails = False  # rolled back again: released now
    assert rollback(ctx, wave, actor="alice", cancel=threading.Event()) == "rolled_back"
    assert ctx.provisioner.released == ["a"]
    assert [(e.host, (e.message or "")[:26]) for e in events(ctx, wave, "released")] == \
        [("a", "deleted server srv-a of re"), ("b", "kept the declared target 1")]
    with Session(ctx.engine) as session:
        placed = {p.host: p for p in repo.wave_hosts(session, wave)}
        assert (placed["a"].target_json, repo.request_of(placed["a"])) == (None, None)
        assert repo.target_of(placed["b"]) == Endpoint("10.1.0.2")
    assert known.read_text() == "10.1.0.2 ssh-ed25519 AAAA3\n"  # the target and its copy
    assert audited(ctx)[-1][0] == "migrate.rollback.release"


def test_a_failed_rollback_job_leaves_the_hosts_as_they_were(ctx: RunContext, wave: str,
                                                            tmp_path: Path) -> None:
    ready(ctx, wave)
    ctx.playbooks = playbooks(tmp_path / "pb2", {"rollback": ["b"]})
    with Session(ctx.engine) as session:
        repo.set_step(session, wave, "a", Step.CUTOVER, StepStatus.SUCCEEDED, at=T0)
        session.commit()
    assert rollback(ctx, wave, actor="alice", cancel=threading.Event()) == "failed"
    assert statuses(ctx, wave)["a"]["cutover"] == "succeeded"
    assert "rolled_back" not in {v for s in statuses(ctx, wave).values() for v in s.values()}
    row = wave_row(ctx, wave)
    assert (row.status, row.rolled_back_at, row.run_id) == ("failed", None, None)





# --- taken over when its replica died (services.run_takeover) ---------------------------------

def _died_in(ctx: RunContext, wave: str, step: Step, *, kind: str = "run",
             hook: str | None = None) -> None:
    """A run of alice's (``kind``: run or rollback) held the wave and died in ``step`` on
    host a, every earlier step done on every host; its heartbeat is 31 s old now."""
    claim(ctx, wave, "dead-run")
    Recorder(ctx, wave).event(kind, "dead-run", event=RUN_START, message="by alice",
                              task=f"hook={hook}" if hook else None)
    set_steps(ctx, wave, HOSTS, STEPS[:STEPS.index(step)])
    set_steps(ctx, wave, ["a"], [step], StepStatus.RUNNING)
    assert isinstance(ctx.clock, Clock)
    ctx.clock.now += timedelta(seconds=31)


def _changes(ctx: RunContext) -> ChangeContext:
    return ChangeContext(engine=ctx.engine, sites=("PROD",), clock=ctx.clock, enforce=False)


def test_a_dead_runs_wave_is_taken_over_resumed_as_it_ran_and_audited(
        ctx: RunContext, wave: str) -> None:
    _died_in(ctx, wave, Step.VERIFY)
    runs = Runs()
    assert take_over_waves(ctx, runs, _changes(ctx), replica="r2") == [f"wave {wave}"]
    runs.join(wave, 60)
    row = wave_row(ctx, wave)
    assert (row.status, row.run_id) == ("done", None)
    assert all(s == {step.value: "succeeded" for step in STEPS}
               for s in statuses(ctx, wave).values())
    assert sorted(a for a, _ in audited(ctx)) == [
        "migrate.run", "migrate.run.end", "migrate.takeover"]
    taken = json.loads(dict(audited(ctx))["migrate.takeover"])
    assert (taken["wave"], taken["action"], taken["dead_run"], taken["replica"]) == \
        (wave, "run", "dead-run", "r2")
    assert json.loads(dict(audited(ctx))["migrate.run"])["run"] == taken["run"]
    assert [e.message for e in events(ctx, wave, RUN_START)] == ["by alice", "by alice"]
    # nothing more to take over; a live run (fresh heartbeat) is never taken
    assert take_over_waves(ctx, runs, _changes(ctx), replica="r2") == []


def test_a_live_run_and_a_run_alive_here_are_not_taken_over(ctx: RunContext,
                                                             wave: str) -> None:
    claim(ctx, wave, "live-run")
    assert take_over_waves(ctx, Runs(), _changes(ctx), replica="r2") == []
    assert wave_row(ctx, wave).run_id == "live-run"
    assert isinstance(ctx.clock, Clock)
    ctx.clock.now += timedelta(seconds=31)  # live-run died: dead-run took it, then died
    _died_in(ctx, wave, Step.VERIFY)
    here, go = Runs(), threading.Event()
    here.start(wave, lambda cancel: go.wait(10))  # its heartbeat late, but alive here
    try:
        assert take_over_waves(ctx, here, _changes(ctx), replica="r2") == []
    finally:
        go.set()
        here.join(wave, 10)


def test_a_dead_rollback_is_taken_over_as_a_rollback(ctx: RunContext, wave: str) -> None:
    _died_in(ctx, wave, Step.PRECHECK, kind="rollback")
    runs = Runs()
    assert take_over_waves(ctx, runs, _changes(ctx), replica="r2") == [f"wave {wave}"]
    runs.join(wave, 60)
    row = wave_row(ctx, wave)
    assert (row.status, row.run_id) == ("rolled_back", None) and row.rolled_back_at
    assert all(set(s.values()) == {"rolled_back"} for s in statuses(ctx, wave).values())
    assert json.loads(dict(audited(ctx))["migrate.takeover"])["action"] == "rollback"
    assert "migrate.rollback" in [a for a, _ in audited(ctx)]


def test_a_run_whose_wave_was_taken_over_stops_and_leaves_the_status_alone(
        ctx: RunContext, wave: str) -> None:
    """A run cut off from the database that comes back to find another run holding its wave
    stops (its heartbeat says so) and does not write its own end over the other's."""
    lost = threading.Event()
    claim(ctx, wave, "old-run")
    with step_machine.heartbeat(ctx.engine, lambda s: repo.get_wave(s, wave), "old-run",
                                every_s=0.05, clock=ctx.clock, lost=lost):
        assert isinstance(ctx.clock, Clock)
        ctx.clock.now += timedelta(seconds=31)
        claim(ctx, wave, "new-run")
        assert lost.wait(10)
    release_run(ctx, wave, "old-run", "interrupted")
    row = wave_row(ctx, wave)
    assert (row.run_id, row.status) == ("new-run", "planned")
