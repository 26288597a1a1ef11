"""Creating a request's servers in a site through openstacksdk (the only provisioning code
that talks to a cloud).

Servers are created in the department's project: the site's admin connection grants itself the
``admin`` role on that project (idempotent, as an operator would) and connects as it. Every
server carries its idempotency key as a tag and in its metadata (``govcloud_request``,
``govcloud_key``), so ``find_by_key`` finds a server an earlier attempt created — even one whose
creation the database never recorded — and the worker adopts it instead of creating another.

Verbs follow openstacksdk: ``find_*`` returns None when missing, ``wait_*`` raises on timeout.
Every SDK error leaves as a govcloud error naming the site (``TemporaryError`` for 5xx,
timeouts and connection failures; the cloud's own message kept verbatim).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from govcloud.cloud.errors import sdk_errors
from govcloud.cloud.inventory import SiteReader
from govcloud.cloud.listings import server_from_json
from govcloud.domain.inventory import QuotaInfo, ServerInfo
from govcloud.domain.provisioning import RequestSpec
from govcloud.errors import NotFound, PermanentError, TemporaryError

ADMIN_ROLE = "admin"
SERVER_MICROVERSION = "2.52"  # tags on create

@dataclass(frozen=True, slots=True)
class ServerState:
    id: str
    status: str
    fault: str | None = None
    task_state: str | None = None


def project_connection(conn: Connection, site: str, project_id: str, *,
                       request_timeout_s: float | None = 60.0) -> Connection:
    """A connection scoped to ``project_id``, made now (``ProjectConnections`` keeps them)."""
    with sdk_errors(f"site {site}: project {project_id}"):
        identity: Any = conn.identity
        project = identity.get_project(project_id)
        role = identity.find_role(ADMIN_ROLE, ignore_missing=False)
        identity.assign_project_role_to_user(project, conn.current_user_id, role)
        scoped = conn.connect_as_project({"id": project.id, "name": project.name,
                                          "domain_id": project.domain_id})
    session = getattr(scoped, "session", None)
    if request_timeout_s is not None and session is not None and \
            getattr(session, "timeout", None) is None:
        session.timeout = request_timeout_s
    return scoped


class ProjectConnections:
    """The project-scoped connections one owner (the provisioning worker) made: one per
    admin connection and project, made on first use and kept."""

    def __init__(self) -> None:
        self._conns: dict[tuple[int, str], Connection] = {}
        self._lock = threading.Lock()

    def get(self, conn: Connection, site: str, project_id: str, *,
            request_timeout_s: float | None = 60.0) -> Connection:
        key = (id(conn), project_id)
        with self._lock:
            cached = self._conns.get(key)
        if cached is None:
            cached = project_connection(conn, site, project_id,
                                        request_timeout_s=request_timeout_s)
            with self._lock:
                cached = self._conns.setdefault(key, cached)
        return cached


def _find_image(conn: Connection, name: str) -> Any:
    return conn.image.find_image(name, ignore_missing=True)


def _find_network(conn: Connection, name: str) -> Any:
    return conn.network.find_network(name, ignore_missing=True)


def check_references(conn: Connection, site: str, spec: RequestSpec) -> list[str]:
    """The images and networks of ``spec`` that ``site`` does not have, as problems."""
    problems = []
    with sdk_errors(f"site {site}"):
        for image in sorted({g.image for g in spec.servers}):
            if _find_image(conn, image) is None:
                known = sorted(i.name for i in conn.image.images())[:10]
                problems.append(f"{site}: unknown image {image!r} (known: {', '.join(known)})")
        for net in sorted({g.network_for(site) or "" for g in spec.servers} - {""}):
            if _find_network(conn, net) is None:
                known = sorted(n.name for n in conn.network.networks())[:10]
                problems.append(f"{site}: unknown network {net!r} (known: {', '.join(known)})")
    return problems


@dataclass(frozen=True, slots=True)
class Refs:
    flavor_id: str
    image_id: str
    network_id: str


def resolve(conn: Connection, site: str, *, flavor: str, image: str, network: str) -> Refs:
    with sdk_errors(f"site {site}"):
        f: Any = conn.compute.find_flavor(flavor, ignore_missing=True)
        i = _find_image(conn, image)
        n = _find_network(conn, network)
    for what, value, name in (("flavor", f, flavor), ("image", i, image),
                              ("network", n, network)):
        if value is None:
            raise NotFound(f"site {site}: unknown {what} {name!r}")
    return Refs(f.id, i.id, n.id)


def find_by_key(pconn: Connection, site: str, key: str) -> ServerState | None:
    """The server tagged ``key`` in the project, if an earlier attempt created it."""
    with sdk_errors(f"site {site}: looking for {key}"):
        found = [s for s in pconn.compute.servers(tags=key)
                 if (s.metadata or {}).get("govcloud_key") == key]
    if not found:
        return None
    found.sort(key=lambda s: s.created_at or "")
    s = found[0]
    return ServerState(s.id, str(s.status), _fault(s))


def _fault(server: Any) -> str | None:
    fault = getattr(server, "fault", None)
    if isinstance(fault, dict) and fault.get("message"):
        return str(fault["message"])
    return None


def ensure_group(pconn: Connection, site: str, name: str, policy: str) -> str:
    """The server group ``name`` of the project (found, or created with ``policy``)."""
    with sdk_errors(f"site {site}: server group {name}"):
        for group in pconn.compute.server_groups():
            if group.name == name:
                return str(group.id)
        return str(pconn.compute.create_server_group(name=name, policy=policy).id)


@dataclass(frozen=True, slots=True)
class GroupState:
    id: str
    members: frozenset[str]


def list_groups(pconn: Connection, site: str, name: str) -> list[GroupState]:
    """The project's server groups named ``name``, with their members."""
    with sdk_errors(f"site {site}: server group {name}"):
        return [GroupState(str(g.id), frozenset(str(m) for m in g.member_ids or ()))
                for g in pconn.compute.server_groups() if g.name == name]


