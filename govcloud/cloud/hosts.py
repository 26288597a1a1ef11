"""What host maintenance does in a site, with plain openstacksdk calls (docs/hosts.md):
read the compute hosts (services joined with hypervisors), disable and enable a host's
``nova-compute``, list the servers on a host and the server groups they are in, and move a
server — live (``os-migrateLive``, ``block_migration`` auto) or cold (``migrate``, then
``confirmResize``) — to a named host, reading it back until it settles.

Nova's own words come back when it refuses a move (:class:`MoveRefused`), so the drain can
report them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from openstack import exceptions as sdk_exc

from govcloud.cloud.errors import sdk_errors
from govcloud.domain.capacity import Resources, flavor_request
from govcloud.domain.host_drain import ServerGroupInfo
from govcloud.errors import NotFound, PermanentError

COMPUTE = "nova-compute"


class MoveRefused(PermanentError):
    """Nova refused to move a server; ``message`` is Nova's own."""


@dataclass(frozen=True, slots=True)
class ComputeHost:
    """A compute host: its ``nova-compute`` service and its hypervisor."""

    host: str
    hypervisor: str
    service_id: str
    availability_zone: str | None
    up: bool
    enabled: bool
    disabled_reason: str | None

    @property
    def schedulable(self) -> bool:
        return self.up and self.enabled


@dataclass(frozen=True, slots=True)
class HostServer:
    """A server as a drain sees it: where it is, what it is doing and what it takes."""

    id: str
    name: str
    project_id: str
    status: str
    task_state: str | None
    host: str | None
    availability_zone: str | None
    need: Resources
    fault: str | None = None

    @property
    def settled(self) -> bool:
        """No task in progress and not in a transitional status."""
        return not self.task_state and self.status not in ("MIGRATING", "RESIZE", "BUILD",
                                                           "REBUILD", "REVERT_RESIZE")


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def compute_hosts(conn: Any, site: str) -> list[ComputeHost]:
    """Every ``nova-compute`` service of the site with its hypervisor's name (the service's
    host when no hypervisor names it)."""
    with sdk_errors(f"site {site}: reading compute services and hypervisors"):
        services = list(conn.compute.services(binary=COMPUTE))
        named: dict[str, str] = {}
        for hv in conn.compute.hypervisors(details=True):
            service = hv.service_details or {}
            if service.get("host"):
                named.setdefault(str(service["host"]), str(hv.name))
    out = []
    for s in services:
        host = str(s.host)
        out.append(ComputeHost(
            host=host, hypervisor=named.get(host, host), service_id=str(s.id),
            availability_zone=_str(s.availability_zone),
            up=s.state == "up" and not bool(s.is_forced_down), enabled=s.status == "enabled",
            disabled_reason=_str(s.disabled_reason)))
    return sorted(out, key=lambda h: h.host)


def get_compute_host(conn: Any, site: str, host: str) -> ComputeHost:
    """The compute host named ``host`` (its service's host or its hypervisor's name)."""
    hosts = compute_hosts(conn, site)
    found = next((h for h in hosts if host in (h.host, h.hypervisor)), None)
    if found is None:
        shown = ", ".join(h.host for h in hosts[:20]) or "none"
        raise NotFound(f"site {site} has no compute host {host!r}",
                       hint=f"compute hosts: {shown} (`govcloud host list {site}`)")
    return found


def disable_compute(conn: Any, site: str, host: ComputeHost, reason: str) -> None:
    """``openstack compute service set --disable --disable-reason REASON HOST nova-compute``:
    the scheduler sends it nothing new."""
    with sdk_errors(f"site {site}: disabling nova-compute on {host.host}"):
        conn.compute.disable_service(host.service_id, host=host.host, binary=COMPUTE,
                                     disabled_reason=reason)


def enable_compute(conn: Any, site: str, host: ComputeHost) -> None:
    with sdk_errors(f"site {site}: enabling nova-compute on {host.host}"):
        conn.compute.enable_service(host.service_id, host=host.host, binary=COMPUTE)


def _need(server: Any) -> Resources:
    flavor = server.flavor or {}
    image = server.image or {}
    image_id = image.get("id") if isinstance(image, dict) else image
    return flavor_request(vcpus=int(flavor.get("vcpus") or 0), ram_mb=int(flavor.get("ram") or 0),
                          disk_gb=int(flavor.get("disk") or 0),
                          ephemeral_gb=int(flavor.get("ephemeral") or 0),
                          swap_mb=int(flavor.get("swap") or 0),
                          boot_from_volume=not image_id)


