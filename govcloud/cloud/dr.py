"""Disaster-recovery operations on one site's cloud through openstacksdk (thin, like
provision.py): server snapshots and their copy to another region's Glance, Cinder snapshots and
backups (in ``dr_volumes.py``, re-exported here: exported in one region, imported and restored
in another), servers booted from an image or a volume, power actions, isolated networks (no
gateway, no router), and the leftovers a drill made, by name prefix or tag (docs/dr.md, "Cloud
operations").

Calls take a connection scoped as the caller wants and the site's name for messages. Waits are
bounded by ``timeout_s`` (``TemporaryError``; ``PermanentError`` when the cloud reports an
error; each with a hint). Tags are Nova/Neutron/Glance tags, and the metadata key
``govcloud_tag`` on Cinder volumes, snapshots and backups (Cinder has no tags)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from govcloud.cloud.dr_volumes import (
    TAG_KEY,
    AttachedVolume,
    BackupRecord,
    attach_volume,
    attached_volumes,
    create_backup,
    create_volume,
    create_volume_snapshot,
    delete_backup,
    delete_volume,
    delete_volume_snapshot,
    export_backup,
    import_backup,
    is_bootable,
    restore_backup,
    wait_backup,
    wait_volume,
    wait_volume_snapshot,
)
from govcloud.cloud.dr_volumes import cloud_call as _cloud
from govcloud.cloud.dr_volumes import wait_for as _wait
from govcloud.cloud.provision import wait_active
from govcloud.errors import NotFound, PermanentError

SNAPSHOT_MICROVERSION = "2.45"  # createImage answers the image id in its body
IMAGE_DONE = frozenset({"active"})
IMAGE_FAILED = frozenset({"killed", "deleted", "deactivated"})


@dataclass(frozen=True, slots=True)
class IsolatedNetwork:
    network_id: str
    subnet_id: str
    cidr: str


@dataclass(frozen=True, slots=True)
class Leftover:
    """One thing a drill left: ``server``, ``port``, ``network``, ``subnet``, ``router``,
    ``volume``, ``volume-snapshot``, ``backup`` or ``image``."""

    kind: str
    id: str
    name: str
    status: str = ""


# --- images -------------------------------------------------------------------------------------

def _image_status(conn: Connection, site: str, image_id: str) -> tuple[str | None, str]:
    with _cloud(f"site {site}: image {image_id}", "look at the site's Glance"):
        image: Any = conn.image.find_image(image_id, ignore_missing=True)
    return (None, "") if image is None else (str(image.status), "")


def wait_image(conn: Connection, site: str, image_id: str, *, timeout_s: float,
               interval_s: float = 0.5) -> None:
    """Wait until the image is ``active``."""
    _wait(f"image {image_id}", site, lambda: _image_status(conn, site, image_id),
          done=IMAGE_DONE, failed=IMAGE_FAILED, timeout_s=timeout_s, interval_s=interval_s,
          hint="delete the image and take the snapshot again")


def snapshot_server(conn: Connection, site: str, server_id: str, name: str, *,
                    timeout_s: float, interval_s: float = 0.5,
                    metadata: dict[str, str] | None = None) -> str:
    """Nova ``createImage`` of a server, waited for until the image is active; its id."""
    with _cloud(f"site {site}: snapshot of server {server_id}",
                "the server must exist and be ACTIVE, SHUTOFF, PAUSED or SUSPENDED"):
        resp = conn.compute.post(f"/servers/{server_id}/action",
                                 json={"createImage": {"name": name,
                                                       "metadata": metadata or {}}},
                                 microversion=SNAPSHOT_MICROVERSION)
        sdk_exc.raise_from_response(resp)
        image_id = str(resp.json()["image_id"])
    wait_image(conn, site, image_id, timeout_s=timeout_s, interval_s=interval_s)
    for snapshot_id in volume_snapshots_of(conn, site, image_id):  # a volume-backed server
        wait_volume_snapshot(conn, site, snapshot_id, timeout_s=timeout_s,
                             interval_s=interval_s)
    return image_id


def volume_snapshots_of(conn: Connection, site: str, image_id: str) -> list[str]:
    """The Cinder snapshots a volume-backed server's snapshot image maps (its
    ``block_device_mapping`` property): they live and die apart from the image."""
    with _cloud(f"site {site}: image {image_id}", "look at the site's Glance"):
        image: Any = conn.image.get_image(image_id)
    raw = (image.properties or {}).get("block_device_mapping")
    try:
        mapped = json.loads(raw) if isinstance(raw, str) else raw or []
    except ValueError:
        return []
    return [str(m["snapshot_id"]) for m in mapped
            if isinstance(m, dict) and m.get("snapshot_id")]


def same_glance(src: Connection, dst: Connection) -> bool:
    """Whether two connections reach one Glance (one endpoint: nothing to copy)."""
    return bool(src.image.get_endpoint() == dst.image.get_endpoint())


def copy_image(src: Connection, src_site: str, image_id: str, dst: Connection, dst_site: str,
               *, timeout_s: float, interval_s: float = 0.5, name: str | None = None,
               tags: Sequence[str] = ()) -> str:
    """The id of ``image_id``'s copy in ``dst``'s Glance: the same id when both sites share
    a Glance; else a copy found from an earlier call (property ``govcloud_source_image``) or
    made now by downloading the data and uploading it (checksum checked). The data goes
    through a temporary file, not memory."""
    if same_glance(src, dst):
        return image_id
    where = f"copying image {image_id} from {src_site} to {dst_site}"
    if volume_snapshots_of(src, src_site, image_id):
        raise PermanentError(f"{where}: the image is a volume-backed server's snapshot; its "
                             "data is in Cinder snapshots of that site",
                             hint="copy the volumes with backups (export and import) instead")
    with _cloud(where, "check that the image exists and is active in the source site"):
        image: Any = src.image.get_image(image_id)
        for found in dst.image.images(owner=dst.current_project_id):
            if (found.properties or {}).get("govcloud_source_image") == image_id or \
                    getattr(found, "govcloud_source_image", None) == image_id:
                if found.status == "active":
                    return str(found.id)
                dst.image.delete_image(str(found.id), ignore_missing=True)  # partial copy
        with tempfile.NamedTemporaryFile(prefix="govcloud-image-") as tmp:
            src.image.download_image(image, output=tmp.name)
            copy: Any = dst.image.create_image(
                name=name or image.name, filename=tmp.name, disk_format=image.disk_format,
                container_format=image.container_format, visibility="private",
                allow_duplicates=True, tags=list(tags), wait=False,
                govcloud_source_image=image_id, govcloud_source_site=src_site)
    wait_image(dst, dst_site, str(copy.id), timeout_s=timeout_s, interval_s=interval_s)
    with _cloud(where, "delete the copy and copy again"):
        made: Any = dst.image.get_image(copy.id)
    if image.checksum and made.checksum and made.checksum != image.checksum:
        raise PermanentError(f"site {dst_site}: copy {made.id} of image {image_id} has "
                             f"checksum {made.checksum}, not {image.checksum}",
                             hint="delete the copy and copy again")
    return str(copy.id)


def delete_image(conn: Connection, site: str, image_id: str) -> None:
    with _cloud(f"site {site}: deleting image {image_id}", "look at the site's Glance"):
        conn.image.delete_image(image_id, ignore_missing=True)


# --- servers ------------------------------------------------------------------------------------

def boot_server(conn: Connection, site: str, *, name: str, flavor: str, network_id: str,
                image_id: str | None = None, volume_id: str | None = None,
                tags: Sequence[str] = (), metadata: dict[str, str] | None = None,
                delete_volume_on_termination: bool = True) -> str:
    """Start a server from an image or from a volume (exactly one) on a network; its id.
    Wait for it with ``provision.wait_active`` (or ``wait_server`` here)."""
    if (image_id is None) == (volume_id is None):
        raise PermanentError(f"site {site}: boot {name} from an image or a volume, not "
                             f"{'both' if image_id else 'neither'}",
                             hint="give image_id or volume_id")
    with _cloud(f"site {site}: booting {name}",
                "check the flavor, the network and the image or volume in this site"):
        found: Any = conn.compute.find_flavor(flavor, ignore_missing=True)
        if found is None:
            raise NotFound(f"site {site}: unknown flavor {flavor!r}",
                           hint="use a flavor this site has")
        attrs: dict[str, Any] = {"name": name, "flavor_id": found.id,
                                 "networks": [{"uuid": network_id}], "tags": list(tags),
                                 "metadata": dict(metadata or {})}
        if image_id is not None:
            attrs["image_id"] = image_id
        else:
            attrs["block_device_mapping_v2"] = [{
                "boot_index": 0, "uuid": volume_id, "source_type": "volume",
                "destination_type": "volume",
                "delete_on_termination": delete_volume_on_termination}]
        server: Any = conn.compute.create_server(**attrs)
    return str(server.id)


def wait_server(conn: Connection, site: str, server_id: str, *, timeout_s: float,
                interval_s: float = 0.5) -> None:
    """Wait until the server is ACTIVE (PermanentError with Nova's fault on ERROR)."""
    wait_active(conn, site, server_id, timeout_s=timeout_s, interval_s=interval_s)


def delete_server(conn: Connection, site: str, server_id: str, *,
                  timeout_s: float | None = None, interval_s: float = 0.5) -> None:
    """Delete a server (gone already is fine); with ``timeout_s``, wait until it is gone."""
    with _cloud(f"site {site}: deleting server {server_id}", "look at the server in the site"):
        conn.compute.delete_server(server_id, ignore_missing=True)

    def read() -> tuple[str | None, str]:
        with _cloud(f"site {site}: server {server_id}", "look at the server in the site"):
            s: Any = conn.compute.find_server(server_id, ignore_missing=True)
        return (None, "") if s is None else (str(s.status), "")
    if timeout_s is not None:
        _wait(f"server {server_id}", site, read, done=(), failed=(), gone_ok=True,
              timeout_s=timeout_s, interval_s=interval_s,
              hint="reset the server's state and delete it again")


_POWER = {"unshelve": ("ACTIVE", {"SHELVED", "SHELVED_OFFLOADED"}),
          "start": ("ACTIVE", {"SHUTOFF"}), "stop": ("SHUTOFF", {"ACTIVE"})}


def power(conn: Connection, site: str, server_id: str, action: str, *, timeout_s: float,
          interval_s: float = 0.5) -> None:
    """``unshelve`` (a cold copy), ``start`` (a warm one) or ``stop`` (the primary, in a
    planned failover) a server and wait for the status it leads to. Idempotent: a server
    there already is left alone; one in a state the action does not apply to is refused."""
    target, sources = _POWER[action]
    where = f"site {site}: {action} of server {server_id}"
    with _cloud(where, "look at the server in the site"):
        s: Any = conn.compute.get_server(server_id)
        status, task = str(s.status), getattr(s, "task_state", None)
        if status != target and not task:
            if status not in sources:
                raise PermanentError(f"{where}: the server is {status}, not "
                                     f"{' or '.join(sorted(sources))}",
                                     hint=f"bring the server to {target} another way")
            getattr(conn.compute, f"{action}_server")(s)

    def read() -> tuple[str | None, str]:
        with _cloud(where, "look at the server in the site"):
            got: Any = conn.compute.find_server(server_id, ignore_missing=True)
        if got is None:
            return None, ""
        fault = got.fault.get("message", "") if isinstance(got.fault, dict) else ""
        if got.task_state:
            return "busy", fault
        if str(got.status) in sources:  # back where it was, no task: the action failed
            return "failed", fault or (f"{action} ended with the server {got.status} again "
                                       "(Nova shows why in its instance actions)")
        return str(got.status), fault
    _wait(f"server {server_id}", site, read, done={target}, failed={"ERROR", "failed"},
          timeout_s=timeout_s, interval_s=interval_s,
          hint="look at the server's fault; a copy that cannot be placed needs capacity")


# --- isolated networks --------------------------------------------------------------------------

ROUTER_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                 "network:ha_router_replicated_interface", "network:router_gateway")


