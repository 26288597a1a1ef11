"""Migration use cases, before the run: import legacy hosts, trust their keys, serve the dynamic
inventory, survey over SSH, plan waves, sign-offs, readiness and gate overrides.

Every change is audited (target ``department:CODE``). Callers check RBAC (the API's caller is
``services.migration_access``); functions here take the engine and settings they work with
(nothing module-level).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import yaml
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from govcloud.domain.legacy import (
    LegacyHost,
    Survey,
    check_address,
    parse_inventory,
    parse_survey,
    survey_script,
)
from govcloud.domain.limits import text_digest
from govcloud.domain.waves import (
    DEFAULT_GATE,
    Flavor,
    GateResult,
    Headroom,
    Readiness,
    Window,
    entry_gate,
    exit_gate,
    plan_waves,
    readiness,
)
from govcloud.errors import ConflictError, GovCloudError, InvalidInput
from govcloud.settings import Settings
from govcloud.ssh.hosts import HostKeyChanged, KnownHosts, connect, run, scan, trust
from govcloud.store import migration as repo
from govcloud.store import provisioning as provision_store
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.inventory import aware
from govcloud.store.tables import QuotaUsageRow, utcnow
from govcloud.yamlfile import plain, safe_load

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
WINDOW_HOURS = 4.0
THROUGHPUT_MB_S = 100.0


def known_hosts(settings: Settings) -> KnownHosts:
    return KnownHosts(settings.migrate_path() / "known_hosts")


def _audit(session: Session, actor: str, action: str, department: str,
           after: Mapping[str, Any], clock: Clock) -> None:
    AuditLog(session=session, clock=clock).append(actor=actor, action=action,
                                                  target=f"department:{department}",
                                                  after=dict(after))


# --- hosts -------------------------------------------------------------------------------------

def parse_inventory_text(text: str, *, where: str) -> list[LegacyHost]:
    try:  # a host given twice is an error, not "the last one wins"
        data = safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{where}: not YAML: {' '.join(str(exc).split())}",
                           hint="fix the syntax; see docs/migration.md") from None
    plain(data, what=where)
    return parse_inventory(data, where=where)


def import_hosts(engine: Engine, hosts: Sequence[LegacyHost], *, actor: str,
                 clock: Clock = utcnow) -> dict[str, Any]:
    """Store ``hosts`` (all or nothing) and audit the import per department."""
    with write_session(engine) as session:
        created, updated = repo.upsert_hosts(session, hosts)
        for dept in sorted({h.department for h in hosts}):
            names = sorted(h.name for h in hosts if h.department == dept)
            _audit(session, actor, "hosts.import", dept,
                   {"hosts": names, "created": created, "updated": updated}, clock)
        session.commit()
    return {"hosts": len(hosts), "created": created, "updated": updated,
            "departments": sorted({h.department for h in hosts})}


def host_key(engine: Engine, settings: Settings, name: str) -> dict[str, Any]:
    """The key a host presents now, and what is recorded for it."""
    with Session(engine) as session:
        host = repo.get_host(session, name)
    presented = scan(host.endpoint, timeout=settings.ssh_timeout_s)
    recorded = known_hosts(settings).recorded(host.endpoint)
    return {"host": name, "address": host.endpoint.known_hosts_name,
            "key_type": presented.key_type, "fingerprint": presented.fingerprint,
            "recorded": [k.fingerprint for k in recorded],
            "changed": bool(recorded) and presented.fingerprint not in
            {k.fingerprint for k in recorded}}


def trust_host(engine: Engine, settings: Settings, name: str, *, fingerprint: str,
               replace: bool, actor: str, clock: Clock = utcnow) -> dict[str, Any]:
    """Record the host's key, which must have ``fingerprint`` (what the person confirmed)."""
    with Session(engine) as session:
        host = repo.get_host(session, name)
    key = trust(known_hosts(settings), host.endpoint, expected=fingerprint, replace=replace,
                timeout=settings.ssh_timeout_s)
    with write_session(engine) as session:
        _audit(session, actor, "hosts.trust", host.department,
               {"host": name, "address": key.name, "fingerprint": key.fingerprint,
                "replace": replace}, clock)
        session.commit()
    return {"host": name, "address": key.name, "fingerprint": key.fingerprint}


def list_hosts(engine: Engine, *, department: str | None,
               departments: Sequence[str] | None) -> list[dict[str, Any]]:
    with Session(engine) as session:
        hosts = repo.list_hosts(session, department=department, departments=departments)
        found = repo.surveys(session, [h.name for h in hosts])
        placed = {h.name: repo.wave_of_host(session, h.name) for h in hosts}
    out = []
    for h in hosts:
        survey = found.get(h.name)
        wave = placed.get(h.name)
        out.append({**h.to_dict(), "surveyed_at": survey[1].isoformat() if survey else None,
                    "reachable": survey[0].reachable if survey else None,
                    "wave": wave.wave if wave else None, "live": wave.live if wave else None})
    return out


