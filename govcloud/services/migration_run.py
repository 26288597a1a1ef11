"""Running a wave: precheck → provision target → initial sync → freeze → final sync → cutover
(+ hook) → verify → done, and rolling a wave or a host back.

Each step is one ansible-runner job over the wave's hosts still at that step (one ident and
artifact directory per step run, see ``govcloud.runner.playbook``); provisioning goes through a
``TargetProvisioner``. Each host's step is recorded before and after it runs, so a run that was
interrupted — timed out, cancelled, or its control plane killed — resumes at the step that did
not finish: ``run_wave`` again. Steps are idempotent (rsync copies what changed, stop/start of a
stopped/started service is harmless, the endpoint switch is a write of the same value).

A run holds the wave by ``run_id`` and a heartbeat; another run may take it over only when the
heartbeat is older than ``stale_after_s`` (its owner died). The step machine — ordered steps,
the claim and heartbeat, the process's runs — is shared with DR drills:
``govcloud.domain.steps`` and ``govcloud.services.step_machine``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.domain.legacy import Endpoint, LegacyHost, TargetCopy
from govcloud.domain.limits import text_digest
from govcloud.domain.waves import (
    STEPS,
    Step,
    StepStatus,
    may_stop_before,
    next_step,
)
from govcloud.errors import GovCloudError, InvalidInput, PermanentError
from govcloud.logging import redact
from govcloud.runner.playbook import PlaybookEvent, run_playbook
from govcloud.services import step_machine
from govcloud.services.migration import check_keys
from govcloud.services.migration_commands import playbook_env, step_inventory
from govcloud.services.migration_keys import TOFU, Expected, pin_all
from govcloud.services.migration_reap import REAP_EVENT, reap
from govcloud.settings import Settings
from govcloud.store import migration as repo
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.tables import utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks" / "migrate"
PLAYBOOK_STEPS = (Step.PRECHECK, Step.INITIAL_SYNC, Step.FREEZE, Step.FINAL_SYNC, Step.CUTOVER,
                  Step.VERIFY)


@dataclass(frozen=True)
class Provisioned:
    """A host's target: where it is, its server, its DR copies (which get the same data) and
    the provisioning request that built them (None: declared in the inventory)."""

    endpoint: Endpoint
    server: str | None = None
    copies: tuple[TargetCopy, ...] = ()
    request: int | None = None


class TargetProvisioner(Protocol):
    """Makes (or finds again — it must be idempotent) the cloud server a host moves to, and
    releases what it made when the host is rolled back."""

    def provision(self, host: LegacyHost, wave: str, *, actor: str) -> Provisioned: ...

    def release(self, host: LegacyHost, wave: str, made: Provisioned, *,
                actor: str) -> list[str]:
        """Delete (idempotently) the servers made for ``host``; what was done, one line each.
        Raises when something could not be released (the rollback reports it)."""
        ...

    def expected_keys(self, host: LegacyHost, made: Provisioned) -> dict[str, Expected | None]:
        """The host keys each of ``made``'s endpoints should present (by known_hosts name;
        None or absent: nobody says), from the cloud or the inventory
        (``govcloud.services.migration_keys``)."""
        ...


class DeclaredTargets:
    """Targets declared in the inventory (``govcloud_target``): machines built beforehand."""

    def provision(self, host: LegacyHost, wave: str, *,
                  actor: str = "migration") -> Provisioned:
        if host.target is None:
            raise PermanentError(f"{host.name} declares no govcloud_target and no cloud "
                                 "provisioner is configured",
                                 hint="declare govcloud_target in the inventory, or run the "
                                      "control plane with the provisioning service")
        return Provisioned(host.target)

    def release(self, host: LegacyHost, wave: str, made: Provisioned, *,
                actor: str = "migration") -> list[str]:
        if made.request is not None:
            raise PermanentError(f"the target of {host.name} was made by request "
                                 f"{made.request}, and no cloud provisioner is configured "
                                 "to delete it", hint="delete its servers by hand")
        return [f"kept the declared target {made.endpoint.known_hosts_name}: it was built "
                "outside govcloud (govcloud_target), so govcloud does not delete it; its "
                "service is stopped"]

    def expected_keys(self, host: LegacyHost, made: Provisioned) -> dict[str, Expected | None]:
        """A declared target's key is the one its inventory pins (``govcloud_target.
        host_key``), if it pins one."""
        if host.target_host_key is None or made.endpoint != host.target:
            return {}
        return {made.endpoint.known_hosts_name: Expected(
            frozenset({host.target_host_key}), "the inventory (govcloud_target.host_key)")}


@dataclass
class RunContext:
    engine: Engine
    settings: Settings
    provisioner: TargetProvisioner = field(default_factory=DeclaredTargets)
    clock: Clock = utcnow
    playbooks: Path = PLAYBOOKS
    stale_after_s: float = 30.0
    heartbeat_s: float = 2.0


Runs = step_machine.Runs  # the runs of this process (waves are keyed by their id)


# --- recording ---------------------------------------------------------------------------------

class Recorder:
    """Writes a step run's events (redacted) and step statuses as they happen."""

    def __init__(self, ctx: RunContext, wave: str) -> None:
        self.ctx, self.wave = ctx, wave

    def event(self, step: str, ident: str, *, event: str, host: str | None = None,
              task: str | None = None, message: str | None = None) -> None:
        row = {"wave": self.wave, "step": step, "ident": ident, "at": self.ctx.clock(),
               "event": event, "host": host, "task": (task or "")[:255] or None,
               "message": redact(message or "")[:2000] or None}
        with write_session(self.ctx.engine) as session:
            repo.add_events(session, [row])
            session.commit()

    def steps(self, hosts: Sequence[str], step: Step, status: StepStatus, *,
              error: str | None = None, ident: str | None = None,
              errors: Mapping[str, str] | None = None) -> None:
        at = self.ctx.clock()
        with write_session(self.ctx.engine) as session:
            for h in hosts:
                why = (errors or {}).get(h, error)
                repo.set_step(session, self.wave, h, step, status, at=at,
                              error=redact(why)[:2000] if why else None, ident=ident)
            session.commit()


