"""Read one site's inventory fast: servers, hypervisors, compute services, Placement resource
providers, flavors, volumes and per-project compute and block-storage quotas, as govcloud
domain types.

Everything goes through openstacksdk's service proxies (so auth, the service catalog, endpoint
discovery and microversions are the SDK's), but as raw paged calls whose JSON is turned straight
into domain values: building SDK ``Resource`` objects costs ~3 ms per server, minutes for a
province. Each reader returns a complete list or raises — a failure mid-listing is a
:class:`~govcloud.errors.TemporaryError` (or the matching govcloud error) naming the site and
what failed, never a partial list passed off as the whole.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeAlias, TypeVar
from urllib.parse import quote

from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from govcloud.cloud.errors import sdk_errors
from govcloud.cloud.listings import (
    FLAVORS,
    SERVERS,
    VOLUMES,
    Listing,
    as_int,
    hypervisor_from_json,
    inventories_from_json,
    quota_from_json,
    server_from_json,
    service_from_json,
    tombstone_from_json,
)
from govcloud.domain.inventory import (
    ComputeServiceInfo,
    FlavorInfo,
    HypervisorInfo,
    ProviderInfo,
    QuotaInfo,
    ServerChanges,
    ServerInfo,
    ServerTombstone,
    SiteInventory,
    VolumeInfo,
)
from govcloud.errors import PermanentError, TemporaryError

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# 2.53: uuids for hypervisors and services, with_servers; (2.47: flavor embedded in servers)
COMPUTE_MIN = (2, 53)
COMPUTE_MAX = (2, 96)  # the newest compute microversion whose responses this module parses
PLACEMENT_MIN = (1, 14)  # root and parent provider uuids
PLACEMENT_MAX = (1, 39)
SERVER_PAGE = 1000
VOLUME_PAGE = 1000
# the block-storage quotas kept beside the compute ones (same table, Cinder's names)
VOLUME_QUOTAS = ("volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes")
HYPERVISOR_PAGE = 1000
WORKERS = 8
# next_since of an incremental listing starts this long before the site's clock said the
# listing began, so a change that raced the first page is listed again rather than missed
WATERMARK_OVERLAP = dt.timedelta(seconds=5)

# A site's connection as the services hold it: they pass it on to this package and never
# reach into it (openstacksdk is imported by govcloud.cloud only)
SiteConnection: TypeAlias = Connection


def bound_requests(conn: SiteConnection, timeout_s: float | None) -> None:
    """Bound every HTTP request of ``conn`` to ``timeout_s`` seconds unless its cloud sets a
    timeout of its own (``api_timeout`` in clouds.yaml), so a hung API fails its read
    instead of stalling it; None leaves the connection as it is."""
    session = getattr(conn, "session", None)
    if timeout_s is not None and session is not None and getattr(session, "timeout", None) is None:
        session.timeout = timeout_s


def _version(value: Any) -> tuple[int, int] | None:
    """``"2.96"``, ``(2, 96)`` or ``None`` as a comparable ``(major, minor)``."""
    if not value:
        return None
    if isinstance(value, tuple | list):
        parts = [str(v) for v in value[:2]]
    else:
        parts = str(value).split(".")[:2]
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except (ValueError, IndexError):
        return None


def _fmt(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


# --- the reader ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Discovered:
    """A site's negotiated microversions and endpoints by service (``SiteReader.discovered``)."""

    versions: Mapping[str, str]
    endpoints: Mapping[str, str]


