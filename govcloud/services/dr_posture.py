"""The disaster-recovery posture: every provisioned system judged against its protection plan,
with totals per department, per city and for the province (docs/dr.md).

A *system* is what provisioning built: the department and system of its requests that are
done or being built, at the highest DR level they were placed at, protected since the first
of them was submitted. Its *members* are the servers its requests place in production (name
and flavor; the flavor production now reports, where the inventory has the server). What the
DR sites hold comes from the synced inventory (servers by site, department and name), the
copies' recovery points from the latest-point table, the last drill from the drill records;
``domain.protection.judge`` gives the verdict. Reads only: five queries, however many systems.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Engine

from govcloud.domain.protection import (
    GONE_STATUSES,
    Compliance,
    DrillState,
    DrillStatus,
    Member,
    ObservedServer,
    PlannedCopy,
    ProtectionPlan,
    ProtectionPolicy,
    RecoveryPoint,
    Replication,
    ReplicationCheck,
    StandbyKind,
    Verdict,
    judge,
    synchronous_for,
)
from govcloud.domain.provisioning import CopyKind, SiteTarget, parse_request, plan_servers
from govcloud.domain.recovery import DrillRecord, PointRecord
from govcloud.domain.sites import Site, SiteRole
from govcloud.errors import InvalidInput
from govcloud.store import protection_repo as repo
from govcloud.store.dr_systems_repo import (
    AdoptedSystem,
    CheckRecord,
    SystemRole,
    adopted_systems,
    replication_checks,
    system_roles,
)
from govcloud.store.inventory import department_cities
from govcloud.store.protection_repo import SiteServer, SystemRequest


@dataclass(frozen=True, slots=True)
class SystemPosture:
    """One system's row: its plan (None when none can be made: the verdict says why), its
    members, the latest good recovery point of each copy server, its last drill, the verdict."""

    department: str
    system: str
    city: str | None
    level: int
    plan: ProtectionPlan | None
    members: tuple[Member, ...]
    points: tuple[PointRecord, ...]
    last_drill: DrillRecord | None
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Totals:
    compliant: int = 0
    at_risk: int = 0
    non_compliant: int = 0

    @property
    def systems(self) -> int:
        return self.compliant + self.at_risk + self.non_compliant

    def add(self, status: Compliance) -> Totals:
        if status is Compliance.COMPLIANT:
            return replace(self, compliant=self.compliant + 1)
        if status is Compliance.AT_RISK:
            return replace(self, at_risk=self.at_risk + 1)
        return replace(self, non_compliant=self.non_compliant + 1)


@dataclass(frozen=True, slots=True)
class Posture:
    """The posture at ``at``: every system (by department, then system) and the totals per
    department, per city (departments of no city count only for the province)."""

    at: datetime
    systems: tuple[SystemPosture, ...]
    departments: Mapping[str, Totals]
    cities: Mapping[str, Totals]
    province: Totals


# --- reading what the store knows -----------------------------------------------------------

@dataclass(slots=True)
class _System:
    department: str
    system: str
    level: int
    since: datetime
    members: dict[str, str] = field(default_factory=dict)  # name → planned flavor
    primary: str | None = None
    role: SystemRole | None = None  # set by a failover: the reversed roles once reprotected
    home: SystemRole | None = None  # set by the failback that brought it home


ServerIndex = Mapping[tuple[str, str, str], Sequence[SiteServer]]  # (site, department, name)


def _systems(requests: Sequence[SystemRequest], production: str | None,
             adopted: Sequence[AdoptedSystem] = (),
             roles: Mapping[tuple[str, str], SystemRole] | None = None
             ) -> dict[tuple[str, str], _System]:
    """The systems provisioning requests built, and those adopted from inventory (a system
    both built and adopted is the built one, at the higher level of the two); each with the
    roles a failover gave it."""
    out = _requested(requests, production)
    for a in adopted:
        known = out.get((a.department, a.system))
        if known is None:
            out[(a.department, a.system)] = _System(
                a.department, a.system, a.dr_level, a.adopted_at,
                dict.fromkeys(a.members, ""), production)
        else:
            known.level = max(known.level, a.dr_level)
    for key, role in (roles or {}).items():
        if key in out and role.state != "normal":
            out[key].role = role
        elif key in out:
            out[key].home = role
    return out


def _requested(requests: Sequence[SystemRequest],
               production: str | None) -> dict[tuple[str, str], _System]:
    out: dict[tuple[str, str], _System] = {}
    for r in requests:
        known = out.get((r.department, r.system))
        if known is None:
            known = out[(r.department, r.system)] = _System(r.department, r.system,
                                                            r.dr_level, r.created_at)
        known.level = max(known.level, r.dr_level)
        known.since = min(known.since, r.created_at)
        primary = _primary(r.placement_json) or production
        known.primary = known.primary or primary
        if r.reshapes:  # a scale: the system's members are those of its shape now
            known.members.clear()
        known.members.update(_planned_members(r.spec_json, known.primary))
    return out


def _primary(placement_json: str | None) -> str | None:
    targets = json.loads(placement_json or "{}").get("targets", [])
    return next((str(t["site"]) for t in targets if t.get("kind") == CopyKind.PRIMARY.value),
                None)


def _planned_members(spec_json: str, primary: str | None) -> dict[str, str]:
    """The servers a stored request places in production, by name, with their flavor (none
    when the stored request no longer reads: the verdict then says no members are known)."""
    if primary is None:
        return {}
    try:
        spec = parse_request(json.loads(spec_json))
    except (InvalidInput, ValueError):
        return {}
    return {s.name: s.flavor for s in plan_servers(spec, [SiteTarget(primary,
                                                                     CopyKind.PRIMARY)])}


def _index(servers: Sequence[SiteServer]) -> dict[tuple[str, str, str], list[SiteServer]]:
    out: dict[tuple[str, str, str], list[SiteServer]] = {}
    for s in servers:
        out.setdefault((s.site, s.department, s.name), []).append(s)
    return out


# --- judging one system -----------------------------------------------------------------------

def _members(system: _System, index: ServerIndex) -> tuple[Member, ...]:
    """The planned members, each with the flavor production reports for it (if synced)."""
    out = []
    for name, planned in sorted(system.members.items()):
        seen = [s.flavor for s in index.get((_serving(system), system.department, name), ())
                if s.status not in GONE_STATUSES and s.flavor]
        out.append(Member(name, seen[0] if seen else planned))
    return tuple(out)


def _copy_points(plan: ProtectionPlan, members: Sequence[Member], index: ServerIndex,
                 latest: Mapping[tuple[str, str], PointRecord],
                 reshelved: Mapping[str, datetime] | None = None
                 ) -> tuple[list[RecoveryPoint], list[PointRecord]]:
    """Each copy's recovery point: the oldest of its servers' latest good points (a copy is
    only as fresh as its stalest server); none while a server of it has no good point. Also
    the points themselves. ``reshelved``: a cold copy's points taken before then do not
    count (``_reshelved``)."""
    points, kept = [], []
    for copy in plan.copies:
        per_member: list[datetime] = []
        complete = True
        since = (reshelved or {}).get(copy.site)
        for member in members:
            servers = [s for s in index.get((copy.site, plan.department, member.name), ())
                       if s.status not in GONE_STATUSES]
            held = [p for s in servers if (p := latest.get((copy.site, s.id))) is not None]
            kept.extend(held)
            found = [p for p in held if since is None or p.taken_at >= since]
            if servers and not found:
                complete = False
            elif found:
                per_member.append(max(p.taken_at for p in found))
        if complete and per_member:
            points.append(RecoveryPoint(copy.site, min(per_member)))
    return points, kept


def _serving(system: _System) -> str:
    """The site the system serves from: production, or where a failover moved it."""
    return (system.role.primary if system.role is not None else system.primary) or ""


def _plan(system: _System, policy: ProtectionPolicy, sites: Sequence[Site]) -> ProtectionPlan:
    """The system's plan: its level's; after a failover, the reversed one — the former
    primary kept as a warm copy once reprotected (its servers were stopped), no copy while
    only failed over. InvalidInput when the level's sites are not configured."""
    plan = policy.plan(system.department, system.system, system.level, sites)
    role = system.role
    if role is None:
        return plan
    copies: tuple[PlannedCopy, ...] = ()
    if role.copy_site is not None:
        site_role = next((s.role for s in sites if s.name == role.copy_site),
                         SiteRole.PRODUCTION)
        copies = (PlannedCopy(role.copy_site, site_role, StandbyKind.WARM,
                              synchronous_for(plan.rpo)),)
    return replace(plan, copies=copies)


