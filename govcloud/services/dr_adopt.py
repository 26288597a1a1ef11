"""Adopting a system from inventory for DR protection (docs/dr.md, "Adopted systems"):
servers running in production that no provisioning request made — a system that predates
govcloud — are named as one system's members; the system is then protected at its
department's DR level (or a higher one asked for) like a provisioned one: the posture judges
its copies in the DR sites (absent ones reported *missing*), the protection worker keeps
those present current, drills and failovers find it.

The adoption is recorded in ``dr_adopted_system`` (revision 0029) and audited
(``dr.adopt``). Adopting again replaces the members (a server added or retired).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from govcloud.domain.protection import GONE_STATUSES
from govcloud.domain.rbac import Principal
from govcloud.domain.sites import Site, SiteRole
from govcloud.domain.text import check_identifier
from govcloud.errors import ConflictError, InvalidInput, NotFound
from govcloud.services.migration import audit_event
from govcloud.store import protection_repo as repo
from govcloud.store.dr_systems_repo import AdoptedSystem, adopted_systems, put_adopted
from govcloud.store.engine import write_begin

MAX_MEMBERS = 200
MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class Adopted:
    system: AdoptedSystem
    site: str  # the production site the members were found in
    replaced: bool  # the system was adopted before: its members were replaced


def _names(servers: Sequence[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(s.strip() for s in servers))
    if not names or len(names) > MAX_MEMBERS:
        raise InvalidInput(f"an adopted system has 1 to {MAX_MEMBERS} servers, not "
                           f"{len(names)}", hint="name each production server with --member")
    for n in names:
        if not n or len(n) > MAX_NAME or not n.isprintable():
            raise InvalidInput(f"{n[:60]!r} is not a server name",
                               hint=f"a printable name of 1 to {MAX_NAME} characters")
    return names


def adopt_system(engine: Engine, principal: Principal, sites: Sequence[Site], *,
                 department: str, department_level: int, system: str,
                 servers: Sequence[str], level: int | None, now: datetime) -> Adopted:
    """Adopt ``servers`` (names, in production, of ``department``) as ``system``, at
    ``level`` (None: the department's; never lower than it)."""
    check_identifier(department, "department")
    check_identifier(system, "system")
    if len(system) > 128:
        raise InvalidInput("a system name has at most 128 characters", hint="shorten it")
    names = _names(servers)
    wanted = department_level if level is None else level
    if not 1 <= wanted <= 6:
        raise InvalidInput(f"{wanted} is not a DR level", hint="DR levels are 1–6 (GB/T 20988)")
    if wanted < department_level:
        raise InvalidInput(f"DR level {wanted} is lower than department {department}'s "
                           f"{department_level}",
                           hint="a system may be raised above its department's level, never "
                                "lowered; leave --level out to use the department's")
    production = next((s.name for s in sites if s.role is SiteRole.PRODUCTION), None)
    if production is None:
        raise InvalidInput("no production site is configured", hint="configure the sites")
    with write_begin(engine) as conn:
        built = {r.system for r in repo.system_requests(conn, departments=[department])}
        if system in built:
            raise ConflictError(f"{department}/{system} was built by a provisioning request: it is "
                           "protected already", hint="adopt servers no request made, under "
                                                     "another system name")
        present = {s.name for s in repo.site_servers(conn, [production],
                                                     departments=[department])
                   if s.status not in GONE_STATUSES}
        absent = [n for n in names if n not in present]
        if absent:
            shown = ", ".join(repr(n[:60]) for n in absent[:5])
            raise NotFound(f"{len(absent)} of the servers are not in {production} for "
                           f"department {department}: {shown}",
                           hint="`govcloud servers list --department D --site PROD` lists them (as "
                                "of the last sync: `govcloud sync` first)")
        before = next((a for a in adopted_systems(conn, departments=[department])
                       if a.system == system), None)
        replaced = before is not None
        # protected since its first adoption: re-adopting does not move its first drill
        record = AdoptedSystem(department, system, wanted, names, principal.name,
                               before.adopted_at if before is not None else now)
        put_adopted(conn, record)
    audit_event(engine, actor=principal.name, action="dr.adopt", department=department,
                after={"system": system, "level": wanted, "servers": list(names),
                       "replaced": replaced})
    return Adopted(record, production, replaced)
