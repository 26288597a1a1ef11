"""Host maintenance, the use cases behind ``/hosts/...`` (docs/hosts.md): drain a compute host
(in the background: ``services.host_drain``), restore it, list the hosts with their
maintenance marks, and show a drain with its servers and progress events.

RBAC: draining and restoring are ``host.maintain`` on the whole cloud (operators and the
bureau: a host carries many departments' servers); reading hosts and drains is
``capacity.view`` on the whole cloud. Every change is audited (target ``host:SITE/HOST``).
Under change control (docs/changes.md) a drain and a restore pass the change gate first
(kind ``host-maintenance``, covering every department whose servers are on the host, and
the site): the drain is the change's link (``drain ID``) and its end finishes it — done when
every server moved, failed otherwise (partial, interrupted; running the drain again in the
window resumes it under the same change). The departments are told when a drain starts and
when it ends (docs/notifications.md).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from govcloud.cloud import hosts as cloud
from govcloud.domain.changes import OperationKind
from govcloud.domain.host_drain import DrainState, MoveStatus, drained_by_govcloud
from govcloud.domain.rbac import GLOBAL, Action, Principal, require
from govcloud.domain.sites import site_target, sites_within
from govcloud.errors import ConflictError, GovCloudError
from govcloud.services import host_drain
from govcloud.services.change_gate import Ticket, finish, gate, rename, ticket_of
from govcloud.services.host_state import HostsContext, audit, change_number, drain_json
from govcloud.services.migration_access import Caller
from govcloud.services.notifications import enqueue_host_drain
from govcloud.services.step_machine import Runs
from govcloud.store import hosts_repo as repo
from govcloud.store import inventory as inventory_store
from govcloud.store.audit import write_session
from govcloud.store.inventory import aware
from govcloud.store.tables_hosts import HostDrainRow

log = logging.getLogger(__name__)


def _gate(ctx: HostsContext, caller: Caller, change_id: int | None,
          departments: Sequence[str], *, operation: str, site: str) -> Ticket | None:
    """The change gate of host maintenance (docs/changes.md): the change (kind
    ``host-maintenance``) must cover every department whose servers are on the host, and
    the site; refused (ChangeRefused), nothing was done."""
    if ctx.changes is None:
        return None
    return gate(ctx.changes, caller, change_id, OperationKind.HOST_MAINTENANCE, departments,
                operation=operation, sites=[site])


def _finish(ctx: HostsContext, ticket: Ticket | None, actor: str, *, ok: bool,
            detail: str) -> None:
    if ctx.changes is not None:
        finish(ctx.changes, ticket, actor=actor, ok=ok, detail=detail)


def _subject(drain_id: int) -> str:
    return f"drain-{drain_id}"


def _alive(ctx: HostsContext, row: HostDrainRow) -> bool:
    """Does a run (here or in another process) hold the drain, with a fresh heartbeat?"""
    beat = aware(row.heartbeat_at)
    return row.run_id is not None and beat is not None and \
        ctx.clock() - beat < timedelta(seconds=ctx.stale_after_s)


def _departments(ctx: HostsContext, site: str, servers: Sequence[cloud.HostServer]
                 ) -> list[str]:
    with ctx.engine.connect() as conn:
        found = repo.departments_of(conn, site, [s.project_id for s in servers])
    return sorted(set(found.values()))


def _refuse_busy_site(ctx: HostsContext, session: Session, site: str, host: str) -> None:
    """Drains of one site run one at a time: each plans on the room the others leave."""
    for other in repo.unfinished_in_site(session, site):
        if other.host != host and _alive(ctx, other):
            raise ConflictError(f"drain {other.id} of {other.host} is running in {site}",
                                hint="drains of one site run one at a time; follow it with "
                                     f"`govcloud host show {other.id} --follow`")


def _check_free(ctx: HostsContext, session: Session, site: str, host: str) -> None:
    """Refused while another drain of the site runs, or a run holds this host's drain."""
    _refuse_busy_site(ctx, session, site, host)
    found = repo.unfinished(session, site, host)
    if found is not None and found.id is not None and _alive(ctx, found):
        raise ConflictError(f"drain {found.id} of {host} is running",
                            hint=f"follow it: `govcloud host show {found.id} --follow`")