def _role_finding(system: _System, verdict: Verdict) -> Verdict:
    """A failed-over system that nothing protects yet is non-compliant, and says so."""
    role = system.role
    if role is None or role.copy_site is not None:
        return verdict
    reason = (f"serving from {role.primary} after a failover: no copy protects it until "
              "`govcloud dr reprotect`")
    return replace(verdict, status=Compliance.NON_COMPLIANT,
                   reasons=(reason,) + tuple(r for r in verdict.reasons
                                             if verdict.status is not Compliance.COMPLIANT))


def _reshelved(system: _System, plan: ProtectionPlan) -> dict[str, datetime]:
    """The cold copy a failback shelved again (its site → the failback's start): a point of
    it taken before then names the image Nova deleted when the failover unshelved the copy,
    and the copy's disk holds the data it served since. Only a point recorded by that
    failback (its final cycle's data) or by a later protection cycle counts."""
    home = system.home
    if home is None or home.copy_site is None or home.since is None:
        return {}
    return {c.site: home.since for c in plan.copies
            if c.site == home.copy_site and c.kind is StandbyKind.COLD}


def _reshelved_finding(reshelved: Mapping[str, datetime], points: Sequence[RecoveryPoint],
                       verdict: Verdict) -> Verdict:
    """A cold copy shelved again by a failback with no point since is not protected."""
    have = {p.site for p in points}
    reasons = tuple(f"{site} cold copy shelved again by the failback of "
                    f"{since.isoformat(timespec='seconds')} with no recovery point since: "
                    "unprotected until its next protection cycle (`govcloud dr protect`)"
                    for site, since in sorted(reshelved.items()) if site not in have)
    if not reasons:
        return verdict
    return replace(verdict, status=Compliance.NON_COMPLIANT,
                   reasons=reasons + tuple(r for r in verdict.reasons
                                           if verdict.status is not Compliance.COMPLIANT))


