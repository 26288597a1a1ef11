"""A host drain's run (docs/hosts.md, "Drain"): disable the host's ``nova-compute``, move
each of its servers to a host that fits and that its server group allows (live; cold and
confirmed when it is shut off), leave and report what cannot move, then put the host in
maintenance.

The drain is a job in the store: its servers are recorded first, and each move is recorded
as ``moving`` (with its target) *before* Nova is asked, so a run that dies anywhere — kill -9
included — is taken over by the next one (``step_machine.claim``: the heartbeat went stale),
which adopts what Nova did meanwhile: a server already on another host is moved, one still
migrating is waited for, one waiting in ``VERIFY_RESIZE`` is confirmed, one still on the host
is moved again. Nothing is created or deleted, so no server can be lost or doubled.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from govcloud.cloud import hosts as cloud
from govcloud.domain.host_drain import (
    UNSETTLED,
    Candidate,
    DrainState,
    MoveKind,
    MoveStatus,
    Planner,
    ServerGroupInfo,
    drain_reason,
    final_state,
    groups_by_member,
    move_kind,
)
from govcloud.errors import GovCloudError, TemporaryError
from govcloud.services import step_machine
from govcloud.services.host_state import HostsContext, audit, departments_of, event
from govcloud.services.notifications import enqueue_host_drain
from govcloud.store import hosts_repo as repo
from govcloud.store import inventory as inventory_store
from govcloud.store.audit import write_session
from govcloud.store.tables_hosts import HostDrainServerRow

log = logging.getLogger(__name__)


def _row(drain_id: int) -> step_machine.Load:
    return lambda session: repo.get_drain(session, drain_id)


def claim(ctx: HostsContext, drain_id: int, run_id: str) -> None:
    """Take the drain for ``run_id`` (refused while another live run holds it)."""
    step_machine.claim(ctx.engine, _row(drain_id), run_id, now=ctx.clock(),
                       stale_after_s=ctx.stale_after_s, what=f"drain {drain_id}",
                       hint=f"follow it: `govcloud host show {drain_id} --follow`")


@dataclass
class Run:
    """One run of one drain: where, and what it has learnt of the site."""

    id: int
    site: str
    host: str
    conn: Any
    source: cloud.ComputeHost | None = None
    planner: Planner | None = None
    groups: dict[str, ServerGroupInfo] = field(default_factory=dict)

    def say(self, ctx: HostsContext, kind: str, message: str) -> None:
        event(ctx, self.id, kind, message)


def _set(ctx: HostsContext, run: Run, server_id: str, status: MoveStatus, *,
         kind: MoveKind | None = None, target: str | None = None,
         reason: str | None = None) -> None:
    with write_session(ctx.engine) as session:
        repo.set_server(session, run.id, server_id, status=status.value, at=ctx.clock(),
                        kind=kind.value if kind else None, target=target, reason=reason)
        session.commit()


# --- the steps -------------------------------------------------------------------------------

def _disable(ctx: HostsContext, run: Run) -> None:
    """Step 1: the scheduler sends the host nothing new (idempotent)."""
    host = cloud.get_compute_host(run.conn, run.site, run.host)
    run.source = host
    reason = drain_reason(run.id)
    if not host.enabled and host.disabled_reason == reason:
        run.say(ctx, "disabled", f"nova-compute on {host.host} is disabled already "
                                 f"(reason {reason!r})")
        return
    before = "enabled" if host.enabled else \
        f"disabled already (reason {host.disabled_reason or 'none'!r})"
    cloud.disable_compute(run.conn, run.site, host, reason)
    run.say(ctx, "disabled", f"disabled nova-compute on {host.host} (reason {reason!r}; "
                             f"it was {before})")


def _record_servers(ctx: HostsContext, run: Run) -> list[HostDrainServerRow]:
    """Step 2: the servers on the host, recorded (new ones added on a resumed run)."""
    on_host = cloud.servers_on(run.conn, run.site, run.host)
    with ctx.engine.connect() as conn:
        depts = repo.departments_of(conn, run.site, [s.project_id for s in on_host])
    with write_session(ctx.engine) as session:
        added = repo.add_servers(session, run.id, [HostDrainServerRow(
            drain_id=run.id, server_id=s.id, name=s.name[:255], project_id=s.project_id[:64],
            department=depts.get(s.project_id), kind=move_kind(s.status).value,
            updated_at=ctx.clock()) for s in on_host])
        session.commit()
    with Session(ctx.engine) as session:
        rows = repo.servers(session, run.id)
        for r in rows:
            session.expunge(r)
    waiting = sum(1 for r in rows if MoveStatus(r.status) in UNSETTLED)
    run.say(ctx, "servers", f"{len(on_host)} server(s) on {run.host}; {added} new to this "
                            f"drain, {waiting} still to move")
    return rows


def _planner(ctx: HostsContext, run: Run, rows: list[HostDrainServerRow]) -> None:
    """Step 3: what the other hosts have room for (the site synced now, so the store's
    Placement figures are fresh), which are up, enabled and out of maintenance (read live),
    and where the server groups' other members are."""
    assert run.source is not None
    ctx.refresh(run.site)
    with ctx.engine.connect() as conn:
        figures = {h.hostname: h for h in inventory_store.hosts(conn, run.site)}
        maintenance = repo.maintenance_names(conn).get(run.site, frozenset())
    if not figures:
        raise TemporaryError(f"site {run.site}: no hypervisor figures synced, so no host "
                             "can be judged to fit", hint=f"sync it (`govcloud sync --site "
                             f"{run.site}`), then run the drain again to resume")
    hosts = []
    for h in cloud.compute_hosts(run.conn, run.site):
        stored = figures.get(h.hypervisor) or figures.get(h.host)
        hosts.append(Candidate(
            host=h.host, hypervisor=h.hypervisor, availability_zone=h.availability_zone,
            schedulable=h.schedulable and stored is not None,
            inventories=stored.inventories if stored else {},
            usages=stored.usages if stored else {}))
    ids = [r.server_id for r in rows]
    groups = cloud.server_groups(run.conn, run.site, ids)
    run.groups = groups_by_member(groups)
    members = cloud.hosts_of(run.conn, run.site, {m for g in groups for m in g.members})
    run.planner = Planner(source=run.source.host, hosts=hosts,
                          zone=run.source.availability_zone, maintenance=maintenance,
                          member_hosts=members)
    usable = [c.host for c in run.planner.candidates()]
    run.say(ctx, "plan", f"hosts that may take servers: {', '.join(usable) or 'none'}; "
                         f"{len(groups)} server group(s) involved")