# --- running -----------------------------------------------------------------------------------

def _audit(ctx: RunContext, actor: str, action: str, department: str,
           after: Mapping[str, Any]) -> None:
    with write_session(ctx.engine) as session:
        AuditLog(session=session, clock=ctx.clock).append(
            actor=actor, action=action, target=f"department:{department}", after=dict(after))
        session.commit()


def _wave_row(wave_id: str) -> Callable[[Session], Any]:
    return lambda session: repo.get_wave(session, wave_id)


def claim(ctx: RunContext, wave_id: str, run_id: str) -> None:
    """Take the wave for ``run_id``; stale 'running' steps of a dead run become interrupted."""

    def interrupted(session: Session, now: datetime) -> None:
        for r in repo.step_rows(session, wave_id):
            if r.status == StepStatus.RUNNING:
                r.status, r.error = StepStatus.INTERRUPTED.value, "the run that held it ended"
                r.finished_at = now
                session.add(r)

    step_machine.claim(ctx.engine, _wave_row(wave_id), run_id, now=ctx.clock(),
                       stale_after_s=ctx.stale_after_s, what=wave_id,
                       hint="wait for it, or cancel it (`govcloud migrate cancel`)",
                       interrupted=interrupted)


def _release(ctx: RunContext, wave_id: str, run_id: str, status: str,
             rolled_back: bool = False) -> None:
    """Let go of the wave with its final status — unless another run took it over
    meanwhile (this one was cut off): that run's status stands."""
    with write_session(ctx.engine) as session:
        wave = repo.get_wave(session, wave_id)
        if wave.run_id not in (run_id, None):
            log.warning("%s: run %s ended %s after run %s took it over", wave_id, run_id,
                        status, wave.run_id)
            return
        step_machine.release(session, wave, run_id)
        wave.status = status
        if rolled_back:
            wave.rolled_back_at = ctx.clock()
        session.add(wave)
        session.commit()