def _checks(plan: ProtectionPlan, members: Sequence[Member], index: ServerIndex,
            checks: Mapping[tuple[str, str], CheckRecord]) -> dict[str, ReplicationCheck]:
    """Each synchronous copy's replication check: ok when the last check of every copy
    server found its volumes replicated (at the oldest of those checks); else what is not."""
    out = {}
    for copy in plan.copies:
        if copy.replication is not Replication.SYNCHRONOUS:
            continue
        found = [checks.get((copy.site, s.id)) for m in members
                 for s in index.get((copy.site, plan.department, m.name), ())
                 if s.status not in GONE_STATUSES]
        known = [c for c in found if c is not None]
        if not known:
            continue
        bad = [c.detail or "check failed" for c in known if not c.ok]
        if len(known) < len(found):
            bad.append(f"{len(found) - len(known)} copy servers not checked yet")
        out[copy.site] = ReplicationCheck(copy.site, not bad,
                                          min(c.checked_at for c in known),
                                          "; ".join(bad)[:500])
    return out


def _no_plan(reason: str) -> Verdict:
    return Verdict(Compliance.NON_COMPLIANT, (reason,), (),
                   DrillStatus(DrillState.NOT_REQUIRED, None))


def _judge(system: _System, *, policy: ProtectionPolicy, sites: Sequence[Site],
           index: ServerIndex, latest: Mapping[tuple[str, str], PointRecord],
           checks: Mapping[tuple[str, str], CheckRecord],
           drill: DrillRecord | None, city: str | None, now: datetime) -> SystemPosture:
    members = _members(system, index)
    try:
        plan = _plan(system, policy, sites)
    except InvalidInput as exc:
        return SystemPosture(system.department, system.system, city, system.level, None,
                             members, (), drill, _no_plan(exc.message))
    observed = [ObservedServer(c.site, m.name, s.status, s.flavor)
                for c in plan.copies for m in members
                for s in index.get((c.site, system.department, m.name), ())]
    reshelved = _reshelved(system, plan)
    points, kept = _copy_points(plan, members, index, latest, reshelved)
    verdict = _reshelved_finding(reshelved, points, _role_finding(system, judge(
        plan, members, observed, points, drill.as_drill() if drill is not None else None,
        now, since=system.since, replication=_checks(plan, members, index, checks))))
    return SystemPosture(system.department, system.system, city, system.level, plan, members,
                         tuple(kept), drill, verdict)


# --- the whole posture --------------------------------------------------------------------------