def _fault(server: Any) -> str | None:
    fault = getattr(server, "fault", None) or {}
    return _str(fault.get("message")) if isinstance(fault, dict) else None


def _server(s: Any) -> HostServer:
    return HostServer(id=str(s.id), name=str(s.name or ""), project_id=str(s.project_id or ""),
                      status=str(s.status), task_state=_str(getattr(s, "task_state", None)),
                      host=_str(s.compute_host),
                      availability_zone=_str(s.availability_zone), need=_need(s),
                      fault=_fault(s))


def servers_on(conn: Any, site: str, host: str) -> list[HostServer]:
    """The servers Nova has on ``host`` (every project), by name."""
    with sdk_errors(f"site {site}: listing the servers on {host}"):
        found = [_server(s) for s in conn.compute.servers(details=True, all_projects=True,
                                                          compute_host=host)]
    return sorted((s for s in found if s.host == host), key=lambda s: (s.name, s.id))


def find_server(conn: Any, site: str, server_id: str) -> HostServer | None:
    with sdk_errors(f"site {site}: reading server {server_id}"):
        try:
            return _server(conn.compute.get_server(server_id))
        except sdk_exc.NotFoundException:
            return None


def server_groups(conn: Any, site: str, members: Iterable[str]) -> list[ServerGroupInfo]:
    """The server groups (of every project) that hold any of ``members``."""
    wanted = set(members)
    out = []
    with sdk_errors(f"site {site}: listing server groups"):
        for g in conn.compute.server_groups(all_projects=True):
            ids = frozenset(str(m) for m in (g.member_ids or ()))
            if not ids & wanted:
                continue
            policy = str(g.policy or (g.policies or ["?"])[0])
            rules = g.rules or {}
            out.append(ServerGroupInfo(id=str(g.id), name=str(g.name or ""), policy=policy,
                                       members=ids,
                                       max_per_host=int(rules.get("max_server_per_host") or 1)))
    return out


def hosts_of(conn: Any, site: str, server_ids: Iterable[str]) -> dict[str, str]:
    """server id → the host it is on (servers on none, or gone, are left out)."""
    out = {}
    for sid in sorted(set(server_ids)):
        found = find_server(conn, site, sid)
        if found is not None and found.host:
            out[sid] = found.host
    return out


def _refused(exc: sdk_exc.HttpException) -> MoveRefused:
    said = " ".join(str(exc.details or exc.message or exc).split())[:1000]
    return MoveRefused(said or f"HTTP {exc.status_code}")


def live_migrate(conn: Any, site: str, server_id: str, host: str) -> None:
    """Ask Nova to live-migrate the server to ``host`` (the scheduler checks the host:
    ``force`` is never used), ``block_migration`` auto."""
    with sdk_errors(f"site {site}: live-migrating {server_id} to {host}"):
        try:
            conn.compute.live_migrate_server(server_id, host=host, force=False,
                                             block_migration="auto")
        except sdk_exc.HttpException as exc:
            if exc.status_code is not None and 400 <= exc.status_code < 500:
                raise _refused(exc) from exc
            raise


def cold_migrate(conn: Any, site: str, server_id: str, host: str) -> None:
    """Ask Nova to cold-migrate the (shut off) server to ``host``; it then waits in
    ``VERIFY_RESIZE`` for :func:`confirm`."""
    with sdk_errors(f"site {site}: migrating {server_id} to {host}"):
        try:
            conn.compute.migrate_server(server_id, host=host)
        except sdk_exc.HttpException as exc:
            if exc.status_code is not None and 400 <= exc.status_code < 500:
                raise _refused(exc) from exc
            raise


def confirm(conn: Any, site: str, server_id: str) -> None:
    with sdk_errors(f"site {site}: confirming the migration of {server_id}"):
        conn.compute.confirm_server_resize(server_id)


def migration_error(conn: Any, site: str, server_id: str) -> str | None:
    """Why the server's newest migration failed, as Nova's migration record says, if it
    did (None when the newest one did not fail)."""
    with sdk_errors(f"site {site}: reading the migrations of {server_id}"):
        found = list(conn.compute.migrations(server_id=server_id))
    if not found:
        return None
    newest = max(found, key=lambda m: (str(m.created_at or ""), str(m.updated_at or "")))
    if str(newest.status) in ("error", "failed"):
        return (f"Nova's {newest.migration_type or 'migration'} to "
                f"{newest.dest_compute or 'a new host'} ended in status {newest.status}")
    return None
