"""Host maintenance's context and stored state, shared by its use cases (``services.hosts``)
and a drain's run (``services.host_drain``): what a drain needs, its events, and its JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.domain.catalogue import Catalogue
from govcloud.domain.sites import Site
from govcloud.errors import NotFound
from govcloud.services.changes import ChangeContext
from govcloud.services.notifications import Notifier
from govcloud.store import hosts_repo as repo
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.inventory import aware
from govcloud.store.tables import utcnow
from govcloud.store.tables_hosts import HostDrainRow

Clock = Callable[[], datetime]


@dataclass
class HostsContext:
    """What host maintenance needs: the store, the sites, their admin connections
    (``{site: openstacksdk Connection}``, made on first use), ``refresh`` (sync one site
    into the store: the plane's syncer), a clock, the run's claim timings and how long one
    server's move may take."""

    engine: Engine
    sites: Sequence[Site]
    connections: Callable[[], Mapping[str, Any]]
    refresh: Callable[[str], None]
    clock: Clock = utcnow
    stale_after_s: float = 30.0
    heartbeat_s: float = 2.0
    move_timeout_s: float = 600.0
    poll_s: float = 0.3
    # the change gate (None: a context without change control, as tools and tests make)
    changes: ChangeContext | None = None
    catalogue: Catalogue | None = None  # what the gate reads the callers' rights in
    notifier: Notifier | None = None  # tells the departments on the host (None: nobody)

    def site_names(self) -> list[str]:
        return [s.name for s in self.sites]

    def check_site(self, site: str) -> None:
        if site not in self.site_names():
            raise NotFound(f"no site named {site!r}",
                           hint=f"configured sites: {', '.join(self.site_names())}")

    def site(self, name: str) -> Site:
        """The configured site ``name`` (NotFound when there is none)."""
        self.check_site(name)
        return next(s for s in self.sites if s.name == name)

    def connection(self, site: str) -> Any:
        self.check_site(site)
        return self.connections()[site]


def target_of(site: str, host: str) -> str:
    """The audit log's target for a host."""
    return f"host:{site}/{host}"


def event(ctx: HostsContext, drain_id: int, kind: str, message: str) -> None:
    """A line of the drain's progress, committed now."""
    with write_session(ctx.engine) as session:
        repo.add_event(session, drain_id, kind, message, at=ctx.clock())
        session.commit()


def audit(ctx: HostsContext, actor: str, action: str, site: str, host: str,
          after: dict[str, Any]) -> None:
    with write_session(ctx.engine) as session:
        AuditLog(session=session, clock=ctx.clock).append(
            actor=actor, action=action, target=target_of(site, host), after=after)
        session.commit()


def change_number(stored: str | None) -> int | None:
    """The change a drain runs under (stored as text; one that is not a number — written
    before change requests existed — is shown as none)."""
    return int(stored) if stored is not None and stored.isdigit() else None


def departments_of(row: HostDrainRow) -> list[str]:
    return list(json.loads(row.departments)) if row.departments else []


def _time(value: datetime | None) -> str | None:
    found = aware(value)
    return found.isoformat() if found is not None else None


def drain_json(ctx: HostsContext, row: HostDrainRow, *, running: bool | None = None,
               full: bool = True, after_event: int = 0) -> dict[str, Any]:
    """A drain as the API answers it: its servers and its events after ``after_event``
    (with ``full``)."""
    assert row.id is not None
    out: dict[str, Any] = {
        "id": row.id, "site": row.site, "host": row.host, "state": row.state,
        "running": row.run_id is not None if running is None else running,
        "requester": row.requester, "change": change_number(row.change_id),
        "departments": departments_of(row), "created_at": _time(row.created_at),
        "started_at": _time(row.started_at), "finished_at": _time(row.finished_at),
        "error": row.error}
    if not full:
        return out
    with Session(ctx.engine) as session:
        servers = repo.servers(session, row.id)
        events = repo.events(session, row.id, after=after_event)
    counts: dict[str, int] = {}
    for s in servers:
        counts[s.status] = counts.get(s.status, 0) + 1
    out["counts"] = {"total": len(servers), **{k: counts.get(k, 0) for k in
                                               ("moved", "left", "pending", "moving", "gone")}}
    out["servers"] = [{"id": s.server_id, "name": s.name, "project_id": s.project_id,
                       "department": s.department, "status": s.status, "kind": s.kind,
                       "target": s.target, "reason": s.reason} for s in servers]
    out["events"] = [{"id": e.id, "at": _time(e.at), "kind": e.kind, "message": e.message}
                     for e in events]
    return out
