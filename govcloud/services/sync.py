"""Inventory sync: read every site through the cloud adapter and write it into the store.

What is synced is declared once per resource in :mod:`govcloud.services.sync_resources`
(how to read it, ask for its changes since the watermark, and write it as rows); the
:class:`Syncer` runs those declarations for each site and knows no resource by name.

* Sites are synced in parallel; each site is read first (nothing is written while reading),
  then written in **one transaction**: a sync that fails or is killed half-way leaves the
  site's previous rows exactly as they were — never a half-written site.
* **Full** sync: services, Placement providers, hypervisors, quotas and every server;
  servers the site no longer lists are tombstoned (``deleted_at``), never forgotten.
* **Incremental** sync: services, providers (reused when their generation is unchanged),
  hypervisors, and servers ``changes-since`` the stored watermark. A site never fully synced
  gets a full sync instead.
* A site that fails (timeout, 5xx, auth, a region down, a page failing mid-listing, a
  database error) is marked **stale** with the reason and time; its rows are left alone and
  the other sites complete. Freshness (last attempt, last success, duration, error) is kept
  per site in ``site_sync``.
* Each sync's transaction also meters the site's current hour from what it just stored
  (grouped, ``govcloud.store.metering_repo``); a failed sync records the hour as a gap.
* Projects are mapped to departments through Keystone: the ``dept:<code>`` tag, or the name
  for projects made before govcloud (``govcloud.domain.tenancy.match_projects``); the
  mapping is stored per site in ``department_site``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine

from govcloud.cloud.errors import sdk_errors
from govcloud.cloud.inventory import (
    WATERMARK_OVERLAP,
    WORKERS,
    Discovered,
    SiteConnection,
    SiteReader,
    bound_requests,
)
from govcloud.cloud.tenancy import list_projects
from govcloud.domain.sites import Site
from govcloud.domain.tenancy import DEPT_TAG_PREFIX, match_projects
from govcloud.errors import GovCloudError, InvalidInput, NotFound
from govcloud.heap import bulk_allocations
from govcloud.services.sync_resources import RESOURCES, SiteRun, SyncedResource
from govcloud.store import inventory as store
from govcloud.store import metering_repo, server_changes
from govcloud.store.engine import write_begin
from govcloud.store.inventory import ProjectMapping, SyncState

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 60.0

Clock = Callable[[], dt.datetime]
Connections = Callable[[], Mapping[str, SiteConnection]]
Departments = Callable[[], Mapping[str, str | None]]
ReaderFactory = Callable[[SiteConnection, str, int], SiteReader]


def _reader(conn: SiteConnection, site: str, workers: int) -> SiteReader:
    return SiteReader(conn, site=site, workers=workers)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class SiteSyncResult:
    """What one site's sync did (``ok`` False: the site is now stale, ``error`` says why)."""

    site: str
    full: bool
    ok: bool
    at: dt.datetime
    seconds: float
    api_s: float = 0.0
    db_s: float = 0.0
    servers: int = 0  # live servers stored for the site afterwards
    changed: int = 0  # servers written (all of them on a full sync)
    deleted: int = 0  # servers tombstoned
    hypervisors: int = 0
    requests: int = 0
    error: str | None = None
    phases: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "full": self.full, "ok": self.ok, "stale": not self.ok,
                "at": self.at.isoformat(), "seconds": round(self.seconds, 3),
                "api_s": round(self.api_s, 3), "db_s": round(self.db_s, 3),
                "servers": self.servers, "changed": self.changed, "deleted": self.deleted,
                "hypervisors": self.hypervisors, "requests": self.requests,
                "error": self.error,
                "phases": {k: round(v, 3) for k, v in self.phases.items()}}


@dataclass(frozen=True, slots=True)
class SyncReport:
    results: tuple[SiteSyncResult, ...]
    full: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "full": self.full, "seconds": round(self.seconds, 3),
                "sites": [r.to_dict() for r in self.results]}


def project_mapping(projects: Iterable[Any], departments: Mapping[str, str | None]
                    ) -> list[ProjectMapping]:
    """Department → project for one site: catalogue codes (by tag, else by name) and any
    project tagged ``dept:<code>`` even when the catalogue does not know the code."""
    listed = list(projects)
    codes = set(departments)
    for p in listed:
        codes |= {t[len(DEPT_TAG_PREFIX):] for t in p.tags if t.startswith(DEPT_TAG_PREFIX)}
    matched = match_projects(listed, codes)
    for code, ids in matched.conflicts.items():
        log.warning("department %s: several projects tagged (%s); none mapped", code,
                    ", ".join(ids))
    return [ProjectMapping(code, p.id, p.name, departments.get(code))
            for code, p in sorted(matched.projects.items())]


TOMBSTONE_RETENTION = dt.timedelta(days=30)