def create_isolated_network(conn: Connection, site: str, name: str, *,
                            cidr: str = "192.168.250.0/24",
                            tags: Sequence[str] = ()) -> IsolatedNetwork:
    """A network and one subnet with no gateway and no router: servers on it reach each other
    and nothing else. Idempotent by name: an existing one of that name is reused (after
    checking it is still isolated)."""
    with _cloud(f"site {site}: isolated network {name}",
                "check the project's network quota in this site"):
        net: Any = conn.network.find_network(name, ignore_missing=True)
        if net is None:
            net = conn.network.create_network(name=name, description="govcloud isolated "
                                              "network: no router, no route to production")
            if tags:
                conn.network.set_tags(net, list(tags))
        subnets = list(conn.network.subnets(network_id=net.id))
        if subnets:
            sub: Any = subnets[0]
        else:
            sub = conn.network.create_subnet(name=name, network_id=net.id, ip_version=4,
                                             cidr=cidr, gateway_ip=None, enable_dhcp=True)
            if tags:
                conn.network.set_tags(sub, list(tags))
    problems = isolation_problems(conn, site, str(net.id))
    if problems:
        raise PermanentError(f"site {site}: network {name} is not isolated: "
                             f"{'; '.join(problems)}",
                             hint="delete it (delete_isolated_network) and create it again")
    return IsolatedNetwork(str(net.id), str(sub.id), str(sub.cidr))


