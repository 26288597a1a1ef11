"""The DR systems that are not read from provisioning requests: those adopted from inventory
(``dr_adopted_system``, revision 0029) — the roles failovers gave systems
(``dr_system_role``), as plain reads for the posture and the protection worker — and the last
replication check of each synchronous copy server (``dr_replication_check``, 0029)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from govcloud.store.inventory import aware, table
from govcloud.store.tables_failover import (  # noqa: F401  (registers the tables)
    FailoverRow,
    SystemRoleRow,
)
from govcloud.store.tables_protection import (  # noqa: F401  (registers the tables)
    AdoptedSystemRow,
    ReplicationCheckRow,
)


@dataclass(frozen=True, slots=True)
class AdoptedSystem:
    department: str
    system: str
    dr_level: int
    members: tuple[str, ...]
    adopted_by: str
    adopted_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SystemRole:
    """Where a system serves from after a failover, and the site protecting it (None:
    nothing does yet); ``state`` failed-over, reprotected or normal."""

    primary: str
    copy_site: str | None
    state: str
    since: dt.datetime | None = None  # when the failover that set the roles started


def adopted_systems(conn: Connection, *, departments: Sequence[str] | None = None
                    ) -> list[AdoptedSystem]:
    t = table("dr_adopted_system")
    query = select(t).order_by(t.c.department, t.c.system)
    if departments is not None:
        query = query.where(t.c.department.in_(list(departments)))
    return [AdoptedSystem(r.department, r.system, int(r.dr_level),
                          tuple(str(m) for m in json.loads(r.members_json)), r.adopted_by,
                          aware(r.adopted_at) or dt.datetime.min.replace(tzinfo=dt.UTC))
            for r in conn.execute(query).all()]


def put_adopted(conn: Connection, system: AdoptedSystem) -> None:
    """Record (or replace) an adopted system."""
    t = table("dr_adopted_system")
    conn.execute(delete(t).where(t.c.department == system.department,
                                 t.c.system == system.system))
    conn.execute(insert(t).values(department=system.department, system=system.system,
                                  dr_level=system.dr_level,
                                  members_json=json.dumps(list(system.members)),
                                  adopted_by=system.adopted_by, adopted_at=system.adopted_at))


def system_roles(conn: Connection, *, departments: Sequence[str] | None = None
                 ) -> Mapping[tuple[str, str], SystemRole]:
    """Each system's roles, with the start of the failover (or failback) that set them."""
    t, f = table("dr_system_role"), table("dr_failover")
    query = select(t.c.department, t.c.system, t.c.primary_site, t.c.copy_site, t.c.state,
                   f.c.started_at, f.c.created_at
                   ).select_from(t.outerjoin(f, f.c.id == t.c.failover_id))
    if departments is not None:
        query = query.where(t.c.department.in_(list(departments)))
    return {(r.department, r.system): SystemRole(r.primary_site, r.copy_site, r.state,
                                                 aware(r.started_at or r.created_at))
            for r in conn.execute(query).all()}


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """A copy server's last replication check."""

    site: str
    server_id: str
    department: str
    system: str
    checked_at: dt.datetime
    ok: bool
    detail: str


def put_check(conn: Connection, check: CheckRecord) -> None:
    """Record a copy server's replication check (replacing its last one)."""
    t = table("dr_replication_check")
    conn.execute(delete(t).where(t.c.site == check.site, t.c.server_id == check.server_id))
    conn.execute(insert(t).values(site=check.site, server_id=check.server_id,
                                  department=check.department, system=check.system,
                                  checked_at=check.checked_at, ok=check.ok,
                                  detail=check.detail[:2000]))


def replication_checks(conn: Connection, *, departments: Sequence[str] | None = None
                       ) -> list[CheckRecord]:
    t = table("dr_replication_check")
    query = select(t).order_by(t.c.site, t.c.server_id)
    if departments is not None:
        query = query.where(t.c.department.in_(list(departments)))
    return [CheckRecord(r.site, r.server_id, r.department, r.system,
                        aware(r.checked_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
                        bool(r.ok), r.detail or "")
            for r in conn.execute(query).all()]