@dataclass
class _Wave:
    id: str
    department: str
    hosts: dict[str, LegacyHost]
    targets: dict[str, Endpoint | None]
    statuses: dict[str, dict[Step, StepStatus]]
    copies: dict[str, tuple[TargetCopy, ...]] = field(default_factory=dict)
    made: dict[str, Provisioned] = field(default_factory=dict)


def _load(ctx: RunContext, wave_id: str) -> _Wave:
    with Session(ctx.engine) as session:
        wave = repo.get_wave(session, wave_id)
        placed = repo.wave_hosts(session, wave_id)
        hosts = {p.host: repo.get_host(session, p.host) for p in placed}
        made = {p.host: Provisioned(target, p.target_server, repo.copies_of(p),
                                    repo.request_of(p))
                for p in placed if (target := repo.target_of(p)) is not None}
        return _Wave(wave_id, wave.department, hosts,
                     {p.host: repo.target_of(p) for p in placed},
                     repo.step_statuses(session, wave_id),
                     {n: m.copies for n, m in made.items()}, made)


def preflight(ctx: RunContext, wave_id: str) -> None:
    """Before anything runs: every host key that is recorded must still match."""
    w = _load(ctx, wave_id)
    check_keys(list(w.hosts.values()), ctx.settings)


@dataclass
class StepJob:
    """A step's job as the wave sees it: who failed, who finished, and how it ended."""

    ident: str
    status: str
    failed: dict[str, str]
    ok: set[str]
    detail: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.status in ("timeout", "canceled")


@contextlib.contextmanager
def _password_file(password: str | None) -> Iterator[str | None]:
    """The become password in a 0600 file outside every artifact directory, for Ansible's
    ANSIBLE_BECOME_PASSWORD_FILE, removed when the job ends (never in env, events or logs)."""
    if password is None:
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="govcloud-become-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(password)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _job(ctx: RunContext, w: _Wave, step: str, names: Sequence[str], playbook: Path,
         cancel: threading.Event, rec: Recorder,
         cut_over: Mapping[str, bool] | None = None) -> StepJob:
    """One ansible-runner job (its own ident and artifact directory) for ``step``."""
    ident = f"{step}-{ctx.clock().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    base = ctx.settings.migrate_path() / "runs" / w.id / ident
    inventory = step_inventory([(w.hosts[n], w.targets.get(n)) for n in names],
                               settings=ctx.settings,
                               stage=ctx.settings.migrate_path() / "stage", cut_over=cut_over,
                               copies=w.copies, job=ident)
    failed: dict[str, str] = {}

    def on_event(ev: PlaybookEvent) -> None:
        if ev.kind in ("failed", "unreachable") and ev.host:
            failed[ev.host] = f"{ev.task}: {ev.message or ev.kind}"
        if ev.kind != "skipped":
            rec.event(step, ident, event=ev.kind, host=ev.host, task=ev.task,
                      message=ev.message if ev.kind in ("failed", "unreachable") else None)

    rec.event(step, ident, event="start", message=f"{step} on {', '.join(names)}")
    secret = ctx.settings.become_password
    with _password_file(secret.get_secret_value() if secret else None) as password_file:
        env = playbook_env(ctx.settings, base)
        if password_file is not None:
            env["ANSIBLE_BECOME_PASSWORD_FILE"] = password_file
        result = run_playbook(playbook, private_data_dir=base, inventory=inventory,
                              envvars=env, timeout_s=ctx.settings.step_timeout_s, ident=ident,
                              on_event=on_event, cancel=cancel.is_set,
                              idle_timeout_s=ctx.settings.step_idle_timeout_s,
                              forks=ctx.settings.migrate_concurrency)
        if result.status in ("canceled", "timeout"):  # sshd leaves a remote command running
            for r in reap(ctx.playbooks, base=base.with_name(f"{ident}-reap"),
                          inventory=inventory, envvars=env, ident=ident,
                          forks=ctx.settings.migrate_concurrency):
                rec.event(step, ident, event=REAP_EVENT, host=None if r.host == "*" else r.host,
                          task=f"end what the step left ({r.where})", message=r.line())
    processed = set(result.stats.get("processed", {}))
    dark = set(result.stats.get("dark", {})) | set(result.stats.get("failures", {}))
    detail = None
    if result.status != "successful" and not failed:
        with contextlib.suppress(OSError):
            detail = (result.artifact_dir / "stdout").read_text(errors="replace")[-1000:]
    for host in dark - set(failed):
        failed[host] = "failed"
    return StepJob(ident, result.status, failed, processed - set(failed), detail)