def _open_drain(ctx: HostsContext, caller: Caller, site: str, host: str,
                change_id: int | None) -> tuple[int, bool, Ticket | None]:
    """The drain to run: this host's unfinished one (resumed, under its change), else a new
    one — once the change gate lets it through."""
    conn = ctx.connection(site)
    compute = cloud.get_compute_host(conn, site, host)
    servers = cloud.servers_on(conn, site, compute.host)
    departments = _departments(ctx, site, servers)
    with Session(ctx.engine) as session:
        _check_free(ctx, session, site, compute.host)  # refused before the gate is passed
        found = repo.unfinished(session, site, compute.host)
    ref = f"drain {found.id}" if found is not None else f"drain {site}/{compute.host}"
    ticket = _gate(ctx, caller, change_id, departments, operation=ref, site=site)
    try:
        with write_session(ctx.engine) as session:
            repo.lock_drains(session)
            _check_free(ctx, session, site, compute.host)
            found = repo.unfinished(session, site, compute.host)
            change = str(ticket.change_id) if ticket is not None else None
            if found is not None and found.id is not None:
                found.change_id = change or found.change_id
                session.add(found)
                drain_id, resumed = found.id, True
            else:
                row = HostDrainRow(site=site, host=compute.host,
                                   state=DrainState.RUNNING.value, requester=caller.name,
                                   change_id=change, departments=json.dumps(departments),
                                   created_at=ctx.clock())
                drain_id, resumed = repo.add_drain(session, row), False
                enqueue_host_drain(ctx.notifier, session.connection(), done=False, site=site,
                                   host=compute.host, departments=departments,
                                   at=ctx.clock(), actor=caller.name)
            session.commit()
    except GovCloudError as exc:  # lost a race for the host: the operation did not start
        _finish(ctx, ticket, caller.name, ok=False, detail=f"refused: {exc.message}")
        raise
    if ctx.changes is not None:
        rename(ctx.changes, ticket, f"drain {drain_id}")
    audit(ctx, caller.name, "host.drain", site, compute.host,
          {"drain": drain_id, "resumed": resumed, "change": ticket.change_id if ticket else None,
           "departments": departments, "servers": len(servers)})
    return drain_id, resumed, ticket


def start_drain(ctx: HostsContext, runs: Runs, caller: Caller, *, site: str, host: str,
                change_id: int | None = None) -> dict[str, Any]:
    """Drain ``host`` of ``site`` in the background, or resume its unfinished drain; refused
    while a run holds it or another drain of the site runs, and without a change that lets
    it run (change control)."""
    # a city site's hosts are its city's operators' too (docs/city-clouds.md)
    require(caller.principal, Action.HOST_MAINTAIN, site_target(ctx.site(site)))
    drain_id, resumed, ticket = _open_drain(ctx, caller, site, host, change_id)
    run_id = uuid.uuid4().hex[:12]
    try:
        if runs.running(_subject(drain_id)):
            raise ConflictError(f"drain {drain_id} is running here",
                                hint=f"follow it: `govcloud host show {drain_id} --follow`")
        host_drain.claim(ctx, drain_id, run_id)  # refuses now if a live run holds it
    except GovCloudError as exc:
        _finish(ctx, ticket, caller.name, ok=False, detail=f"refused: {exc.message}")
        raise

    def work(cancel: threading.Event) -> None:
        state: str = DrainState.INTERRUPTED.value
        error: str | None = "the run ended unexpectedly"
        try:
            state = host_drain.run_drain(ctx, drain_id, actor=caller.name, cancel=cancel,
                                         run_id=run_id, resumed=resumed)
            error = _drain_error(ctx, drain_id)
        except GovCloudError as exc:
            error = exc.message
            log.warning("drain %s: %s", drain_id, exc.message)
        except Exception:
            log.exception("drain %s failed unexpectedly", drain_id)
        _finish(ctx, ticket, caller.name, ok=state == DrainState.DONE.value,
                detail=f"drain {drain_id} {state}" + (f": {error}" if error else ""))

    runs.start(_subject(drain_id), work)
    with Session(ctx.engine) as session:
        row = repo.get_drain(session, drain_id)
    return {"drain": drain_id, "site": row.site, "host": row.host, "run_id": run_id,
            "resumed": resumed, "change": change_number(row.change_id)}


