"""The inventory snapshot in the store: writing one site's read in one transaction, and reading
it back as domain values for the capacity and server queries.

Writers take a SQLAlchemy ``Connection`` inside a transaction the caller owns (one per site):
either everything a sync read of a site is written, or — on any error — nothing is, and the
site's previous rows stay as they were. Rows are written in bulk with dialect upserts
(``INSERT ... ON CONFLICT DO UPDATE``) on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import BindParameter

from govcloud.domain.capacity import (
    DISK_GB,
    MEMORY_MB,
    VCPU,
    Inventory,
    Resources,
    flavor_request,
)
from govcloud.domain.inventory import (
    ComputeServiceInfo,
    HostState,
    HostStatus,
    HypervisorInfo,
    QuotaFigure,
    QuotaInfo,
    ServerInfo,
    ServerTombstone,
    ssh_endpoint,
)
from govcloud.domain.whatif import Load
from govcloud.store import server_changes
from govcloud.store.site_rows import replace_listing
from govcloud.store.tables import metadata

CHUNK = 2000
_PREFIX = {VCPU: "vcpu", MEMORY_MB: "ram", DISK_GB: "disk"}


def table(name: str) -> Table:
    return metadata.tables[name]


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands timestamps back without their zone; everything govcloud stores is UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def upsert(conn: Connection, tbl: Table, rows: Sequence[Mapping[str, Any]],
           keys: Sequence[str], *, since: tuple[str, str] | None = None) -> None:
    """Insert ``rows``, updating every non-key column of rows whose ``keys`` already exist.
    ``since`` (a time column and the column it times): the stored time is kept while the
    timed column keeps its value, and the row's new one taken when it changes."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(tbl)
    values = {c.name: stmt.excluded[c.name] for c in tbl.columns if c.name not in keys}
    if since is not None:
        when, what = since
        values[when] = case((tbl.c[what] == stmt.excluded[what],
                             func.coalesce(tbl.c[when], stmt.excluded[when])),
                            else_=stmt.excluded[when])
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=values)
    for chunk in _chunks(rows):
        conn.execute(stmt, list(chunk))


def _insert(conn: Connection, tbl: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    for chunk in _chunks(rows):
        conn.execute(insert(tbl), list(chunk))


# --- rows from domain values ------------------------------------------------------------------

STATUS_SINCE = ("status_since", "status")  # a server's status, and since when it has it

def server_row(site: str, s: ServerInfo, department: str | None) -> dict[str, Any]:
    return {"site": site, "id": s.id, "name": s.name[:255], "project_id": s.project_id,
            "department": department, "status": s.status, "flavor_name": s.flavor_name,
            "vcpus": s.vcpus, "ram_mb": s.ram_mb, "disk_gb": s.disk_gb,
            "ephemeral_gb": s.ephemeral_gb, "swap_mb": s.swap_mb,
            "boot_from_volume": s.boot_from_volume, "host": s.host,
            "availability_zone": s.availability_zone, "created": s.created,
            "updated": s.updated, "deleted_at": None, "ssh_endpoint": ssh_endpoint(s),
            # since when it has had its status: Nova's last update of it when the status is
            # new (the upsert keeps the stored time while the status stays)
            "status_since": s.updated, "change_seq": None}


def hypervisor_row(site: str, h: HypervisorInfo, generation: int | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "site": site, "id": h.id, "hostname": h.hostname, "state": h.state.value,
        "status": h.status.value, "availability_zone": h.availability_zone,
        "disabled_reason": h.disabled_reason, "provider_uuid": h.provider_uuid,
        "provider_generation": generation, "running_servers": h.running_servers}
    for rc, prefix in _PREFIX.items():
        inv = h.inventories.get(rc)
        row[f"{prefix}_total"] = inv.total if inv else 0
        row[f"{prefix}_reserved"] = inv.reserved if inv else 0
        row[f"{prefix}_ratio"] = inv.allocation_ratio if inv else 1.0
        row[f"{prefix}_max_unit"] = inv.max_unit if inv else None
        row[f"{prefix}_used"] = int(h.usages.get(rc, 0))
    return row


def service_row(site: str, s: ComputeServiceInfo) -> dict[str, Any]:
    return {"site": site, "id": s.id, "binary": s.binary, "host": s.host, "zone": s.zone,
            "state": s.state.value, "status": s.status.value, "forced_down": s.forced_down,
            "disabled_reason": s.disabled_reason, "updated_at": s.updated_at}


def quota_rows(site: str, quotas: Iterable[QuotaInfo],
               department_of: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"site": site, "project_id": q.project_id, "resource": name,
             "department": department_of.get(q.project_id), "limit": f.limit,
             "in_use": f.in_use}
            for q in quotas for name, f in q.figures.items()]