def _settled(ctx: HostsContext, run: Run, server_id: str, *,
             confirmed: bool = False) -> cloud.HostServer | None:
    """The server once no task runs on it (None: it was deleted) — with ``confirmed``, once
    it left ``VERIFY_RESIZE`` too (Nova confirms asynchronously: the server waits there until
    the source compute is done); TemporaryError when it is still busy after
    ``move_timeout_s`` (the drain is interrupted; running it again adopts the move)."""
    deadline = time.monotonic() + ctx.move_timeout_s
    while True:
        found = cloud.find_server(run.conn, run.site, server_id)
        if found is None or (found.settled and not (
                confirmed and found.status == "VERIFY_RESIZE")):
            return found
        if time.monotonic() >= deadline:
            raise TemporaryError(
                f"site {run.site}: server {server_id} still {found.status} "
                f"({found.task_state or 'no task'}) after {ctx.move_timeout_s:.0f} s",
                hint=f"run `govcloud host drain {run.site} {run.host}` again to resume")
        time.sleep(ctx.poll_s)


def _landed(ctx: HostsContext, run: Run, row: HostDrainServerRow, found: cloud.HostServer,
            how: str) -> None:
    """The server runs elsewhere now: confirm a cold move waiting for it, and book it."""
    assert run.planner is not None
    if found.status == "VERIFY_RESIZE":
        cloud.confirm(run.conn, run.site, found.id)
        confirmed = _settled(ctx, run, found.id, confirmed=True)
        if confirmed is not None:
            found = confirmed
    where = found.host or "?"
    run.planner.placed(found.id, where, found.need)
    _set(ctx, run, found.id, MoveStatus.MOVED, target=where)
    run.say(ctx, "moved", f"{row.name} ({found.id}) {how} to {where}: {found.status}")


def _left(ctx: HostsContext, run: Run, row: HostDrainServerRow, reason: str) -> None:
    _set(ctx, run, row.server_id, MoveStatus.LEFT, reason=reason)
    run.say(ctx, "left", f"{row.name} ({row.server_id}) stays on {run.host}: {reason}")


def _move_one(ctx: HostsContext, run: Run, row: HostDrainServerRow) -> None:
    """Move one server (or adopt the move a dead run asked for)."""
    assert run.planner is not None and run.source is not None
    found = _settled(ctx, run, row.server_id)
    if found is None:
        _set(ctx, run, row.server_id, MoveStatus.GONE, reason="deleted during the drain")
        run.say(ctx, "gone", f"{row.name} ({row.server_id}) was deleted meanwhile")
        return
    if found.host and found.host != run.source.host:
        _landed(ctx, run, row, found, "had moved")
        return
    kind = move_kind(found.status)
    choice = run.planner.choose(found.id, found.need, run.groups.get(found.id))
    if choice.host is None:
        _left(ctx, run, row, choice.reason or "no host fits")
        return
    _set(ctx, run, found.id, MoveStatus.MOVING, kind=kind, target=choice.host)
    run.say(ctx, "moving", f"{row.name} ({found.id}, {found.status}): {kind.value} "
                           f"migration to {choice.host}")
    try:
        if kind is MoveKind.LIVE:
            cloud.live_migrate(run.conn, run.site, found.id, choice.host)
        else:
            cloud.cold_migrate(run.conn, run.site, found.id, choice.host)
    except cloud.MoveRefused as exc:
        _left(ctx, run, row, f"Nova refused the {kind.value} migration: {exc.message}")
        return
    after = _settled(ctx, run, found.id)
    if after is None:
        _set(ctx, run, found.id, MoveStatus.GONE, reason="deleted during its migration")
        run.say(ctx, "gone", f"{row.name} ({found.id}) was deleted during its migration")
    elif after.host and after.host != run.source.host:
        _landed(ctx, run, row, after, f"{kind.value}-migrated")
    else:
        why = cloud.migration_error(run.conn, run.site, found.id) or after.fault or \
            f"the migration ended with it still on {run.host} ({after.status})"
        _left(ctx, run, row, why)