class Syncer:
    """Syncs sites into the store; safe to call from several threads (one sync per site at a
    time — a second caller waits for the first and then runs its own).

    ``connections`` returns ``{site: openstacksdk Connection}``; ``departments`` returns the
    catalogue's ``{code: city}`` (used to adopt projects by name and to scope by city);
    ``reader`` makes the adapter's reader for a connection (tests inject failures there);
    ``resources`` are the declarations run for each site (``govcloud.services.sync_resources``).
    ``tombstone_retention``: full syncs purge rows of servers deleted longer ago than this.
    ``request_timeout_s`` bounds every HTTP request of a connection that has no timeout of
    its own (``api_timeout`` in clouds.yaml), so a hung API makes its site stale instead of
    stalling the sync.
    """

    def __init__(self, *, engine: Engine, sites: Sequence[Site], connections: Connections,
                 departments: Departments | None = None, clock: Clock = _utcnow,
                 workers: int = WORKERS, reader: ReaderFactory = _reader,
                 request_timeout_s: float | None = REQUEST_TIMEOUT_S,
                 tombstone_retention: dt.timedelta = TOMBSTONE_RETENTION,
                 resources: Sequence[SyncedResource[Any]] = RESOURCES) -> None:
        self.engine = engine
        self.tombstone_retention = tombstone_retention
        self.request_timeout_s = request_timeout_s
        self.sites = tuple(sites)
        self._connections = connections
        self._departments = departments or dict
        self.clock = clock
        self.workers = workers
        self._reader = reader
        self._site_locks = {s.name: threading.Lock() for s in self.sites}
        self._roles = {s.name: s.role for s in self.sites}
        # SQLite has one writer at a time: writes queue here rather than on busy_timeout
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None
        self.resources = tuple(resources)
        self._previous: dict[str, dict[str, Any]] = {}  # site → remembered reads
        # site → (its connection, what its last successful reader negotiated with it)
        self._discovered: dict[str, tuple[SiteConnection, Discovered]] = {}

    def site_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sites)

    def sync(self, sites: Iterable[str] | None = None, *, full: bool = False) -> SyncReport:
        """Sync ``sites`` (default: every site) in parallel; never raises for a failing site
        (it is reported and marked stale) — only for an unknown site name or none."""
        names = list(dict.fromkeys(sites)) if sites is not None else list(self.site_names())
        if not names:
            raise InvalidInput("no site to sync: the list of sites is empty",
                               hint="name at least one site, or leave the list out to sync "
                                    f"every site ({', '.join(self.site_names())})")
        unknown = [n for n in names if n not in self._site_locks]
        if unknown:
            raise NotFound(f"no site named {', '.join(map(repr, unknown))}",
                           hint=f"configured sites: {', '.join(self.site_names())}")
        t0 = time.perf_counter()
        try:
            departments = dict(self._departments())
        except GovCloudError as exc:  # a broken catalogue: map by dept: tags only
            log.warning("sync without the catalogue: %s", exc.message)
            departments = {}
        with bulk_allocations():  # the collector's passes were a fifth of a sync's CPU
            if len(names) == 1:
                results = [self._sync_site(names[0], full, departments)]
            else:
                with ThreadPoolExecutor(max_workers=len(names),
                                        thread_name_prefix="sync") as pool:
                    results = list(pool.map(lambda n: self._sync_site(n, full, departments),
                                            names))
        return SyncReport(tuple(results), full, time.perf_counter() - t0)

    # --- one site ----------------------------------------------------------------------------

    def _sync_site(self, site: str, full: bool,
                   departments: Mapping[str, str | None]) -> SiteSyncResult:
        with self._site_locks[site]:
            at = self.clock()
            t0 = time.perf_counter()
            try:
                return self._run(site, full, departments, at, t0)
            except Exception as exc:  # any failure makes the site stale
                message = exc.message if isinstance(exc, GovCloudError) else \
                    f"{type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
                if not isinstance(exc, GovCloudError):
                    log.exception("site %s: sync failed", site, extra={"site": site})
                else:
                    log.warning("site %s: sync failed: %s", site, message, extra={"site": site})
                seconds = time.perf_counter() - t0
                self._discovered.pop(site, None)  # negotiate afresh next time
                self._record_failure(site, at, seconds, message)
                return SiteSyncResult(site, full, False, at, seconds, error=message)

    def _record_failure(self, site: str, at: dt.datetime, seconds: float, error: str) -> None:
        try:
            with self._writing(), self._begin() as conn:
                store.record_failure(conn, site, at=at, duration_s=seconds, error=error)
                metering_repo.record_gap(conn, site, at, error)  # its hour's usage is unknown
        except Exception:  # the database itself is failing: nothing more to record
            log.exception("site %s: could not record the failed sync", site)

    def _begin(self) -> Any:
        return write_begin(self.engine)

    def _writing(self) -> Any:
        return self._write_lock if self._write_lock is not None else _NoLock()

    def _run(self, site: str, full: bool, departments: Mapping[str, str | None],
             at: dt.datetime, t0: float) -> SiteSyncResult:
        """Read the site's declared resources, then write them in one transaction."""
        with self.engine.connect() as conn:
            state = store.sync_states(conn).get(site)
        full = full or not _synced_fully(state)
        connection = self._connections().get(site)
        if connection is None:
            raise NotFound(f"site {site}: no cloud connection configured")
        bound_requests(connection, self.request_timeout_s)
        with sdk_errors(f"site {site}: listing Keystone projects"):
            mappings = project_mapping(list_projects(connection), departments)
        reader = self._reader(connection, site, self.workers)
        known = self._discovered.get(site)
        if known is not None and known[0] is connection:
            reader.adopt(known[1])
        run = SiteRun(site=site, full=full, at=at,
                      since=None if full or state is None else state.watermark,
                      department_of={m.project_id: m.department for m in mappings},
                      previous=self._previous.get(site, {}),
                      purge_before=at - self.tombstone_retention if full else None)
        resources = [r for r in self.resources if r.runs(full=full)]
        began = dt.datetime.now(dt.UTC)
        phases = read_resources(reader, run, resources)
        api_s = time.perf_counter() - t0
        watermark = next_watermark(run, resources, reader.began or began)
        t1 = time.perf_counter()
        with self._writing(), self._begin() as conn:
            run = replace(run, relabel=store.replace_mapping(conn, site, mappings))
            counts: Counter[str] = Counter()
            for r in resources:
                counts.update(r.write_for(conn, run, run.read[r.name]))
            servers = store.live_servers(conn, site)
            metering_repo.record_site_hour(conn, site, self._roles[site], at)
            # the servers' change number, last: its lock is held until the commit
            server_changes.stamp(conn, horizon=run.relabel)
            db_s = time.perf_counter() - t1
            store.record_success(conn, site, at=at, duration_s=time.perf_counter() - t0,
                                 watermark=watermark, full=full, servers=servers,
                                 hypervisors=counts["hypervisors"])
        self._previous[site] = {r.name: run.read[r.name] for r in resources if r.remember}
        self._discovered[site] = (connection, reader.discovered())
        seconds = time.perf_counter() - t0
        log.info("site %s: %s sync in %.2f s (api %.2f s, db %.2f s): %d servers, %d written, "
                 "%d tombstoned", site, "full" if full else "incremental", seconds, api_s,
                 db_s, servers, counts["changed"], counts["deleted"], extra={"site": site})
        return SiteSyncResult(site, full, True, at, seconds, api_s=api_s, db_s=db_s,
                              servers=servers, changed=counts["changed"],
                              deleted=counts["deleted"], hypervisors=counts["hypervisors"],
                              requests=reader.requests, phases=phases)