def _drain_error(ctx: HostsContext, drain_id: int) -> str | None:
    """What a drain that did not end done says: its error, or the servers it left."""
    with Session(ctx.engine) as session:
        row = repo.get_drain(session, drain_id)
        if row.state == DrainState.DONE.value:
            return None
        left = sum(1 for s in repo.servers(session, drain_id) if s.status == MoveStatus.LEFT)
    return row.error or (f"{left} server(s) left on the host" if left else None)


def restore(ctx: HostsContext, runs: Runs, caller: Caller, *, site: str, host: str,
            change_id: int | None = None) -> dict[str, Any]:
    """Enable the host's ``nova-compute`` again and take it out of maintenance. Refused while
    a drain of it runs, for a host someone else disabled (not a govcloud drain), and without
    a change that lets it run (change control)."""
    require(caller.principal, Action.HOST_MAINTAIN, site_target(ctx.site(site)))
    conn = ctx.connection(site)
    compute = cloud.get_compute_host(conn, site, host)
    with Session(ctx.engine) as session:
        found = repo.unfinished(session, site, compute.host)
        marked = repo.find_mark(session, site, compute.host)
    if found is not None and found.id is not None and (
            _alive(ctx, found) or runs.running(_subject(found.id))):
        raise ConflictError(f"drain {found.id} of {compute.host} is running",
                            hint="wait for it to end, then restore the host")
    if marked is None and not compute.enabled and \
            not drained_by_govcloud(compute.disabled_reason):
        raise ConflictError(
            f"{compute.host} was disabled outside govcloud (reason "
            f"{compute.disabled_reason or 'none'!r}) and is not in maintenance",
            hint="enable it where it was disabled (`openstack compute service set --enable`)")
    departments = _departments(ctx, site, cloud.servers_on(conn, site, compute.host))
    if found is not None and found.id is not None and ctx.changes is not None:
        # a dead drain ends with the restore: so does its operation under its change
        _finish(ctx, ticket_of(ctx.changes, OperationKind.HOST_MAINTENANCE,
                               f"drain {found.id}"), caller.name, ok=False,
                detail=f"drain {found.id} ended by a restore before it finished")
    ticket = _gate(ctx, caller, change_id, departments,
                   operation=f"restore {site}/{compute.host}", site=site)
    try:
        answer = _restore(ctx, caller, site, compute, found)
    except Exception as exc:
        _finish(ctx, ticket, caller.name, ok=False, detail=f"{type(exc).__name__}: {exc}")
        raise
    answer["change"] = ticket.change_id if ticket is not None else None
    _finish(ctx, ticket, caller.name, ok=True,
            detail=f"{compute.host} restored: nova-compute enabled, out of maintenance")
    audit(ctx, caller.name, "host.restore", site, compute.host, dict(answer))
    ctx.refresh(site)  # capacity counts the host again now, with its fresh status
    return answer


