"""What a DR drill does in the clouds, with plain openstacksdk calls: read production's
servers, make an isolated network (a network and a subnet, no router) in the DR site, boot a
server from a recovery point's image on it, and find and delete everything a drill made —
by name (``govcloud-drill-<id>-...``, ``domain.drills.resource_name``) in every region, so
nothing a crashed run made escapes the teardown or the leftover check.

Never touches a server, network or volume it did not make: deletions go only to resources
whose name carries the drill's prefix (and ports on the drill's own networks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from govcloud.cloud.errors import sdk_errors
from govcloud.domain.drills import made_by
from govcloud.errors import NotFound, TemporaryError

SUBNET_CIDR = "10.251.{n}.0/24"


@dataclass(frozen=True, slots=True)
class ProdServer:
    """A production server as the drill compares it before and after."""

    id: str
    name: str
    status: str
    flavor: str
    addresses: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status,
                "flavor": self.flavor, "addresses": list(self.addresses)}


def _flavor(server: Any) -> str:
    flavor = server.flavor or {}
    return str(flavor.get("original_name") or flavor.get("name") or flavor.get("id") or "")


def _addresses(server: Any) -> tuple[str, ...]:
    return tuple(sorted(f"{net}:{a.get('addr')}" for net, addrs in (server.addresses or {}).items()
                        for a in addrs))


def prod_servers(conn: Any, site: str, project_id: str,
                 names: Sequence[str]) -> list[ProdServer]:
    """The project's servers named ``names`` in ``site``, read now (admin view)."""
    wanted = set(names)
    with sdk_errors(f"site {site}: reading production servers"):
        found = [s for s in conn.compute.servers(details=True, all_projects=True,
                                                 project_id=project_id)
                 if s.name in wanted and (s.project_id or project_id) == project_id]
    return sorted((ProdServer(s.id, s.name, s.status, _flavor(s), _addresses(s)) for s in found),
                  key=lambda s: (s.name, s.id))


def isolated_network(pconn: Any, site: str, name: str, number: int) -> tuple[str, str]:
    """The drill's network and subnet in ``site`` (found again by name, else made), with no
    router: nothing routes from it to production. Returns (network id, subnet id)."""
    with sdk_errors(f"site {site}: isolated network {name}"):
        net = pconn.network.find_network(name, ignore_missing=True)
        if net is None:
            net = pconn.network.create_network(name=name, description="DR drill, isolated")
        subnet = next((s for s in pconn.network.subnets(network_id=net.id)
                       if s.name == name), None)
        if subnet is None:
            subnet = pconn.network.create_subnet(
                name=name, network_id=net.id, ip_version=4,
                cidr=SUBNET_CIDR.format(n=number % 250 + 1), gateway_ip=None,
                enable_dhcp=True)
    return str(net.id), str(subnet.id)


def boot_from_image(pconn: Any, site: str, *, name: str, image_id: str, flavor: str,
                    network_id: str, metadata: dict[str, str]) -> str:
    """A new server ``name`` from ``image_id`` on the drill's network (found again by name
    when an earlier attempt made it). Returns its id; does not wait."""
    with sdk_errors(f"site {site}: booting {name}"):
        existing = [s for s in pconn.compute.servers(name=f"^{name}$") if s.name == name]
        if existing:
            return str(existing[0].id)
        if pconn.image.find_image(image_id, ignore_missing=True) is None:
            raise NotFound(f"site {site}: the recovery point's image {image_id} is gone (Nova "
                           "deletes a shelved server's image when it unshelves it)",
                           hint="run a protection cycle, then plan a new drill")
        f = pconn.compute.find_flavor(flavor, ignore_missing=True)
        if f is None:
            raise NotFound(f"site {site}: unknown flavor {flavor!r}")
        server = pconn.compute.create_server(name=name, flavor_id=f.id, image_id=image_id,
                                             networks=[{"uuid": network_id}],
                                             metadata=metadata)
    return str(server.id)


def get_server(conn: Any, site: str, server_id: str) -> Any:
    """The server as openstacksdk reads it (its metadata and addresses say how to reach it)."""
    with sdk_errors(f"site {site}: reading server {server_id}"):
        return conn.compute.get_server(server_id)


@dataclass(frozen=True, slots=True)
class Made:
    """What of a drill is in one region, by kind: (id, name) pairs."""

    site: str
    servers: tuple[tuple[str, str], ...] = ()
    ports: tuple[tuple[str, str], ...] = ()
    subnets: tuple[tuple[str, str], ...] = ()
    networks: tuple[tuple[str, str], ...] = ()
    volumes: tuple[tuple[str, str], ...] = ()
    snapshots: tuple[tuple[str, str], ...] = ()

    def lines(self) -> list[str]:
        return [f"{self.site}: {kind[:-1]} {name or '-'} ({rid})"
                for kind in ("servers", "ports", "subnets", "networks", "volumes", "snapshots")
                for rid, name in getattr(self, kind)]


def made(conn: Any, site: str, drill_id: int) -> Made:
    """Everything of drill ``drill_id`` in ``site`` (admin view, every project)."""
    mine: Callable[[Any], bool] = lambda r: made_by(drill_id, getattr(r, "name", None))  # noqa: E731
    pair: Callable[[Any], tuple[str, str]] = lambda r: (str(r.id), str(r.name or ""))  # noqa: E731
    with sdk_errors(f"site {site}: looking for drill {drill_id}'s resources"):
        servers = [s for s in conn.compute.servers(all_projects=True) if mine(s)]
        networks = [n for n in conn.network.networks() if mine(n)]
        net_ids = {n.id for n in networks}
        subnets = [s for s in conn.network.subnets() if mine(s) or s.network_id in net_ids]
        ports = [p for p in conn.network.ports() if mine(p) or p.network_id in net_ids]
        volumes = [v for v in conn.block_storage.volumes(all_projects=True) if mine(v)]
        snapshots = [v for v in conn.block_storage.snapshots(all_projects=True) if mine(v)]
    return Made(site, *(tuple(map(pair, rs)) for rs in (servers, ports, subnets, networks,
                                                         volumes, snapshots)))


def delete_made(conn: Any, site: str, drill_id: int, *, timeout_s: float = 120.0) -> list[str]:
    """Delete everything of the drill in ``site``: servers first (and wait until they are
    gone, so their ports go with them), then ports, subnets, networks, snapshots, volumes.
    Idempotent: what is already gone is skipped. Returns what it deleted, one line each."""
    found = made(conn, site, drill_id)
    done = []
    with sdk_errors(f"site {site}: deleting drill {drill_id}'s resources"):
        for sid, name in found.servers:
            conn.compute.delete_server(sid, ignore_missing=True)
            done.append(f"{site}: deleted server {name} ({sid})")
        deadline = time.monotonic() + timeout_s
        while found.servers and any(made_by(drill_id, s.name)
                                    for s in conn.compute.servers(all_projects=True)):
            if time.monotonic() > deadline:
                raise TemporaryError(f"site {site}: drill {drill_id}'s servers are still "
                                     f"deleting after {timeout_s:.0f} s",
                                     hint="clean up again: `govcloud dr drill cleanup ID`")
            time.sleep(0.3)
        for kind, delete in (("port", conn.network.delete_port),
                             ("subnet", conn.network.delete_subnet),
                             ("network", conn.network.delete_network),
                             ("snapshot", conn.block_storage.delete_snapshot),
                             ("volume", conn.block_storage.delete_volume)):
            for rid, name in getattr(found, f"{kind}s"):
                delete(rid, ignore_missing=True)
                done.append(f"{site}: deleted {kind} {name or '-'} ({rid})")
    return done