def _synced_fully(state: SyncState | None) -> bool:
    """Whether the site has a full sync and a watermark to read changes since."""
    return state is not None and state.watermark is not None and state.last_full is not None


def read_resources(reader: SiteReader, run: SiteRun,
                   resources: Sequence[SyncedResource[Any]]) -> dict[str, float]:
    """Read ``resources`` into ``run.read`` in their order — those declared ``own_thread``
    on threads of their own beside the others — and return the seconds each took. Nothing
    is written; the first failure is raised (the reads beside it are cancelled or awaited)."""
    phases: dict[str, float] = {}

    def timed(r: SyncedResource[Any]) -> Any:
        t0 = time.perf_counter()
        value = r.read_for(reader, run)
        phases[r.name] = time.perf_counter() - t0
        return value

    beside = [r for r in resources if r.own_thread]
    futures: dict[str, Future[Any]] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(beside)),
                            thread_name_prefix=f"srv-{run.site}") as pool:
        try:
            for r in resources:
                if r.own_thread:
                    futures[r.name] = pool.submit(timed, r)
                else:
                    run.read[r.name] = timed(r)
        except BaseException:
            for f in futures.values():
                f.cancel()
            raise
        for name, f in futures.items():
            run.read[name] = f.result()
    return phases


def next_watermark(run: SiteRun, resources: Sequence[SyncedResource[Any]],
                   began: dt.datetime) -> dt.datetime:
    """The ``changes-since`` of the site's next incremental sync: on a full sync the site's
    clock when its first read was answered (``began``) less the overlap; on an incremental
    one the earliest ``next_since`` of the changes read."""
    if not run.full:
        marks: list[dt.datetime] = [run.read[r.name].next_since for r in resources
                                    if r.changes is not None]
        if marks:
            return min(marks)
    return began - WATERMARK_OVERLAP


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