def _restore(ctx: HostsContext, caller: Caller, site: str, compute: cloud.ComputeHost,
             found: HostDrainRow | None) -> dict[str, Any]:
    conn = ctx.connection(site)
    if not compute.enabled:
        cloud.enable_compute(conn, site, compute)
    with write_session(ctx.engine) as session:
        cleared = repo.clear(session, site, compute.host)
        if found is not None and found.id is not None:  # a dead drain ends with the restore
            found.state, found.finished_at = DrainState.FAILED.value, ctx.clock()
            found.error = "ended by `govcloud host restore` before it finished"
            session.add(found)
        last = repo.drains(session, site=site, host=compute.host, limit=1)
        if last and last[0].id is not None:
            repo.add_event(session, last[0].id, "restored",
                           f"{compute.host} restored by {caller.name}: nova-compute "
                           "enabled, out of maintenance", at=ctx.clock())
        session.commit()
    return {"site": site, "host": compute.host, "enabled": not compute.enabled,
            "was_in_maintenance": cleared is not None,
            "drain": cleared.drain_id if cleared is not None else None}


def _host_json(site: str, h: Any, marks: dict[tuple[str, str], Any],
               drains: dict[tuple[str, str], HostDrainRow]) -> dict[str, Any]:
    names = [h.hostname]
    mark = next((m for (s, n), m in marks.items() if s == site and
                 (n == h.hostname or m.hypervisor == h.hostname)), None)
    if mark is not None:
        names.append(mark.host)
    drain = next((drains[(site, n)] for n in names if (site, n) in drains), None)
    since = aware(mark.since) if mark is not None else None
    return {"site": site, "host": mark.host if mark is not None else h.hostname,
            "hypervisor": h.hostname, "availability_zone": h.availability_zone,
            "state": h.state.value, "status": h.status.value,
            "disabled_reason": h.disabled_reason, "running_servers": h.running_servers,
            "maintenance": mark is not None,
            "maintenance_since": since.isoformat() if since is not None else None,
            "last_drain": drain.id if drain is not None else None,
            "last_drain_state": drain.state if drain is not None else None}


def listing(ctx: HostsContext, principal: Principal, *, site: str | None = None
            ) -> dict[str, Any]:
    """Every compute host (of ``site``) as last synced, with its maintenance mark and its
    last drain — of the sites the principal may see (a city-operator: its city's sites)."""
    if site is not None:
        require(principal, Action.VIEW_CAPACITY, site_target(ctx.site(site)))
        chosen = [site]
    else:
        chosen = [s.name for s in sites_within(principal, Action.VIEW_CAPACITY, ctx.sites)]
        if not chosen:
            require(principal, Action.VIEW_CAPACITY, GLOBAL)
    with ctx.engine.connect() as conn:
        hosts = {n: inventory_store.hosts(conn, n) for n in chosen}
        states = inventory_store.sync_states(conn)
    with Session(ctx.engine) as session:
        marks = {(m.site, m.host): m for m in repo.marks(session, site)}
        drains = repo.last_drains(session, chosen)
    out = [_host_json(n, h, marks, drains) for n in chosen for h in hosts[n]]
    as_of: dict[str, str | None] = {}
    for n in chosen:
        last = states[n].last_success if n in states else None
        as_of[n] = last.isoformat() if last is not None else None
    return {"hosts": out, "data_as_of": as_of}


def show_drain(ctx: HostsContext, runs: Runs, principal: Principal, drain_id: int, *,
               after_event: int = 0) -> dict[str, Any]:
    if not sites_within(principal, Action.VIEW_CAPACITY, ctx.sites):
        require(principal, Action.VIEW_CAPACITY, GLOBAL)  # says why not, before any lookup
    with Session(ctx.engine) as session:
        row = repo.get_drain(session, drain_id)
        session.expunge(row)
    where = next((s for s in ctx.sites if s.name == row.site), None)
    require(principal, Action.VIEW_CAPACITY, site_target(where) if where else GLOBAL)
    running = runs.running(_subject(drain_id)) or _alive(ctx, row)
    return drain_json(ctx, row, running=running, after_event=after_event)