def _pin(ctx: RunContext, w: _Wave, n: str, made: Provisioned, actor: str,
         tofu: str | None) -> list[str]:
    """Pin the keys of ``made``'s target and copies to what the cloud (or the inventory)
    says they are, audited; each as ``name (fingerprint)``."""
    expected = ctx.provisioner.expected_keys(w.hosts[n], made)
    pinned = pin_all([made.endpoint, *(c.endpoint for c in made.copies)], expected,
                     ctx.settings, tofu=tofu)
    _audit(ctx, actor, "migrate.target_keys", w.department,
           {"wave": w.id, "host": n, "keys": [p.to_dict() for p in pinned],
            **({"trust_on_first_use": text_digest(tofu)}
               if tofu is not None and any(p.source == TOFU for p in pinned) else {})})
    return [f"{p.endpoint.known_hosts_name} ({p.key.fingerprint}, {p.source})" for p in pinned]


def _provision(ctx: RunContext, w: _Wave, names: Sequence[str], rec: Recorder,
               actor: str, tofu: str | None = None) -> list[str]:
    failed = []
    ident = f"provision-{uuid.uuid4().hex[:8]}"
    rec.steps(names, Step.PROVISION, StepStatus.RUNNING, ident=ident)
    for n in names:
        try:
            made = w.made.get(n)
            stored = made is not None
            if made is None:
                made = ctx.provisioner.provision(w.hosts[n], w.id, actor=actor)
            target = made.endpoint
            shown = _pin(ctx, w, n, made, actor, tofu)  # refused: nothing recorded, nothing run
            if not stored:
                with write_session(ctx.engine) as session:
                    repo.set_target(session, w.id, n, target, made.server, copies=made.copies,
                                    request=made.request)
                    session.commit()
            w.targets[n], w.copies[n], w.made[n] = target, made.copies, made
            rec.event("provision", ident, event="ok", host=n, task="target ready",
                      message=f"target {shown[0]}" + "".join(
                          f"; {c.site} {c.kind} copy {s}"
                          for c, s in zip(made.copies, shown[1:], strict=True)))
            rec.steps([n], Step.PROVISION, StepStatus.SUCCEEDED)
        except GovCloudError as exc:
            rec.event("provision", ident, event="failed", host=n, task="provision target",
                      message=exc.message)
            rec.steps([n], Step.PROVISION, StepStatus.FAILED, error=exc.message)
            failed.append(n)
    return failed


def _switch(ctx: RunContext, w: _Wave, names: Sequence[str], side: str) -> None:
    with write_session(ctx.engine) as session:
        for n in names:
            host = w.hosts[n]
            ep = host.endpoint if side == "legacy" else w.targets[n]
            assert ep is not None
            repo.set_endpoint(session, host, side, ep)
            placed = next(p for p in repo.wave_hosts(session, w.id) if p.host == n)
            placed.live = side
            session.add(placed)
        session.commit()


