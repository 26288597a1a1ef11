"""Tenancy through openstacksdk: read a site's department projects and quotas, write changes.

Reads and writes go through the SDK's service proxies (its session, auth, endpoint discovery
and microversions) as plain REST calls, and come back as domain types:

* Keystone (``conn.identity``): ``/projects`` — matched to departments by the ``dept:<code>`` tag
  or, for projects made before govcloud, by name == code;
* Nova (``conn.compute``): ``/os-quota-sets/{id}/detail`` — cores, ram, instances,
  server_groups, server_group_members with usage;
* Cinder (``conn.block_storage``): ``/os-quota-sets/{id}?usage=True`` — volumes, gigabytes;
* Neutron (``conn.network``): ``/quotas/{id}/details`` — ports.

Every SDK or HTTP error leaves as a govcloud error naming the site (``govcloud.cloud.errors``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias

from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from govcloud.cloud.errors import sdk_errors
from govcloud.domain.catalogue import QUOTA_FIELDS
from govcloud.domain.tenancy import (
    DEPT_TAG_PREFIX,
    ObservedProject,
    ObservedSite,
    ProjectCreate,
    ProjectRecord,
    QuotaFigure,
    dept_tag,
    match_projects,
)
from govcloud.errors import ConflictError, PermanentError

log = logging.getLogger(__name__)

SiteConnection: TypeAlias = Connection

# catalogue field → the service's own quota name
NOVA_QUOTAS = {"cores": "cores", "ram_mb": "ram", "instances": "instances",
               "server_groups": "server_groups", "server_group_members": "server_group_members"}
CINDER_QUOTAS = {"volumes": "volumes", "gigabytes": "gigabytes"}
NEUTRON_QUOTAS = {"ports": "port"}
assert set(NOVA_QUOTAS) | set(CINDER_QUOTAS) | set(NEUTRON_QUOTAS) == set(QUOTA_FIELDS)

SERVER_PAGE = 1000
READ_WORKERS = 8


def _json(response: Any) -> dict[str, Any]:
    sdk_exc.raise_from_response(response)
    doc = response.json()
    if not isinstance(doc, dict):
        raise PermanentError(f"{response.request.method} {response.url}: expected a JSON "
                             f"object, got {type(doc).__name__}")
    return doc


def identity_of(conn: SiteConnection) -> str:
    """Which Keystone the connection authenticates against (sites sharing it share projects)."""
    auth = getattr(conn.config, "auth", None) or {}
    url = str(auth.get("auth_url") or "")
    if not url:
        url = str(conn.session.get_endpoint(service_type="identity", interface="public") or "")
    return url.rstrip("/")


def _record(doc: Mapping[str, Any]) -> ProjectRecord:
    return ProjectRecord(id=str(doc["id"]), name=str(doc.get("name") or ""),
                         description=str(doc.get("description") or ""),
                         tags=tuple(str(t) for t in doc.get("tags") or ()))


def list_projects(conn: SiteConnection, **filters: str) -> Iterator[ProjectRecord]:
    """Keystone projects (optionally filtered, e.g. ``name=`` or ``tags=``), following
    ``links.next`` when Keystone pages."""
    url: str | None = "/projects"
    params: dict[str, str] | None = dict(filters)
    while url:
        doc = _json(conn.identity.get(url, params=params))
        for item in doc.get("projects") or []:
            yield _record(item)
        url = (doc.get("links") or {}).get("next")
        params = None  # the next link carries the query


def read_quota_figures(conn: SiteConnection, project_id: str, *,
                site: str) -> dict[str, QuotaFigure]:
    """A project's quota limits and usage in the connection's region, by catalogue field."""
    with sdk_errors(f"site {site}: quotas of project {project_id}"):
        return _read_quotas(conn, project_id)


def _read_quotas(conn: SiteConnection, project_id: str) -> dict[str, QuotaFigure]:
    figures: dict[str, QuotaFigure] = {}
    nova = _json(conn.compute.get(f"/os-quota-sets/{project_id}/detail"))["quota_set"]
    cinder = _json(conn.block_storage.get(f"/os-quota-sets/{project_id}",
                                          params={"usage": "True"}))["quota_set"]
    neutron = _json(conn.network.get(f"/quotas/{project_id}/details"))["quota"]
    for names, doc in ((NOVA_QUOTAS, nova), (CINDER_QUOTAS, cinder), (NEUTRON_QUOTAS, neutron)):
        for ours, theirs in names.items():
            item = doc.get(theirs)
            if isinstance(item, Mapping):
                used = item.get("in_use", item.get("used", 0))
                figures[ours] = QuotaFigure(limit=int(item["limit"]), in_use=int(used or 0))
            elif item is not None:
                figures[ours] = QuotaFigure(limit=int(item))
    return figures


def observe_site(conn: SiteConnection, *, site: str, codes: Iterable[str],
              workers: int = READ_WORKERS) -> ObservedSite:
    """The departments' projects and quotas as ``site`` sees them (``workers`` projects'
    quotas are read at a time)."""
    with sdk_errors(f"site {site}"):
        identity = identity_of(conn)
        matched = match_projects(list_projects(conn), codes)
        items = sorted(matched.projects.items())

        def observe(item: tuple[str, ProjectRecord]) -> tuple[str, ObservedProject]:
            code, p = item
            return code, ObservedProject(id=p.id, name=p.name, description=p.description,
                                         tags=p.tags, quotas=_read_quotas(conn, p.id))

        if workers > 1 and len(items) > 1:
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix=f"quotas-{site}") as pool:
                observed = dict(pool.map(observe, items))
        else:
            observed = dict(map(observe, items))
    log.debug("site %s: %d department projects read", site, len(observed),
              extra={"site": site})
    return ObservedSite(site=site, identity=identity, projects=observed,
                        conflicts=matched.conflicts)


def find_project(conn: SiteConnection, code: str, *, site: str) -> ProjectRecord | None:
    """The department's project: the one tagged ``dept:<code>``, else the one named ``code``."""
    with sdk_errors(f"site {site}"):
        return _find_project(conn, code)