def delete_group(pconn: Connection, site: str, group_id: str) -> None:
    with sdk_errors(f"site {site}: deleting server group {group_id}"):
        pconn.compute.delete_server_group(group_id, ignore_missing=True)


def create_server(pconn: Connection, site: str, *, name: str, refs: Refs, key: str,
                  request_id: int, ordinal: int, group_id: str | None,
                  volumes: Sequence[int] = (), system: str = "",
                  department: str = "") -> str:
    """Create one server (not waiting); returns its id."""
    attrs: dict[str, Any] = {
        "name": name, "flavor_id": refs.flavor_id, "image_id": refs.image_id,
        "networks": [{"uuid": refs.network_id}], "tags": [key],
        "metadata": {"govcloud_request": str(request_id), "govcloud_key": key,
                     "govcloud_ordinal": str(ordinal), "system": system,
                     "department": department, "site": site}}
    if group_id is not None:
        attrs["scheduler_hints"] = {"group": group_id}
    if volumes:
        attrs["block_device_mapping_v2"] = [
            {"boot_index": 0, "uuid": refs.image_id, "source_type": "image",
             "destination_type": "local", "delete_on_termination": True},
            *({"boot_index": -1, "source_type": "blank", "destination_type": "volume",
               "volume_size": size, "delete_on_termination": True} for size in volumes)]
    with sdk_errors(f"site {site}: creating {name}"):
        server = pconn.compute.create_server(**attrs)
    return str(server.id)


def server_state(pconn: Connection, site: str, server_id: str) -> ServerState | None:
    with sdk_errors(f"site {site}: server {server_id}"):
        s = pconn.compute.find_server(server_id, ignore_missing=True)
    return None if s is None else ServerState(s.id, str(s.status), _fault(s), s.task_state)


# a building server in one of these task states has been claimed on its compute host
_PLACED_TASK_STATES = frozenset({"block_device_mapping", "networking", "spawning"})


