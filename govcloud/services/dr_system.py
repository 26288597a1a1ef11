"""One system's disaster-recovery detail, for the console's drill-in
(``GET /dr/systems/{department}/{system}``): its row of the held posture; each planned copy
server by server — the server found in the DR site for each member (its status and flavor as
the last sync saw them, its state against the member) and its recent recovery points; and the
system's drills, newest first.

The row and its copies' states come from the held posture (``services.dr_posture_held``, at
most a minute old, ``at`` says when); the servers, recovery points and drills are read now:
one query for the DR sites' servers of the department, one per copy server for its points,
one for the drills.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from govcloud.domain.protection import (
    GONE_STATUSES,
    CopyState,
    Member,
    ObservedServer,
    StandbyKind,
    server_state,
)
from govcloud.domain.recovery import DrillRecord, PointRecord
from govcloud.errors import NotFound
from govcloud.services.dr_posture import Posture, SystemPosture
from govcloud.store import protection_repo as repo
from govcloud.store.protection_repo import SiteServer

RECENT_POINTS = 5   # recovery points shown per copy server
RECENT_DRILLS = 20


@dataclass(frozen=True, slots=True)
class CopyServer:
    """A member's copy in one DR site: the server found (None: missing), its state against
    the member (what is wrong in words unless present) and its recent recovery points."""

    site: str
    member: str
    expected_flavor: str
    server_id: str | None
    status: str | None
    flavor: str | None
    state: CopyState
    detail: str
    points: tuple[PointRecord, ...]


@dataclass(frozen=True, slots=True)
class SystemDetail:
    row: SystemPosture
    servers: tuple[CopyServer, ...]
    drills: tuple[DrillRecord, ...]


def find_system(posture: Posture, department: str, system: str) -> SystemPosture:
    """The posture's row of ``department``/``system``; absent: NotFound (as a department the
    caller may not see is)."""
    for row in posture.systems:
        if row.department == department and row.system == system:
            return row
    raise NotFound(f"no DR system {system!r} in department {department!r}",
                   hint=f"`govcloud dr posture --department {department}` lists its systems "
                        "(they come from provisioning requests)")


def _copy_server(site: str, kind: StandbyKind, member: Member,
                 candidates: Sequence[SiteServer]) -> tuple[SiteServer | None, CopyState, str]:
    """The member's copy in ``site``: of several servers of its name the best one counts (as
    the verdict counts it); none: missing."""
    if not candidates:
        return (None, *server_state(kind, member, None))
    order = list(CopyState)
    judged = [(s, *server_state(kind, member, ObservedServer(site, s.name, s.status, s.flavor)))
              for s in candidates]
    return min(judged, key=lambda r: order.index(r[1]))


def system_detail(engine: Engine, row: SystemPosture, *,
                  recent: int = RECENT_POINTS) -> SystemDetail:
    """``row``'s copy servers, their recent recovery points, and the system's drills."""
    copies = row.plan.copies if row.plan is not None else ()
    servers = []
    with engine.connect() as conn:
        found = repo.site_servers(conn, [c.site for c in copies],
                                  departments=[row.department]) if copies else []
        by_name: dict[tuple[str, str], list[SiteServer]] = {}
        for s in found:
            if s.status not in GONE_STATUSES:
                by_name.setdefault((s.site, s.name), []).append(s)
        for copy in copies:
            for member in row.members:
                server, state, detail = _copy_server(
                    copy.site, copy.kind, member, by_name.get((copy.site, member.name), []))
                points = () if server is None else tuple(
                    repo.recovery_points(conn, copy.site, server.id, limit=recent))
                servers.append(CopyServer(
                    copy.site, member.name, member.flavor,
                    server.id if server else None, server.status if server else None,
                    server.flavor if server else None, state, detail, points))
        drills = tuple(repo.drills(conn, row.department, row.system, limit=RECENT_DRILLS))
    return SystemDetail(row, tuple(servers), drills)