@dataclass(frozen=True, slots=True)
class ProjectMapping:
    """One department's project in one site."""

    department: str
    project_id: str
    project_name: str
    city: str | None


# --- writers (inside the caller's transaction) ------------------------------------------------

def detached_since(conn: Connection, site: str) -> dict[str, dt.datetime]:
    """Since when each of the site's stored volumes has been attached to nothing (those
    attached, or whose time is not known, left out)."""
    vol = table("volume")
    return {r.id: aware(r.detached_since) or r.detached_since for r in conn.execute(
        select(vol.c.id, vol.c.detached_since).where(
            vol.c.site == site, vol.c.attached_to == "", vol.c.detached_since.is_not(None)))}


def replace_site_rows(conn: Connection, name: str, site: str,
                      rows: Sequence[Mapping[str, Any]]) -> None:
    """The site's rows of table ``name`` become exactly ``rows`` (a complete listing), only
    what differs written (``site_rows.replace_listing``)."""
    replace_listing(conn, table(name), site, rows)


def replace_hypervisors(conn: Connection, site: str, hypervisors: Sequence[HypervisorInfo],
                        generations: Mapping[str, int | None]) -> None:
    """The site's hypervisors become exactly these (``generations``: each provider's)."""
    replace_site_rows(conn, "hypervisor", site, [
        hypervisor_row(site, h, generations.get(h.provider_uuid or "")) for h in hypervisors])


def replace_services(conn: Connection, site: str,
                     services: Sequence[ComputeServiceInfo]) -> None:
    """The site's compute services become exactly these."""
    replace_site_rows(conn, "compute_service", site, [service_row(site, s) for s in services])


def replace_quotas(conn: Connection, site: str, quotas: Sequence[QuotaInfo],
                   department_of: Mapping[str, str]) -> None:
    replace_listing(conn, table("quota_usage"), site, quota_rows(site, quotas, department_of))


def set_quota_limits(conn: Connection, site: str, project_id: str, department: str,
                     figures: Mapping[str, tuple[int, int]]) -> None:
    """Record limits just set in the cloud: ``figures`` maps a stored resource name (the
    cloud's, as sync stores it) to (limit, in use). A stored row keeps its usage and takes
    the new limit; a missing row is added with the usage given."""
    if not figures:
        return
    tbl = table("quota_usage")
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(tbl)
    stmt = stmt.on_conflict_do_update(
        index_elements=["site", "project_id", "resource"],
        set_={"limit": stmt.excluded["limit"], "department": stmt.excluded["department"]})
    conn.execute(stmt, [{"site": site, "project_id": project_id, "resource": resource,
                         "department": department, "limit": limit, "in_use": in_use}
                        for resource, (limit, in_use) in sorted(figures.items())])