def isolation_problems(conn: Connection, site: str, network_id: str) -> list[str]:
    """Why a network is not isolated: shared or external, a subnet with a gateway, or a
    router port on it. Empty when it is isolated."""
    out: list[str] = []
    with _cloud(f"site {site}: network {network_id}", "look at the network in the site"):
        net: Any = conn.network.get_network(network_id)
        if net.is_shared or net.is_router_external:
            out.append("it is shared or external")
        for sub in conn.network.subnets(network_id=network_id):
            if sub.gateway_ip:
                out.append(f"subnet {sub.id} has gateway {sub.gateway_ip}")
        for port in conn.network.ports(network_id=network_id):
            if port.device_owner in ROUTER_OWNERS:
                out.append(f"router {port.device_id} has port {port.id} on it")
    return out


def delete_isolated_network(conn: Connection, site: str, network_id: str) -> None:
    """Delete the network with its subnets and the ports left on it (gone is fine). Servers
    on it must be deleted first (their ports would be refused)."""
    with _cloud(f"site {site}: deleting network {network_id}",
                "delete the servers on the network first"):
        if conn.network.find_network(network_id, ignore_missing=True) is None:
            return
        for port in conn.network.ports(network_id=network_id):
            if not str(port.device_owner or "").startswith("compute:"):
                conn.network.delete_port(port, ignore_missing=True)
        for sub in conn.network.subnets(network_id=network_id):
            conn.network.delete_subnet(sub, ignore_missing=True)
        conn.network.delete_network(network_id, ignore_missing=True)


