"""The steps of a DR drill (``services.drill_run`` runs them in order): each reads what the
earlier ones stored in the drill's state, does its part in the clouds through
``govcloud.cloud.drill``, stores what it saw or made and returns its output. A step that
cannot do its part raises a govcloud error (the step is then recorded as failed)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from govcloud.cloud import drill as cloud
from govcloud.cloud.provision import wait_active
from govcloud.domain.drills import NO_ARTIFACT_HINT, DrillStep, not_drillable, resource_name
from govcloud.domain.legacy import Endpoint
from govcloud.domain.protection import GONE_STATUSES
from govcloud.domain.recovery import ArtifactKind
from govcloud.domain.sites import SiteRole
from govcloud.errors import GovCloudError, PermanentError
from govcloud.services import dr_keys, dr_runs
from govcloud.services.dr_posture import SystemPosture, dr_posture
from govcloud.services.drill_state import DrillContext, read, state_of, update_state
from govcloud.services.migration import known_hosts
from govcloud.services.migration_commands import endpoint_of
from govcloud.services.protection_restore import restore_point
from govcloud.store import protection_repo


@dataclass
class Run(dr_runs.StepRun):
    """The drill a run works on, and the connections it made (per site)."""

    system: str | None
    site: str


_conn, _project, _pconn = dr_runs.site_conn, dr_runs.department_project, dr_runs.project_conn


def _production(ctx: DrillContext) -> str:
    prod = next((s.name for s in ctx.sites if s.role is SiteRole.PRODUCTION), None)
    if prod is None:
        raise PermanentError("no production site is configured")
    return prod


# --- snapshot production ------------------------------------------------------------------------

def _systems(ctx: DrillContext, run: Run) -> list[SystemPosture]:
    posture = dr_posture(ctx.engine, ctx.policy, ctx.sites, ctx.clock(),
                         departments=[run.department])
    rows = [s for s in posture.systems if run.system in (None, s.system)]
    if not rows:
        what = f"system {run.system} of {run.department}" if run.system \
            else f"any system of {run.department}"
        raise PermanentError(f"there is no protected {what}",
                             hint="systems come from provisioning requests "
                                  "(`govcloud dr posture --department D`)")
    return rows


def _copy_servers(ctx: DrillContext, run: Run, row: SystemPosture) -> tuple[
        list[dict[str, Any]], list[str], list[str]]:
    """Each member's copy in the drill's site and the image of its latest good point; what
    keeps the others from being brought up, and the hints for it."""
    with ctx.engine.connect() as conn:
        present = {s.name: s for s in protection_repo.site_servers(
            conn, [run.site], departments=[run.department]) if s.status not in GONE_STATUSES}
        latest = {p.server_id: p for p in row.points if p.site == run.site}
        servers, problems, hints = [], [], []
        for member in row.members:
            copy = present.get(member.name)
            point = latest.get(copy.id) if copy is not None else None
            whole = protection_repo.recovery_point(conn, point.id) \
                if point is not None and point.id is not None else None
            held = [a for a in (whole.artifacts if whole else ()) if a.site == run.site]
            image = next((a.id for a in held if a.kind is ArtifactKind.IMAGE), None)
            # Cinder backups in the DR site: restored into new volumes (the RTO counts it)
            backups = [a.id for a in held if a.kind is ArtifactKind.BACKUP]
            if copy is None:
                problems.append(f"{member.name}: no copy in {run.site}")
            elif whole is None:
                problems.append(f"{member.name}: its copy has no good recovery point")
            elif image is None and not backups:
                reason, hint = not_drillable(member.name, whole, run.site)
                problems.append(reason)
                hints.append(hint)
            else:
                servers.append({"member": member.name, "copy": copy.id,
                                "flavor": copy.flavor or member.flavor, "point": whole.id,
                                "point_at": whole.taken_at.isoformat(), "image": image,
                                "backups": backups,
                                "manifest": [list(e) for e in whole.manifest]})
    return servers, problems, hints


def snapshot_prod(ctx: DrillContext, run: Run) -> str:
    step = DrillStep.SNAPSHOT_PROD
    prod = _production(ctx)
    systems: list[dict[str, Any]] = []
    names: list[str] = []
    hints: list[str] = []
    for row in _systems(ctx, run):
        servers, problems, more = _copy_servers(ctx, run, row)
        hints += more
        points = [s["point_at"] for s in servers]
        systems.append({"system": row.system, "servers": servers, "problems": problems,
                        "point_at": min(points) if points else None,
                        "target_rpo_s": row.plan.rpo.total_seconds() if row.plan else None,
                        "target_rto_s": row.plan.rto.total_seconds() if row.plan else None})
        names += [m.name for m in row.members]
        run.say(step, f"{row.system}: {len(row.members)} members, {len(servers)} copies to "
                      f"bring up in {run.site}" + "".join(f"; {p}" for p in problems))
    before = cloud.prod_servers(_conn(ctx, prod), prod, _project(ctx, run.department, prod),
                                names)
    for s in before:
        run.say(step, f"{prod} {s.name} ({s.id}): {s.status}, {s.flavor}, "
                      f"{' '.join(s.addresses) or 'no address'}")
    update_state(ctx, run.id, systems=systems, prod_site=prod,
                 prod_before=[s.as_json() for s in before])
    if not any(s["servers"] for s in systems):
        problems = [p for s in systems for p in s["problems"]]
        raise PermanentError(f"nothing to bring up in {run.site}: " + "; ".join(problems),
                             hint=hints[0] if hints else NO_ARTIFACT_HINT)
    return run.output(step)


# --- the isolated network, the servers ----------------------------------------------------------

def isolated_network(ctx: DrillContext, run: Run) -> str:
    name = resource_name(run.id, "net")
    net, subnet = cloud.isolated_network(_pconn(ctx, run, run.site), run.site, name, run.id)
    update_state(ctx, run.id, network=net, subnet=subnet)
    return f"{run.site}: network {name} ({net}), subnet {subnet}, no router"


def bring_up(ctx: DrillContext, run: Run) -> str:
    step = DrillStep.BRING_UP
    pconn = _pconn(ctx, run, run.site)
    state = state_of(read(ctx, run.id)[0])
    booted: dict[str, str] = dict(state.get("booted", {}))
    for system in state.get("systems", []):
        for s in system["servers"]:
            name = resource_name(run.id, s["member"])
            if s.get("backups"):
                booted[s["member"]] = _restore(ctx, run, pconn, s, name, state["network"])
                update_state(ctx, run.id, booted=booted)
                continue
            booted[s["member"]] = cloud.boot_from_image(
                pconn, run.site, name=name, image_id=s["image"], flavor=s["flavor"],
                network_id=state["network"],
                metadata={"govcloud_drill": str(run.id), "department": run.department,
                          "system": system["system"]})
            update_state(ctx, run.id, booted=booted)
            run.say(step, f"{name} ({booted[s['member']]}) from image {s['image']} "
                          f"(recovery point {s['point']} of {s['point_at']})")
    for member, sid in sorted(booted.items()):
        wait_active(pconn, run.site, sid, timeout_s=ctx.active_timeout_s)
        run.say(step, f"{member}: ACTIVE")
    return run.output(step)


def _restore(ctx: DrillContext, run: Run, pconn: Any, s: Mapping[str, Any], name: str,
             network: str) -> str:
    """A server ``name`` brought up from the recovery point's Cinder backups in the drill's
    site (``services.protection_restore``: the backups restored into new volumes named from
    ``name``, booted from the bootable one, else from the point's image or the copy's own
    image, the others attached); found again by name when an earlier attempt made it."""
    step = DrillStep.BRING_UP
    existing = [x for x in pconn.compute.servers(name=f"^{name}$") if x.name == name]
    if existing:
        return str(existing[0].id)
    with ctx.engine.connect() as conn:
        point = protection_repo.recovery_point(conn, int(s["point"]))
    if point is None:
        raise PermanentError(f"recovery point {s['point']} is gone",
                             hint="plan a new drill: it takes the copy's latest point")
    copy_image = s.get("image") or _image_of(pconn, run.site, str(s["copy"]))
    restored = restore_point(pconn, run.site, point, name=name, flavor=str(s["flavor"]),
                             network_id=network, image_id=copy_image, tag=name,
                             timeout_s=ctx.active_timeout_s)
    if restored.server_id is None:
        raise PermanentError(f"{name}: recovery point {s['point']}'s backups hold no bootable "
                             "volume, and there is no image to boot from",
                             hint="protect the copy again, or drill from its image")
    run.say(step, f"{name} ({restored.server_id}) restored from {len(s['backups'])} "
                  f"backups ({', '.join(s['backups'])}) into volumes "
                  f"{', '.join(restored.volumes)}, booted from {restored.boot} (recovery point "
                  f"{s['point']} of {s['point_at']})")
    return restored.server_id


def _image_of(pconn: Any, site: str, server_id: str) -> str | None:
    """The image a copy server boots from (a cold copy's shelved image), if any."""
    with contextlib.suppress(GovCloudError):
        image = getattr(cloud.get_server(pconn, site, server_id), "image", None)
        found = image.get("id") if isinstance(image, Mapping) else getattr(image, "id", None)
        return str(found) if found else None
    return None


# --- health check -------------------------------------------------------------------------------

def _trusted(ctx: DrillContext, run: Run, ep: Endpoint, pconn: Any, server_id: str) -> str:
    """A drill's server is new: its key must be one its console log shows (``dr_keys``;
    a key recorded for its address before gives way), forgotten at teardown."""
    check = dr_keys.KeyCheck(ctx.settings, ctx.engine, f"drill {run.id}", ctx.clock)
    pinned = dr_keys.pin_server(check, ep, dr_keys.CloudServer(pconn, run.site, server_id),
                                fresh=True)
    return f"{pinned.key.fingerprint} (from {pinned.source})"


def _host(ctx: DrillContext, ep: Endpoint, manifest: Sequence[Sequence[str]]) -> dict[str, Any]:
    return dr_runs.host_vars(ctx, ep, gc_sums=dr_runs.sums_command(ep.root, manifest),
                             gc_expected=dr_runs.expected_sums(manifest))


def _playbook(ctx: DrillContext, run: Run, hosts: Mapping[str, dict[str, Any]]
              ) -> tuple[str, dict[str, str], dict[str, str]]:
    """The health-check playbook over the drill's servers: (status, per-host failure,
    per-host checksum output)."""
    return dr_runs.playbook(ctx, "drills", run.id, "drill_health", "health", "drill", hosts)


def _compare(system: Mapping[str, Any], sums: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for s in system["servers"]:
        seen = {}
        for line in sums.get(s["member"], "").splitlines():
            digest, _, path = line.strip().partition("  ")
            if len(digest) == 64:
                seen["/" + path.lstrip("/")] = "sha256:" + digest
        for path, expected in s["manifest"]:
            out.append({"system": system["system"], "server": s["member"], "path": path,
                        "expected": expected, "actual": seen.get("/" + path.lstrip("/"))})
    return out


def health_check(ctx: DrillContext, run: Run) -> str:
    step = DrillStep.HEALTH_CHECK
    pconn = _pconn(ctx, run, run.site)
    state = state_of(read(ctx, run.id)[0])
    booted = state.get("booted", {})
    hosts, endpoints = {}, []
    for system in state.get("systems", []):
        for s in system["servers"]:
            server = cloud.get_server(pconn, run.site, booted[s["member"]])
            ep = endpoint_of(server, "root")
            endpoints.append([ep.address, ep.port])
            update_state(ctx, run.id, endpoints=endpoints)
            key = _trusted(ctx, run, ep, pconn, booted[s["member"]])
            run.say(step, f"{s['member']}: {ep.known_hosts_name} key {key}")
            hosts[s["member"]] = _host(ctx, ep, s["manifest"])
    status, failed, sums = _playbook(ctx, run, hosts)
    checks, healthy = [], {}
    for system in state.get("systems", []):
        mine = _compare(system, sums)
        checks += mine
        members = [s["member"] for s in system["servers"]]
        healthy[system["system"]] = bool(members) and not system["problems"] and \
            not any(m in failed for m in members) and all(c["actual"] == c["expected"]
                                                          for c in mine)
    matched = sum(1 for c in checks if c["actual"] == c["expected"])
    update_state(ctx, run.id, health={"healthy": healthy, "checksums": checks,
                                      "healthy_at": ctx.clock().isoformat(),
                                      "playbook": status})
    run.say(step, f"playbook {status}; {matched} of {len(checks)} checksums match the "
                  "recovery points' manifests")
    for host, why in sorted(failed.items()):
        run.say(step, f"{host}: {why}")
    if not all(healthy.values()):
        bad = sorted(s for s, ok in healthy.items() if not ok)
        raise PermanentError(f"not healthy: {', '.join(bad)}")
    return run.output(step)


# --- teardown, leftovers, production ------------------------------------------------------------

def teardown(ctx: DrillContext, run: Run) -> str:
    step = DrillStep.TEARDOWN
    state = state_of(read(ctx, run.id)[0])
    deleted: list[str] = list(state.get("deleted", []))
    errors = []
    for site, conn in ctx.connections().items():
        try:
            lines = cloud.delete_made(conn, site, run.id)
        except GovCloudError as exc:
            errors.append(exc.message)
            continue
        deleted += lines
        for line in lines:
            run.say(step, line)
    known = known_hosts(ctx.settings)
    for address, port in state.get("endpoints", []):
        known.forget(Endpoint(address, int(port)))
    update_state(ctx, run.id, deleted=deleted)
    if errors:
        raise PermanentError("; ".join(errors),
                             hint="clean up again when the site answers: "
                                  f"`govcloud dr drill cleanup {run.id}`")
    return run.output(step) or "nothing of the drill to delete"


def verify_leftovers(ctx: DrillContext, run: Run) -> str:
    left: list[str] = []
    for site, conn in ctx.connections().items():
        try:
            left += cloud.made(conn, site, run.id).lines()
        except GovCloudError as exc:  # a region that does not answer proves nothing
            left.append(f"{site}: not checked: {exc.message}")
    update_state(ctx, run.id, leftovers=left)
    regions = ", ".join(ctx.connections())
    if left:
        raise PermanentError(f"left behind: {'; '.join(left[:10])}",
                             hint=f"`govcloud dr drill cleanup {run.id}`")
    return (f"no server, port, subnet, network, volume or snapshot of drill {run.id} in "
            f"{regions}")


def _changes(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
             ) -> list[str]:
    was = {s["id"]: s for s in before}
    now = {s["id"]: s for s in after}
    out = [f"{was[i]['name']} ({i}) is gone" for i in sorted(set(was) - set(now))]
    out += [f"{now[i]['name']} ({i}) appeared" for i in sorted(set(now) - set(was))]
    for i in sorted(set(was) & set(now)):
        for key in ("status", "flavor", "addresses"):
            if was[i][key] != now[i][key]:
                out.append(f"{now[i]['name']} ({i}): {key} {json.dumps(was[i][key])} → "
                           f"{json.dumps(now[i][key])}")
    return out


def compare_prod(ctx: DrillContext, run: Run) -> str:
    state = state_of(read(ctx, run.id)[0])
    if "prod_before" not in state:
        update_state(ctx, run.id, prod_changes=None)
        return "production was not read before (the first step did not finish)"
    prod = state["prod_site"]
    names = sorted({s["name"] for s in state["prod_before"]}
                   | {s["member"] for x in state.get("systems", []) for s in x["servers"]})
    after = cloud.prod_servers(_conn(ctx, prod), prod, _project(ctx, run.department, prod),
                               names)
    changes = _changes(state["prod_before"], [s.as_json() for s in after])
    update_state(ctx, run.id, prod_after=[s.as_json() for s in after], prod_changes=changes)
    if changes:
        raise PermanentError("production changed during the drill (flagged): "
                             + "; ".join(changes[:10]))
    return f"{prod}: {len(after)} servers unchanged (status, flavor, addresses)"
