"""The steps of a DR failover (``services.failover_run`` runs them in order): each reads
what the earlier ones stored in the failover's state, acts in the clouds (``cloud.failover``,
the playbooks in ``playbooks/dr``), stores what it saw or did and returns its output. A step
that cannot do its part raises a govcloud error (the step is then recorded as failed)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from govcloud.cloud import drill as cloud_drill
from govcloud.cloud import failover as cloud
from govcloud.cloud.provision import shelve_offloaded
from govcloud.domain.failover import FailoverKind, FailoverStep, RoleState, data_loss_s
from govcloud.domain.legacy import Endpoint
from govcloud.domain.protection import StandbyKind
from govcloud.domain.recovery import PointRecord
from govcloud.errors import GovCloudError, PermanentError
from govcloud.services import dr_keys, dr_runs, step_machine
from govcloud.services import failover_restore as restore
from govcloud.services.cold_copy_points import record_reshelved
from govcloud.services.dr_posture import SystemPosture, dr_posture
from govcloud.services.failover_state import FailoverContext, read, state_of, update_state
from govcloud.services.migration_commands import endpoint_of
from govcloud.store import failover_repo as repo
from govcloud.store import protection_repo
from govcloud.store.audit import write_session
from govcloud.store.inventory import aware


@dataclass
class Run(dr_runs.StepRun):
    """The failover a run works on, and the connections it made (per site)."""

    system: str
    kind: FailoverKind
    source: str
    target: str
    started_at: datetime


_conn, _project, _pconn = dr_runs.site_conn, dr_runs.department_project, dr_runs.project_conn


def system_posture(ctx: FailoverContext, department: str, system: str) -> SystemPosture:
    """The system as the posture sees it: members, plan, latest points of its copies."""
    posture = dr_posture(ctx.engine, ctx.policy, ctx.sites, ctx.clock(),
                         departments=[department])
    found = next((s for s in posture.systems if s.system == system), None)
    if found is None:
        raise PermanentError(f"there is no protected system {system} in {department}",
                             hint="systems come from provisioning requests "
                                  "(`govcloud dr posture --department D`)")
    return found


def _members(ctx: FailoverContext, run: Run) -> list[str]:
    state = state_of(read(ctx, run.id)[0])
    if "members" not in state:
        row = system_posture(ctx, run.department, run.system)
        state = update_state(ctx, run.id, members=sorted(m.name for m in row.members))
    return list(state["members"])


def _servers(ctx: FailoverContext, run: Run, site: str) -> dict[str, str]:
    """The system's servers in ``site``: member name → server id; every member must have one."""
    members = _members(ctx, run)
    found = {s.name: s.id for s in cloud_drill.prod_servers(
        _conn(ctx, site), site, _project(ctx, run.department, site), members)}
    missing = [m for m in members if m not in found]
    if missing:
        raise PermanentError(f"{site}: no server for {', '.join(missing[:5])}",
                             hint=f"{run.system} has no complete copy in {site}")
    return found


# --- playbooks ------------------------------------------------------------------------------------

def _trusted(ctx: FailoverContext, run: Run, ep: Endpoint, server: dr_keys.CloudServer
             ) -> str:
    """The host key, pinned to what the server's console log shows (``dr_keys``): the one
    recorded must be presented, a new one must be one the cloud shows."""
    check = dr_keys.KeyCheck(ctx.settings, ctx.engine, f"failover {run.id}", ctx.clock)
    pinned = dr_keys.pin_server(check, ep, server, booted=True)
    return f"{pinned.key.fingerprint} (from {pinned.source})"


_host = dr_runs.host_vars


def _playbook(ctx: FailoverContext, run: Run, name: str, hosts: Mapping[str, dict[str, Any]]
              ) -> tuple[str, dict[str, str], dict[str, str]]:
    """``name`` over ``hosts``: (status, per-host failure, per-host checksums written)."""
    return dr_runs.playbook(ctx, "failovers", run.id, name, name, "failover", hosts)


def _endpoints(ctx: FailoverContext, run: Run, site: str, step: FailoverStep
               ) -> dict[str, Endpoint]:
    pconn = _pconn(ctx, run, site)
    out = {}
    for member, sid in sorted(_servers(ctx, run, site).items()):
        ep = endpoint_of(pconn.compute.get_server(sid), "root")
        key = _trusted(ctx, run, ep, dr_keys.CloudServer(pconn, site, sid))
        run.say(step, f"{site} {member}: {ep.known_hosts_name} key {key}")
        out[member] = ep
    return out


def _ran(run: Run, step: FailoverStep, status: str, failed: Mapping[str, str]) -> None:
    run.say(step, f"playbook {status}")
    for host, why in sorted(failed.items()):
        run.say(step, f"{host}: {why}")
    if status != "successful" or failed:
        raise PermanentError(f"{step.value} failed on {', '.join(sorted(failed)) or 'a host'}")


# --- the steps ------------------------------------------------------------------------------------