# --- leftovers ----------------------------------------------------------------------------------

def _matches(prefix: str, tag: str | None, name: Any, tags: Any = (),
             metadata: Any = None) -> bool:
    if prefix and str(name or "").startswith(prefix):
        return True
    if tag is None:
        return False
    return tag in (tags or ()) or (isinstance(metadata, dict) and metadata.get(TAG_KEY) == tag)


def leftovers(conn: Connection, site: str, *, prefix: str = "", tag: str | None = None,
              all_projects: bool = False) -> list[Leftover]:
    """Everything in the site whose name starts with ``prefix`` or that carries ``tag``
    (servers, ports — also any port of such a server or network —, networks, subnets,
    routers, volumes, volume snapshots, backups, images). ``all_projects`` (admin) looks in
    every project, else in the connection's."""
    if not prefix and tag is None:
        raise PermanentError("leftovers: give a name prefix or a tag",
                             hint="an empty filter would list everything in the site")
    out: list[Leftover] = []
    scope: dict[str, Any] = {"all_projects": True} if all_projects else {}
    with _cloud(f"site {site}: listing leftovers", "listing every project needs the admin "
                                                   "role"):
        servers = [s for s in conn.compute.servers(details=True, **scope)
                   if _matches(prefix, tag, s.name, s.tags, s.metadata)]
        out += [Leftover("server", str(s.id), str(s.name), str(s.status)) for s in servers]
        nets = [n for n in conn.network.networks() if _matches(prefix, tag, n.name, n.tags)]
        ids, net_ids = {s.id for s in servers}, {n.id for n in nets}
        out += [Leftover("port", str(p.id), str(p.name or ""), str(p.status))
                for p in conn.network.ports()
                if _matches(prefix, tag, p.name, p.tags) or p.device_id in ids
                or p.network_id in net_ids]
        out += [Leftover("network", str(n.id), str(n.name), str(n.status)) for n in nets]
        out += [Leftover("subnet", str(s.id), str(s.name or ""))
                for s in conn.network.subnets()
                if _matches(prefix, tag, s.name, s.tags) or s.network_id in net_ids]
        out += [Leftover("router", str(r.id), str(r.name), str(r.status))
                for r in conn.network.routers() if _matches(prefix, tag, r.name, r.tags)]
        out += _cinder_leftovers(conn, prefix, tag, scope)
        out += [Leftover("image", str(i.id), str(i.name), str(i.status))
                for i in conn.image.images() if _matches(prefix, tag, i.name, i.tags)]
    return out


def _cinder_leftovers(conn: Connection, prefix: str, tag: str | None,
                      scope: dict[str, Any]) -> list[Leftover]:
    bs: Any = conn.block_storage
    out = [Leftover("volume", str(v.id), str(v.name or ""), str(v.status))
           for v in bs.volumes(details=True, **scope)
           if _matches(prefix, tag, v.name, (), v.metadata)]
    out += [Leftover("volume-snapshot", str(s.id), str(s.name or ""), str(s.status))
            for s in bs.snapshots(details=True, **scope)
            if _matches(prefix, tag, s.name, (), s.metadata)]
    out += [Leftover("backup", str(b.id), str(b.name or ""), str(b.status))
            for b in bs.backups(details=True, **scope)
            if _matches(prefix, tag, b.name, (), b.metadata)]
    return out


__all__ = [
    "TAG_KEY", "AttachedVolume", "BackupRecord", "IsolatedNetwork", "Leftover",
    "attach_volume", "attached_volumes", "boot_server", "copy_image",
    "create_backup", "create_isolated_network", "create_volume", "create_volume_snapshot",
    "delete_backup", "delete_image", "delete_isolated_network", "delete_server",
    "delete_volume", "delete_volume_snapshot", "export_backup", "import_backup",
    "is_bootable", "isolation_problems", "leftovers", "power", "restore_backup", "same_glance",
    "snapshot_server", "volume_snapshots_of", "wait_backup", "wait_image", "wait_server",
    "wait_volume", "wait_volume_snapshot",
]
