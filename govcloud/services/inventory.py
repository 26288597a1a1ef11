"""Inventory queries from the stored snapshot: capacity per site (with flavor fit and the
lose-a-site what-if), servers paged and filtered within the caller's scope, and the status
screen. Nothing here calls a cloud: answers come from the last sync, and every answer says how
fresh its data is (``data_as_of``, ``stale``).

RBAC: callers pass the principal; server lists and counts are narrowed to the departments the
principal may see (``visible_departments``), and servers of projects mapped to no department
only appear for principals who see the whole cloud.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, select

from govcloud.domain.capacity import (
    FlavorSpec,
    Resources,
    SiteCapacity,
    capacity_by_zone,
    flavor_fit,
    site_capacity,
)
from govcloud.domain.catalogue import CITY_KINDS, Catalogue, Department
from govcloud.domain.forecast import Sample, days_to_full
from govcloud.domain.inventory import HypervisorInfo
from govcloud.domain.placement import FitIndex
from govcloud.domain.quota import quota_commitment
from govcloud.domain.rbac import GLOBAL, Action, Principal, can, require, visible_departments
from govcloud.domain.sites import Site, site_target, sites_within
from govcloud.domain.whatif import lose_site
from govcloud.errors import GovCloudError, InvalidInput, NotFound
from govcloud.services.catalogue import load_catalogue
from govcloud.store import fleet as fleet_store
from govcloud.store import hosts_repo
from govcloud.store import inventory as store

log = logging.getLogger(__name__)

MAX_PAGE = 1000
DEFAULT_PAGE = 100
FULL_ALERT = 0.9  # a site allocated beyond this fraction of a resource raises an alert
MAX_HELD = 1024  # values ``SnapshotCache.held`` keeps under one key (a scope's counts, ...)
T = TypeVar("T")


# --- the catalogue, re-read when its files change ---------------------------------------------

class CatalogueCache:
    """The department catalogue of ``directory``, loaded once and re-loaded when a file in it
    changes (by name, size and mtime). ``get()`` returns None when there is no catalogue."""

    def __init__(self, directory: str | os.PathLike[str] | None, sites: Sequence[str]) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.sites = tuple(sites)
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._value: Catalogue | None = None

    def _fingerprint(self) -> tuple[Any, ...] | None:
        """(name, size, mtime) of every file, one ``stat`` each: every scoped read asks (75
        files: three stats a file were a tenth of a ``GET /servers``)."""
        if self.directory is None:
            return None
        try:
            entries = os.scandir(self.directory)
        except (FileNotFoundError, NotADirectoryError):
            return None
        with entries:
            files = [(e.name, e.stat()) for e in entries if e.is_file()]
        return tuple(sorted((name, st.st_size, st.st_mtime_ns) for name, st in files))

    def get(self) -> Catalogue | None:
        with self._lock:
            key = self._fingerprint()
            if key is None:
                return None
            if key != self._key:
                assert self.directory is not None
                self._value = load_catalogue(self.directory, sites=self.sites)
                self._key = key
            return self._value


class HasCatalogue(Protocol):
    """A catalogue cache (:class:`CatalogueCache`; the control plane's is
    ``Plane.catalogue_cache``)."""

    def get(self) -> Catalogue | None: ...


def departments_of(cache: HasCatalogue) -> dict[str, str | None]:
    """``{code: RBAC city}`` of every department (empty without a catalogue)."""
    catalogue = cache.get()
    return {d.code: rbac_city(d) for d in catalogue} if catalogue is not None else {}


def dr_levels_of(cache: HasCatalogue) -> dict[str, int]:
    catalogue = cache.get()
    return {d.code: d.dr_level for d in catalogue} if catalogue is not None else {}


def city_dr_of(cache: HasCatalogue) -> dict[str, str]:
    """Department → city for the catalogue's city tenants: who fails over to their city's
    site when the ``dr_city_sites`` setting is on (``domain.whatif.lose_site``)."""
    catalogue = cache.get()
    return {d.code: city for d in catalogue or () if (city := rbac_city(d)) is not None}


def rbac_city(department: Department) -> str | None:
    """The city a department counts under for RBAC: a city's own tenants (the city, its
    departments and the city branches) are their city's; provincial departments and vertical
    branches belong to no city (PRODUCT.md, docs/city-clouds.md)."""
    return department.city if department.kind in CITY_KINDS else None


# --- scope ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DepartmentRef:
    code: str
    city: str | None


@dataclass(frozen=True, slots=True)
class Scope:
    """What a principal may see: ``departments`` None means all of them."""

    departments: tuple[str, ...] | None
    include_unmapped: bool
    cities: Mapping[str, str | None]


def scope_of(conn: Connection, principal: Principal, action: Action,
             catalogue: Mapping[str, str | None]) -> Scope:
    cities = {**store.department_cities(conn), **catalogue}
    if can(principal, action, GLOBAL):
        return Scope(None, True, cities)
    refs = [DepartmentRef(code, city) for code, city in sorted(cities.items())]
    visible = visible_departments(principal, refs, action)
    return Scope(tuple(d.code for d in visible), False, cities)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- capacity ---------------------------------------------------------------------------------

def _figure(fig: Any, used: int | None = None) -> dict[str, int]:
    out = {"capacity": fig.capacity, "allocated": fig.allocated, "free": fig.free,
           "headroom": fig.headroom}
    if used is not None:
        out["used"] = used
    return out


def _flavor(conn: Connection, name: str) -> FlavorSpec:
    """A flavor's size: from the synced flavor lists (by name or id), else from the servers
    that use it (a database synced before flavors were)."""
    synced = store.flavors_named(conn, name)
    sizes = {(f["vcpus"], f["ram_mb"], f["disk_gb"], f["ephemeral_gb"], f["swap_mb"])
             for f in synced}
    if len(sizes) > 1:
        where = ", ".join(f"{f['site']}: {f['vcpus']} vCPU / {f['ram_mb']} MB"
                          for f in synced)
        raise InvalidInput(f"flavor {name!r} has different sizes in different sites ({where})",
                           hint="give the flavor's id, or make the sites' flavors agree")
    if synced:
        f = synced[0]
        return FlavorSpec(name=f["name"], vcpus=f["vcpus"], ram_mb=f["ram_mb"],
                          disk_gb=f["disk_gb"], ephemeral_gb=f["ephemeral_gb"],
                          swap_mb=f["swap_mb"])
    srv = store.table("server")
    row = conn.execute(select(srv.c.vcpus, srv.c.ram_mb, srv.c.disk_gb, srv.c.ephemeral_gb,
                              srv.c.swap_mb).where(srv.c.flavor_name == name).limit(1)).first()
    if row is None:
        known = store.flavor_names(conn) or sorted({r[0] for r in conn.execute(
            select(srv.c.flavor_name).where(srv.c.flavor_name.is_not(None)).distinct()
            .limit(50))})
        raise NotFound(f"no flavor named {name!r} in any site",
                       hint="flavors: " + (", ".join(known) or "(none synced yet: run "
                                                            "`govcloud sync --full`)"))
    return FlavorSpec(name=name, vcpus=row.vcpus, ram_mb=row.ram_mb, disk_gb=row.disk_gb,
                      ephemeral_gb=row.ephemeral_gb, swap_mb=row.swap_mb)


class _Derived:
    """What ``capacity`` derives from the stored snapshot that only a sync changes — the
    used figures, zones, services down, capacity samples, flavor fits and what-if verdicts —
    dropped when any site's sync row changes (every sync, full or not, writes it; the
    provisioning worker syncs the sites it created servers in)."""

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key
        self.used: dict[str, Resources] | None = None
        self.services_down: dict[str, int] | None = None
        self.zones: dict[str, list[dict[str, Any]]] = {}
        self.samples: dict[str, list[Sample]] = {}
        self.fits: dict[tuple[str, FlavorSpec], dict[str, Any]] = {}
        self.what_if: dict[tuple[Any, ...], dict[str, Any]] = {}


_SiteEntry = tuple[Any, list[HypervisorInfo], SiteCapacity, list[FitIndex],
                   list[HypervisorInfo]]


def in_service(hosts: Sequence[HypervisorInfo], maintenance: frozenset[str]
               ) -> list[HypervisorInfo]:
    """The hosts that are not in maintenance (docs/hosts.md): the only ones whose capacity
    counts — in capacity, flavor fit, what-if, status, metrics and placement alike."""
    return [h for h in hosts if h.hostname not in maintenance]


MAX_COUNTED_SCOPES = 256  # principals' scopes whose server counts a SnapshotCache keeps


class SnapshotCache:
    """What one database's stored snapshot yields that only a sync or a maintenance mark
    changes: each site's hosts (those in maintenance left out), their summed capacity and
    the placement FitIndex (built the first time placement asks for it), keyed by the
    site's site_sync timestamps and its hosts in maintenance, what ``capacity`` derives
    (``_Derived``) and what ``held`` keeps (the status's counts). The control plane owns
    one (``Plane.snapshot``) shared by the API, the metrics and the approvals; a caller
    that passes none gets an empty one (same answers, nothing kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sites: dict[str, _SiteEntry] = {}
        self._derived: _Derived | None = None
        self._held_key: Hashable | None = None
        self._held: dict[Hashable, Any] = {}

    def held(self, key: Hashable | None, what: Hashable, read: Callable[[], T]) -> T:
        """``read()``, kept as ``what`` while the store's ``key`` stays the same (a new key
        drops every value kept under the old one; None keeps nothing). The caller reads
        ``key`` before ``read`` runs, so a value kept is never older than its key."""
        if key is None:
            return read()
        with self._lock:
            if self._held_key == key and what in self._held:
                return self._held[what]  # type: ignore[no-any-return]
        value = read()
        with self._lock:
            if self._held_key != key:
                self._held_key, self._held = key, {}
            if len(self._held) < MAX_HELD:
                self._held[what] = value
        return value

    def _entry(self, conn: Connection, site: str, state: store.SyncState | None,
               maintenance: frozenset[str] | None) -> _SiteEntry:
        if maintenance is None:
            maintenance = hosts_repo.maintenance_names(conn).get(site, frozenset())
        key = None if state is None else (state.last_attempt, state.last_success,
                                          maintenance)
        with self._lock:
            cached = self._sites.get(site)
        if cached is not None and key is not None and cached[0] == key:
            return cached
        every = store.hosts(conn, site)
        hosts = in_service(every, maintenance)
        entry: _SiteEntry = (key, hosts, site_capacity(site, hosts), [], every)
        with self._lock:
            self._sites[site] = entry
        return entry

    def site(self, conn: Connection, site: str, state: store.SyncState | None, *,
             maintenance: frozenset[str] | None = None
             ) -> tuple[list[HypervisorInfo], SiteCapacity, list[FitIndex]]:
        """The site's hosts in service, their capacity and FitIndex holder (``maintenance``:
        the site's hosts in maintenance, when the caller read them already)."""
        _, hosts, cap, index, _ = self._entry(conn, site, state, maintenance)
        return hosts, cap, index

    def every_host(self, conn: Connection, site: str, state: store.SyncState | None
                   ) -> list[HypervisorInfo]:
        """Every host of the site, those in maintenance too (the hosts' own listing)."""
        return self._entry(conn, site, state, None)[4]

    def fit_index(self, hosts: list[HypervisorInfo], index: list[FitIndex]) -> FitIndex:
        if not index:
            built = FitIndex(hosts)
            with self._lock:
                if not index:
                    index.append(built)
        return index[0]

    def derived(self, states: Mapping[str, store.SyncState],
                maintenance: Mapping[str, frozenset[str]] | None = None) -> _Derived:
        key = (tuple(sorted((n, st.last_attempt, st.last_success) for n, st in states.items())),
               tuple(sorted((n, tuple(sorted(m))) for n, m in (maintenance or {}).items())))
        with self._lock:
            if self._derived is None or self._derived.key != key:
                self._derived = _Derived(key)
            return self._derived


def site_hosts(conn: Connection, cache: SnapshotCache | None, site: str,
               state: store.SyncState | None) -> tuple[list[HypervisorInfo], SiteCapacity]:
    """The site's stored hosts and their capacity (cached until the site is synced again)."""
    hosts, cap, _ = (cache or SnapshotCache()).site(conn, site, state)
    return hosts, cap


def site_placement(conn: Connection, cache: SnapshotCache | None, site: str,
                   state: store.SyncState | None
                   ) -> tuple[list[HypervisorInfo], SiteCapacity, FitIndex]:
    """``site_hosts`` and the hosts' FitIndex for placement (cached the same way)."""
    cache = cache or SnapshotCache()
    hosts, cap, index = cache.site(conn, site, state)
    return hosts, cap, cache.fit_index(hosts, index)


@dataclass
class _CapacityReads:
    """What one ``capacity`` answer read from the store (in one connection)."""

    states: dict[str, store.SyncState]
    derived: _Derived
    summed: dict[str, tuple[list[HypervisorInfo], SiteCapacity]]
    spec: FlavorSpec | None
    specs: dict[str, FlavorSpec]
    quotas: dict[str, Any]
    loads: dict[str, Any] | None


def _capacity_reads(engine: Engine, cache: SnapshotCache, *, sites: Sequence[Site],
                    chosen: Sequence[Site], flavor: str | None, fit: Sequence[str],
                    what_if_lose: str | None, what_if_key: tuple[Any, ...]) -> _CapacityReads:
    with engine.connect() as conn:
        states = store.sync_states(conn)
        marks = hosts_repo.maintenance_names(conn)
        derived = cache.derived(states, marks)
        summed = {s.name: cache.site(conn, s.name, states.get(s.name),
                                     maintenance=marks.get(s.name, frozenset()))[:2]
                  for s in sites if s in chosen or what_if_lose is not None}
        spec = _flavor(conn, flavor) if flavor is not None else None
        specs: dict[str, FlavorSpec] = {}
        for name in fit:
            try:
                specs[name] = _flavor(conn, name)
            except GovCloudError:  # a flavor no site has (or sizes that differ): left out
                continue
        if derived.used is None:
            derived.used = store.active_use(conn)
        if derived.services_down is None:
            derived.services_down = fleet_store.services_down(conn)
        for s in chosen:
            if s.name not in derived.samples:
                derived.samples[s.name] = [Sample(r["at"], float(r["vcpu_allocated"]))
                                           for r in store.samples(conn, s.name)]
        quotas = store.department_quotas(conn)
        loads = store.loads(conn, [s.name for s in sites]) \
            if what_if_lose is not None and what_if_key not in derived.what_if else None
    return _CapacityReads(states, derived, summed, spec, specs, quotas, loads)


def _site_capacity_json(s: Site, reads: _CapacityReads, now: dt.datetime | None
                        ) -> dict[str, Any]:
    derived, state = reads.derived, reads.states.get(s.name)
    hosts, cap = reads.summed[s.name]
    assert derived.used is not None and derived.services_down is not None
    u = derived.used.get(s.name, Resources())
    forecast = days_to_full(derived.samples[s.name], float(cap.vcpu.capacity), now=now)
    zones = derived.zones.get(s.name)
    if zones is None:
        zones = derived.zones[s.name] = [
            {"zone": zone or None, "hypervisors": z.hosts, "hypervisors_up": z.hosts_up,
             "vcpus": _figure(z.vcpu), "ram_mb": _figure(z.ram_mb),
             "disk_gb": _figure(z.disk_gb)}
            for zone, z in sorted(capacity_by_zone(s.name, hosts).items())]
    return {
        "site": s.name, "role": s.role.value, "hypervisors": cap.hosts,
        "hypervisors_up": cap.hosts_up, "physical_cores": cap.physical_cores,
        "services_down": derived.services_down.get(s.name, 0),
        "vcpus": _figure(cap.vcpu, u.vcpu), "ram_mb": _figure(cap.ram_mb, u.ram_mb),
        "disk_gb": _figure(cap.disk_gb, u.disk_gb),
        "data_as_of": _iso(state.last_success if state else None),
        "stale": state is None or state.stale or state.last_success is None,
        "error": state.error if state else None,
        "forecast_vcpus": forecast.to_dict(),
        "quota_commitment": quota_commitment(cap, reads.quotas.get(s.name, ())).to_dict(),
        "zones": zones}


def _fits(reads: _CapacityReads, chosen: Sequence[Site], one: FlavorSpec
          ) -> list[dict[str, Any]]:
    answer = []
    for s in chosen:
        got = reads.derived.fits.get((s.name, one))
        if got is None:
            got = reads.derived.fits[(s.name, one)] = flavor_fit(
                s.name, reads.summed[s.name][0], one).to_dict()
        answer.append(got)
    return answer


def _what_if(reads: _CapacityReads, sites: Sequence[Site], lost: str,
             levels: dict[str, int], key: tuple[Any, ...],
             city_dr: Mapping[str, str]) -> dict[str, Any]:
    what_if = reads.derived.what_if.get(key)
    if what_if is None:
        free = {name: cap.headroom for name, (_, cap) in reads.summed.items()}
        verdict = lose_site(lost, sites=list(sites), free=free, loads=reads.loads or {},
                            dr_levels=levels, city_dr=city_dr)
        what_if = verdict.to_dict()
        what_if["stale_sites"] = sorted(s.name for s in sites if s.name not in reads.states
                                        or reads.states[s.name].stale)
        reads.derived.what_if[key] = what_if
    return what_if


def capacity(engine: Engine, *, sites: Sequence[Site], site: str | None = None,
             flavor: str | None = None, what_if_lose: str | None = None,
             dr_levels: Mapping[str, int] | None = None,
             now: dt.datetime | None = None,
             fit: Sequence[str] = (), cache: SnapshotCache | None = None,
             city_dr: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Capacity per site from the stored snapshot (RBAC: the caller checks
    ``capacity.view`` on the whole cloud): capacity, allocated (Placement), used (ACTIVE
    servers), free and headroom of each resource, zones, services down, the vCPU forecast
    and the quota commitment (the departments' quotas summed against capacity, read fresh:
    tenancy apply changes quotas between syncs); with ``flavor`` how many more of it fit
    (``flavor_fit``), with ``fit`` the same for several flavors (``flavor_fits``, flavors no
    site has left out), with ``what_if_lose`` the lose-a-site verdict. ``cache`` keeps what
    only a sync changes between calls (the control plane's ``Plane.snapshot``)."""
    names = [s.name for s in sites]
    if site is not None and site not in names:
        raise NotFound(f"no site named {site!r}", hint=f"configured sites: {', '.join(names)}")
    if what_if_lose is not None and what_if_lose not in names:
        raise NotFound(f"no site named {what_if_lose!r}",
                       hint=f"configured sites: {', '.join(names)}")
    chosen = [s for s in sites if site is None or s.name == site]
    levels = dict(dr_levels or {})
    city_dr = dict(city_dr or {})
    what_if_key = (what_if_lose, tuple(sorted(levels.items())), tuple(sorted(city_dr.items())))
    reads = _capacity_reads(engine, cache or SnapshotCache(), sites=sites, chosen=chosen,
                            flavor=flavor, fit=fit, what_if_lose=what_if_lose,
                            what_if_key=what_if_key)
    out: dict[str, Any] = {"sites": [_site_capacity_json(s, reads, now) for s in chosen]}
    if reads.spec is not None:
        out["flavor_fit"] = _fits(reads, chosen, reads.spec)
    if fit:
        out["flavor_fits"] = {name: _fits(reads, chosen, one)
                              for name, one in reads.specs.items()}
    if what_if_lose is not None:
        out["what_if"] = _what_if(reads, sites, what_if_lose, levels, what_if_key,
                                   city_dr)
    return out


def capacity_sites(principal: Principal, sites: Sequence[Site], *,
                   what_if_lose: str | None = None) -> tuple[Site, ...]:
    """The sites whose capacity ``principal`` may see: every one for the roles over the whole
    cloud, its city's sites for a city-operator (docs/city-clouds.md). The what-if weighs
    every site and every department, so it stays the whole cloud's."""
    if what_if_lose is not None:
        require(principal, Action.VIEW_CAPACITY, GLOBAL)
    within = sites_within(principal, Action.VIEW_CAPACITY, sites)
    if not within:
        require(principal, Action.VIEW_CAPACITY, GLOBAL)  # says why not
    return within


def sync_sites(principal: Principal, sites: Sequence[Site],
               asked: Sequence[str] | None) -> list[str] | None:
    """The sites ``principal`` may sync of those ``asked`` (None: every one it may): all for
    the roles over the whole cloud; a city-operator its city's sites only."""
    if can(principal, Action.SYNC_RUN, GLOBAL):
        return None if asked is None else list(asked)
    within = {s.name for s in sites_within(principal, Action.SYNC_RUN, sites)}
    if not within:
        require(principal, Action.SYNC_RUN, GLOBAL)  # says why not
    by_name = {s.name: s for s in sites}
    for name in asked or ():
        if name in by_name and name not in within:
            require(principal, Action.SYNC_RUN, site_target(by_name[name]))
    return [s.name for s in sites if s.name in within] if asked is None else list(asked)


def sync_status(engine: Engine, *, sites: Sequence[str]) -> dict[str, Any]:
    with engine.connect() as conn:
        states = store.sync_states(conn)
    return {"sites": [states[n].to_dict() if n in states else
                      {"site": n, "last_success": None, "stale": True, "error": None}
                      for n in sites]}


def catalogue_departments(cache: HasCatalogue) -> dict[str, str | None]:
    """The catalogue's ``{code: city}``, or empty (logged) when it cannot be loaded."""
    try:
        return departments_of(cache)
    except GovCloudError as exc:
        log.warning("catalogue unavailable for scoping: %s", exc.message)
        return {}
