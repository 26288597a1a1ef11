"""The control plane's composition root: ``build_plane`` makes, once, everything a running
server shares, and the :class:`Plane` holds it.

A plane is the settings, the database engine (keyed with the audit key when there is one),
the clock, the sites' cloud connections (:class:`Clouds`, made on first use), the department
catalogue (re-read when its files change), the stored-snapshot cache, and the services built
on them: the syncer, the prober, the metrics snapshots, the provisioning context, the audit
checkpoint writer, the lock that keeps tenancy applies apart, this replica's identity and
its workers' leases (``Coordinator``) — and, once started, the background workers. Nothing
here is found by looking it up: the API app stores the plane once
(``govcloud.api.app.make_app``) and routes take it as a dependency
(``govcloud.api.deps.get_plane``); workers and the metrics exporter are given the parts they
need. Tests and the demo build as many planes as they like.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from govcloud.cloud.connect import connect
from govcloud.cloud.provision import check_references
from govcloud.domain.catalogue import Catalogue
from govcloud.domain.provisioning import (
    DEFAULT_POLICY,
    RequestSpec,
    SiteTarget,
    auto_approve_from_config,
    policy_from_config,
)
from govcloud.domain.sites import Site
from govcloud.errors import NotFound
from govcloud.services.audit_anchor import CheckpointWriter, open_key
from govcloud.services.dr_posture_held import HeldPostures, PostureBuilder
from govcloud.services.health import Prober
from govcloud.services.inventory import (
    CatalogueCache,
    SnapshotCache,
    catalogue_departments,
    city_dr_of,
    departments_of,
    dr_levels_of,
)
from govcloud.services.metrics import MetricsSnapshots, SnapshotBuilder
from govcloud.services.migration_run import Runs
from govcloud.services.notifications import Notifier, build_notifier
from govcloud.services.protection import Protector
from govcloud.services.protection_cycle import CycleDeps
from govcloud.services.provisioning import ProvisioningContext
from govcloud.services.replicas import Coordinator
from govcloud.services.sync import Syncer
from govcloud.settings import Settings
from govcloud.store.engine import make_engine
from govcloud.store.tables import utcnow as utcnow  # the default clock, for the API too

Clock = Callable[[], dt.datetime]
ConnectionsFactory = Callable[[], Mapping[str, Any]]
DEFAULT_CATALOGUE = Path("tenants")


class Clouds:
    """The sites' cloud connections, made on first use and then reused (thread-safe).

    ``factory`` returns ``{site name: openstacksdk Connection}``, production first.
    """

    def __init__(self, factory: ConnectionsFactory) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._connections: Mapping[str, Any] | None = None

    def connections(self) -> Mapping[str, Any]:
        with self._lock:
            if self._connections is None:
                self._connections = dict(self._factory())
            return self._connections

    def close(self) -> None:
        with self._lock:
            conns, self._connections = self._connections, None
        for conn in (conns or {}).values():
            close = getattr(conn, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # closing is best effort
                    close()


@dataclass(eq=False)
class Plane:
    """Everything one running control plane shares, built once by :func:`build_plane`."""

    settings: Settings
    engine: Engine
    clock: Clock
    clouds: Clouds
    catalogue_dir: Path
    catalogue_cache: CatalogueCache
    snapshot: SnapshotCache
    syncer: Syncer
    prober: Prober
    metrics: MetricsSnapshots
    provisioning: ProvisioningContext
    dr_posture: HeldPostures
    protector: Protector
    notifier: Notifier
    # this replica among those sharing the database, and its workers' leases
    replicas: Coordinator
    audit_checkpoints: CheckpointWriter | None = None
    apply_lock: threading.Lock = field(default_factory=threading.Lock)
    # the migration waves this process runs (each on a thread of its own, cancellable)
    migration_runs: Runs = field(default_factory=Runs)
    # the DR drills this process runs (the same step machine's runs)
    drill_runs: Runs = field(default_factory=lambda: Runs(
        "follow it with `govcloud dr drill show ID`"))
    # the DR failovers this process runs
    failover_runs: Runs = field(default_factory=lambda: Runs(
        "follow it with `govcloud dr failovers ID`"))
    # the host drains this process runs
    host_runs: Runs = field(default_factory=lambda: Runs(
        "follow it with `govcloud host show ID --follow`"))
    # the background workers, set when ``govcloud.workers`` starts them
    sync_worker: Any = None
    provision_worker: Any = None
    probe_worker: Any = None
    protection_worker: Any = None
    notifier_worker: Any = None
    change_window_worker: Any = None
    # what starts and stops them as this replica takes and loses their leases
    lease_keeper: Any = None
    # the worker process running them for this API process (``govcloud.workers.process``;
    # None: they run in this process, or not at all)
    worker_process: Any = None

    @property
    def sites(self) -> tuple[Site, ...]:
        return self.settings.site_list()


def connections_factory(settings: Settings,
                        clouds: ConnectionsFactory | Mapping[str, Any] | None = None
                        ) -> ConnectionsFactory:
    """``clouds`` as a factory: a mapping ``{site: Connection}`` as is, a function as is,
    None connecting to every configured site from ``clouds.yaml``."""
    if callable(clouds):
        return clouds
    if clouds is not None:
        fixed = dict(clouds)
        return lambda: fixed
    return lambda: {site.name: connect(site, clouds_yaml=settings.clouds_yaml)
                    for site in settings.site_list()}


def provisioning_context(*, engine: Engine, settings: Settings, clouds: Clouds,
                         catalogue: CatalogueCache, snapshot: SnapshotCache,
                         clock: Clock = utcnow,
                         notifier: Notifier | None = None) -> ProvisioningContext:
    """The provisioning use cases' context: the DR policy, auto-approvals, group policy and
    playbooks of ``settings``; image and network references checked in the target sites."""

    def current_catalogue() -> Catalogue:
        value = catalogue.get()
        if value is None:
            raise NotFound("no department catalogue", hint="start the server with --catalogue")
        return value

    def validator(spec: RequestSpec, targets: Sequence[SiteTarget]) -> list[str]:
        conns = clouds.connections()
        return [p for t in targets for p in check_references(conns[t.site], t.site, spec)]

    return ProvisioningContext(
        engine=engine, sites=settings.site_list(), catalogue=current_catalogue,
        policy=policy_from_config(settings.dr_policy) if settings.dr_policy else DEFAULT_POLICY,
        auto_approve=auto_approve_from_config(settings.auto_approve),
        group_policy=settings.provision_group_policy, validator=validator,
        clock=clock, playbooks=dict(settings.provision_playbooks),
        snapshot=snapshot,  # approvals place against the plane's cached hosts
        notify=notifier, change_control=settings.change_control)


def _audit(engine: Engine, settings: Settings,
           clock: Clock) -> tuple[Engine, CheckpointWriter | None]:
    """With ``settings.audit_key_file`` the engine keyed (every audit entry carries its MAC)
    and, with ``settings.audit_anchor_file`` as well, the writer of signed checkpoints."""
    if settings.audit_key_file is None:
        return engine, None
    engine, key = open_key(engine, settings.audit_key_file)
    if settings.audit_anchor_file is None:
        return engine, None
    return engine, CheckpointWriter(
        engine=engine, key=key, anchor_file=settings.audit_anchor_file,
        interval_s=settings.audit_checkpoint_interval_s,
        every_entries=settings.audit_checkpoint_entries, clock=clock)


def build_plane(*, engine: Engine, settings: Settings,
                clouds: ConnectionsFactory | Mapping[str, Any] | None = None,
                clock: Clock = utcnow, catalogue_dir: Path | None = None) -> Plane:
    """The plane of ``engine`` and ``settings``. ``clouds`` gives the sites' openstacksdk
    connections (see :func:`connections_factory`; none is made now); ``catalogue_dir`` is
    the department catalogue (default ``tenants``). Nothing talks to a cloud or builds a
    snapshot here: each part does its work on first use."""
    engine, checkpoints = _audit(engine, settings, clock)
    sites = settings.site_list()
    directory = catalogue_dir or DEFAULT_CATALOGUE
    catalogue = CatalogueCache(directory, [s.name for s in sites])
    snapshot = SnapshotCache()
    conns = Clouds(connections_factory(settings, clouds))
    clouds_yaml = settings.clouds_yaml
    posture = HeldPostures(PostureBuilder(
        engine=engine, policy=settings.protection_policy(), sites=sites, clock=clock,
        cities=lambda: catalogue_departments(catalogue)))
    notifier = build_notifier(engine=engine, settings=settings, catalogue=catalogue.get,
                              clock=clock)
    provisioning = provisioning_context(engine=engine, settings=settings, clouds=conns,
                                        catalogue=catalogue, snapshot=snapshot, clock=clock,
                                        notifier=notifier)
    return Plane(
        settings=settings, engine=engine, clock=clock, clouds=conns,
        catalogue_dir=directory, catalogue_cache=catalogue, snapshot=snapshot,
        syncer=Syncer(engine=engine, sites=sites, connections=conns.connections,
                      departments=lambda: departments_of(catalogue),
                      tombstone_retention=dt.timedelta(
                          days=settings.tombstone_retention_days)),
        prober=Prober(engine=engine, sites=sites,
                      connect=lambda site: connect(site, clouds_yaml=clouds_yaml),
                      timeout_s=settings.probe_timeout_s),
        metrics=MetricsSnapshots(SnapshotBuilder(
            engine=engine, sites=sites, dr_levels=lambda: dr_levels_of(catalogue),
            anchor_file=settings.audit_anchor_file, cache=snapshot, dr_posture=posture,
            city_dr=lambda: city_dr_of(catalogue) if settings.dr_city_sites else {})),
        provisioning=provisioning,
        dr_posture=posture,
        protector=Protector(CycleDeps(settings=settings, engine=engine,
                                      connections=conns.connections,
                                      provisioning=provisioning, clock=clock)),
        notifier=notifier,
        replicas=Coordinator(engine=engine, timing=settings.lease_timing(),
                             url=settings.replica_url),
        audit_checkpoints=checkpoints)


@contextlib.contextmanager
def scratch_plane(settings: Settings) -> Iterator[Plane]:
    """A throwaway plane on an in-memory database, connected to nothing (what the docs'
    endpoints table builds an app on: no route is called); the database goes at the end."""
    engine = make_engine("sqlite://")
    try:
        yield build_plane(engine=engine, settings=settings)
    finally:
        engine.dispose()