WAITING = "waiting-window"  # stopped at a safe step: its change's window closed
Window = Callable[[], str | None]  # why the wave may not go on now (None: it may)


def run_wave(ctx: RunContext, wave_id: str, *, actor: str, cancel: threading.Event,
             hook: str | None = None, run_id: str | None = None,
             window_override: Mapping[str, Any] | None = None,
             window: Window | None = None, trust_on_first_use: str | None = None) -> str:
    """Run (or resume) the wave; returns its final status: done, failed, interrupted, or
    waiting-window. ``window_override``: the run is outside the wave's window on purpose
    (audited here). ``window`` is asked before each step the wave may stop at
    (``domain.waves.may_stop_before``); a reason stops the run there, waiting for its
    change's window (docs/changes.md). ``trust_on_first_use``: the reason to trust a
    target's first key when the cloud shows none (audited here, and with each key so
    trusted)."""
    run_id = run_id or uuid.uuid4().hex[:12]
    claim(ctx, wave_id, run_id)
    with step_machine.heartbeat(ctx.engine, _wave_row(wave_id), run_id,
                                every_s=ctx.heartbeat_s, clock=ctx.clock, lost=cancel,
                                give_up_after_s=give_up_after(ctx)):
        return _run_claimed(ctx, wave_id, actor=actor, cancel=cancel, hook=hook,
                            run_id=run_id, window_override=window_override, window=window,
                            tofu=trust_on_first_use)


def give_up_after(ctx: RunContext) -> float:
    """A run whose heartbeat has failed this long stops (cancelled): another replica may take
    the wave over once it is ``stale_after_s`` old."""
    return max(ctx.heartbeat_s, ctx.stale_after_s - 2 * ctx.heartbeat_s)


RUN_START = "run_start"  # a run's first event: its kind (step run or rollback), actor, hook


def run_start(session: Session, wave_id: str) -> tuple[str, str, str | None] | None:
    """How the wave's last run started (its ``RUN_START`` event): ``run`` or ``rollback``,
    who started it, and the run's hook or the rollback's host (None: the whole wave); None
    when no run has started."""
    found = repo.last_event(session, wave_id, RUN_START)
    if found is None:
        return None
    actor = (found.message or "").removeprefix("by ") or "migration"
    if found.step == "rollback":
        return "rollback", actor, found.host
    task = found.task or ""
    return "run", actor, task.removeprefix("hook=") if task.startswith("hook=") else None


def _run_claimed(ctx: RunContext, wave_id: str, *, actor: str, cancel: threading.Event,
                 hook: str | None, run_id: str,
                 window_override: Mapping[str, Any] | None, window: Window | None,
                 tofu: str | None) -> str:
    status = "failed"
    w = _load(ctx, wave_id)
    rec = Recorder(ctx, wave_id)
    rec.event("run", run_id, event=RUN_START, task=f"hook={hook}" if hook else None,
              message=f"by {actor}")
    # the reasons stay with the wave (its event log); the chain keeps their digests
    if window_override is not None:
        reason = str(window_override.get("reason") or "")
        rec.event("run", run_id, event="window_override",
                  message=f"run outside the maintenance window by {actor}: {reason}")
        _audit(ctx, actor, "migrate.window_override", w.department,
               {**window_override, "reason": text_digest(reason), "run": run_id})
    if tofu is not None:
        rec.event("run", run_id, event="trust_on_first_use",
                  message=f"targets whose cloud shows no host keys are trusted on first use, "
                          f"by {actor}: {tofu}")
        _audit(ctx, actor, "migrate.trust_on_first_use", w.department,
               {"wave": wave_id, "run": run_id, "reason": text_digest(tofu)})
    _audit(ctx, actor, "migrate.run", w.department, {"wave": wave_id, "run": run_id,
                                                     "hook": hook})
    try:
        with write_session(ctx.engine) as session:
            wave = repo.get_wave(session, wave_id)
            wave.status = "running"
            session.add(wave)
            session.commit()
        status = _steps(ctx, w, rec, cancel, hook, actor, window, tofu)
        return status
    except GovCloudError as exc:
        rec.event("run", run_id, event="run_failed", message=exc.message)
        raise
    finally:
        _release(ctx, wave_id, run_id, status)
        rec.event("run", run_id, event="run_end", message=status)
        _audit(ctx, actor, "migrate.run.end", w.department, {"wave": wave_id, "run": run_id,
                                                             "status": status})