class SiteReader:
    """Raw, paged reads of one site through one openstacksdk connection.

    Thread-safe: Placement and quota reads fan out over ``workers`` threads sharing the
    connection. ``requests`` counts the HTTP requests made so far; ``began`` is the site's
    own clock (the ``Date`` header) when the first of them was answered.
    """

    def __init__(self, conn: Connection, *, site: str, workers: int = WORKERS) -> None:
        self.conn = conn
        self.site = site
        self.workers = max(1, workers)
        self.requests = 0
        self.began: dt.datetime | None = None  # the site's clock (Date) at the first answer
        self._lock = threading.Lock()
        self._negotiating = threading.Lock()
        self._versions: dict[str, str] = {}
        self._endpoints: dict[str, str] = {}

    # --- plumbing -------------------------------------------------------------------------

    def discovered(self) -> Discovered:
        """What this reader found out about its site's APIs (the negotiated microversions,
        the endpoints), for the next reader of the same connection (:meth:`adopt`)."""
        with self._negotiating, self._lock:  # the order _negotiate takes them in
            return Discovered(dict(self._versions),
                              {k: v for k, v in self._endpoints.items() if k in self._versions})

    def adopt(self, found: Discovered) -> None:
        """Start from what an earlier reader of the same connection found (``discovered``):
        its site's microversions and endpoints are not negotiated again — each negotiation
        walks the connection's whole service catalog, which in a cloud of 19 regions is a
        good part of an incremental sync's work. Whether the site has block storage is
        looked up again by each reader (a cloud may gain Cinder)."""
        with self._negotiating, self._lock:
            self._versions.update(found.versions)
            self._endpoints.update(found.endpoints)

    def _where(self, what: str) -> str:
        return f"site {self.site}: {what}"

    def _proxy(self, service: str) -> Any:
        if service == "volume":
            return self.conn.block_storage
        return self.conn.compute if service == "compute" else self.conn.placement

    def has_volume_service(self) -> bool:
        """Whether the site's catalog has a block-storage endpoint (not every cloud runs
        Cinder); found once, then remembered."""
        if "volume" in self._endpoints:
            return bool(self._endpoints["volume"])
        with sdk_errors(self._where("block-storage endpoint lookup")):
            try:
                endpoint = self.conn.block_storage.get_endpoint()
            except (ks_exc.EndpointNotFound, sdk_exc.ServiceDisabledException,
                    sdk_exc.EndpointNotFound) as exc:
                log.info("site %s: no block-storage service (%s); volumes are not read",
                         self.site, exc)
                endpoint = None
        with self._lock:
            self._endpoints["volume"] = str(endpoint).rstrip("/") if endpoint else ""
        return bool(endpoint)

    def microversion(self, service: str) -> str | None:
        """The microversion both this module and the site's ``service`` speak (negotiated once:
        the highest the site offers up to what this module parses). Block storage is read at
        its base version 3.0 (no microversion header)."""
        if service == "volume":
            return None
        if service in self._versions:
            return self._versions[service]
        with self._negotiating:
            if service not in self._versions:
                self._negotiate(service)
        return self._versions[service]

    def _negotiate(self, service: str) -> None:
        low, high = (COMPUTE_MIN, COMPUTE_MAX) if service == "compute" else \
            (PLACEMENT_MIN, PLACEMENT_MAX)
        where = self._where(f"{service} version discovery")
        with sdk_errors(where):
            data = self._proxy(service).get_endpoint_data()
        site_min = _version(data.min_microversion) if data is not None else None
        site_max = _version(data.max_microversion) if data is not None else None
        if site_max is None:  # discovery failed quietly: ask the version document directly
            site_min, site_max = self._version_document(service, where)
        chosen = min(site_max, high)
        if chosen < low or (site_min is not None and chosen < site_min):
            offered = f"{_fmt(site_min)}–{_fmt(site_max)}" if site_min else f"≤ {_fmt(site_max)}"
            raise PermanentError(
                f"{where}: the site's {service} API offers microversions {offered}; govcloud "
                f"reads {_fmt(low)}–{_fmt(high)}",
                hint="upgrade the cloud's API services, or leave this site out")
        with sdk_errors(where):
            endpoint = self._proxy(service).get_endpoint()
        if endpoint:  # absolute URLs skip keystoneauth's catalog lookup on every request
            self._endpoints[service] = str(endpoint).rstrip("/")
        self._versions[service] = _fmt(chosen)

    def _version_document(self, service: str,
                          where: str) -> tuple[tuple[int, int] | None, tuple[int, int]]:
        doc = self._get_json(service, "/", None, where, microversion=None)
        entry: Mapping[str, Any]
        if service == "compute":
            entry = doc.get("version") or {}
            high, low = entry.get("version"), entry.get("min_version")
        else:
            entry = next(iter(doc.get("versions") or []), {})
            high, low = entry.get("max_version"), entry.get("min_version")
        site_max = _version(high)
        if site_max is None:
            raise PermanentError(f"{where}: the {service} API reports no microversions",
                                 hint="govcloud needs a microversioned compute and placement API")
        return _version(low), site_max

    def _get(self, service: str, path: str, params: Mapping[str, Any] | None,
             what: str) -> tuple[dict[str, Any], dt.datetime | None]:
        """GET ``path`` from ``service`` at the negotiated microversion: (JSON, Date header)."""
        microversion = self.microversion(service)
        where = self._where(what)
        url = self._endpoints.get(service, "") + path
        resp = self._request(service, url, params, where, microversion)
        date = _date(resp.headers.get("Date"))
        if self.began is None and date is not None:
            with self._lock:
                self.began = self.began or date
        return self._decode(resp, where), date

    def _get_json(self, service: str, path: str, params: Mapping[str, Any] | None,
                  where: str, *, microversion: str | None) -> dict[str, Any]:
        return self._decode(self._request(service, path, params, where, microversion), where)

    def _request(self, service: str, path: str, params: Mapping[str, Any] | None,
                 where: str, microversion: str | None) -> Any:
        with self._lock:
            self.requests += 1
        with sdk_errors(where):
            resp = self._proxy(service).get(path, params=dict(params or {}),
                                            microversion=microversion)
            sdk_exc.raise_from_response(resp)
        return resp

    @staticmethod
    def _decode(resp: Any, where: str) -> dict[str, Any]:
        try:
            doc = resp.json()
        except ValueError as exc:  # a body cut short: the connection or the API is failing
            raise TemporaryError(f"{where}: the response is not JSON ({exc})",
                                 hint="the cloud API is failing; retry later") from exc
        if not isinstance(doc, dict):
            raise PermanentError(f"{where}: unexpected response ({type(doc).__name__})")
        return doc

    def _pages(self, service: str, path: str, key: str, params: Mapping[str, Any],
               what: str) -> Iterator[tuple[list[dict[str, Any]], dt.datetime | None]]:
        """Follow ``limit``/``marker`` paging until a page has no ``next`` link."""
        query = dict(params)
        page = 1
        while True:
            doc, date = self._get(service, path, query, f"{what} (page {page})")
            items = doc.get(key)
            if not isinstance(items, list):
                raise PermanentError(self._where(f"{what} (page {page}): no {key!r} list in "
                                                 "the response"))
            yield items, date
            links = doc.get(f"{key}_links") or []
            if not items or not any(link.get("rel") == "next" for link in links):
                return
            query["marker"] = items[-1]["id"]
            page += 1

    def _parallel(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]`` on ``workers`` threads; the first failure cancels the rest
        and is raised."""
        if self.workers == 1 or len(items) < 2:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=self.workers,
                                thread_name_prefix=f"inv-{self.site}") as pool:
            futures: list[Future[R]] = [pool.submit(fn, x) for x in items]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f in done and f.exception() is not None), None)
            if failed is not None:
                for f in futures:
                    f.cancel()
                exc = failed.exception()
                assert exc is not None
                raise exc
            return [f.result() for f in futures]

    # --- servers ----------------------------------------------------------------------------

    def list_all(self, listing: Listing[T], *, limit: int | None = None,
                 params: Mapping[str, Any] | None = None) -> list[T]:
        """Every entry of ``listing``, page after page (``limit`` per page: the listing's page
        size unless given; ``params`` added to its query); complete, or an error."""
        query = {**listing.params, **(params or {}), "limit": limit or listing.page}
        what = f"listing {listing.what}"
        out: list[T] = []
        for items, _ in self._pages(listing.service, listing.path, listing.key, query, what):
            out.extend(self._parse(listing.parse, items, what))
        return out

    def servers(self, *, limit: int = SERVER_PAGE) -> list[ServerInfo]:
        """Every server of every project in the site (``all_tenants``), ``limit`` per page."""
        return self.list_all(SERVERS, limit=limit)

    def server(self, server_id: str) -> ServerInfo:
        """One server in full (addresses, metadata, tags), read now."""
        where = self._where(f"reading server {server_id}")
        doc = self._get_json("compute", f"/servers/{quote(server_id, safe='')}", None, where,
                             microversion=self.microversion("compute"))
        return self._parse(server_from_json, [doc.get("server") or {}], where)[0]

    def server_changes(self, since: dt.datetime, *, limit: int = SERVER_PAGE) -> ServerChanges:
        """Servers created, changed or deleted since ``since`` (``changes-since``)."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        stamp = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        params = {"all_tenants": True, "limit": limit, "changes-since": stamp}
        changed: list[ServerInfo] = []
        deleted: list[ServerTombstone] = []
        first_date: dt.datetime | None = None
        started = dt.datetime.now(dt.UTC)
        for items, date in self._pages("compute", "/servers/detail", "servers", params,
                                       f"listing servers changed since {stamp}"):
            first_date = first_date or date
            live = [d for d in items if str(d.get("status", "")).upper() != "DELETED"]
            gone = [d for d in items if str(d.get("status", "")).upper() == "DELETED"]
            changed.extend(self._parse(server_from_json, live, "listing changed servers"))
            deleted.extend(self._parse(tombstone_from_json, gone, "listing deleted servers"))
        began = first_date or started
        return ServerChanges(site=self.site, since=since,
                             next_since=max(since, began - WATERMARK_OVERLAP),
                             changed=tuple(changed), deleted=tuple(deleted))

    def _parse(self, fn: Callable[[Mapping[str, Any]], R], items: Iterable[Mapping[str, Any]],
               what: str) -> list[R]:
        try:
            return [fn(d) for d in items]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PermanentError(self._where(f"{what}: unexpected entry ({exc!r})")) from exc

    # --- compute services and hypervisors ----------------------------------------------------

    def services(self) -> list[ComputeServiceInfo]:
        """Every Nova service (compute, scheduler, conductor, ...) with its state and status."""
        return self._services()[0]

    def _services(self) -> tuple[list[ComputeServiceInfo], dt.datetime | None]:
        doc, date = self._get("compute", "/os-services", None, "listing compute services")
        return self._parse(service_from_json, doc.get("services") or [],
                           "listing compute services"), date

    def hypervisors(self, *, services: Sequence[ComputeServiceInfo] | None = None,
                    providers: Sequence[ProviderInfo] | None = None,
                    limit: int = HYPERVISOR_PAGE) -> list[HypervisorInfo]:
        """Every hypervisor with its zone (from its compute service) and its Placement
        inventories and usages (from its resource provider). Pass ``services``/``providers``
        already read to avoid reading them again."""
        services = self.services() if services is None else services
        providers = self.providers() if providers is None else providers
        zones = {s.host: s.zone for s in services if s.is_compute}
        by_key: dict[str, ProviderInfo] = {p.name: p for p in providers}
        by_key.update({p.uuid: p for p in providers})
        out: list[HypervisorInfo] = []
        for items, _ in self._pages("compute", "/os-hypervisors/detail", "hypervisors",
                                    {"with_servers": True, "limit": limit},
                                    "listing hypervisors"):
            out.extend(self._parse(
                lambda d: hypervisor_from_json(d, zones=zones, providers=by_key), items,
                "listing hypervisors"))
        return out

    # --- placement --------------------------------------------------------------------------

    def providers(self, *, previous: Iterable[ProviderInfo] = ()) -> list[ProviderInfo]:
        """Every resource provider with its inventories and usages.

        Placement has no bulk call for these: one listing, then two requests per provider
        (``/inventories`` and ``/usages``) spread over ``workers`` threads. A provider in
        ``previous`` whose generation is unchanged is reused as is — Placement bumps the
        generation on every inventory or allocation change — so an incremental read costs
        two requests per *changed* provider only.
        """
        doc, _ = self._get("placement", "/resource_providers", None,
                           "listing resource providers")
        listed = doc.get("resource_providers")
        if not isinstance(listed, list):
            raise PermanentError(self._where("listing resource providers: no list"))
        known = {p.uuid: p for p in previous if p.generation is not None}

        def reused(rp: Mapping[str, Any]) -> ProviderInfo | None:
            old = known.get(str(rp.get("uuid")))
            return old if old is not None and rp.get("generation") == old.generation else None

        out = [reused(rp) for rp in listed]
        # only the changed providers go to the threads (at 24 sites, a pool per site for
        # nothing but reused providers cost more than the reads themselves)
        changed = [rp for rp, got in zip(listed, out, strict=True) if got is None]
        fresh = iter(self._parallel(self._provider, changed))
        return [got if got is not None else next(fresh) for got in out]

    def _provider(self, rp: Mapping[str, Any]) -> ProviderInfo:
        uuid = str(rp["uuid"])
        path = f"/resource_providers/{uuid}"
        what = f"resource provider {rp.get('name') or uuid}"
        inventories, _ = self._get("placement", f"{path}/inventories", None,
                                   f"reading inventories of {what}")
        usages, _ = self._get("placement", f"{path}/usages", None, f"reading usages of {what}")
        generation = inventories.get("resource_provider_generation")
        if generation != usages.get("resource_provider_generation"):
            generation = None  # changed between the two reads: never reuse this snapshot
        try:
            return ProviderInfo(
                uuid=uuid, name=str(rp.get("name") or uuid),
                root_uuid=rp.get("root_provider_uuid"), parent_uuid=rp.get("parent_provider_uuid"),
                generation=generation, inventories=inventories_from_json(inventories),
                usages={str(rc): as_int(n) for rc, n in (usages.get("usages") or {}).items()})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PermanentError(self._where(f"reading {what}: unexpected entry ({exc!r})")) \
                from exc

    # --- quotas -----------------------------------------------------------------------------

    def quotas(self, project_ids: Iterable[str]) -> list[QuotaInfo]:
        """Compute quota detail (limit, in use, reserved) of each project, in the given order."""
        def one(project_id: str) -> QuotaInfo:
            doc, _ = self._get("compute", f"/os-quota-sets/{project_id}/detail", None,
                               f"reading compute quotas of project {project_id}")
            return quota_from_json(project_id, doc)

        return self._parallel(one, list(dict.fromkeys(project_ids)))

    def volume_quotas(self, project_ids: Iterable[str]) -> list[QuotaInfo]:
        """Block-storage quota limits and usage (``?usage=true``) of each project, in the
        given order; only the :data:`VOLUME_QUOTAS` figures."""
        def one(project_id: str) -> QuotaInfo:
            doc, _ = self._get("volume", f"/os-quota-sets/{project_id}", {"usage": "true"},
                               f"reading volume quotas of project {project_id}")
            info = quota_from_json(project_id, doc)
            return QuotaInfo(project_id, {k: v for k, v in info.figures.items()
                                          if k in VOLUME_QUOTAS})

        return self._parallel(one, list(dict.fromkeys(project_ids)))

    def all_quotas(self, project_ids: Iterable[str]) -> list[QuotaInfo]:
        """Compute quotas, with the block-storage ones merged in when the site has Cinder."""
        ids = list(dict.fromkeys(project_ids))
        compute = self.quotas(ids)
        if not ids or not self.has_volume_service():
            return compute
        volume = {q.project_id: q for q in self.volume_quotas(ids)}
        return [QuotaInfo(q.project_id, {**q.figures, **volume[q.project_id].figures})
                if q.project_id in volume else q for q in compute]

    # --- flavors ----------------------------------------------------------------------------

    def flavors(self) -> list[FlavorInfo]:
        """Every flavor of the site, public and private (admin: ``is_public=None``)."""
        return self.list_all(FLAVORS)

    # --- volumes ----------------------------------------------------------------------------

    def volumes(self, *, limit: int = VOLUME_PAGE) -> list[VolumeInfo] | None:
        """Every volume of every project (``all_tenants``), or None without Cinder."""
        if not self.has_volume_service():
            return None
        return self.list_all(VOLUMES, limit=limit)

    # --- everything -------------------------------------------------------------------------

    def read(self, *, project_ids: Iterable[str] = (), server_page: int = SERVER_PAGE,
             previous_providers: Iterable[ProviderInfo] = (),
             clock: Callable[[], float] = time.perf_counter) -> SiteInventory:
        """One full read of the site.

        Compute services come first: their response's Date header is ``read_at``, the site's
        clock before anything else is read, so ``next_since`` is a safe ``changes-since`` for
        the next incremental read. The server listing (sequential pages) then runs on its own
        thread while Placement, hypervisors and quotas fan out on the others.
        ``previous_providers`` lets unchanged resource providers be reused (see
        :meth:`providers`).
        """
        started = clock()
        before = self.requests
        phases: dict[str, float] = {}

        def timed(phase: str, fn: Callable[[], R]) -> R:
            t0 = clock()
            result = fn()
            phases[phase] = clock() - t0
            return result

        services, date = timed("services", self._services)
        read_at = date or dt.datetime.now(dt.UTC)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"srv-{self.site}") as pool:
            listing = pool.submit(timed, "servers", lambda: self.servers(limit=server_page))
            try:
                providers = timed("providers",
                                  lambda: self.providers(previous=previous_providers))
                hypervisors = timed("hypervisors", lambda: self.hypervisors(
                    services=services, providers=providers))
                quotas = timed("quotas", lambda: self.all_quotas(project_ids))
                volumes = timed("volumes", self.volumes)
                flavors = timed("flavors", self.flavors)
            except BaseException:
                listing.cancel()
                raise
            servers = listing.result()
        inventory = SiteInventory(
            site=self.site, read_at=read_at, next_since=read_at - WATERMARK_OVERLAP,
            hypervisors=tuple(hypervisors),
            services=tuple(services), servers=tuple(servers), providers=tuple(providers),
            quotas=tuple(quotas), volumes=None if volumes is None else tuple(volumes),
            flavors=tuple(flavors),
            requests=self.requests - before, seconds=clock() - started,
            phases=phases)
        log.debug("site %s read: %s", self.site, inventory.summary())
        return inventory


def _date(header: str | None) -> dt.datetime | None:
    if not header:
        return None
    try:
        value = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def read_inventory(conn: Connection, *, site: str, project_ids: Iterable[str] = (),
              workers: int = WORKERS) -> SiteInventory:
    """Read everything of one site (see :meth:`SiteReader.read`)."""
    return SiteReader(conn, site=site, workers=workers).read(project_ids=project_ids)

