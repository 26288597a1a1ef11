"""The reclaim report as a use case (docs/lifecycle.md, "Reclaim"): per department, the
servers shut off and the volumes attached to nothing for more than N days, and the systems
all of whose production members are such servers — candidates for a retirement request.

RBAC: ``reclaim.view`` on each department shown (a department-viewer its own, a
city-operator its city's); asking for a department the caller may not see is answered as if
it did not exist. Reading changes nothing, so nothing is audited.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from govcloud.domain.catalogue import Catalogue
from govcloud.domain.rbac import Action, Principal
from govcloud.domain.reclaim import NO_TRAFFIC, candidates
from govcloud.domain.sites import Site, SiteRole
from govcloud.errors import InvalidInput
from govcloud.services.access import get_department, visible_codes
from govcloud.store import reclaim_repo as repo

MAX_DAYS = 3650.0


def reclaim(engine: Engine, principal: Principal, catalogue: Catalogue, sites: Sequence[Site],
            *, now: dt.datetime, department: str | None = None,
            days: float = 30.0) -> dict[str, Any]:
    """The reclaim candidates of ``department`` (None: every one the caller may see)."""
    if not 0 <= days <= MAX_DAYS or days != days:
        raise InvalidInput(f"days must be from 0 to {MAX_DAYS:g}, not {days!r}",
                           hint="e.g. --days 30: idle for more than 30 days")
    codes: list[str] | None
    if department is not None:
        get_department(principal, catalogue, department, Action.RECLAIM_VIEW)
        codes = [department]
    else:
        codes = visible_codes(principal, catalogue, Action.RECLAIM_VIEW)
    production = next((s.name for s in sites if s.role is SiteRole.PRODUCTION), None)
    with engine.connect() as conn:
        retiring = repo.retiring_servers(conn, codes)
        members = repo.production_members(conn, production, codes) if production else {}
        system_of = {sid: system for (_, system), ids in members.items() for sid in ids}
        servers = [dataclasses.replace(s, system=system_of.get(s.id))
                   for s in repo.idle_servers(conn, codes) if s.id not in retiring]
        volumes = repo.loose_volumes(conn, codes)
    found = candidates(servers, volumes, now=now, days=days, production=members)
    return {"at": now.isoformat(), "days": days,
            "departments": [d.to_dict() for d in found], "traffic": NO_TRAFFIC}