def replace_mapping(conn: Connection, site: str, mappings: Sequence[ProjectMapping]) -> bool:
    """The site's department → project mapping becomes ``mappings``; True if it changed."""
    tbl = table("department_site")
    old = {(r.department, r.project_id, r.project_name, r.city)
           for r in conn.execute(select(tbl).where(tbl.c.site == site))}
    new = {(m.department, m.project_id, m.project_name, m.city) for m in mappings}
    if old == new:
        return False
    conn.execute(delete(tbl).where(tbl.c.site == site))
    _insert(conn, tbl, [{"department": m.department, "site": site, "project_id": m.project_id,
                         "project_name": m.project_name[:255], "city": m.city}
                        for m in mappings])
    return True


def record_mappings(conn: Connection, mappings: Mapping[str, Sequence[ProjectMapping]]) -> None:
    """Record (insert or update) each site's department → project mapping as tenancy apply
    knows it, without touching other departments' mappings, and label the servers of those
    projects (and their volumes) with their department at once (sync would on its next run)."""
    tbl = table("department_site")
    labelled = (table("server"), table("volume"))
    for site, entries in mappings.items():
        upsert(conn, tbl, [{"department": m.department, "site": site, "project_id": m.project_id,
                            "project_name": m.project_name[:255], "city": m.city}
                           for m in entries], keys=("department", "site"))
        for m in entries:
            for t in labelled:
                changed = and_(t.c.site == site, t.c.project_id == m.project_id,
                               t.c.department.is_distinct_from(m.department))
                values = {"change_seq": None} if t.name == "server" else {}
                conn.execute(update(t).where(changed).values(department=m.department,
                                                              **values))
    # servers moved between departments: a changes-since cursor from before cannot say so
    server_changes.stamp(conn, horizon=True)


def relabel_servers(conn: Connection, site: str, department_of: Mapping[str, str]) -> None:
    """Set every server's department from ``department_of`` (after the mapping changed); only
    rows whose department differs are written (and left for the next ``stamp``)."""
    srv = table("server")
    conn.execute(update(srv).where(and_(srv.c.site == site, srv.c.department.is_not(None),
                                        srv.c.project_id.not_in(list(department_of))))
                 .values(department=None, change_seq=None))
    for project_id, code in department_of.items():
        conn.execute(update(srv).where(and_(srv.c.site == site, srv.c.project_id == project_id,
                                            srv.c.department.is_distinct_from(code)))
                     .values(department=code, change_seq=None))


def flavors_named(conn: Connection, name: str) -> list[dict[str, Any]]:
    """The synced flavors called ``name`` in every site (or with that id), site order."""
    tbl = table("flavor")
    return [dict(r._mapping) for r in conn.execute(
        select(tbl).where(or_(tbl.c.name == name, tbl.c.id == name)).order_by(tbl.c.site))]


def flavor_names(conn: Connection, *, limit: int = 50) -> list[str]:
    tbl = table("flavor")
    return sorted({r[0] for r in conn.execute(select(tbl.c.name).distinct().limit(limit))})


def volume_totals(conn: Connection) -> dict[str, tuple[int, int]]:
    """site → (volumes, GB) stored for it (sites with none left out): one grouped query,
    however many sites there are."""
    tbl = table("volume")
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in conn.execute(
        select(tbl.c.site, func.count(), func.coalesce(func.sum(tbl.c.size_gb), 0))
        .group_by(tbl.c.site))}


def purge_tombstones(conn: Connection, site: str, *, before: dt.datetime) -> int:
    """Delete the site's rows of servers deleted before ``before``; how many went. The
    deletions they recorded can no longer be listed as changes: the horizon moves past them."""
    srv = table("server")
    old = and_(srv.c.site == site, srv.c.deleted_at.is_not(None), srv.c.deleted_at < before)
    server_changes.raise_horizon(conn, server_changes.purged_up_to(conn, old))
    result = conn.execute(delete(srv).where(old))
    return int(result.rowcount or 0)


