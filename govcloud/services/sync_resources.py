"""What the inventory sync reads and writes, declared once per kind of resource.

A :class:`SyncedResource` says, for one kind of resource of a site:

* ``read``: how to read all of it on a full sync — for a plain paged listing, a
  :class:`~govcloud.cloud.listings.Listing` (where it is listed, how it pages, how one entry
  parses) run by ``SiteReader.list_all``;
* ``changes``: how to read what changed since the site's watermark on an incremental sync
  (its value's ``next_since`` becomes the next watermark); without it, ``every_sync`` says
  whether an incremental sync reads the resource whole again or leaves it to the next full one;
* ``write`` / ``write_changes``: how the values become rows in the store, inside the site's one
  write transaction; they return counts (``changed``, ``deleted``, ``hypervisors``) for the
  site's report;
* ``own_thread``: read on a thread of its own beside the others (a long sequential listing);
  ``remember``: the last successful read is kept for the next run (``SiteRun.previous``).

:data:`RESOURCES` lists them in read order (a hook may use what the ones before it read,
``SiteRun.read``) and :class:`govcloud.services.sync.Syncer` runs them. Adding a resource to
sync: docs/sync.md, "Adding a resource to sync".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from govcloud.cloud import listings
from govcloud.cloud.inventory import SiteReader
from govcloud.domain.capacity import site_capacity
from govcloud.domain.inventory import (
    ComputeServiceInfo,
    FlavorInfo,
    HostState,
    HypervisorInfo,
    ProviderInfo,
    QuotaInfo,
    ServerChanges,
    ServerInfo,
    VolumeInfo,
)
from govcloud.store import hosts_repo
from govcloud.store import inventory as store

T = TypeVar("T")

Counts = Mapping[str, int]  # what a write did, summed over the resources into the site's report
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SiteRun:
    """One site's sync as the resources' hooks see it."""

    site: str
    full: bool
    at: dt.datetime  # when the sync began (the tombstones' deleted_at, the sample's time)
    since: dt.datetime | None  # the stored watermark (incremental syncs)
    department_of: Mapping[str, str]  # project id → department code, from Keystone
    previous: Mapping[str, Any] = field(default_factory=dict)  # last read of `remember` ones
    read: dict[str, Any] = field(default_factory=dict)  # this run's reads so far, by name
    relabel: bool = False  # the department mapping changed in this run (writes only)
    purge_before: dt.datetime | None = None  # full syncs: tombstones older than this go

    @property
    def project_ids(self) -> list[str]:
        return list(self.department_of)


@dataclass(frozen=True, slots=True)
class SyncedResource(Generic[T]):
    """One kind of resource the sync copies into the store (see the module's docstring)."""

    name: str
    read: Callable[[SiteReader, SiteRun], T]
    write: Callable[[Connection, SiteRun, T], Counts]
    changes: Callable[[SiteReader, SiteRun], Any] | None = None
    write_changes: Callable[[Connection, SiteRun, Any], Counts] | None = None
    every_sync: bool = False  # without `changes`: read whole on incremental syncs too
    own_thread: bool = False
    remember: bool = False

    def runs(self, *, full: bool) -> bool:
        """Whether a full (or incremental) sync reads and writes this resource."""
        return full or self.changes is not None or self.every_sync

    def read_for(self, reader: SiteReader, run: SiteRun) -> Any:
        """The run's read: the whole resource, or its changes on an incremental sync."""
        if run.full or self.changes is None:
            return self.read(reader, run)
        return self.changes(reader, run)

    def write_for(self, conn: Connection, run: SiteRun, value: Any) -> Counts:
        if run.full or self.changes is None:
            return self.write(conn, run, value)
        assert self.write_changes is not None, f"{self.name}: changes without write_changes"
        return self.write_changes(conn, run, value)


def replaced(table: str, row: Callable[[SiteRun, T], Row]
             ) -> Callable[[Connection, SiteRun, Sequence[T] | None], Counts]:
    """The common writer: a complete listing replaces the site's rows of ``table`` (None:
    the site cannot list the resource; its rows are left alone)."""
    def write(conn: Connection, run: SiteRun, items: Sequence[T] | None) -> Counts:
        if items is not None:
            store.replace_site_rows(conn, table, run.site, [row(run, x) for x in items])
        return {}
    return write


# --- compute services ---------------------------------------------------------------------------

def _write_services(conn: Connection, run: SiteRun,
                    services: Sequence[ComputeServiceInfo]) -> Counts:
    store.replace_services(conn, run.site, services)
    return {}


SERVICES: SyncedResource[list[ComputeServiceInfo]] = SyncedResource(
    "services", read=lambda reader, run: reader.services(), write=_write_services,
    every_sync=True)


# --- servers ------------------------------------------------------------------------------------

def _write_servers(conn: Connection, run: SiteRun, servers: Sequence[ServerInfo]) -> Counts:
    """A full listing: upsert them all, tombstone the ones no longer listed, purge old
    tombstones."""
    deleted = store.replace_servers(conn, run.site, servers, run.department_of, run.at)
    if run.purge_before is not None:
        store.purge_tombstones(conn, run.site, before=run.purge_before)
    return {"changed": len(servers), "deleted": deleted}


def _server_changes(reader: SiteReader, run: SiteRun) -> ServerChanges:
    assert run.since is not None
    return reader.server_changes(run.since)


def _write_server_changes(conn: Connection, run: SiteRun, changes: ServerChanges) -> Counts:
    if run.relabel:
        store.relabel_servers(conn, run.site, run.department_of)
    store.upsert_servers(conn, run.site, changes.changed, run.department_of, stamp=False)
    store.tombstone_deleted(conn, run.site, changes.deleted, run.at)
    return {"changed": len(changes.changed), "deleted": len(changes.deleted)}


SERVERS: SyncedResource[list[ServerInfo]] = SyncedResource(
    "servers", read=lambda reader, run: reader.servers(), write=_write_servers,
    changes=_server_changes, write_changes=_write_server_changes, own_thread=True)


# --- hypervisors with their Placement providers --------------------------------------------------

@dataclass(frozen=True, slots=True)
class Hosts:
    providers: tuple[ProviderInfo, ...]
    hypervisors: tuple[HypervisorInfo, ...]


def _read_hosts(reader: SiteReader, run: SiteRun) -> Hosts:
    """Providers (reusing the last run's whose generation is unchanged), then hypervisors
    joined with them and with the compute services read before."""
    last: Hosts | None = run.previous.get("hypervisors")
    providers = reader.providers(previous=last.providers if last else ())
    hypervisors = reader.hypervisors(services=run.read["services"], providers=providers)
    return Hosts(tuple(providers), tuple(hypervisors))


def _write_hosts(conn: Connection, run: SiteRun, hosts: Hosts) -> Counts:
    """The hypervisors, and the capacity sample the forecast is fitted on (of the hosts in
    service: those in maintenance count in no capacity, docs/hosts.md)."""
    generations = {p.uuid: p.generation for p in hosts.providers}
    store.replace_hypervisors(conn, run.site, hosts.hypervisors, generations)
    maintenance = hosts_repo.maintenance_names(conn).get(run.site, frozenset())
    in_service = [h for h in hosts.hypervisors if h.hostname not in maintenance]
    capacity = site_capacity(run.site, in_service)
    store.add_sample(conn, run.site, run.at, capacity.allocated, capacity.capacity,
                     hosts_in_service=len(in_service),
                     hosts_up=sum(1 for h in in_service if h.state is HostState.UP))
    return {"hypervisors": len(hosts.hypervisors)}


HYPERVISORS: SyncedResource[Hosts] = SyncedResource(
    "hypervisors", read=_read_hosts, write=_write_hosts, every_sync=True, remember=True)


# --- quotas, volumes, flavors (full syncs only) ---------------------------------------------------

def _write_quotas(conn: Connection, run: SiteRun, quotas: Sequence[QuotaInfo]) -> Counts:
    store.replace_quotas(conn, run.site, quotas, run.department_of)
    return {}


QUOTAS: SyncedResource[list[QuotaInfo]] = SyncedResource(
    "quotas", read=lambda reader, run: reader.all_quotas(run.project_ids), write=_write_quotas)


def _volume_row(run: SiteRun, v: VolumeInfo) -> Row:
    return {"site": run.site, "id": v.id, "name": v.name[:255], "project_id": v.project_id,
            "department": run.department_of.get(v.project_id), "size_gb": v.size_gb,
            "status": v.status[:32], "volume_type": v.volume_type, "bootable": v.bootable,
            "attached_to": ",".join(v.attached_to)[:1024], "detached_since": None}


def _write_volumes(conn: Connection, run: SiteRun, volumes: Sequence[VolumeInfo] | None
                   ) -> Counts:
    """A complete listing replaces the site's volumes; a volume attached to nothing keeps the
    time it was first seen so (the reclaim report's "detached since"), or takes Cinder's last
    change of it (its detach) when it was attached before or is new."""
    if volumes is None:
        return {}
    before = store.detached_since(conn, run.site)
    rows = []
    for v in volumes:
        row = _volume_row(run, v)
        if not v.attached_to:
            row["detached_since"] = before.get(v.id) or v.updated_at or run.at
        rows.append(row)
    store.replace_site_rows(conn, "volume", run.site, rows)
    return {}


VOLUMES: SyncedResource[list[VolumeInfo] | None] = SyncedResource(
    "volumes", read=lambda reader, run: reader.volumes(),  # None: the site has no Cinder
    write=_write_volumes)


def _flavor_row(run: SiteRun, f: FlavorInfo) -> Row:
    return {"site": run.site, "id": f.id[:255], "name": f.name[:255], "vcpus": f.vcpus,
            "ram_mb": f.ram_mb, "disk_gb": f.disk_gb, "ephemeral_gb": f.ephemeral_gb,
            "swap_mb": f.swap_mb, "is_public": f.is_public}


FLAVORS: SyncedResource[list[FlavorInfo]] = SyncedResource(
    "flavors", read=lambda reader, run: reader.list_all(listings.FLAVORS),
    write=replaced("flavor", _flavor_row))


# In read order: compute services first (the site's clock for the watermark), the server
# listing then on its own thread while the rest is read.
RESOURCES: tuple[SyncedResource[Any], ...] = (
    SERVICES, SERVERS, HYPERVISORS, QUOTAS, VOLUMES, FLAVORS)