def wait_placed(pconn: Connection, site: str, server_id: str, *, timeout_s: float,
                interval_s: float = 0.5) -> None:
    """Poll until the server has left the scheduler: claimed on a host (building in one of
    ``_PLACED_TASK_STATES``) or done building either way. Nova's scheduler sees where an
    anti-affinity group's members are only once their hosts claimed them; members booted
    before that may be sent to one host, fail Nova's late check and run out of retries."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = server_state(pconn, site, server_id)
        if state is None or state.status != "BUILD" or state.task_state in _PLACED_TASK_STATES:
            return
        if time.monotonic() >= deadline:
            raise TemporaryError(f"site {site}: server {server_id} still scheduling after "
                                 f"{timeout_s:.0f} s",
                                 hint="raise provision_active_timeout_s, or look at the site")
        time.sleep(interval_s)


def wait_active(pconn: Connection, site: str, server_id: str, *, timeout_s: float,
                interval_s: float = 0.5, on_poll: Any = None) -> ServerState:
    """Poll until ACTIVE; PermanentError with the cloud's fault on ERROR, TemporaryError when
    ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = server_state(pconn, site, server_id)
        if state is None:
            raise PermanentError(f"site {site}: server {server_id} disappeared while building")
        if state.status == "ACTIVE":
            return state
        if state.status == "ERROR":
            raise PermanentError(f"site {site}: server {server_id} went to ERROR: "
                                 f"{state.fault or 'no fault given'}")
        if time.monotonic() >= deadline:
            raise TemporaryError(f"site {site}: server {server_id} still {state.status} after "
                                 f"{timeout_s:.0f} s",
                                 hint="raise provision_active_timeout_s, or look at the site")
        if on_poll is not None:
            on_poll(state)
        time.sleep(interval_s)


OFFLOADED = "SHELVED_OFFLOADED"
SHELVED_STATUSES = frozenset({"SHELVED", OFFLOADED})
_SHELVABLE = frozenset({"ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED"})


def shelve_offloaded(pconn: Connection, site: str, server_id: str, *, timeout_s: float,
                     interval_s: float = 0.5) -> ServerState:
    """Shelve and offload a server (a cold copy: offloaded, it holds no compute capacity) and
    poll until it is ``SHELVED_OFFLOADED`` with no task under way. Idempotent: a server
    offloaded already is left as it is, one being shelved is waited for, one shelved but kept
    on its host (a cloud whose ``shelved_offload_time`` is not 0) is offloaded. PermanentError
    when it goes to ERROR or disappears; TemporaryError when ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        with sdk_errors(f"site {site}: shelving {server_id}"):
            s: Any = pconn.compute.find_server(server_id, ignore_missing=True)
            if s is None:
                raise PermanentError(f"site {site}: server {server_id} disappeared while "
                                     "being shelved")
            status, task = str(s.status), getattr(s, "task_state", None)
            if status == OFFLOADED and not task:
                return ServerState(s.id, status, _fault(s))
            if status == "ERROR":
                raise PermanentError(f"site {site}: server {server_id} went to ERROR while "
                                     f"being shelved: {_fault(s) or 'no fault given'}")
            if not task and status == "SHELVED":
                pconn.compute.shelve_offload_server(s)
            elif not task and status in _SHELVABLE:
                pconn.compute.shelve_server(s)
        if time.monotonic() >= deadline:
            raise TemporaryError(f"site {site}: server {server_id} still {status} "
                                 f"({task or 'no task'}) after {timeout_s:.0f} s, not "
                                 f"{OFFLOADED}", hint="look at the site, then provision again")
        time.sleep(interval_s)


def delete_server(pconn: Connection, site: str, server_id: str) -> None:
    with sdk_errors(f"site {site}: deleting {server_id}"):
        pconn.compute.delete_server(server_id, ignore_missing=True)


def read_servers(conn: Connection, site: str, server_ids: Sequence[str]) -> list[ServerInfo]:
    """The servers as sync stores them (admin view, compute 2.47 fields), for a targeted
    inventory refresh."""
    out = []
    with sdk_errors(f"site {site}: reading new servers"):
        for sid in server_ids:
            resp = conn.compute.get(f"/servers/{sid}", microversion="2.73")
            if resp.status_code == 404:
                continue
            sdk_exc.raise_from_response(resp)
            out.append(server_from_json(resp.json()["server"]))
    return out


def read_compute_quotas(conn: Connection, site: str, project_id: str) -> list[QuotaInfo]:
    return SiteReader(conn, site=site).quotas([project_id])
