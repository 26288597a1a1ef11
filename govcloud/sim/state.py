"""The simulated cloud's state: identity (shared) and one :class:`RegionState` per region.

All mutation happens under the App's lock (one request at a time touches state), so the
methods here need no locking of their own. Accounting is kept consistent in one place:
:meth:`RegionState.claim` and :meth:`RegionState.release` move a server's resources in Nova
usage (quota ``in_use``), Placement (provider ``used`` and consumer allocations) and the
hypervisor's server set together.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from govcloud.sim import guest_disk
from govcloud.sim.http import ApiError, forbidden
from govcloud.sim.model import (
    Assignment,
    Backup,
    CatalogService,
    ComputeService,
    Consumer,
    Domain,
    Endpoint,
    Flavor,
    Group,
    Hypervisor,
    Image,
    Keypair,
    KRegion,
    Migration,
    Network,
    Port,
    Project,
    ResourceProvider,
    Role,
    Server,
    ServerGroup,
    Snapshot,
    Subnet,
    Token,
    User,
    Volume,
    now,
)

UNLIMITED = -1

COMPUTE_QUOTA_DEFAULTS: dict[str, int] = {
    "instances": 10,
    "cores": 20,
    "ram": 51200,
    "key_pairs": 100,
    "metadata_items": 128,
    "server_groups": 10,
    "server_group_members": 10,
    # removed from the API at 2.57 / 2.36, still stored like Nova does
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "fixed_ips": -1,
    "floating_ips": -1,
    "security_groups": -1,
    "security_group_rules": -1,
}

NETWORK_QUOTA_DEFAULTS: dict[str, int] = {
    "network": 100,
    "subnet": 100,
    "port": 500,
    "router": 10,
    "floatingip": 50,
    "security_group": 10,
    "security_group_rule": 100,
    "rbac_policy": 10,
    "subnetpool": -1,
}

VOLUME_QUOTA_DEFAULTS: dict[str, int] = {
    "volumes": 10,
    "gigabytes": 1000,
    "snapshots": 10,
    "backups": 10,
    "backup_gigabytes": 1000,
    "per_volume_gigabytes": -1,
    "groups": 10,
}


class IdFactory:
    """Deterministic ids for seeding; random ones afterwards are fine too."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hex(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4).hex

    def mac(self) -> str:
        b = [0xFA, 0x16, 0x3E] + [self.rng.randrange(256) for _ in range(3)]
        return ":".join(f"{x:02x}" for x in b)


@dataclass
class Usage:
    instances: int = 0
    cores: int = 0
    ram: int = 0