def _stops(w: _Wave, step: Step, failed: set[str], window: Window | None,
           rec: Recorder, hook: str | None) -> bool:
    """Does the run stop before ``step``, its change's window closed? (recorded, with the
    hook the run takes up again with)"""
    if window is None or not may_stop_before(
            step, [s for n, s in w.statuses.items() if n not in failed]):
        return False
    why = window()
    if why is None:
        return False
    rec.event("run", "window", event="waiting_window", task=f"hook={hook}" if hook else None,
              message=f"stopped before {step.value}, every host's service running: {why}")
    return True


def _steps(ctx: RunContext, w: _Wave, rec: Recorder, cancel: threading.Event,
           hook: str | None, actor: str, window: Window | None = None,
           tofu: str | None = None) -> str:
    failed: set[str] = set()
    for step in STEPS:
        todo = sorted(n for n, s in w.statuses.items()
                      if n not in failed and next_step(s) is step)
        if not todo:
            continue
        if cancel.is_set():
            return "interrupted"
        if _stops(w, step, failed, window, rec, hook):
            return WAITING
        if step is Step.DONE:
            rec.steps(todo, step, StepStatus.RUNNING)
            rec.steps(todo, step, StepStatus.SUCCEEDED)
        elif step is Step.PROVISION:
            failed.update(_provision(ctx, w, todo, rec, actor, tofu))
        else:
            playbook = ctx.playbooks / f"{step.value}.yml"
            rec.steps(todo, step, StepStatus.RUNNING)
            result = _job(ctx, w, step.value, todo, playbook, cancel, rec)
            ident = result.ident
            bad = dict(result.failed)
            if result.detail:
                rec.event(step.value, ident, event="job_failed", message=result.detail)
            good = [n for n in todo if n not in bad and n in result.ok]
            if result.interrupted:
                why = ("timed out (job or idle timeout)" if result.status == "timeout"
                       else "cancelled")
                rec.steps([n for n in todo if n not in bad], step, StepStatus.INTERRUPTED,
                          error=f"{step.value} {why}", ident=ident)
                rec.steps(sorted(bad), step, StepStatus.FAILED, errors=bad, ident=ident)
                return "interrupted"
            if step is Step.CUTOVER and good:
                _switch(ctx, w, good, "target")
                if hook:
                    hook_result = _job(ctx, w, "cutover_hook", good, hook_path(ctx, hook),
                                       cancel, rec)
                    for n, why in hook_result.failed.items():
                        bad[n] = f"cutover hook: {why}"
                    good = [n for n in good if n not in bad]
            rec.steps(good, step, StepStatus.SUCCEEDED, ident=ident)
            lost = [n for n in todo if n not in good and n not in bad]
            bad.update(dict.fromkeys(lost, f"{step.value} did not finish (status {result.status})"))
            rec.steps(sorted(bad), step, StepStatus.FAILED, errors=bad, ident=ident)
            failed.update(bad)
        w.statuses = _load(ctx, w.id).statuses
    return "failed" if failed else "done"


def hook_path(ctx: RunContext, name: str) -> Path:
    path = ctx.playbooks / "hooks" / f"{name}.yml"
    if "/" in name or not path.is_file():
        known = ", ".join(sorted(p.stem for p in (ctx.playbooks / "hooks").glob("*.yml")))
        raise InvalidInput(f"no cutover hook {name!r}", hint=f"hooks: {known or 'none'} "
                                                             "(playbooks/migrate/hooks/)")
    return path