def _find_project(conn: SiteConnection, code: str) -> ProjectRecord | None:
    tagged = list(list_projects(conn, tags=dept_tag(code)))
    if len(tagged) > 1:
        raise ConflictError(f"several projects are tagged {dept_tag(code)}: "
                            f"{', '.join(p.id for p in tagged)}",
                            hint="remove the tag from all but one project")
    if tagged:
        return tagged[0]
    named = [p for p in list_projects(conn, name=code)
             if not any(t.startswith(DEPT_TAG_PREFIX) for t in p.tags)]
    return named[0] if named else None


def create_project(conn: SiteConnection, create: ProjectCreate, *, site: str,
                   domain_id: str | None = None) -> tuple[ProjectRecord, bool]:
    """Create the department's project, or adopt it if it already exists (a retry after a
    crash, or another site of the same Keystone got there first). Returns (project, created)."""
    with sdk_errors(f"site {site}"):
        found = _find_project(conn, create.code)
        if found is not None:
            return found, False
        body: dict[str, Any] = {"name": create.name, "description": create.description,
                                "tags": list(create.tags), "enabled": True}
        if domain_id:
            body["domain_id"] = domain_id
        doc = _json(conn.identity.post("/projects", json={"project": body}))
    log.info("site %s: created project %s", site, create.code,
             extra={"site": site, "department": create.code})
    return _record(doc["project"]), True


def get_project(conn: SiteConnection, project_id: str, *, site: str) -> ProjectRecord:
    with sdk_errors(f"site {site}"):
        return _record(_json(conn.identity.get(f"/projects/{project_id}"))["project"])


def update_project(conn: SiteConnection, project_id: str, *, site: str,
                   description: str | None = None, add_tags: Iterable[str] = (),
                   replace_prefix: str | None = None, record: str | None = None,
                   ) -> tuple[ProjectRecord, ProjectRecord]:
    """Set the description, add tags, and replace the tag starting with ``replace_prefix`` by
    ``record``. The tags are read fresh first, so other sites' records are kept. Returns the
    project before and after."""
    with sdk_errors(f"site {site}"):
        before = get_project(conn, project_id, site=site)
        tags = [t for t in before.tags
                if not (replace_prefix and record and t.startswith(replace_prefix))]
        for tag in (*add_tags, *([record] if record else [])):
            if tag not in tags:
                tags.append(tag)
        body: dict[str, Any] = {}
        if tags != list(before.tags):
            body["tags"] = tags
        if description is not None and description != before.description:
            body["description"] = description
        if not body:
            return before, before
        doc = _json(conn.identity.patch(f"/projects/{project_id}", json={"project": body}))
    return before, _record(doc["project"])


def set_quotas(conn: SiteConnection, project_id: str, values: Mapping[str, int], *,
               site: str) -> None:
    """Set some of a project's quotas (catalogue field names) in the connection's region."""
    unknown = set(values) - set(QUOTA_FIELDS)
    if unknown:
        raise ValueError(f"unknown quota fields {sorted(unknown)}")
    nova = {NOVA_QUOTAS[k]: v for k, v in values.items() if k in NOVA_QUOTAS}
    cinder = {CINDER_QUOTAS[k]: v for k, v in values.items() if k in CINDER_QUOTAS}
    neutron = {NEUTRON_QUOTAS[k]: v for k, v in values.items() if k in NEUTRON_QUOTAS}
    with sdk_errors(f"site {site}: quotas of project {project_id}"):
        if nova:
            _json(conn.compute.put(f"/os-quota-sets/{project_id}", json={"quota_set": nova}))
        if cinder:
            _json(conn.block_storage.put(f"/os-quota-sets/{project_id}",
                                         json={"quota_set": cinder}))
        if neutron:
            _json(conn.network.put(f"/quotas/{project_id}", json={"quota": neutron}))


def project_server_statuses(conn: SiteConnection, project_id: str, *, site: str,
                            page: int = SERVER_PAGE) -> Iterator[str | None]:
    """The status of each of a project's servers, paged through ``/servers/detail`` as raw
    JSON (no SDK objects: cheap at thousands of servers)."""
    params: dict[str, str | int] = {"all_tenants": "1", "project_id": project_id, "limit": page}
    with sdk_errors(f"site {site}: servers of project {project_id}"):
        while True:
            doc = _json(conn.compute.get("/servers/detail", params=params))
            servers = doc.get("servers") or []
            for server in servers:
                yield server.get("status")
            more = any(link.get("rel") == "next" for link in doc.get("servers_links") or [])
            if not servers or not more:
                return
            params = {**params, "marker": servers[-1]["id"]}