def _finish(ctx: HostsContext, run: Run, actor: str) -> str:
    """Step 5: the host in maintenance, the drain done (or partial), in one transaction."""
    assert run.source is not None
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        row = repo.get_drain(session, run.id)
        servers = repo.servers(session, run.id)
        state = final_state(MoveStatus(s.status) for s in servers)
        repo.mark(session, site=run.site, host=run.source.host,
                  hypervisor=run.source.hypervisor, drain_id=run.id, by=actor, at=now)
        row.state, row.finished_at, row.error = state.value, now, None
        session.add(row)
        moved = sum(1 for s in servers if s.status == MoveStatus.MOVED)
        left = [s.server_id for s in servers if s.status == MoveStatus.LEFT]
        repo.add_event(session, run.id, state.value,
                       f"{run.host} is in maintenance; {moved} moved, {len(left)} left"
                       + (" (see each server's reason)" if left else ""), at=now)
        enqueue_host_drain(ctx.notifier, session.connection(), done=True, site=run.site,
                           host=run.host, departments=departments_of(row), at=now,
                           actor=actor, detail=f"{moved} moved, {len(left)} left")
        session.commit()
    audit(ctx, actor, "host.drain.end", run.site, run.host,
          {"drain": run.id, "state": state.value, "moved": moved, "left": left,
           "maintenance": True})
    return state.value


def _steps(ctx: HostsContext, run: Run, actor: str, cancel: threading.Event) -> str | None:
    _disable(ctx, run)
    rows = _record_servers(ctx, run)
    _planner(ctx, run, rows)
    for row in rows:
        if MoveStatus(row.status) not in UNSETTLED:
            continue
        if cancel.is_set():
            return None
        _move_one(ctx, run, row)
    state = _finish(ctx, run, actor)
    ctx.refresh(run.site)  # capacity sees the moves now, not at the next sync
    return state


def _start(ctx: HostsContext, drain_id: int, resumed: bool) -> None:
    with write_session(ctx.engine) as session:
        row = repo.get_drain(session, drain_id)
        row.state = DrainState.RUNNING.value
        row.started_at = row.started_at or ctx.clock()
        session.add(row)
        repo.add_event(session, drain_id, "resume" if resumed else "start",
                       "resumed: adopting what the last run left" if resumed else
                       f"drain of {row.host} in {row.site} started", at=ctx.clock())
        session.commit()


def _release(ctx: HostsContext, drain_id: int, run_id: str, error: str | None) -> None:
    """Let go of the drain; one still ``running`` (stopped early, or by an error) becomes
    interrupted, with the error: running the drain again resumes it."""
    with write_session(ctx.engine) as session:
        row = repo.get_drain(session, drain_id)
        step_machine.release(session, row, run_id)
        if row.state == DrainState.RUNNING.value:
            row.state, row.error = DrainState.INTERRUPTED.value, error
            repo.add_event(session, drain_id, "interrupted",
                           (error or "the run stopped") + "; run the drain again to resume",
                           at=ctx.clock())
        session.add(row)
        session.commit()


def run_drain(ctx: HostsContext, drain_id: int, *, actor: str, cancel: threading.Event,
              run_id: str, resumed: bool = False) -> str:
    """Run (or resume) a drain; its state when the run ends: done, partial, or interrupted
    (an error or a stop: the error is recorded, running it again resumes)."""
    claim(ctx, drain_id, run_id)
    with Session(ctx.engine) as session:
        stored = repo.get_drain(session, drain_id)
        site, host = stored.site, stored.host
    run = Run(drain_id, site, host, ctx.connection(site))
    error: str | None = None
    with step_machine.heartbeat(ctx.engine, _row(drain_id), run_id, every_s=ctx.heartbeat_s,
                                clock=ctx.clock):
        try:
            _start(ctx, drain_id, resumed)
            _steps(ctx, run, actor, cancel)
        except GovCloudError as exc:
            error = exc.message
            log.warning("drain %s: %s", drain_id, exc.message)
        except Exception as exc:  # a bug must not leave the drain held
            error = f"unexpected error: {type(exc).__name__}: {exc}"[:1000]
            log.exception("drain %s failed unexpectedly", drain_id)
        finally:
            _release(ctx, drain_id, run_id, error)
    with Session(ctx.engine) as session:
        return repo.get_drain(session, drain_id).state
