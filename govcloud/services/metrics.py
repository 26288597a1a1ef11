"""The metrics snapshot: every figure ``/metrics`` exports, built from the store in one pass
and kept in memory, so a scrape only formats numbers (it never calls OpenStack and never runs
a slow query).

:class:`MetricsSnapshots` holds the newest snapshot. The workers refresh it after each sync
and probe round; a scrape serves what is held at once and starts, behind it, a few indexed
look-ups (the *fingerprint*: newest sync attempt, newest probe, audit head, requests and
migration steps) and, when they show the store changed — another control-plane worker
synced, an operator ran ``POST /sync`` — one refresh (one such task at a time). Only the very
first scrape waits for the store.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Connection, Engine, and_, func, inspect, select
from sqlmodel import Session

from govcloud.domain.audit import ChainAnchor
from govcloud.domain.capacity import FlavorSpec, Resources, SiteCapacity, flavor_fit
from govcloud.domain.health import REASONS, failure_reason
from govcloud.domain.metrics import BY_NAME, COMMON_FLAVORS, GIB, MIB, QUOTA_RESOURCES
from govcloud.domain.protection import ProtectionPolicy
from govcloud.domain.sites import Site
from govcloud.domain.whatif import lose_site
from govcloud.errors import GovCloudError
from govcloud.services.audit_anchor import last_checkpoint, verify_log
from govcloud.services.dr_metrics import dr_samples
from govcloud.services.dr_posture import Posture
from govcloud.services.inventory import SnapshotCache, site_hosts
from govcloud.services.protection import failing_copies
from govcloud.store import health as health_store
from govcloud.store import inventory as store
from govcloud.store.audit import AuditLog
from govcloud.store.tables import metadata

log = logging.getLogger(__name__)

Labels = tuple[str, ...]
Samples = list[tuple[Labels, float]]
MAX_AGE_S = 60.0  # a snapshot older than this is rebuilt in the background at the next scrape
FED_STALE = 3.0  # a snapshot fed by the worker process this many MAX_AGE_S old: built here


def _ts(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


@dataclass
class Snapshot:
    """Samples per family name (label values in the family's label order)."""

    built_at: float
    build_s: float = 0.0
    families: dict[str, Samples] = field(default_factory=lambda: defaultdict(list))
    last_success: dict[str, float | None] = field(default_factory=dict)
    fingerprint: tuple[Any, ...] = ()
    # (department, system, level) → the worst copy's recovery point (None: a copy has none);
    # the exporter makes govcloud_dr_rpo_seconds of them at each scrape
    dr_points: list[tuple[Labels, float | None]] = field(default_factory=list)

    def add(self, name: str, labels: Labels, value: float) -> None:
        spec = BY_NAME[name]
        assert len(labels) == len(spec.labels), (name, labels)
        self.families[name].append((labels, float(value)))

    def series(self) -> int:
        return sum(len(s) for s in self.families.values())


@dataclass
class _AuditCheck:
    head: ChainAnchor | None = None
    ok: bool = True
    entries: int = 0
    at: float = 0.0


class PostureSource(Protocol):
    """The held DR posture (``services.dr_posture_held.HeldPostures``)."""

    policy: ProtectionPolicy

    def posture(self, departments: Sequence[str] | None = None) -> Posture: ...

    def held_at(self) -> float | None: ...


class SnapshotBuilder:
    """Builds :class:`Snapshot` from the store. ``dr_levels`` gives the catalogue's
    ``{department: DR level}`` for the what-if (empty: every department at level 0);
    ``dr_posture`` the held DR posture for the ``govcloud_dr_*`` families (None: none)."""

    def __init__(self, *, engine: Engine, sites: Sequence[Site],
                 dr_levels: Callable[[], Mapping[str, int]] = dict,
                 audit_recheck_s: float = 900.0, anchor_file: Path | None = None,
                 cache: SnapshotCache | None = None,
                 dr_posture: PostureSource | None = None,
                 city_dr: Callable[[], Mapping[str, str]] = dict) -> None:
        self.engine = engine
        self.city_dr = city_dr  # who fails over to their city's site (dr_city_sites)
        self.dr_posture = dr_posture
        self.cache = cache if cache is not None else SnapshotCache()
        self.sites = tuple(sites)
        self.dr_levels = dr_levels
        self.audit_recheck_s = audit_recheck_s
        self.anchor_file = anchor_file  # the audit checkpoints' file (None: not kept)
        self._audit = _AuditCheck()
        self._tables: dict[str, bool] = {}

    # --- cheap change detection ---------------------------------------------------------------

    def _has(self, conn: Connection, name: str) -> bool:
        if name not in self._tables:
            self._tables[name] = name in metadata.tables and \
                inspect(conn).has_table(name)
        return self._tables[name]

    def fingerprint(self, conn: Connection) -> tuple[Any, ...]:
        """A few indexed look-ups whose answer changes whenever the snapshot would (one
        statement: one round trip)."""
        sync = store.table("site_sync")
        probe = store.table("probe_result")
        audit = store.table("audit_entry")
        parts: list[Any] = [
            select(func.max(sync.c.last_attempt)).scalar_subquery(),
            select(func.count()).select_from(sync).scalar_subquery(),
            select(func.max(probe.c.checked_at)).scalar_subquery(),
            select(func.max(audit.c.seq)).scalar_subquery()]
        if self._has(conn, "provision_request"):
            req = store.table("provision_request")
            parts += [select(func.max(req.c.updated_at)).scalar_subquery(),
                      select(func.count()).select_from(req).scalar_subquery()]
        if self._has(conn, "step_run"):
            step = store.table("step_run")
            parts += [select(func.max(step.c.started_at)).scalar_subquery(),
                      select(func.max(step.c.finished_at)).scalar_subquery(),
                      select(func.count()).select_from(step).scalar_subquery()]
        held = self.dr_posture.held_at() if self.dr_posture is not None else None
        return (*conn.execute(select(*parts)).one(), held)

    # --- the build ----------------------------------------------------------------------------

    def build(self) -> Snapshot:
        t0 = time.perf_counter()
        snap = Snapshot(built_at=time.time())
        self._hold_posture()
        with self.engine.connect() as conn:
            snap.fingerprint = self.fingerprint(conn)
            states = store.sync_states(conn)
            caps = self._sites(conn, snap, states)
            self._flavors(conn, snap, caps)
            self._whatif(conn, snap, caps)
            self._departments(conn, snap)
            self._probes(conn, snap)
            self._requests(conn, snap)
            self._migrations(conn, snap)
        self._dr(snap)
        self._audit_check(snap)
        snap.build_s = time.perf_counter() - t0
        return snap

    def _sites(self, conn: Connection, snap: Snapshot,
               states: Mapping[str, store.SyncState]) -> dict[str, tuple[Any, SiteCapacity]]:
        used = store.active_use(conn)
        services: dict[tuple[str, str, str], int] = defaultdict(int)
        svc = store.table("compute_service")
        for r in conn.execute(select(svc.c.site, svc.c.binary, svc.c.state, func.count())
                              .group_by(svc.c.site, svc.c.binary, svc.c.state)):
            services[(r[0], r[1], r[2])] += int(r[3])
        caps: dict[str, tuple[Any, SiteCapacity]] = {}
        for s in self.sites:
            name = s.name
            state = states.get(name)
            hosts, cap = site_hosts(conn, self.cache, name, state)
            caps[name] = (hosts, cap)
            snap.add("govcloud_site_info", (name, s.role.value), 1)
            u = used.get(name, Resources())
            for res, fig, scale, used_v in (("vcpu", cap.vcpu, 1, u.vcpu),
                                            ("memory", cap.ram_mb, MIB, u.ram_mb),
                                            ("disk", cap.disk_gb, GIB, u.disk_gb)):
                unit = "" if res == "vcpu" else "_bytes"
                for what, value in (("capacity", fig.capacity), ("allocated", fig.allocated),
                                    ("used", used_v), ("free", fig.free),
                                    ("headroom", fig.headroom)):
                    snap.add(f"govcloud_site_{res}_{what}{unit}", (name,), value * scale)
            snap.add("govcloud_site_physical_cores", (name,), cap.physical_cores)
            by_state: dict[tuple[str, str], int] = defaultdict(int)
            for h in hosts:
                by_state[(h.state.value, h.status.value)] += 1
            for st in ("up", "down"):
                for status in ("enabled", "disabled"):
                    snap.add("govcloud_site_hypervisors", (name, st, status),
                             by_state.get((st, status), 0))
            binaries = sorted({b for (site, b, _) in services if site == name})
            for b in binaries:
                for st in ("up", "down"):
                    snap.add("govcloud_site_compute_services", (name, b, st),
                             services.get((name, b, st), 0))
            # sync freshness
            last_ok = _ts(state.last_success) if state else None
            snap.last_success[name] = last_ok
            if last_ok is not None:
                snap.add("govcloud_sync_last_success_timestamp_seconds", (name,), last_ok)
            if state is not None and state.last_attempt is not None:
                snap.add("govcloud_sync_last_attempt_timestamp_seconds", (name,),
                         state.last_attempt.timestamp())
            if state is not None and state.duration_s is not None:
                snap.add("govcloud_sync_last_duration_seconds", (name,), state.duration_s)
            failing = failure_reason(state.error) if state and state.stale else None
            for reason in REASONS:
                snap.add("govcloud_sync_failing", (name, reason), 1 if failing == reason else 0)
            stale = state is None or state.stale or state.last_success is None
            snap.add("govcloud_site_stale", (name,), 1 if stale else 0)
        return caps

    def _flavors(self, conn: Connection, snap: Snapshot,
                 caps: Mapping[str, tuple[Any, SiteCapacity]]) -> None:
        srv = store.table("server")
        n = func.count().label("n")
        rows = conn.execute(
            select(srv.c.flavor_name, srv.c.vcpus, srv.c.ram_mb, srv.c.disk_gb,
                   srv.c.ephemeral_gb, srv.c.swap_mb, n)
            .where(and_(srv.c.deleted_at.is_(None), srv.c.flavor_name.is_not(None)))
            .group_by(srv.c.flavor_name, srv.c.vcpus, srv.c.ram_mb, srv.c.disk_gb,
                      srv.c.ephemeral_gb, srv.c.swap_mb)
            .order_by(n.desc(), srv.c.flavor_name)).all()
        chosen: dict[str, FlavorSpec] = {}
        for r in rows:
            if r.flavor_name in chosen or r.vcpus < 1 or r.ram_mb < 1:
                continue
            chosen[r.flavor_name] = FlavorSpec(r.flavor_name, r.vcpus, r.ram_mb, r.disk_gb,
                                               r.ephemeral_gb, r.swap_mb)
            if len(chosen) == COMMON_FLAVORS:
                break
        for s in self.sites:
            hosts = caps[s.name][0]
            for spec in chosen.values():
                snap.add("govcloud_site_flavor_headroom", (s.name, spec.name),
                         flavor_fit(s.name, hosts, spec).count)

    def _whatif(self, conn: Connection, snap: Snapshot,
                caps: Mapping[str, tuple[Any, SiteCapacity]]) -> None:
        names = [s.name for s in self.sites]
        free = {name: cap.headroom for name, (_, cap) in caps.items()}
        loads = store.loads(conn, names)
        try:
            levels = dict(self.dr_levels())
            city_dr = dict(self.city_dr())
        except Exception:  # noqa: BLE001  (a broken catalogue must not break the metrics)
            log.warning("metrics: no DR levels (catalogue unavailable)")
            levels, city_dr = {}, {}
        for lost in names:
            verdict = lose_site(lost, sites=list(self.sites), free=free, loads=loads,
                                dr_levels=levels, city_dr=city_dr)
            snap.add("govcloud_whatif_lose_site_fits", (lost,), 1 if verdict.fits else 0)
            for r in verdict.receiving:
                short = r.shortfall
                snap.add("govcloud_whatif_shortfall_vcpu", (lost, r.site), short.vcpu)
                snap.add("govcloud_whatif_shortfall_memory_bytes", (lost, r.site),
                         short.ram_mb * MIB)
                snap.add("govcloud_whatif_shortfall_disk_bytes", (lost, r.site),
                         short.disk_gb * GIB)

    def _departments(self, conn: Connection, snap: Snapshot) -> None:
        q = store.table("quota_usage")
        rows = conn.execute(
            select(q.c.department, q.c.site, q.c.resource, func.sum(q.c.limit),
                   func.min(q.c.limit), func.sum(q.c.in_use))
            .where(and_(q.c.department.is_not(None),
                        q.c.resource.in_(list(QUOTA_RESOURCES))))
            .group_by(q.c.department, q.c.site, q.c.resource)
            .order_by(q.c.department, q.c.site, q.c.resource))
        for (dept, site), group in groupby(rows, key=lambda r: (r[0], r[1])):
            figures = list(group)
            if not any(lowest is None or lowest != 0 or limit or in_use
                       for *_, limit, lowest, in_use in figures):
                continue  # no quota and nothing used here: not the department's site
            for _, _, resource, limit, lowest, in_use in figures:
                label, scale = QUOTA_RESOURCES[resource]
                if lowest is not None and lowest >= 0:
                    snap.add("govcloud_department_quota_limit", (dept, site, label),
                             int(limit) * scale)
                snap.add("govcloud_department_quota_in_use", (dept, site, label),
                         int(in_use or 0) * scale)
        srv = store.table("server")
        for dept, site, status, n in conn.execute(
                select(srv.c.department, srv.c.site, srv.c.status, func.count())
                .where(and_(srv.c.deleted_at.is_(None), srv.c.department.is_not(None)))
                .group_by(srv.c.department, srv.c.site, srv.c.status)
                .order_by(srv.c.department, srv.c.site, srv.c.status)):
            snap.add("govcloud_department_servers", (dept, site, status), n)

    def _probes(self, conn: Connection, snap: Snapshot) -> None:
        known = {s.name for s in self.sites}
        for p in health_store.probes(conn):
            if p.site not in known:
                continue
            labels = (p.site, p.service)
            snap.add("govcloud_probe_up", labels, 1 if p.up else 0)
            snap.add("govcloud_probe_latency_seconds", labels, p.latency_s)
            snap.add("govcloud_probe_timestamp_seconds", labels, p.checked_at.timestamp())
            snap.add("govcloud_probe_consecutive_failures", labels, p.failures)

    def _requests(self, conn: Connection, snap: Snapshot) -> None:
        if not self._has(conn, "provision_request"):
            return
        req = store.table("provision_request")
        for state, n in conn.execute(select(req.c.state, func.count())
                                     .group_by(req.c.state).order_by(req.c.state)):
            snap.add("govcloud_requests", (state,), n)

    def _migrations(self, conn: Connection, snap: Snapshot) -> None:
        if not self._has(conn, "step_run"):
            return
        step = store.table("step_run")
        failures: dict[str, int] = defaultdict(int)
        for wave, name, status, n in conn.execute(
                select(step.c.wave, step.c.step, step.c.status, func.count())
                .group_by(step.c.wave, step.c.step, step.c.status)
                .order_by(step.c.wave, step.c.step, step.c.status)):
            snap.add("govcloud_migration_hosts", (wave, name, status), n)
            if status in ("failed", "interrupted"):
                failures[wave] += int(n)
            else:
                failures.setdefault(wave, 0)
        for wave, n in sorted(failures.items()):
            snap.add("govcloud_migration_step_failures", (wave,), n)
        for wave, name, started in conn.execute(
                select(step.c.wave, step.c.step, func.min(step.c.started_at))
                .where(step.c.status == "running").group_by(step.c.wave, step.c.step)):
            at = store.aware(started)
            if at is not None:
                snap.add("govcloud_migration_step_running_since_timestamp_seconds",
                         (wave, name), at.timestamp())

    def _hold_posture(self) -> None:
        """Have a DR posture held before the fingerprint (which holds when it was judged)
        is taken: judged only later in the build, the first snapshot's fingerprint would
        miss it and the next scrape would build the whole snapshot again."""
        if self.dr_posture is None or self.dr_posture.held_at() is not None:
            return
        try:
            self.dr_posture.posture()
        except Exception:  # noqa: BLE001  (``_dr`` says why, and leaves the families out)
            return

    def _dr(self, snap: Snapshot) -> None:
        """The DR families from the held posture (judged now if none is held yet; a posture
        that cannot be judged leaves them out, logged)."""
        if self.dr_posture is None:
            return
        try:
            posture = self.dr_posture.posture()
        except Exception:  # a failing posture must not break the metrics
            log.warning("metrics: no DR posture", exc_info=True)
            return
        failing: Counter[str] = Counter()
        try:
            failing.update(f.department for f in failing_copies(self.engine, errors=False))
        except Exception:  # a failing read must not break the metrics
            log.warning("metrics: no failing DR copies", exc_info=True)
        snap.dr_points = dr_samples(posture, self.dr_posture.policy, snap.add,
                                    failing).points

    def _audit_check(self, snap: Snapshot) -> None:
        """Verify the chain when its head moved (or every ``audit_recheck_s``): its hashes,
        its MACs on a keyed engine, and that it still reaches the newest checkpoint in
        ``anchor_file`` (entries cut off the end fail)."""
        check = self._audit
        with Session(self.engine) as session:
            audit = AuditLog(session=session)
            head = audit.head()
            if head != check.head or time.time() - check.at > self.audit_recheck_s:
                ok, why = self._verify(audit)
                self._audit = check = _AuditCheck(head=head, ok=ok,
                                                  entries=audit.count(), at=time.time())
                if not ok:
                    log.error("metrics: %s", why)
        snap.add("govcloud_audit_chain_verified", (), 1 if check.ok else 0)
        snap.add("govcloud_audit_entries_total", (), check.entries)
        snap.add("govcloud_audit_last_verify_timestamp_seconds", (), check.at)
        if self.anchor_file is not None:
            try:
                newest = last_checkpoint(self.anchor_file)
            except GovCloudError as exc:
                log.error("metrics: %s", exc.message)
                newest = None
            snap.add("govcloud_audit_checkpoint_seq", (), 0 if newest is None else newest.seq)
            if newest is not None:
                snap.add("govcloud_audit_checkpoint_timestamp_seconds", (),
                         dt.datetime.fromisoformat(newest.at).timestamp())


    def _verify(self, audit: AuditLog) -> tuple[bool, str]:
        if self.anchor_file is None:
            result = audit.verify()
            return result.ok, result.describe()
        try:
            found = verify_log(self.engine, anchor_file=self.anchor_file)
        except GovCloudError as exc:  # an anchor file that is not one: not verified
            return False, exc.message
        return bool(found["ok"]), str(found["description"])


class Built(Protocol):
    """What a held snapshot carries: when it was built and the store's fingerprint then."""

    @property
    def built_at(self) -> float: ...

    @property
    def fingerprint(self) -> tuple[Any, ...]: ...


S = TypeVar("S", bound=Built)
S_co = TypeVar("S_co", bound=Built, covariant=True)


class Builder(Protocol[S_co]):
    """Builds a snapshot from the store, and says cheaply whether the store changed."""

    @property
    def engine(self) -> Engine: ...

    def fingerprint(self, conn: Connection) -> tuple[Any, ...]: ...

    def build(self) -> S_co: ...


class HeldSnapshots(Generic[S]):
    """The newest snapshot a ``builder`` made, refreshed by the workers and, when the store
    changed or it is older than ``max_age_s``, in the background of a read (one refresh at a
    time). ``name`` names the refresh thread and the log lines. The metrics snapshot is one
    (:class:`MetricsSnapshots`), the DR posture another (``services.dr_posture_held``)."""

    def __init__(self, builder: Builder[S], *, max_age_s: float = MAX_AGE_S,
                 name: str = "metrics") -> None:
        self.builder = builder
        self.max_age_s = max_age_s
        self.name = name
        self._snapshot: S | None = None
        self._building = threading.Lock()
        self._refreshing = False
        self._flag = threading.Lock()
        self.refreshes = 0
        # called with each snapshot built here (the worker process sends it to the API's)
        self.on_built: Callable[[S], Any] | None = None
        # set while another process builds the snapshots and this one holds what it sends
        self._fed: threading.Event | None = None
        self._fed_wait_s = 0.0
        self._on_held: list[Callable[[S], Any]] = []

    def refresh(self) -> S:
        """Build a new snapshot now (the workers call this after a sync or probe round)."""
        with self._building:
            snap = self.builder.build()
            self._snapshot = snap
            self.refreshes += 1
        if self.on_built is not None:
            try:
                self.on_built(snap)
            except Exception:  # the listener's failure is not the build's
                log.exception("%s: passing the new snapshot on failed", self.name)
        return snap

    # --- fed by another process ---------------------------------------------------------------

    def expect_feed(self, wait_s: float) -> None:
        """From now on the snapshots are built in another process and given to ``hold``
        (``govcloud.workers.process``): a read serves what is held without looking at the
        store, waits up to ``wait_s`` for the first one, and builds here only when none came
        or what is held is older than ``FED_STALE`` × ``max_age_s`` (that process is down)."""
        self._fed = threading.Event()
        self._fed_wait_s = wait_s

    def on_held(self, listener: Callable[[S], Any]) -> None:
        """Call ``listener`` with each snapshot ``hold`` is given, on the thread that gives
        it (the exporter renders it there, not in the next scrape)."""
        self._on_held.append(listener)

    def hold(self, snap: S) -> None:
        """Hold ``snap``, built in another process (see ``expect_feed``), once the
        listeners (``on_held``) have had it."""
        for listener in self._on_held:
            try:
                listener(snap)
            except Exception:  # a listener's failure is not the snapshot's
                log.exception("%s: a listener of the new snapshot failed", self.name)
        self._snapshot = snap
        self.refreshes += 1
        if self._fed is not None:
            self._fed.set()

    def _current_fed(self, fed: threading.Event) -> S:
        snap = self._snapshot
        if snap is None:
            fed.wait(self._fed_wait_s)
            snap = self._snapshot
            if snap is None:
                return self.refresh()
        if time.time() - snap.built_at > FED_STALE * self.max_age_s:
            self._refresh_in_background(seen=snap)
        return snap

    def current(self) -> S:
        """What a read serves: the held snapshot (built now only if there is none yet), at
        once: the read never waits on the store. Behind it one background task looks at the
        store's fingerprint and refreshes the snapshot when the store changed (or at once
        when the snapshot is old)."""
        if self._fed is not None:
            return self._current_fed(self._fed)
        snap = self._snapshot
        if snap is None:
            return self.refresh()
        old = time.time() - snap.built_at > self.max_age_s
        self._refresh_in_background(seen=snap, check=not old)
        return snap

    def _changed(self, snap: S) -> bool:
        """Whether the store's fingerprint moved since ``snap`` was built (False when the
        database is failing: what is held is served)."""
        try:
            with self.builder.engine.connect() as conn:
                return bool(self.builder.fingerprint(conn) != snap.fingerprint)
        except Exception:  # the database is failing: serve what is held
            log.warning("%s: cannot check the store for changes", self.name, exc_info=True)
            return False

    def refresh_soon(self) -> None:
        """Refresh in the background (nothing to do until the first read)."""
        if self._snapshot is not None:
            self._refresh_in_background()

    def _refresh_in_background(self, seen: S | None = None, *, check: bool = False) -> None:
        """Start one refresh unless one is running (or, given the snapshot the caller
        found stale, unless a newer one has been held since); with ``check``, only if the
        store changed since ``seen`` was built."""
        with self._flag:
            if self._refreshing or (seen is not None and self._snapshot is not seen):
                return
            self._refreshing = True

        def run() -> None:
            try:
                if check and seen is not None and not self._changed(seen):
                    return
                self.refresh()
            except Exception:  # logged; the next read tries again
                log.exception("%s: snapshot refresh failed", self.name)
            finally:
                with self._flag:
                    self._refreshing = False

        threading.Thread(target=run, name=f"govcloud-{self.name}-refresh", daemon=True).start()


class MetricsSnapshots(HeldSnapshots[Snapshot]):
    """The newest metrics snapshot, refreshed by the workers and, when the store changed, in
    the background of a scrape (one refresh at a time)."""

    builder: SnapshotBuilder

    def __init__(self, builder: SnapshotBuilder, *, max_age_s: float = MAX_AGE_S) -> None:
        super().__init__(builder, max_age_s=max_age_s, name="metrics")