def replace_servers(conn: Connection, site: str, servers: Sequence[ServerInfo],
                    department_of: Mapping[str, str], at: dt.datetime) -> int:
    """A full listing: upsert every server and tombstone (``deleted_at = at``) the site's
    live servers that are not in it. Returns how many were tombstoned. The rows changed are
    left for the caller's ``server_changes.stamp`` (the sync stamps once, at its end)."""
    srv = table("server")
    live = {r[0] for r in conn.execute(
        select(srv.c.id).where(and_(srv.c.site == site, srv.c.deleted_at.is_(None))))}
    gone = sorted(live - {s.id for s in servers})
    server_changes.upsert_servers_changed(
        conn, [server_row(site, s, department_of.get(s.project_id)) for s in servers],
        since=STATUS_SINCE)
    tombstone(conn, site, gone, at, stamp=False)
    return len(gone)


def upsert_servers(conn: Connection, site: str, servers: Sequence[ServerInfo],
                   department_of: Mapping[str, str], *, stamp: bool = True) -> None:
    """Write these servers (only those that changed); ``stamp``: give them their change
    number now (False: the caller stamps before it commits)."""
    server_changes.upsert_servers_changed(
        conn, [server_row(site, s, department_of.get(s.project_id)) for s in servers],
        since=STATUS_SINCE)
    if stamp:
        server_changes.stamp(conn)


def tombstone(conn: Connection, site: str, ids: Sequence[str], at: dt.datetime, *,
              stamp: bool = True) -> None:
    srv = table("server")
    for chunk in _chunks(ids, 500):
        conn.execute(update(srv).where(and_(srv.c.site == site, srv.c.id.in_(list(chunk)),
                                            srv.c.deleted_at.is_(None)))
                     .values(deleted_at=at, change_seq=None))
    if stamp and ids:
        server_changes.stamp(conn)


def tombstone_deleted(conn: Connection, site: str, deleted: Sequence[ServerTombstone],
                      at: dt.datetime) -> None:
    tombstone(conn, site, [t.id for t in deleted], at, stamp=False)


def add_sample(conn: Connection, site: str, at: dt.datetime, allocated: Resources,
               capacity: Resources, *, hosts_in_service: int | None = None,
               hosts_up: int | None = None) -> None:
    conn.execute(insert(table("capacity_sample")).values(
        site=site, at=at, vcpu_allocated=allocated.vcpu, vcpu_capacity=capacity.vcpu,
        ram_allocated=allocated.ram_mb, ram_capacity=capacity.ram_mb,
        disk_allocated=allocated.disk_gb, disk_capacity=capacity.disk_gb,
        hosts_in_service=hosts_in_service, hosts_up=hosts_up))


def host_samples(conn: Connection, start: dt.datetime,
                 end: dt.datetime) -> list[tuple[str, int, int]]:
    """(site, hosts in service, hosts up) of each capacity sample from ``start`` to ``end``
    that counted them."""
    tbl = table("capacity_sample")
    rows = conn.execute(select(tbl.c.site, tbl.c.hosts_in_service, tbl.c.hosts_up).where(
        and_(tbl.c.at >= start, tbl.c.at < end, tbl.c.hosts_in_service.is_not(None),
             tbl.c.hosts_up.is_not(None))))
    return [(str(r.site), int(r.hosts_in_service), int(r.hosts_up)) for r in rows]


def live_servers(conn: Connection, site: str) -> int:
    srv = table("server")
    return int(conn.execute(select(func.count()).select_from(srv).where(
        and_(srv.c.site == site, srv.c.deleted_at.is_(None)))).scalar_one())


def record_success(conn: Connection, site: str, *, at: dt.datetime, duration_s: float,
                   watermark: dt.datetime, full: bool, servers: int, hypervisors: int) -> None:
    values: dict[str, Any] = {
        "site": site, "last_attempt": at, "last_success": at, "duration_s": duration_s,
        "error": None, "stale": False, "watermark": watermark, "servers": servers,
        "hypervisors": hypervisors}
    if full:
        values["last_full"] = at
    else:
        previous = conn.execute(select(table("site_sync").c.last_full).where(
            table("site_sync").c.site == site)).scalar_one_or_none()
        values["last_full"] = previous
    upsert(conn, table("site_sync"), [values], ("site",))