@dataclass
class RegionState:
    name: str
    role: str
    ids: IdFactory
    build_delay: float = 1.0
    zones: list[str] = field(default_factory=lambda: ["nova"])
    flavors: dict[str, Flavor] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)
    networks: dict[str, Network] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    ports: dict[str, Port] = field(default_factory=dict)
    services: dict[str, ComputeService] = field(default_factory=dict)
    hypervisors: dict[str, Hypervisor] = field(default_factory=dict)
    hv_by_host: dict[str, Hypervisor] = field(default_factory=dict)
    providers: dict[str, ResourceProvider] = field(default_factory=dict)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    servers: dict[str, Server] = field(default_factory=dict)  # live, in creation order
    tombstones: dict[str, Server] = field(default_factory=dict)  # deleted, for changes-since
    pending: set[str] = field(default_factory=set)  # servers in BUILD/REBOOT awaiting a tick
    server_groups: dict[str, ServerGroup] = field(default_factory=dict)
    keypairs: dict[tuple[str, str], Keypair] = field(default_factory=dict)  # (user, name)
    volumes: dict[str, Volume] = field(default_factory=dict)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)  # Cinder's
    backups: dict[str, Backup] = field(default_factory=dict)
    # image id → the guest's files (a tar.gz of a sandbox root) an image carries: what a
    # snapshot of a sandboxed server captured, or what was uploaded to Glance in that form
    guest_disks: dict[str, bytes] = field(default_factory=dict)
    compute_quota_defaults: dict[str, int] = field(
        default_factory=lambda: dict(COMPUTE_QUOTA_DEFAULTS))
    compute_quotas: dict[str, dict[str, int]] = field(default_factory=dict)
    network_quota_defaults: dict[str, int] = field(
        default_factory=lambda: dict(NETWORK_QUOTA_DEFAULTS))
    network_quotas: dict[str, dict[str, int]] = field(default_factory=dict)
    volume_quota_defaults: dict[str, int] = field(
        default_factory=lambda: dict(VOLUME_QUOTA_DEFAULTS))
    volume_quotas: dict[str, dict[str, int]] = field(default_factory=dict)
    usage: dict[str, Usage] = field(default_factory=lambda: defaultdict(Usage))
    migrations: dict[str, Migration] = field(default_factory=dict)  # uuid → record
    migration_seq: int = 0
    seq: int = 0
    keypair_seq: int = 0

    # --- quotas ------------------------------------------------------------------------------

    def compute_quota(self, project_id: str) -> dict[str, int]:
        merged = dict(self.compute_quota_defaults)
        merged.update(self.compute_quotas.get(project_id, {}))
        return merged

    def network_quota(self, project_id: str) -> dict[str, int]:
        merged = dict(self.network_quota_defaults)
        merged.update(self.network_quotas.get(project_id, {}))
        return merged

    def volume_quota(self, project_id: str) -> dict[str, int]:
        merged = dict(self.volume_quota_defaults)
        merged.update(self.volume_quotas.get(project_id, {}))
        return merged

    def check_compute_quota(self, project_id: str, *, instances: int, cores: int,
                            ram: int) -> None:
        """Raise Nova's 403 when the request would exceed the project's quota."""
        quota = self.compute_quota(project_id)
        used = self.usage[project_id]
        asked = {"instances": instances, "cores": cores, "ram": ram}
        have = {"instances": used.instances, "cores": used.cores, "ram": used.ram}
        overs = [k for k in ("cores", "instances", "ram")
                 if quota[k] != UNLIMITED and have[k] + asked[k] > quota[k]]
        if overs:
            names = ", ".join(overs)
            raise forbidden(
                f"Quota exceeded for {names}: Requested "
                f"{', '.join(str(asked[k]) for k in overs)}, but already used "
                f"{', '.join(str(have[k]) for k in overs)} of "
                f"{', '.join(str(quota[k]) for k in overs)} {names}")

    # --- scheduling and accounting -----------------------------------------------------------

    @staticmethod
    def flavor_resources(flavor: Flavor) -> dict[str, int]:
        res = {"VCPU": flavor.vcpus, "MEMORY_MB": flavor.ram}
        disk = flavor.disk + flavor.ephemeral + (flavor.swap + 1023) // 1024
        if disk:
            res["DISK_GB"] = disk
        return res

    @staticmethod
    def fits(rp: ResourceProvider, resources: dict[str, int]) -> bool:
        for rc, amount in resources.items():
            inv = rp.inventories.get(rc)
            if inv is None:
                return False
            max_unit = inv.max_unit or inv.total
            if amount > max_unit:
                return False
            if rp.used.get(rc, 0) + amount > inv.capacity():
                return False
        return True

    def schedule(self, flavor: Flavor, *, zone: str | None = None,
                 group: ServerGroup | None = None, exclude: set[str] | None = None,
                 host: str | None = None) -> Hypervisor | None:
        """Pick a host like Nova's filter scheduler: filters, then spread by free RAM.

        A server group's anti-affinity allows ``rules.max_server_per_host`` members on one
        host (default 1: ServerGroupAntiAffinityFilter); affinity wants a host of a member."""
        resources = self.flavor_resources(flavor)
        members_on: dict[str, int] = {}
        if group is not None:
            for sid in group.members:
                srv = self.servers.get(sid)
                if srv is not None and srv.host:
                    members_on[srv.host] = members_on.get(srv.host, 0) + 1
        group_hosts = set(members_on)
        max_per_host = int((group.rules if group is not None else {})
                           .get("max_server_per_host", 1))
        best: Hypervisor | None = None
        best_free = -1
        for hv in self.hypervisors.values():
            if not hv.service.is_up or hv.service.status != "enabled":
                continue
            if zone and hv.service.zone != zone:
                continue
            if host and hv.hostname != host:
                continue
            if exclude and hv.hostname in exclude:
                continue
            if group is not None and group_hosts:
                if group.policy == "anti-affinity" and \
                        members_on.get(hv.hostname, 0) >= max_per_host:
                    continue
                if group.policy == "affinity" and hv.hostname not in group_hosts:
                    continue
            if not self.fits(hv.provider, resources):
                continue
            inv = hv.provider.inventories["MEMORY_MB"]
            free = inv.capacity() - hv.provider.used.get("MEMORY_MB", 0)
            if free > best_free:
                best, best_free = hv, free
        return best

    def claim(self, server: Server, hv: Hypervisor) -> None:
        resources = self.flavor_resources(server.flavor)
        rp = hv.provider
        for rc, amount in resources.items():
            rp.used[rc] = rp.used.get(rc, 0) + amount
        rp.generation += 1
        self.consumers[server.id] = Consumer(
            uuid=server.id, project_id=server.project_id, user_id=server.user_id,
            allocations={rp.uuid: dict(resources)}, generation=1)
        hv.servers.add(server.id)
        server.host = hv.hostname
        server.hypervisor_id = hv.id
        server.availability_zone = hv.service.zone

    def count_usage(self, server: Server, sign: int = 1) -> None:
        u = self.usage[server.project_id]
        u.instances += sign
        u.cores += sign * server.flavor.vcpus
        u.ram += sign * server.flavor.ram

    def drop_consumer(self, consumer_uuid: str) -> None:
        """Delete a Placement consumer and give back what it held."""
        consumer = self.consumers.pop(consumer_uuid, None)
        if consumer is not None:
            for rp_uuid, resources in consumer.allocations.items():
                rp = self.providers.get(rp_uuid)
                if rp is None:
                    continue
                for rc, amount in resources.items():
                    rp.used[rc] = max(0, rp.used.get(rc, 0) - amount)
                rp.generation += 1

    def release(self, server: Server) -> None:
        self.drop_consumer(server.id)
        if server.migration_uuid:
            self.drop_consumer(server.migration_uuid)
        if server.host and server.host in self.hv_by_host:
            self.hv_by_host[server.host].servers.discard(server.id)

    # --- moves: resize, cold and live migration, shelve ---------------------------------------
    #
    # As Nova does it: when a move starts, the server's allocation on the source host is handed
    # to the migration record (a Placement consumer whose uuid is the migration's; Nova gives
    # Placement no consumer type, so both show as "unknown"), and the server claims its (new)
    # flavor on the destination. Confirming a resize or cold migration, or finishing a live
    # migration, deletes the migration's allocation; reverting deletes the server's and gives
    # the source allocation back to it.

    def new_migration(self, server: Server, kind: str, *, new_flavor: Flavor,
                      dest: Hypervisor | None, user_id: str, status: str) -> Migration:
        self.migration_seq += 1
        mig = Migration(id=self.migration_seq, uuid=self.ids.uuid(),
                        instance_uuid=server.id, migration_type=kind, status=status,
                        source_compute=server.host or "",
                        dest_compute=dest.hostname if dest else None,
                        dest_host=dest.host_ip if dest else None,
                        old_flavor=server.flavor, new_flavor=new_flavor,
                        project_id=server.project_id, user_id=user_id)
        self.migrations[mig.uuid] = mig
        return mig

    def _move_host(self, server: Server, hv: Hypervisor | None) -> None:
        if server.host and server.host in self.hv_by_host:
            self.hv_by_host[server.host].servers.discard(server.id)
        if hv is None:
            server.host = server.hypervisor_id = None
        else:
            hv.servers.add(server.id)
            server.host, server.hypervisor_id = hv.hostname, hv.id
            server.availability_zone = hv.service.zone
        for pid in server.port_ids:
            port = self.ports.get(pid)
            if port is not None:
                port.binding_host_id = server.host or ""

    def _set_flavor(self, server: Server, flavor: Flavor) -> None:
        self.count_usage(server, -1)
        server.flavor = flavor
        self.count_usage(server, 1)

    def start_move(self, server: Server, mig: Migration, dest: Hypervisor) -> None:
        """Source allocation to the migration record; the new flavor claimed on ``dest``."""
        held = self.consumers.pop(server.id, None)
        if held is not None:
            held.uuid = mig.uuid
            held.generation += 1
            self.consumers[mig.uuid] = held
        resources = self.flavor_resources(mig.new_flavor)
        rp = dest.provider
        for rc, amount in resources.items():
            rp.used[rc] = rp.used.get(rc, 0) + amount
        rp.generation += 1
        self.consumers[server.id] = Consumer(
            uuid=server.id, project_id=server.project_id, user_id=server.user_id,
            allocations={rp.uuid: dict(resources)}, generation=1)
        server.migration_uuid = mig.uuid
        if mig.migration_type != "live-migration":
            server.old_flavor = server.flavor
            server.old_vm_state = server.vm_state
            if mig.new_flavor is not server.flavor:
                self._set_flavor(server, mig.new_flavor)
        self._move_host(server, dest)

    def migration_of(self, server: Server) -> Migration | None:
        return self.migrations.get(server.migration_uuid or "")

    def confirm_move(self, server: Server) -> None:
        """The source's allocation (held by the migration) is given back."""
        mig = self.migration_of(server)
        if server.migration_uuid:
            self.drop_consumer(server.migration_uuid)
        if mig is not None:
            mig.status, mig.updated_at = "confirmed", now()
        server.migration_uuid = None
        server.old_flavor = None

    def revert_move(self, server: Server) -> None:
        """Back to the source host and the old flavor: the destination's allocation is
        deleted and the migration's goes back to the server."""
        mig = self.migration_of(server)
        if mig is None:
            return
        self.drop_consumer(server.id)
        held = self.consumers.pop(mig.uuid, None)
        if held is not None:
            held.uuid = server.id
            held.generation += 1
            self.consumers[server.id] = held
        if server.old_flavor is not None and server.old_flavor is not server.flavor:
            self._set_flavor(server, server.old_flavor)
        server.old_flavor = None
        self._move_host(server, self.hv_by_host.get(mig.source_compute))
        mig.status, mig.updated_at = "reverting", now()

    def start_evacuation(self, server: Server, mig: Migration, dest: Hypervisor) -> None:
        """Nova adds the destination to the server's allocation; the dead source's part stays
        until that compute service comes back and cleans up (``cleanup_evacuated``)."""
        resources = self.flavor_resources(server.flavor)
        rp = dest.provider
        for rc, amount in resources.items():
            rp.used[rc] = rp.used.get(rc, 0) + amount
        rp.generation += 1
        consumer = self.consumers.get(server.id)
        if consumer is None:
            consumer = self.consumers[server.id] = Consumer(
                uuid=server.id, project_id=server.project_id, user_id=server.user_id)
        consumer.allocations[rp.uuid] = dict(resources)
        consumer.generation += 1
        server.migration_uuid = mig.uuid
        self._move_host(server, dest)

    def evacuated_from(self, host: str) -> bool:
        """Are there evacuations off ``host`` its compute service has not cleaned up yet?"""
        return any(m.migration_type == "evacuation" and m.status == "done"
                   and m.source_compute == host for m in self.migrations.values())

    def restart_compute(self, host: str) -> None:
        """The compute service of ``host`` starts (again): it reports up, and cleans up what
        servers evacuated from it still hold there."""
        hv = self.hv_by_host.get(host)
        if hv is not None:
            hv.service.state = "up"
            hv.service.updated_at = now()
            self.cleanup_evacuated(host)

    def cleanup_evacuated(self, host: str) -> None:
        """A compute service back up deletes what servers evacuated from it still hold there
        (nova-compute's _destroy_evacuated_instances); their migrations become completed."""
        hv = self.hv_by_host.get(host)
        if hv is None:
            return
        for mig in self.migrations.values():
            if mig.migration_type != "evacuation" or mig.status != "done" or \
                    mig.source_compute != host:
                continue
            consumer = self.consumers.get(mig.instance_uuid)
            held = consumer.allocations.pop(hv.provider.uuid, None) if consumer else None
            if consumer is not None and held is not None:
                for rc, amount in held.items():
                    hv.provider.used[rc] = max(0, hv.provider.used.get(rc, 0) - amount)
                hv.provider.generation += 1
                consumer.generation += 1
            mig.status, mig.updated_at = "completed", now()

    def _settle_move(self, srv: Server) -> None:
        """What a finished step of a move leaves behind (called when its delay is over)."""
        mig = self.migration_of(srv)
        if srv.status == "VERIFY_RESIZE":
            srv.vm_state = "resized"
            srv.power_state = 1 if srv.old_vm_state == "active" else 4
            if mig is not None:
                mig.status, mig.updated_at = "finished", now()
        elif srv.status == "ERROR":
            srv.vm_state = "error"
        elif srv.status == "SHELVED_OFFLOADED":
            # shelved_offload_time 0: offloaded at once, its allocation and host gone
            self.release(srv)
            self._move_host(srv, None)
            srv.vm_state, srv.power_state = "shelved_offloaded", 4
        elif mig is not None and mig.status == "confirming":
            self.confirm_move(srv)
        elif mig is not None and mig.status == "reverting":
            mig.status, mig.updated_at = "reverted", now()
            srv.migration_uuid = None
        elif mig is not None and mig.migration_type == "live-migration":
            self.drop_consumer(mig.uuid)
            mig.status, mig.updated_at = "completed", now()
            srv.migration_uuid = None
        elif mig is not None and mig.migration_type == "evacuation":
            mig.status, mig.updated_at = "done", now()
            srv.migration_uuid = None

    # --- server lifecycle --------------------------------------------------------------------

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def tick(self, wall: float | None = None) -> None:
        """Advance servers whose BUILD/REBOOT delay has passed."""
        if not self.pending:
            return
        wall = time.time() if wall is None else wall
        done = [sid for sid in self.pending
                if (s := self.servers.get(sid)) is None or s.ready_at <= wall]
        for sid in done:
            self.pending.discard(sid)
            srv = self.servers.get(sid)
            if srv is None:
                continue
            srv.status = srv.target_status
            srv.task_state = None
            if srv.status == "ACTIVE":
                srv.vm_state, srv.power_state = "active", 1
            elif srv.status == "SHUTOFF":
                srv.vm_state, srv.power_state = "stopped", 4
            self._settle_move(srv)
            if srv.launched_at is None and srv.status == "ACTIVE":
                srv.launched_at = dt.datetime.fromtimestamp(srv.ready_at, dt.UTC)
            srv.updated_at = dt.datetime.fromtimestamp(
                max(srv.ready_at, srv.updated_at.timestamp()), dt.UTC
            ).replace(microsecond=0)

    def drop_image(self, image_id: str) -> None:
        """Forget an image and the guest disk it carried."""
        self.images.pop(image_id, None)
        self.guest_disks.pop(image_id, None)

    def snapshot_image(self, server: Server, name: str, *,
                       properties: dict[str, Any] | None = None) -> Image:
        """Nova's snapshot of a server (createImage, shelve): a private image of the base
        image's format whose data is the server's guest disk (guest_disk.py) — its sandbox
        root's files, or an empty guest without a sandbox. A volume-backed server's snapshot is
        Nova's ``snapshot_volume_backed``: a Cinder snapshot of each attached volume and an
        image of no data whose ``block_device_mapping`` property names them."""
        image = Image(id=str(uuid.uuid4()), name=name, visibility="private",
                      owner=server.project_id, min_disk=server.flavor.disk, min_ram=0,
                      properties={"image_type": "snapshot", "instance_uuid": server.id,
                                  "user_id": server.user_id, "base_image_ref": server.image_id,
                                  **(properties or {})})
        base = self.images.get(server.image_id)
        if base is not None:
            image.size, image.disk_format = base.size, base.disk_format
            image.checksum, image.os_distro = base.checksum, base.os_distro
        if not server.image_id:
            image.properties.update(self._snapshot_volumes(server, name))
            image.size, image.checksum = 0, None
            self.images[image.id] = image
            return image
        disk = guest_disk.capture(guest_disk.sandbox_root(server))
        if disk is not None:
            self.guest_disks[image.id] = disk
            image.size = len(disk)
            image.checksum = hashlib.md5(disk).hexdigest()  # noqa: S324 - Glance checksum
        self.images[image.id] = image
        return image

    def _snapshot_volumes(self, server: Server, name: str) -> dict[str, str]:
        """Snapshots of the server's volumes (forced, as Nova asks), as the image properties
        that map them back to volumes on boot."""
        bdms = []
        for index, entry in enumerate(server.volumes_attached):
            vol = self.volumes.get(entry["id"])
            if vol is None:
                continue
            snap = Snapshot(id=str(uuid.uuid4()), volume_id=vol.id, project_id=server.project_id,
                            user_id=server.user_id, size=vol.size, name=f"snapshot for {name}",
                            ready_at=time.time() + max(0.1, self.build_delay))
            self.snapshots[snap.id] = snap
            bdms.append({"source_type": "snapshot", "destination_type": "volume",
                         "snapshot_id": snap.id, "volume_size": vol.size,
                         "boot_index": 0 if index == 0 else None, "device_name":
                         entry.get("device"), "delete_on_termination":
                         bool(entry.get("delete_on_termination")), "tag": None,
                         "volume_id": None, "no_device": None, "disk_bus": None,
                         "device_type": None, "guest_format": None, "image_id": None})
        return {"block_device_mapping": json.dumps(bdms), "bdm_v2": "True",
                "root_device_name": "/dev/vda"}

    def delete_server(self, server: Server) -> None:
        self.release(server)
        if server.shelved_image_id:  # Nova deletes a shelved server's snapshot with it
            self.drop_image(server.shelved_image_id)
        # and its migration records (instance_destroy soft-deletes them: os-migrations
        # no longer lists them)
        for mig in [m for m in self.migrations.values() if m.instance_uuid == server.id]:
            del self.migrations[mig.uuid]
        self.count_usage(server, -1)
        for pid in server.port_ids:
            port = self.ports.get(pid)
            if port is not None and port.device_owner.startswith("compute:"):
                self.ports.pop(pid, None)
        if server.server_group_id and server.server_group_id in self.server_groups:
            members = self.server_groups[server.server_group_id].members
            if server.id in members:
                members.remove(server.id)
        for vol in self.volumes.values():
            vol.attachments = [a for a in vol.attachments if a.get("server_id") != server.id]
            if not vol.attachments and vol.status == "in-use":
                vol.status = "available"
        self.servers.pop(server.id, None)
        self.pending.discard(server.id)
        server.deleted = True
        server.status = "DELETED"
        server.vm_state = "deleted"
        server.task_state = None
        server.power_state = 0
        server.terminated_at = now()
        server.updated_at = now()
        self.tombstones[server.id] = server

    # --- network -----------------------------------------------------------------------------

    def allocate_port(self, network: Network, *, project_id: str, device_id: str,
                      host: str | None, fixed_ip: str | None = None) -> Port:
        fixed_ips = []
        for subnet_id in network.subnet_ids[:1]:
            subnet = self.subnets[subnet_id]
            net = ipaddress.ip_network(subnet.cidr)
            if fixed_ip is None:
                addr = str(net.network_address + subnet.next_host)
                subnet.next_host += 1
                if subnet.next_host >= net.num_addresses - 1:
                    subnet.next_host = subnet.allocation_start
            else:
                addr = fixed_ip
            fixed_ips.append({"subnet_id": subnet.id, "ip_address": addr})
        port = Port(id=self.ids.uuid(), network_id=network.id, project_id=project_id,
                    mac_address=self.ids.mac(), fixed_ips=fixed_ips, device_id=device_id,
                    device_owner=f"compute:{self.zones[0]}", binding_host_id=host or "")
        self.ports[port.id] = port
        return port

    def addresses_for(self, ports: list[Port]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for port in ports:
            net = self.networks.get(port.network_id)
            if net is None:
                continue
            for ip in port.fixed_ips:
                out.setdefault(net.name, []).append({
                    "addr": ip["ip_address"],
                    "version": 6 if ":" in ip["ip_address"] else 4,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": port.mac_address,
                })
            for addr in port.floating_ips:  # Nova lists them after the port's fixed IPs
                out.setdefault(net.name, []).append({
                    "addr": addr, "version": 4, "OS-EXT-IPS:type": "floating",
                    "OS-EXT-IPS-MAC:mac_addr": port.mac_address,
                })
        return out


@dataclass
class Cloud:
    """Everything the simulator knows."""

    ids: IdFactory
    regions: dict[str, RegionState] = field(default_factory=dict)
    domains: dict[str, Domain] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    assignments: set[Assignment] = field(default_factory=set)
    tokens: dict[str, Token] = field(default_factory=dict)
    catalog_services: dict[str, CatalogService] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    kregions: dict[str, KRegion] = field(default_factory=dict)
    base_url: str = "http://127.0.0.1"
    token_ttl: int = 3600 * 12
    # SSH sandboxes (``{address, port, user, root, host_keys}``) that new servers are backed
    # by, in turn: a server created while the pool is not empty takes the next one and shows
    # it in its metadata (``sim:ssh`` address:port, ``sim:user``, ``sim:root``), so that the
    # demo and tests can reach "the new server" over SSH (POST /_sim/sandboxes fills the
    # pool); its console log shows the sandbox's host keys as cloud-init prints them.
    sandboxes: list[dict[str, Any]] = field(default_factory=list)

    def region(self, name: str | None) -> RegionState:
        if name is None or name not in self.regions:
            raise ApiError(404, f"Region {name} not found.")
        return self.regions[name]

    def role_by_name(self, name: str) -> Role | None:
        for role in self.roles.values():
            if role.name == name:
                return role
        return None

    def project_by_name(self, name: str, domain_id: str | None = None) -> Project | None:
        for project in self.projects.values():
            if project.name == name and (domain_id is None or project.domain_id == domain_id):
                return project
        return None

    def user_by_name(self, name: str, domain_id: str | None = None) -> User | None:
        for user in self.users.values():
            if user.name == name and (domain_id is None or user.domain_id == domain_id):
                return user
        return None

    def domain_by_name(self, name: str) -> Domain | None:
        for domain in self.domains.values():
            if domain.name == name:
                return domain
        return None

    def _grants(self, a: Assignment, *, project_id: str | None, domain_id: str | None,
                system: bool) -> bool:
        """Does assignment ``a`` apply to the requested scope?"""
        if system:
            return a.system == "all"
        if project_id:
            if a.project_id == project_id and not a.inherited:
                return True
            project = self.projects.get(project_id)
            return bool(a.inherited and a.domain_id and project is not None
                        and project.domain_id == a.domain_id)
        if domain_id:
            return a.domain_id == domain_id and not a.inherited
        return False

    def effective_role_ids(self, user_id: str, *, project_id: str | None = None,
                           domain_id: str | None = None, system: bool = False) -> list[str]:
        group_ids = {g.id for g in self.groups.values() if user_id in g.members}
        out: list[str] = []
        for a in self.assignments:
            if a.user_id != user_id and a.group_id not in group_ids:
                continue
            if not self._grants(a, project_id=project_id, domain_id=domain_id, system=system):
                continue
            if a.role_id not in out:
                out.append(a.role_id)
        # implied roles as Keystone ships them: admin ⇒ member ⇒ reader
        names = {self.roles[r].name for r in out if r in self.roles}
        for implied, by in (("member", "admin"), ("reader", "member")):
            if by in names and implied not in names:
                role = self.role_by_name(implied)
                if role is not None:
                    out.append(role.id)
                    names.add(implied)
        return out