def dr_posture(engine: Engine, policy: ProtectionPolicy, sites: Sequence[Site], now: datetime,
               *, departments: Sequence[str] | None = None, city: str | None = None,
               cities: Mapping[str, str | None] | None = None,
               past: bool = False) -> Posture:
    """The posture of every system of ``departments`` (None: all), of the departments of
    ``city`` only when it is given. ``cities``: each department's city from the catalogue,
    over what the inventory's project mapping says. ``past``: judged as of ``now``, a moment
    gone, on what the store kept of it — the systems requested before then, the recovery
    points taken and the drills held before then (the points the protection's retention
    kept) — with the servers as the last sync saw them (the inventory keeps no history)."""
    production = next((s.name for s in sites if s.role is SiteRole.PRODUCTION), None)
    with engine.connect() as conn:
        city_of = {**department_cities(conn), **(cities or {})}
        if city is not None:
            wanted = [d for d, c in city_of.items() if c == city]
            departments = [d for d in wanted if departments is None or d in departments]
        before = now if past else None
        requests = repo.system_requests(conn, departments=departments, before=before)
        adopted = adopted_systems(conn, departments=departments)
        roles = system_roles(conn, departments=departments)
        servers = repo.site_servers(conn, [s.name for s in sites], departments=departments)
        latest = {(p.site, p.server_id): p
                  for p in repo.latest_recovery_points(conn, departments=departments,
                                                       before=before)}
        drills = repo.last_drills(conn, departments=departments, before=before)
        checks = {(c.site, c.server_id): c
                  for c in replication_checks(conn, departments=departments)}
    systems, index = _systems(requests, production, adopted, roles), _index(servers)
    rows = tuple(_judge(s, policy=policy, sites=sites, index=index, latest=latest,
                        checks=checks,
                        drill=drills.get(key), city=city_of.get(s.department), now=now)
                 for key, s in sorted(systems.items()))
    return _totals(now, rows)


def _totals(now: datetime, rows: tuple[SystemPosture, ...]) -> Posture:
    per_department: dict[str, Totals] = {}
    per_city: dict[str, Totals] = {}
    province = Totals()
    for row in rows:
        status = row.verdict.status
        per_department[row.department] = per_department.get(row.department, Totals()).add(status)
        if row.city is not None:
            per_city[row.city] = per_city.get(row.city, Totals()).add(status)
        province = province.add(status)
    return Posture(now, rows, dict(sorted(per_department.items())),
                   dict(sorted(per_city.items())), province)



def narrowed(posture: Posture, departments: Sequence[str]) -> Posture:
    """``posture`` with only the systems of ``departments``, and the totals over those (what
    ``dr_posture(departments=...)`` would have judged at the same moment)."""
    wanted = set(departments)
    return _totals(posture.at, tuple(s for s in posture.systems if s.department in wanted))


# --- the copy servers protection cycles keep current --------------------------------------------

@dataclass(frozen=True, slots=True)
class CopyServer:
    """One copy server of a system in a DR site, with the production server (its member) it
    copies: what one protection cycle works on."""

    department: str
    system: str
    site: str
    kind: StandbyKind
    name: str
    server_id: str
    status: str
    production_site: str
    production_id: str
    replication: Replication = Replication.CYCLES  # synchronous: checked, not copied


def system_copies(engine: Engine, policy: ProtectionPolicy, sites: Sequence[Site], *,
                  departments: Sequence[str] | None = None,
                  system: str | None = None) -> list[CopyServer]:
    """Every present copy server of every system (of ``departments``, of ``system`` when
    given) whose member is present in production, as the posture sees them (three queries);
    by department, system, site and name. A system without a plan has no copies here."""
    production = next((s.name for s in sites if s.role is SiteRole.PRODUCTION), None)
    with engine.connect() as conn:
        requests = repo.system_requests(conn, departments=departments)
        adopted = adopted_systems(conn, departments=departments)
        roles = system_roles(conn, departments=departments)
        servers = repo.site_servers(conn, [s.name for s in sites], departments=departments)
    index = _index(servers)
    out: list[CopyServer] = []
    for (department, name), found in sorted(_systems(requests, production, adopted,
                                                     roles).items()):
        if system is not None and name != system:
            continue
        try:
            plan = _plan(found, policy, sites)
        except InvalidInput:
            continue
        for member in found.members:
            prod = [s for s in index.get((_serving(found), department, member), ())
                    if s.status not in GONE_STATUSES]
            if not prod:
                continue
            for copy in plan.copies:
                out.extend(CopyServer(department, name, copy.site, copy.kind, member, s.id,
                                      s.status, prod[0].site, prod[0].id,
                                      copy.replication)
                           for s in index.get((copy.site, department, member), ())
                           if s.status not in GONE_STATUSES)
    return sorted(out, key=lambda c: (c.department, c.system, c.site, c.name, c.server_id))