def record_failure(conn: Connection, site: str, *, at: dt.datetime, duration_s: float,
                   error: str) -> None:
    """Mark the site stale with the reason; its inventory rows are left exactly as they are."""
    tbl = table("site_sync")
    exists = conn.execute(select(tbl.c.site).where(tbl.c.site == site)).first() is not None
    values = {"last_attempt": at, "duration_s": duration_s, "error": error[:2000],
              "stale": True}
    if exists:
        conn.execute(update(tbl).where(tbl.c.site == site).values(**values))
    else:
        conn.execute(insert(tbl).values(site=site, servers=0, hypervisors=0, **values))


# --- readers ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SyncState:
    """One site's freshness as stored."""

    site: str
    last_attempt: dt.datetime | None
    last_success: dt.datetime | None
    last_full: dt.datetime | None
    duration_s: float | None
    error: str | None
    stale: bool
    watermark: dt.datetime | None
    servers: int
    hypervisors: int

    def to_dict(self) -> dict[str, Any]:
        def iso(v: dt.datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {"site": self.site, "last_attempt": iso(self.last_attempt),
                "last_success": iso(self.last_success), "last_full": iso(self.last_full),
                "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
                "error": self.error, "stale": self.stale, "servers": self.servers,
                "hypervisors": self.hypervisors}


def sync_states(conn: Connection) -> dict[str, SyncState]:
    return {r.site: sync_state_of(r._mapping) for r in conn.execute(SYNC_STATES)}


SYNC_STATES = select(table("site_sync"))


def sync_state_of(r: Mapping[Any, Any]) -> SyncState:
    """A ``site_sync`` row (``SYNC_STATES``) as a SyncState."""
    return SyncState(
        site=r["site"], last_attempt=aware(r["last_attempt"]),
        last_success=aware(r["last_success"]), last_full=aware(r["last_full"]),
        duration_s=r["duration_s"], error=r["error"], stale=bool(r["stale"]),
        watermark=aware(r["watermark"]), servers=int(r["servers"]),
        hypervisors=int(r["hypervisors"]))


def hosts(conn: Connection, site: str) -> list[HypervisorInfo]:
    """The site's hypervisors with their stored Placement figures (for the domain's
    capacity and flavor-fit functions)."""
    hv = table("hypervisor")
    out = []
    for r in conn.execute(select(hv).where(hv.c.site == site).order_by(hv.c.hostname)):
        m = r._mapping
        inventories: dict[str, Inventory] = {}
        usages: dict[str, int] = {}
        for rc, prefix in _PREFIX.items():
            if m[f"{prefix}_total"]:
                inventories[rc] = Inventory(
                    resource_class=rc, total=m[f"{prefix}_total"],
                    reserved=m[f"{prefix}_reserved"], allocation_ratio=m[f"{prefix}_ratio"],
                    max_unit=m[f"{prefix}_max_unit"])
            if m[f"{prefix}_used"]:
                usages[rc] = m[f"{prefix}_used"]
        out.append(HypervisorInfo(
            id=m["id"], hostname=m["hostname"], state=HostState(m["state"]),
            status=HostStatus(m["status"]), availability_zone=m["availability_zone"],
            disabled_reason=m["disabled_reason"], provider_uuid=m["provider_uuid"],
            inventories=inventories, usages=usages, running_servers=m["running_servers"]))
    return out


def loads(conn: Connection, sites: Iterable[str]) -> dict[str, dict[str, Load]]:
    """site → department → load of the placed live servers (grouped by size in SQL); servers
    of projects mapped to no department count under their project id."""
    srv = table("server")
    key = func.coalesce(srv.c.department, srv.c.project_id)
    q = (select(srv.c.site, key.label("dept"), srv.c.vcpus, srv.c.ram_mb, srv.c.disk_gb,
                srv.c.ephemeral_gb, srv.c.swap_mb, srv.c.boot_from_volume,
                func.count().label("n"))
         .where(and_(srv.c.site.in_(list(sites)), srv.c.deleted_at.is_(None),
                     srv.c.host.is_not(None)))
         .group_by(srv.c.site, key, srv.c.vcpus, srv.c.ram_mb, srv.c.disk_gb,
                   srv.c.ephemeral_gb, srv.c.swap_mb, srv.c.boot_from_volume))
    out: dict[str, dict[str, Load]] = {}
    for r in conn.execute(q):
        one = flavor_request(vcpus=r.vcpus, ram_mb=r.ram_mb, disk_gb=r.disk_gb,
                             ephemeral_gb=r.ephemeral_gb, swap_mb=r.swap_mb,
                             boot_from_volume=bool(r.boot_from_volume))
        n = int(r.n)
        load = Load(n, Resources(one.vcpu * n, one.ram_mb * n, one.disk_gb * n))
        site_loads = out.setdefault(r.site, {})
        site_loads[r.dept] = site_loads.get(r.dept, Load()) + load
    return out


def active_use(conn: Connection) -> dict[str, Resources]:
    """site → what its live ACTIVE servers hold (vCPU, RAM MiB, root + ephemeral disk GiB):
    the *used* figure of capacity (*allocated* is what Placement has handed out, to servers
    in any state). Shared by ``/metrics`` and ``GET /capacity``."""
    srv = table("server")
    return {r[0]: Resources(int(r[1] or 0), int(r[2] or 0), int(r[3] or 0))
            for r in conn.execute(
                select(srv.c.site, func.sum(srv.c.vcpus), func.sum(srv.c.ram_mb),
                       func.sum(srv.c.disk_gb + srv.c.ephemeral_gb))
                .where(and_(srv.c.deleted_at.is_(None), srv.c.status == "ACTIVE"))
                .group_by(srv.c.site))}


COMMITTED_QUOTAS = ("cores", "ram", "instances")  # Nova's names, as sync stores them


def department_quotas(conn: Connection) -> dict[str, list[QuotaInfo]]:
    """site → the compute quotas (cores, ram, instances) of every project mapped to a
    department, as the last sync (or tenancy apply) stored them: what ``quota_commitment``
    sums. Admin and service projects (no department) are left out."""
    q = table("quota_usage")
    rows = conn.execute(
        select(q.c.site, q.c.project_id, q.c.resource, q.c.limit, q.c.in_use)
        .where(and_(q.c.department.is_not(None), q.c.resource.in_(COMMITTED_QUOTAS))))
    figures: dict[tuple[str, str], dict[str, QuotaFigure]] = {}
    for r in rows:
        figures.setdefault((r.site, r.project_id), {})[r.resource] = QuotaFigure(
            int(r.limit), int(r.in_use))
    out: dict[str, list[QuotaInfo]] = {}
    for (site, project), figs in sorted(figures.items()):
        out.setdefault(site, []).append(QuotaInfo(project, figs))
    return out


def department_cities(conn: Connection) -> dict[str, str | None]:
    """Every department the store maps to a project in some site, with its city."""
    tbl = table("department_site")
    out: dict[str, str | None] = {}
    # one row a (department, city), not a (department, site): every scoped read asks
    for department, city in conn.execute(select(tbl.c.department, tbl.c.city).distinct()):
        out[department] = out.get(department) or city
    return out


def project_departments(conn: Connection, site: str) -> dict[str, str]:
    tbl = table("department_site")
    return {r.project_id: r.department for r in conn.execute(
        select(tbl.c.project_id, tbl.c.department).where(tbl.c.site == site))}


def server_page(conn: Connection, *, departments: Sequence[str] | None,
                include_unmapped: bool, site: str | None, status: str | None,
                after: tuple[str, str] | None, limit: int) -> Sequence[RowMapping]:
    """Live servers (their ``LISTED`` columns) ordered by (site, id), after the cursor
    ``(site, id)``.

    ``departments`` None means every department; ``include_unmapped`` adds servers of
    projects mapped to no department (only for principals who see the whole cloud).
    """
    if after is not None and site is not None and after[0] != site:
        if after[0] > site:
            return []  # the cursor is past the site
        after = None  # and before it: from its first server
    params: dict[str, Any] = {"limit": limit}
    if departments is not None:
        params["departments"] = list(departments)
    if site is not None:
        params["site"] = site
    if status is not None:
        params["status"] = status.upper()
    if after is not None:
        params["after_site"], params["after_id"] = after
    q = _listing(departments is not None, include_unmapped, site is not None,
                 status is not None, after is not None)
    return conn.execute(q, params).mappings().all()  # read-only rows: half a dict()'s cost


@functools.cache
def _listing(departments: bool, include_unmapped: bool, site: bool, status: bool,
             after: bool) -> Select[Any]:
    """``server_page``'s statement of one shape, built once (building it was a third of the
    page's CPU), its values bound parameters. A cursor on a fixed site is said as ``id > ?``,
    which the planners use as a range on the listing's index (``ix_server_department_site_id``)
    or the primary key; the portable form, ``site > ? OR (site = ? AND id > ?)``, is a filter
    to both, and SQLite then sorts the department's every server of the site (19 ms at
    province scale, 0.9 ms as a range)."""
    srv = table("server")
    scope: BindParameter[Any] | None = \
        bindparam("departments", expanding=True) if departments else None
    conds: list[Any] = [srv.c.deleted_at.is_(None),
                        *server_changes.scope_conditions(srv, scope, include_unmapped)]
    if site:
        conds.append(srv.c.site == bindparam("site"))
    if status:
        conds.append(srv.c.status == bindparam("status"))
    if after and site:
        conds.append(srv.c.id > bindparam("after_id"))
    elif after:
        conds.append(or_(srv.c.site > bindparam("after_site"),
                         and_(srv.c.site == bindparam("after_site"),
                              srv.c.id > bindparam("after_id"))))
    return (select(*(srv.c[n] for n in LISTED)).where(and_(*conds))
            .order_by(srv.c.site, srv.c.id).limit(bindparam("limit")))


# what a listing shows of a server (``services.server_listing.server_json``)
LISTED = ("site", "id", "name", "project_id", "department", "status", "flavor_name", "vcpus",
          "ram_mb", "disk_gb", "host", "availability_zone", "created", "updated", "deleted_at")


def server_counts(conn: Connection, *, departments: Sequence[str] | None,
                  include_unmapped: bool) -> dict[str, dict[str, int]]:
    """site → status → count of live servers in scope."""
    srv = table("server")
    conds: list[Any] = [srv.c.deleted_at.is_(None),
                        *server_changes.scope_conditions(srv, departments, include_unmapped)]
    out: dict[str, dict[str, int]] = {}
    q = (select(srv.c.site, srv.c.status, func.count().label("n")).where(and_(*conds))
         .group_by(srv.c.site, srv.c.status))
    for r in conn.execute(q):
        out.setdefault(r.site, {})[r.status] = int(r.n)
    return out


def samples(conn: Connection, site: str, *, limit: int = 500,
            before: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The site's newest capacity samples (taken before ``before`` when given), oldest
    first."""
    tbl = table("capacity_sample")
    query = select(tbl).where(tbl.c.site == site)
    if before is not None:
        query = query.where(tbl.c.at < before)
    rows = conn.execute(query.order_by(tbl.c.at.desc()).limit(limit)).all()
    return [{**r._mapping, "at": aware(r.at)} for r in reversed(rows)]