def freeze(ctx: FailoverContext, run: Run) -> str:
    step = FailoverStep.FREEZE
    hosts = {}
    for member, ep in _endpoints(ctx, run, run.source, step).items():
        root = (ep.root or "/").rstrip("/")
        hook, marker = shlex.quote(f"{root}/etc/govcloud/freeze"), \
            shlex.quote(f"{root}/.govcloud-frozen")
        hosts[member] = _host(ctx, ep, gc_freeze=(
            f"if [ -x {hook} ]; then {hook}; fi && echo failover-{run.id} > {marker} && sync"))
    status, failed, _ = _playbook(ctx, run, "failover_freeze", hosts)
    _ran(run, step, status, failed)
    update_state(ctx, run.id, frozen=sorted(hosts))
    return run.output(step)


def final_cycle(ctx: FailoverContext, run: Run) -> tuple[str, bool]:
    """(output, skipped)."""
    copies = _servers(ctx, run, run.target)
    result = ctx.final_cycle(run.department, run.system, run.target, sorted(copies.values()))
    update_state(ctx, run.id, final_cycle=result.skipped or "done")
    return (result.skipped or result.output or "final protection cycle done",
            result.skipped is not None)


def _cold_copy(ctx: FailoverContext, run: Run) -> bool:
    """Is the site a failback leaves the system's cold copy (shelved again, not stopped)?"""
    if run.kind is not FailoverKind.FAILBACK:
        return False
    row = system_posture(ctx, run.department, run.system)
    try:  # the level's plan: the posture's is the reversed one while the system is away
        plan = ctx.policy.plan(run.department, run.system, row.level, ctx.sites)
    except GovCloudError:
        return False
    return any(c.site == run.source and c.kind is StandbyKind.COLD for c in plan.copies)


def _final_points(ctx: FailoverContext, run: Run) -> dict[str, PointRecord]:
    """Each member's point the failback's final cycle recorded (whole, with its manifest):
    the data the frozen copy holds. Empty when that cycle did not run."""
    if state_of(read(ctx, run.id)[0]).get("final_cycle") != "done":
        return {}
    targets = _servers(ctx, run, run.target)
    started = aware(run.started_at)
    with ctx.engine.connect() as conn:
        latest = {p.server_id: p for p in protection_repo.latest_recovery_points(
            conn, departments=[run.department]) if p.site == run.target}
        found = {}
        for member, sid in targets.items():
            point = latest.get(sid)
            if point is None or point.id is None or (started and point.taken_at < started):
                continue
            whole = protection_repo.recovery_point(conn, point.id)
            if whole is not None:
                found[member] = whole
    return found


def _copy_point(ctx: FailoverContext, run: Run, pconn: Any, member: str, sid: str,
                basis: PointRecord | None) -> str:
    """Nova deleted the copy's shelved image when the failover unshelved it, and made a new
    one now: the copy's recovery point names it (``services.cold_copy_points``)."""
    recorded = record_reshelved(ctx.engine, pconn, run.source, sid, member, basis) \
        if basis is not None else None
    if recorded is None:
        return (f"{run.source} {member}: no recovery point recorded for the copy (no final "
                "cycle's data, or no shelved image): its older points name the image Nova "
                "deleted, so the copy is UNPROTECTED (non-compliant in the posture) until its "
                "next protection cycle (`govcloud dr protect`)")
    (image,) = (a.id for a in recorded.artifacts)
    return (f"{run.source} {member}: recovery point #{recorded.id} of "
            f"{recorded.taken_at.isoformat(timespec='seconds')} (the final cycle's data) holds "
            f"the new shelved image {image}")


def stop_primary(ctx: FailoverContext, run: Run) -> str:
    step = FailoverStep.STOP_PRIMARY
    pconn = _pconn(ctx, run, run.source)
    shelve = _cold_copy(ctx, run)
    bases = _final_points(ctx, run) if shelve else {}
    for member, sid in sorted(_servers(ctx, run, run.source).items()):
        if shelve:  # a cold copy again: it holds no compute capacity
            shelve_offloaded(pconn, run.source, sid, timeout_s=ctx.active_timeout_s)
            run.say(step, f"{run.source} {member} ({sid}): shelved (a cold copy again)")
            run.say(step, _copy_point(ctx, run, pconn, member, sid, bases.get(member)))
            continue
        for line in cloud.bring_to(pconn, run.source, sid, "SHUTOFF",
                                   timeout_s=ctx.active_timeout_s):
            run.say(step, f"{run.source} {line}")
    return run.output(step)


def _point_at(ctx: FailoverContext, run: Run, copies: Mapping[str, str]
              ) -> tuple[datetime | None, dict[str, list[list[str]]], dict[str, int]]:
    """The oldest of the copy servers' latest good points (a copy is as fresh as its stalest
    server), each member's manifest and each member's point id."""
    points = restore.latest_points(ctx.engine, run.department, run.target, copies)
    if any(member not in points for member in copies):
        return None, {}, {}
    times = [p.taken_at for p in points.values()]
    manifest = {member: [list(e) for e in p.manifest] for member, p in points.items()}
    return ((min(times) if times else None), manifest,
            {member: int(p.id) for member, p in points.items() if p.id is not None})