# --- the dynamic inventory ---------------------------------------------------------------------

def _group(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _reach(endpoint: str | None) -> dict[str, Any]:
    """``ansible_host`` (and ``ansible_port``) from a server's SSH endpoint, when it is a
    valid address (it comes from the cloud: a server's metadata is its owner's to set)."""
    if not endpoint:
        return {}
    address, sep, port = endpoint.rpartition(":")
    if not (sep and port.isdigit() and "." in address):
        address, port = endpoint, ""
    try:
        check_address(address, "server", "address")
    except InvalidInput:
        return {}
    return {"ansible_host": address, **({"ansible_port": int(port)} if port else {})}


def dynamic_inventory(engine: Engine, settings: Settings, *,
                      departments: Sequence[str] | None) -> dict[str, Any]:
    """Ansible's JSON inventory: the legacy hosts, every server of the provisioned systems
    (each site, with its DR role: primary, standby or cold), and migration targets declared
    in an inventory — grouped by department, site, system, DR role and wave."""
    groups: dict[str, set[str]] = {}
    hostvars: dict[str, dict[str, Any]] = {}

    def add(host: str, *names: str) -> None:
        for n in names:
            groups.setdefault(_group(n), set()).add(host)

    migrated: dict[str, tuple[str, str]] = {}  # server id → (legacy host, wave)
    with Session(engine) as session:
        hosts = repo.list_hosts(session, departments=departments)
        for h in hosts:
            ep = h.endpoint
            hostvars[h.name] = {
                "ansible_host": ep.address, "ansible_port": ep.port, "ansible_user": ep.user,
                "govcloud_department": h.department, "govcloud_system": h.system,
                "govcloud_data_paths": list(h.data_paths), "govcloud_root": ep.root,
                "govcloud_kind": "legacy"}
            add(h.name, "legacy", f"dept_{h.department}", "site_legacy", f"system_{h.system}")
            wh = repo.wave_of_host(session, h.name)
            if wh is None:
                continue
            add(h.name, f"wave_{wh.wave}")
            target = repo.target_of(wh)
            if target is None:
                continue
            if repo.request_of(wh) is not None:  # provisioned: listed with its system below
                for sid in (wh.target_server, *(c.server for c in repo.copies_of(wh))):
                    if sid:
                        migrated[sid] = (h.name, wh.wave)
                continue
            name = f"{h.name}-target"
            hostvars[name] = {"ansible_host": target.address, "ansible_port": target.port,
                              "ansible_user": target.user, "govcloud_root": target.root,
                              "govcloud_department": h.department,
                              "govcloud_system": h.system, "govcloud_kind": "declared",
                              "govcloud_migrated_from": h.name}
            add(name, "cloud", f"dept_{h.department}", "site_PROD", f"system_{h.system}",
                f"wave_{wh.wave}")
        servers = provision_store.provisioned_servers(session, departments=departments)
    for s in servers:
        if s["deleted_at"] is not None:
            continue  # the snapshot saw it go
        placement = json.loads(s["placement_json"] or "{}")
        role = {t["site"]: t["kind"] for t in placement.get("targets") or ()}.get(s["site"],
                                                                                 "copy")
        name = f"{s['name']}.{s['site'].lower()}"
        hostvars[name] = {**_reach(s["ssh_endpoint"]), "govcloud_kind": "cloud",
                          "govcloud_department": s["department"],
                          "govcloud_system": s["system"], "govcloud_site": s["site"],
                          "govcloud_dr_role": role, "govcloud_dr_level": s["dr_level"],
                          "govcloud_server_id": s["server_id"],
                          "govcloud_request": s["request"], "govcloud_status": s["status"]}
        add(name, "cloud", f"dept_{s['department']}", f"site_{s['site']}",
            f"system_{s['system']}", f"dr_{role}")
        if s["server_id"] in migrated:
            legacy, wave = migrated[s["server_id"]]
            hostvars[name]["govcloud_migrated_from"] = legacy
            add(name, f"wave_{wave}")
    out: dict[str, Any] = {"_meta": {"hostvars": hostvars},
                           "all": {"children": sorted(groups)}}
    for g, members in sorted(groups.items()):
        out[g] = {"hosts": sorted(members)}
    return out


# --- survey ------------------------------------------------------------------------------------

def _survey_one(host: LegacyHost, settings: Settings, known: KnownHosts) -> Survey:
    try:
        with connect(host.endpoint, known=known, key_file=settings.ssh_key,
                     timeout=settings.ssh_timeout_s) as client:
            status, out = run(client, survey_script(host.data_paths, host.endpoint.root),
                              timeout=max(60.0, settings.ssh_timeout_s))
        if status not in (0, 1):
            log.info("survey of %s exited %s", host.name, status)
        return parse_survey(out, address=host.endpoint.address, data_paths=host.data_paths,
                            root=host.endpoint.root)
    except HostKeyChanged:
        raise
    except GovCloudError as exc:
        return Survey(reachable=False, error=exc.message)


def check_keys(hosts: Sequence[LegacyHost], settings: Settings) -> None:
    """Stop before anything runs when any reachable host presents a changed key."""
    known = known_hosts(settings)

    def one(h: LegacyHost) -> None:
        if not known.recorded(h.endpoint):
            return
        try:
            presented = scan(h.endpoint, timeout=settings.ssh_timeout_s)
        except GovCloudError:
            return  # unreachable: the survey records it
        known.check(h.endpoint, presented)

    with ThreadPoolExecutor(max_workers=settings.migrate_concurrency) as pool:
        for result in [pool.submit(one, h) for h in hosts]:
            result.result()


def survey(engine: Engine, settings: Settings, *, department: str, actor: str,
           hosts: Sequence[str] | None = None, clock: Clock = utcnow) -> dict[str, Any]:
    """Survey the department's hosts (concurrently, with timeouts); unreachable ones are
    recorded as such. A changed host key anywhere stops the survey before any host is read."""
    with Session(engine) as session:
        chosen = [h for h in repo.list_hosts(session, department=department)
                  if hosts is None or h.name in hosts]
    if not chosen:
        raise InvalidInput(f"{department} has no legacy hosts to survey",
                           hint="`govcloud hosts import inventory/legacy/<department>.yaml`")
    check_keys(chosen, settings)
    known = known_hosts(settings)
    with ThreadPoolExecutor(max_workers=settings.migrate_concurrency) as pool:
        results = list(pool.map(lambda h: _survey_one(h, settings, known), chosen))
    at = clock()
    with write_session(engine) as session:
        for h, s in zip(chosen, results, strict=True):
            repo.save_survey(session, h.name, s, at)
        _audit(session, actor, "migrate.survey", department,
               {"hosts": len(chosen), "unreachable": sorted(
                   h.name for h, s in zip(chosen, results, strict=True) if not s.reachable)},
               clock)
        session.commit()
    return {"department": department, "at": at.isoformat(),
            "hosts": [{"host": h.name, **s.to_dict()}
                      for h, s in zip(chosen, results, strict=True)]}


# --- plan, readiness, gates --------------------------------------------------------------------

def _levels(hosts: Sequence[LegacyHost], dept_level: int | None) -> dict[str, int]:
    return {h.name: h.dr_level or dept_level or 1 for h in hosts}


def plan(engine: Engine, *, department: str, dept_level: int | None, actor: str,
         first_window: datetime, window_hours: float = WINDOW_HOURS, every_days: int = 7,
         max_hosts: int = 10, clock: Clock = utcnow) -> list[dict[str, Any]]:
    with write_session(engine) as session:
        hosts = repo.list_hosts(session, department=department)
        found = {k: v[0] for k, v in repo.surveys(session, [h.name for h in hosts]).items()}
        planned = plan_waves(hosts, found, dr_levels=_levels(hosts, dept_level),
                             first_window=first_window, window_hours=window_hours,
                             every_days=every_days, max_hosts=max_hosts,
                             throughput_mb_s=THROUGHPUT_MB_S)
        repo.replace_plan(session, department, planned)
        _audit(session, actor, "migrate.plan", department,
               {"waves": [{"wave": f"{department}-{p.name}", "hosts": list(p.hosts),
                           "rehearsal": p.rehearsal} for p in planned]}, clock)
        session.commit()
    return [{"wave": f"{department}-{p.name}", "number": p.number, "hosts": list(p.hosts),
             "rehearsal": p.rehearsal, "dr_level": p.dr_level, "data_bytes": p.data_bytes,
             "window": p.window.to_dict(), "groups": [list(g) for g in p.groups]}
            for p in planned]


def default_first_window(now: datetime) -> datetime:
    """Next Saturday 01:00 UTC (at least a day away)."""
    day = (now + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    return day + timedelta(days=(5 - day.weekday()) % 7)


def flavors_of(conn: Any) -> list[Flavor]:
    """The flavors a site offers (an openstacksdk connection)."""
    return [Flavor(str(f.name), int(f.vcpus), int(f.ram), int(f.disk or 0))
            for f in conn.compute.flavors(details=True)]


def headroom(session: Session, department: str) -> dict[str, Headroom]:
    free: dict[str, dict[str, int]] = {}
    rows = session.execute(select(QuotaUsageRow).where(
        col(QuotaUsageRow.department) == department)).scalars()
    for r in rows:
        left = 10**9 if r.limit < 0 else r.limit - r.in_use
        free.setdefault(r.site, {})[r.resource] = left
    return {site: Headroom(v.get("cores", 0), v.get("ram", 0), v.get("instances", 0))
            for site, v in free.items()}


def wave_readiness(session: Session, wave_id: str, *, flavors: Sequence[Flavor],
                   dept_level: int | None) -> dict[str, Readiness]:
    wave = repo.get_wave(session, wave_id)
    names = [r.host for r in repo.wave_hosts(session, wave_id)]
    hosts = [repo.get_host(session, n) for n in names]
    found = {k: v[0] for k, v in repo.surveys(session, names).items()}
    room = headroom(session, wave.department)
    signed = repo.signoff(session, wave.department) is not None
    rehearsed = wave.rehearsal or any(
        w.rehearsal and w.rolled_back_at is not None
        for w in repo.waves(session, department=wave.department))
    window_h = (wave.window_end - wave.window_start).total_seconds() / 3600
    levels = _levels(hosts, dept_level)
    return {h.name: readiness(h, found.get(h.name), dr_level=levels[h.name], flavors=flavors,
                              headroom=room, window_hours=window_h,
                              throughput_mb_s=THROUGHPUT_MB_S, signed_off=signed,
                              rollback_rehearsed=rehearsed) for h in hosts}


def gates(session: Session, wave_id: str, scores: Mapping[str, Readiness],
          gate: int = DEFAULT_GATE) -> tuple[GateResult, GateResult]:
    wave = repo.get_wave(session, wave_id)
    earlier = [w for w in repo.waves(session, department=wave.department)
               if w.number < wave.number]
    previous_done = all(w.status == "done" or (w.rehearsal and w.rolled_back_at is not None)
                        for w in earlier)
    return (entry_gate(scores, gate=gate, previous_done=previous_done,
                       overridden=wave.override_by is not None),
            exit_gate(repo.step_statuses(session, wave_id)))


def check_window(session: Session, wave_id: str, *, now: datetime,
                 outside_window: bool = False, reason: str | None = None) -> dict[str, Any] | None:
    """A wave runs only in its planned maintenance window. Outside it, the run is refused
    unless ``outside_window`` with a ``reason``: then the override to audit (the caller
    checks ``migration.override`` and audits it once the run is under way)."""
    wave = repo.get_wave(session, wave_id)
    start, end = aware(wave.window_start), aware(wave.window_end)
    assert start is not None and end is not None
    why = Window(start, end).outside(now)
    if why is None:
        return None
    if not outside_window:
        raise ConflictError(f"{wave_id} may not run now: {why}; nothing was run",
                            hint=f"wait for the window, re-plan the wave, or run it outside "
                                 f"its window on purpose: `govcloud migrate run {wave_id} "
                                 "--outside-window --reason '...'` (audited)")
    if not (reason or "").strip():
        raise InvalidInput("running outside the maintenance window needs a reason",
                           hint="--outside-window --reason 'why it is safe now'")
    if len(reason or "") > 500 or any(ord(c) < 32 or ord(c) == 127 for c in reason or ""):
        raise InvalidInput("the reason must be one line of at most 500 characters",
                           hint="--reason 'why it is safe now'")
    return {"wave": wave_id, "window": Window(start, end).to_dict(), "at": now.isoformat(),
            "reason": (reason or "").strip()}


def set_signoff(engine: Engine, *, department: str, actor: str, note: str | None,
                clock: Clock = utcnow) -> None:
    with write_session(engine) as session:
        repo.set_signoff(session, department, actor, note)
        _audit(session, actor, "migrate.signoff", department, {"note": text_digest(note)},
               clock)
        session.commit()


def override(engine: Engine, *, wave_id: str, actor: str, reason: str,
             clock: Clock = utcnow) -> None:
    """A bureau-admin lets a wave start below the readiness gate (audited with the reason)."""
    if not reason.strip():
        raise InvalidInput("an override needs a reason", hint="--reason 'why it is safe'")
    with write_session(engine) as session:
        wave = repo.get_wave(session, wave_id)
        wave.override_by, wave.override_reason = actor, reason
        session.add(wave)
        _audit(session, actor, "migrate.override", wave.department,
               {"wave": wave_id, "reason": text_digest(reason)}, clock)
        session.commit()


def audit_event(engine: Engine, *, actor: str, action: str, department: str,
                after: Mapping[str, Any], clock: Clock = utcnow) -> None:
    with write_session(engine) as session:
        _audit(session, actor, action, department, after, clock)
        session.commit()