def _pinned_points(ctx: FailoverContext, run: Run, copies: Mapping[str, str]
                   ) -> dict[str, Any]:
    """The failover's state after pinning what promote restores from: the recovery point, its
    manifest and data-loss window, each member's point (on a resumed promote: as pinned)."""
    state = state_of(read(ctx, run.id)[0])
    if "restore_points" in state:
        return state
    point_at, manifest, ids = _point_at(ctx, run, copies)
    loss = data_loss_s(run.started_at, point_at) if run.kind is FailoverKind.UNPLANNED else None
    return update_state(ctx, run.id, promoted=dict(copies), point_at=point_at.isoformat()
                        if point_at else None, manifest=manifest, data_loss_s=loss,
                        restore_points=ids)


def _restore_volumes(ctx: FailoverContext, run: Run, pconn: Any, copies: Mapping[str, str],
                     pinned: Mapping[str, int]) -> None:
    """Each member's pinned point's Cinder backups restored and attached to its server."""
    step = FailoverStep.PROMOTE
    state = state_of(read(ctx, run.id)[0])
    restored: dict[str, list[dict[str, Any]]] = dict(state.get("restored") or {})
    with ctx.engine.connect() as conn:
        points = {m: protection_repo.recovery_point(conn, pid) for m, pid in pinned.items()}
    for member, sid in sorted(copies.items()):
        point = points.get(member)
        if point is None or not restore.backups_in(point, run.target):
            continue
        made = restore.restore_member(pconn, run.target, department=run.department,
                                      system=run.system, member=member, server_id=sid,
                                      point=point, timeout_s=ctx.active_timeout_s,
                                      restored=lambda _v: step_machine.fault_point(
                                          "failover", step.value, "restored", run.id))
        restored[member] = [v.as_json() for v in made]
        update_state(ctx, run.id, restored=restored)
        for volume in made:
            run.say(step, restore.describe(run.target, volume))
        for line in restore.drop_superseded(pconn, run.target, member=member, server_id=sid,
                                            point_id=pinned[member],
                                            timeout_s=ctx.active_timeout_s):
            run.say(step, line)


def promote(ctx: FailoverContext, run: Run) -> str:
    step = FailoverStep.PROMOTE
    pconn = _pconn(ctx, run, run.target)
    copies = _servers(ctx, run, run.target)
    state = _pinned_points(ctx, run, copies)
    loss = state.get("data_loss_s")
    run.say(step, f"recovery point of {state.get('point_at') or 'none'}"
            + (f"; data-loss window {loss:.0f} s" if loss is not None else ""))
    for _member, sid in sorted(copies.items()):
        for line in cloud.bring_to(pconn, run.target, sid, "ACTIVE",
                                   timeout_s=ctx.active_timeout_s):
            run.say(step, f"{run.target} {line}")
    _restore_volumes(ctx, run, pconn, copies, dict(state.get("restore_points") or {}))
    return run.output(step)


def move_endpoint(ctx: FailoverContext, run: Run) -> str:
    step = FailoverStep.MOVE_ENDPOINT
    pconn = _pconn(ctx, run, run.target)
    moved = {}
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        for member, sid in sorted(_servers(ctx, run, run.target).items()):
            ep = endpoint_of(pconn.compute.get_server(sid), "root")
            repo.set_endpoint(session, host=member, department=run.department,
                              system=run.system, site=run.target, endpoint=ep, at=now)
            moved[member] = [ep.address, ep.port]
            run.say(step, f"{member}: the service endpoint is {run.target} "
                          f"{ep.known_hosts_name}")
        back = run.kind is FailoverKind.FAILBACK
        repo.set_role(session, run.department, run.system, primary=run.target,
                      copy_site=run.source if back else None,
                      state=(RoleState.NORMAL if back else RoleState.FAILED_OVER).value,
                      failover_id=run.id, at=now)
        session.commit()
    update_state(ctx, run.id, endpoints=moved)
    return run.output(step)


def verify(ctx: FailoverContext, run: Run) -> str:
    step = FailoverStep.VERIFY
    state = state_of(read(ctx, run.id)[0])
    manifests: dict[str, list[list[str]]] = state.get("manifest") or {}
    hosts, files = {}, 0
    for member, ep in _endpoints(ctx, run, run.target, step).items():
        mine = manifests.get(member, [])
        files += len(mine)
        hosts[member] = _host(ctx, ep, gc_sums=dr_runs.sums_command(ep.root, mine),
                              gc_expected=dr_runs.expected_sums(mine))
    status, failed, _ = _playbook(ctx, run, "failover_verify", hosts)
    _ran(run, step, status, failed)
    healthy_at = ctx.clock()
    rto = (healthy_at - (aware(run.started_at) or healthy_at)).total_seconds()
    update_state(ctx, run.id, healthy_at=healthy_at.isoformat(), rto_s=rto)
    run.say(step, f"{run.system} answers in {run.target}; {files} files match the "
                  f"recovery point; achieved RTO {rto:.0f} s")
    return run.output(step)
