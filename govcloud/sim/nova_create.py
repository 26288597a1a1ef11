"""POST /servers: validation with Nova's 400s, quota, scheduling, ports, volumes, BUILD."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import ipaddress
import json
import secrets
import string
import time
from collections import Counter
from typing import Any

from govcloud.sim import guest_disk
from govcloud.sim.cinder_admin import settle
from govcloud.sim.http import (
    ApiError,
    Request,
    Response,
    bad_request,
    conflict,
    forbidden,
    json_response,
)
from govcloud.sim.model import (
    Flavor,
    Hypervisor,
    Image,
    Network,
    Port,
    Server,
    ServerGroup,
    Volume,
    now,
)
from govcloud.sim.nova_common import (
    NO_HOST_FAULT,
    NovaContext,
    additional,
    invalid,
    is_uuid,
    links,
    metadata_field,
    policy,
    require_member,
    sanitize_hostname,
    str_field,
)
from govcloud.sim.state import Cloud, RegionState

BASE_KEYS = {"name", "imageRef", "flavorRef", "adminPass", "metadata", "networks",
             "OS-DCF:diskConfig", "accessIPv4", "accessIPv6", "user_data",
             "availability_zone", "key_name", "block_device_mapping",
             "block_device_mapping_v2", "config_drive", "min_count", "max_count",
             "return_reservation_id", "security_groups"}
MAX_TAGS = 50


@dataclasses.dataclass
class NetRequest:
    network: Network | None = None
    port: Port | None = None
    fixed_ip: str | None = None
    tag: str | None = None


@dataclasses.dataclass
class BdmRequest:
    source_type: str
    destination_type: str
    uuid: str | None
    boot_index: int | None
    volume_size: int | None
    delete_on_termination: bool
    device_name: str | None
    tag: str | None


def _password(length: int = 12) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


class ServerCreator:
    def __init__(self, api: NovaContext) -> None:
        self.api = api

    def create(self, req: Request) -> Response:
        region = self.api.region(req)
        require_member(req, "os_compute_api:servers:create")
        body, hints = self._server_body(req)
        auth = req.auth
        project_id = auth.project_id or ""
        name = self._name(body)
        description = str_field(body, "description", max_len=255, nullable=True)
        flavor = self._flavor(req, region, body)
        min_count, max_count = self._counts(body)
        metadata = metadata_field(body)
        tags = self._tags(body)
        bdms = self._bdms(body)
        image = self._image(req, region, body, bdms)
        if image is not None and image.properties.get("bdm_v2") == "True" and \
                image.properties.get("block_device_mapping"):
            # a volume-backed server's snapshot: its volumes come back from their snapshots
            mapped = [{**m, "uuid": m.get("snapshot_id") or m.get("volume_id")}
                      for m in json.loads(image.properties["block_device_mapping"])]
            bdms = self._bdms({"block_device_mapping_v2": mapped}) + \
                [b for b in bdms if b.boot_index != 0]
            image = None
        if image is not None:
            self._check_image_fits(image, flavor)
        nets = self._networks(req, region, body, max_count)
        key_name = self._key_name(req, region, body)
        zone, forced_host = self._zone(req, region, body)
        group = self._group(req, region, hints)
        user_data = self._user_data(body)
        admin_pass = body.get("adminPass")
        if admin_pass is not None and not isinstance(admin_pass, str):
            raise invalid("adminPass", admin_pass, f"{admin_pass!r} is not of type 'string'")
        sec_groups = self._security_groups(body)
        config_drive = body.get("config_drive")
        hostname = str_field(body, "hostname", min_len=1, max_len=63)
        rrid = body.get("return_reservation_id", False)
        if not isinstance(rrid, bool):
            raise invalid("return_reservation_id", rrid, f"{rrid!r} is not of type 'boolean'")
        forced_host = self._requested_host(req, region, body) or forced_host
        boot_volumes = self._check_volumes(req, region, bdms)
        count = self._count_within_limits(region, project_id, flavor, metadata, group,
                                          min_count, max_count)

        reservation = "r-" + secrets.token_hex(4)
        password = admin_pass or _password()
        snapshot = dataclasses.replace(flavor, extra_specs=dict(flavor.extra_specs),
                                       access=set(flavor.access))
        first: Server | None = None
        stamp = now()
        for index in range(count):
            display = name if count == 1 else f"{name}-{index + 1}"
            seq = region.next_seq()
            s = Server(
                id=region.ids.uuid(), name=display, project_id=project_id,
                user_id=auth.user_id, flavor=snapshot,
                image_id=image.id if image is not None else "",
                created_at=stamp, updated_at=stamp, status="BUILD", vm_state="building",
                task_state="scheduling", power_state=0,
                requested_availability_zone=zone, key_name=key_name,
                metadata=dict(metadata), tags=list(tags), security_groups=list(sec_groups),
                description=description,
                access_ipv4=body.get("accessIPv4") or "",
                access_ipv6=body.get("accessIPv6") or "",
                config_drive="True" if config_drive in (True, "True", "true", "1") else "",
                admin_pass=password,
                hostname=(hostname if hostname and count == 1
                          else sanitize_hostname(display)),
                seq=seq, instance_number=seq)
            s.reservation_id = reservation  # type: ignore[attr-defined]
            s.launch_index = index  # type: ignore[attr-defined]
            s.user_data = user_data  # type: ignore[attr-defined]
            if group is not None:
                s.server_group_id = group.id
            self._schedule(region, s, zone=zone, group=group, host=forced_host, nets=nets,
                           bdms=bdms, boot_volumes=boot_volumes)
            if first is None:
                first = s
        assert first is not None
        if rrid:
            return json_response({"reservation_id": reservation}, status=202)
        return json_response({"server": {
            "id": first.id, "links": links(req, "servers", first.id),
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": n} for n in sec_groups], "adminPass": password,
        }}, status=202, Location=f"{req.base_url}/v2.1/servers/{first.id}")

    @staticmethod
    def _server_body(req: Request) -> tuple[dict[str, Any], dict[str, Any]]:
        """The request's ``server`` and scheduler hints, checked as Nova's schema does."""
        doc = req.json()
        if not isinstance(doc, dict):
            raise bad_request(f"Invalid input for field/attribute body. Value: {doc!r}. "
                              f"{doc!r} is not of type 'object'")
        top_allowed = {"server", "os:scheduler_hints", "OS-SCH-HNT:scheduler_hints"}
        if set(doc) - top_allowed:
            raise additional(set(doc) - top_allowed)
        body = doc.get("server")
        if body is None:
            raise invalid("body", doc, "'server' is a required property")
        if not isinstance(body, dict):
            raise invalid("server", body, f"{body!r} is not of type 'object'")
        hints = doc.get("os:scheduler_hints", doc.get("OS-SCH-HNT:scheduler_hints")) or {}
        if not isinstance(hints, dict):
            raise invalid("os:scheduler_hints", hints, f"{hints!r} is not of type 'object'")
        allowed = set(BASE_KEYS)
        mv = req.microversion
        if mv < (2, 57):
            allowed.add("personality")
        for key, version in (("description", (2, 19)), ("tags", (2, 52)),
                             ("trusted_image_certificates", (2, 63)), ("host", (2, 74)),
                             ("hypervisor_hostname", (2, 74)), ("hostname", (2, 90))):
            if mv >= version:
                allowed.add(key)
        extra = set(body) - allowed
        if extra:
            raise additional(extra)

        for key in ("name", "flavorRef"):
            if key not in body:
                raise invalid("server", body, f"'{key}' is a required property")
        if mv >= (2, 37) and "networks" not in body:
            raise invalid("server", body, "'networks' is a required property")
        return body, hints

    @staticmethod
    def _name(body: dict[str, Any]) -> str:
        name = str_field(body, "name", required=True, min_len=1)
        assert name is not None
        if name.strip() != name:
            raise invalid("name", name, f"'{name}' does not match "
                                        "'^(?![\\ ])[\\w\\ ]*(?<![\\ ])$'")
        return name

    @staticmethod
    def _requested_host(req: Request, region: RegionState, body: dict[str, Any]) -> str | None:
        """host / hypervisor_hostname (2.74+): admin only, and the host must exist."""
        forced_host = None
        for key in ("host", "hypervisor_hostname"):
            if body.get(key) is not None:
                if not req.auth.is_admin:
                    raise policy("compute:servers:create:requested_destination")
                if body[key] not in region.hv_by_host:
                    raise bad_request(f"Compute host {body[key]} could not be found.")
                forced_host = body[key]
        return forced_host

    def _count_within_limits(self, region: RegionState, project_id: str, flavor: Flavor,
                             metadata: dict[str, str], group: ServerGroup | None,
                             min_count: int, max_count: int) -> int:
        """As many servers as fit between min_count and max_count, like Nova; the metadata
        and server group member quotas refuse outright."""
        quota = region.compute_quota(project_id)
        if len(metadata) > quota["metadata_items"] >= 0:
            raise forbidden(f"Maximum number of metadata items exceeds "
                            f"{quota['metadata_items']}")
        count = self._count_within_quota(region, project_id, flavor, min_count, max_count)
        if group is not None:
            members_quota = quota["server_group_members"]
            if members_quota >= 0 and len(group.members) + count > members_quota:
                raise forbidden("Quota exceeded, too many servers in group")
        return count

    def _schedule(self, region: RegionState, s: Server, *, zone: str | None,
                  group: ServerGroup | None, host: str | None, nets: list[NetRequest],
                  bdms: list[BdmRequest], boot_volumes: dict[int, Volume]) -> None:
        """Place the new server on a hypervisor and start its build (or fail it with
        Nova's no-valid-host fault), then count it."""
        hv = place(region, s.flavor, zone=zone, group=group, host=host)
        if hv is None:
            s.status, s.vm_state, s.task_state = "ERROR", "error", None
            s.availability_zone = zone
            s.fault = {"code": 500, "created": s.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "message": NO_HOST_FAULT}
        else:
            region.claim(s, hv)
            self._plug(region, s, nets, hv.hostname)
            if self.api.cloud.sandboxes:
                take_sandbox(self.api.cloud, s)
                guest_disk.give(s, region.guest_disks.get(s.image_id))
            self._attach_boot_volumes(region, s, bdms, boot_volumes, image_id=None)
            s.task_state = "spawning"
            s.ready_at = time.time() + region.build_delay
            s.target_status = "ACTIVE"
            region.pending.add(s.id)
        if group is not None:
            group.members.append(s.id)
        region.count_usage(s)
        region.servers[s.id] = s

    # --- validation pieces -----------------------------------------------------------------

    @staticmethod
    def _flavor(req: Request, region: RegionState, body: dict[str, Any]) -> Flavor:
        if "flavorRef" not in body:
            raise invalid("server", body, "'flavorRef' is a required property")
        ref = body["flavorRef"]
        if isinstance(ref, bool) or not isinstance(ref, (str, int)) or ref == "":
            raise invalid("flavorRef", ref, f"{ref!r} is not of type 'string', 'integer'")
        fid = str(ref).rstrip("/").rsplit("/", 1)[-1]
        f = region.flavors.get(fid)
        if f is None or not (f.is_public or req.auth.is_admin
                             or req.auth.project_id in f.access):
            raise bad_request(f"Flavor {fid} could not be found.")
        if f.disabled:
            raise bad_request("Flavor is disabled.")
        return f

    @staticmethod
    def _counts(body: dict[str, Any]) -> tuple[int, int]:
        def count(key: str, default: int) -> int:
            raw = body.get(key, default)
            if isinstance(raw, str) and raw.isdigit():
                raw = int(raw)
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise invalid(key, raw, f"{raw!r} is not of type 'integer', 'string'")
            if raw < 1:
                raise invalid(key, raw, f"{raw} is less than the minimum of 1")
            return raw

        min_count = count("min_count", 1)
        max_count = count("max_count", min_count)
        if min_count > max_count:
            raise bad_request("min_count must be <= max_count")
        return min_count, max_count

    @staticmethod
    def _tags(body: dict[str, Any]) -> list[str]:
        tags = body.get("tags", [])
        if not isinstance(tags, list):
            raise invalid("tags", tags, f"{tags!r} is not of type 'array'")
        if len(tags) > MAX_TAGS:
            raise invalid("tags", tags, f"{tags!r} is too long")
        for t in tags:
            if not isinstance(t, str) or not 1 <= len(t) <= 60 or "/" in t or "," in t:
                raise invalid("tags", tags, f"{t!r} does not match '^[^,/]*$'")
        return list(dict.fromkeys(tags))

    @staticmethod
    def _bdms(body: dict[str, Any]) -> list[BdmRequest]:
        raw = body.get("block_device_mapping_v2", [])
        if not isinstance(raw, list):
            raise invalid("block_device_mapping_v2", raw, f"{raw!r} is not of type 'array'")
        out = []
        for item in raw:
            if not isinstance(item, dict):
                raise invalid("block_device_mapping_v2", item,
                              f"{item!r} is not of type 'object'")
            source = item.get("source_type", "volume" if item.get("volume_id") else "image")
            dest = item.get("destination_type", "local" if source in ("image", "blank")
                            else "volume")
            if source not in ("volume", "image", "snapshot", "blank"):
                raise invalid("source_type", source, f"'{source}' is not one of ['volume', "
                                                     "'image', 'snapshot', 'blank']")
            if dest not in ("volume", "local"):
                raise invalid("destination_type", dest,
                              f"'{dest}' is not one of ['local', 'volume']")
            boot_index = item.get("boot_index")
            if boot_index in ("", "none", "None"):
                boot_index = None
            if boot_index is not None:
                try:
                    boot_index = int(boot_index)
                except (TypeError, ValueError):
                    raise invalid("boot_index", boot_index,
                                  f"{boot_index!r} does not match '^-?[0-9]+$'") from None
            size = item.get("volume_size")
            if size is not None:
                try:
                    size = int(size)
                except (TypeError, ValueError):
                    raise invalid("volume_size", size,
                                  f"{size!r} is not of type 'integer', 'string'") from None
            uid = item.get("uuid", item.get("volume_id"))
            if source != "blank" and not is_uuid(uid):
                raise bad_request("Block Device Mapping is Invalid: Missing device UUID.")
            dot = item.get("delete_on_termination", False)
            if isinstance(dot, str):
                dot = dot.lower() in ("1", "true", "yes", "y", "on")
            out.append(BdmRequest(source, dest, uid, boot_index, size, bool(dot),
                                  item.get("device_name"), item.get("tag")))
        return out

    @staticmethod
    def _image(req: Request, region: RegionState, body: dict[str, Any],
               bdms: list[BdmRequest]) -> Image | None:
        ref = body.get("imageRef", "")
        boot = next((b for b in bdms if b.boot_index == 0), None)
        if ref in ("", None):
            if boot is None:
                raise bad_request("Missing imageRef attribute")
            if boot.source_type == "image" and boot.destination_type == "local":
                ref = boot.uuid
            else:
                return None
        if not isinstance(ref, str):
            raise invalid("imageRef", ref, f"{ref!r} is not of type 'string'")
        image_id = ref.rstrip("/").rsplit("/", 1)[-1]
        if not is_uuid(image_id):
            raise invalid("imageRef", ref, f"'{ref}' is not a 'uuid'")
        img = region.images.get(image_id)
        auth = req.auth
        if img is None or not (img.visibility in ("public", "community") or auth.is_admin
                               or img.owner == auth.project_id):
            raise bad_request(f"Image {image_id} could not be found.")
        if img.status != "active":
            raise bad_request(f"Image {image_id} is not active.")
        if boot is not None and boot.destination_type == "volume":
            return None  # boot from a volume made of the image: the server shows no image
        return img

    @staticmethod
    def _check_image_fits(image: Image, flavor: Flavor) -> None:
        gib = 1024 ** 3
        if flavor.disk:
            if image.size > flavor.disk * gib:
                raise bad_request("Flavor's disk is too small for requested image. Flavor "
                                  f"disk is {flavor.disk * gib} bytes, image is "
                                  f"{image.size} bytes.")
            if image.min_disk > flavor.disk:
                raise bad_request("Flavor's disk is smaller than the minimum size specified "
                                  f"in image metadata. Flavor disk is {flavor.disk * gib} "
                                  f"bytes, minimum size is {image.min_disk * gib} bytes.")
        if image.min_ram > flavor.ram:
            raise bad_request("Flavor's memory is too small for requested image.")

    def _networks(self, req: Request, region: RegionState, body: dict[str, Any],
                  max_count: int) -> list[NetRequest]:
        mv = req.microversion
        auth = req.auth
        raw = body.get("networks")
        if raw is None:
            if mv >= (2, 37):
                raise invalid("server", body, "'networks' is a required property")
            raw = "auto"
        if isinstance(raw, str):
            if mv < (2, 37) or raw not in ("auto", "none"):
                raise invalid("networks", raw, f"'{raw}' is not of type 'array'")
            if raw == "none":
                return []
            nets = [n for n in region.networks.values()
                    if n.admin_state_up and not n.external
                    and (n.project_id == auth.project_id or n.shared)]
            if len(nets) > 1:
                raise conflict("Multiple possible networks found, use a Network ID to be "
                               "more specific.")
            if not nets:
                raise bad_request("Unable to automatically allocate a network for project "
                                  f"{auth.project_id}")
            return [NetRequest(network=nets[0])]
        if not isinstance(raw, list):
            raise invalid("networks", raw, f"{raw!r} is not of type 'array'")
        out = []
        for item in raw:
            if not isinstance(item, dict):
                raise invalid("networks", item, f"{item!r} is not of type 'object'")
            extra = set(item) - {"uuid", "port", "fixed_ip", "tag"}
            if extra:
                raise additional(extra)
            net_id, port_id, fixed_ip = item.get("uuid"), item.get("port"), item.get("fixed_ip")
            if port_id:
                if not is_uuid(port_id):
                    raise invalid("port", port_id, f"'{port_id}' is not a 'uuid'")
                port = region.ports.get(port_id)
                if port is None or not (auth.is_admin or port.project_id == auth.project_id):
                    raise bad_request(f"Port id {port_id} could not be found.")
                if port.device_id:
                    raise conflict(f"Port {port_id} is still in use.")
                if max_count > 1:
                    raise bad_request("Unable to launch multiple instances with a single "
                                      "configured port ID. Please launch your instance one "
                                      "by one with different ports.")
                out.append(NetRequest(network=region.networks.get(port.network_id),
                                      port=port, tag=item.get("tag")))
                continue
            if not net_id:
                raise bad_request("Bad network format: missing 'uuid'")
            if not is_uuid(net_id):
                raise bad_request("Bad networks format: network uuid is not in proper format "
                                  f"({net_id})")
            net = region.networks.get(net_id)
            if net is None or not (auth.is_admin or net.shared
                                   or net.project_id == auth.project_id):
                raise bad_request(f"Network {net_id} could not be found.")
            if fixed_ip is not None:
                try:
                    ipaddress.ip_address(fixed_ip)
                except (ValueError, TypeError):
                    raise invalid("fixed_ip", fixed_ip,
                                  f"'{fixed_ip}' is not a 'ip-address'") from None
                if max_count > 1:
                    raise bad_request("max_count cannot be greater than 1 if an fixed_ip is "
                                      "specified.")
                for p in region.ports.values():
                    if p.network_id == net.id and any(ip["ip_address"] == fixed_ip
                                                      for ip in p.fixed_ips):
                        raise bad_request(f"Fixed IP address {fixed_ip} is already in use on "
                                          f"instance {p.device_id}.")
            out.append(NetRequest(network=net, fixed_ip=fixed_ip, tag=item.get("tag")))
        return out

    @staticmethod
    def _key_name(req: Request, region: RegionState, body: dict[str, Any]) -> str | None:
        key_name = body.get("key_name")
        if key_name is None:
            return None
        if not isinstance(key_name, str) or (req.auth.user_id, key_name) not in region.keypairs:
            raise bad_request("Invalid key_name provided.")
        return key_name

    @staticmethod
    def _zone(req: Request, region: RegionState,
              body: dict[str, Any]) -> tuple[str | None, str | None]:
        raw = body.get("availability_zone")
        if raw in (None, ""):
            return None, None
        if not isinstance(raw, str):
            raise invalid("availability_zone", raw, f"{raw!r} is not of type 'string'")
        zone, _, rest = raw.partition(":")
        host = rest.split(":", 1)[0] or None
        zones = {s.zone for s in region.services.values() if s.binary == "nova-compute"}
        if host is not None:
            if not req.auth.is_admin:
                raise policy("os_compute_api:servers:create:forced_host")
            if host not in region.hv_by_host:
                raise bad_request(f"Compute host {host} could not be found.")
        if zone and zone not in zones:
            raise bad_request("The requested availability zone is not available")
        return zone or None, host

    @staticmethod
    def _group(req: Request, region: RegionState,
               hints: dict[str, Any]) -> ServerGroup | None:
        gid = hints.get("group")
        if gid is None:
            return None
        if isinstance(gid, list) and len(gid) == 1:
            gid = gid[0]
        if not is_uuid(gid):
            raise invalid("group", gid, f"'{gid}' is not a 'uuid'")
        group = region.server_groups.get(gid)
        if group is None or not (req.auth.is_admin or group.project_id == req.auth.project_id):
            raise bad_request(f"Instance group {gid} could not be found.")
        return group

    @staticmethod
    def _user_data(body: dict[str, Any]) -> str | None:
        data = body.get("user_data")
        if data is None:
            return None
        if not isinstance(data, str):
            raise invalid("user_data", data, f"{data!r} is not of type 'string'")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise invalid("user_data", data, f"'{data}' is not a 'base64'") from None
        if len(data) > 65535:
            raise invalid("user_data", data, "is too long")
        return data

    @staticmethod
    def _security_groups(body: dict[str, Any]) -> list[str]:
        raw = body.get("security_groups")
        if raw is None:
            return ["default"]
        if not isinstance(raw, list):
            raise invalid("security_groups", raw, f"{raw!r} is not of type 'array'")
        names = []
        for item in raw:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise invalid("security_groups", item, "'name' is a required property")
            names.append(item["name"])
        return list(dict.fromkeys(names)) or ["default"]

    @staticmethod
    def _check_volumes(req: Request, region: RegionState,
                       bdms: list[BdmRequest]) -> dict[int, Volume]:
        settle(region, time.time())  # what Cinder finished meanwhile (snapshots made)
        existing: dict[int, Volume] = {}
        for i, b in enumerate(bdms):
            if b.destination_type != "volume":
                continue
            if b.source_type == "volume":
                vol = region.volumes.get(b.uuid or "")
                if vol is None or not (req.auth.is_admin
                                       or vol.project_id == req.auth.project_id):
                    raise bad_request("Block Device Mapping is Invalid: failed to get volume "
                                      f"{b.uuid}.")
                if vol.status != "available":
                    raise bad_request("Invalid volume: Volume status must be available or "
                                      "downloading to reserve, but the current status is "
                                      f"{vol.status}.")
                existing[i] = vol
            elif b.source_type == "image":
                if (b.uuid or "") not in region.images:
                    raise bad_request("Block Device Mapping is Invalid: failed to get image "
                                      f"{b.uuid}.")
                if not b.volume_size:
                    raise bad_request("Block Device Mapping is Invalid: Boot sequence for the "
                                      "instance and image/block device mapping combination "
                                      "is not valid.")
            elif b.source_type == "snapshot":
                snap = region.snapshots.get(b.uuid or "")
                if snap is None or not (req.auth.is_admin
                                        or snap.project_id == req.auth.project_id):
                    raise bad_request("Block Device Mapping is Invalid: failed to get snapshot "
                                      f"{b.uuid}.")
                if snap.status != "available":
                    raise bad_request("Invalid snapshot: Originating snapshot status must be "
                                      "one of 'available' values")
                if b.volume_size is not None and b.volume_size < snap.size:
                    raise bad_request(f"Invalid input received: Volume size '{b.volume_size}'"
                                      f"GB cannot be smaller than the snapshot size "
                                      f"{snap.size}GB. They must be >= original snapshot size.")
            elif b.source_type == "blank" and not b.volume_size:
                raise bad_request("Block Device Mapping is Invalid: You specified more local "
                                  "devices than the limit allows")
        return existing

    @staticmethod
    def _count_within_quota(region: RegionState, project_id: str, flavor: Flavor,
                            min_count: int, max_count: int) -> int:
        for n in range(max_count, min_count - 1, -1):
            try:
                region.check_compute_quota(project_id, instances=n, cores=n * flavor.vcpus,
                                           ram=n * flavor.ram)
                return n
            except ApiError:  # 403 over quota: try fewer
                continue
        region.check_compute_quota(project_id, instances=max_count,
                                   cores=max_count * flavor.vcpus, ram=max_count * flavor.ram)
        return max_count  # unreachable: the check above raised

    # --- wiring a placed server ------------------------------------------------------------

    @staticmethod
    def _plug(region: RegionState, s: Server, nets: list[NetRequest], host: str) -> None:
        ports = []
        for n in nets:
            if n.port is not None:
                port = n.port
                # a port the user made stays theirs: unbound, not deleted, with the server
                kept: set[str] = getattr(s, "preexisting_ports", set())
                kept.add(port.id)
                s.preexisting_ports = kept  # type: ignore[attr-defined]
                port.device_id = s.id
                port.device_owner = f"compute:{s.availability_zone or 'nova'}"
                port.binding_host_id = host
                port.updated_at = now()
            else:
                assert n.network is not None
                port = region.allocate_port(n.network, project_id=s.project_id,
                                            device_id=s.id, host=host, fixed_ip=n.fixed_ip)
                port.security_groups = list(port.security_groups)
            ports.append(port)
            s.port_ids.append(port.id)
        if ports:
            s.addresses = region.addresses_for(ports)

    @staticmethod
    def _attach_boot_volumes(region: RegionState, s: Server, bdms: list[BdmRequest],
                             existing: dict[int, Volume], image_id: str | None) -> None:
        letters = "abcdefghijklmnopqrstuvwxyz"
        used = 0
        for i, b in enumerate(bdms):
            if b.destination_type != "volume":
                continue
            vol = existing.get(i)
            if vol is None and b.source_type == "snapshot":
                vol = volume_from_snapshot(region, s, b)
            if vol is None:
                vol = Volume(id=region.ids.uuid(), name="", project_id=s.project_id,
                             user_id=s.user_id, size=b.volume_size or 1,
                             bootable=b.source_type == "image",
                             image_id=b.uuid if b.source_type == "image" else None,
                             availability_zone=s.availability_zone or "nova")
                region.volumes[vol.id] = vol
            device = b.device_name or f"/dev/vd{letters[min(used, 25)]}"
            used += 1
            attach(region, s, vol, device=device, delete_on_termination=b.delete_on_termination,
                   tag=b.tag)


def volume_from_snapshot(region: RegionState, s: Server, b: BdmRequest) -> Volume:
    """The volume Nova asks Cinder for from a ``source_type=snapshot`` mapping: the
    snapshot's size unless a larger one is given, bootable as the snapshot's volume was."""
    snap = region.snapshots[b.uuid or ""]
    origin = region.volumes.get(snap.volume_id)
    vol = Volume(id=region.ids.uuid(), name="", project_id=s.project_id, user_id=s.user_id,
                 size=max(b.volume_size or 0, snap.size),
                 bootable=origin.bootable if origin is not None else b.boot_index == 0,
                 image_id=origin.image_id if origin is not None else None,
                 availability_zone=s.availability_zone or "nova", snapshot_id=snap.id)
    region.volumes[vol.id] = vol
    return vol


def take_sandbox(cloud: Cloud, s: Server) -> None:
    """Back ``s`` with the pool's next SSH sandbox (shown in its metadata)."""
    box = cloud.sandboxes.pop(0)
    s.metadata.update({"sim:ssh": f"{box['address']}:{box['port']}",
                       "sim:user": str(box.get("user", "root")),
                       "sim:root": str(box.get("root", "/"))})
    s.host_keys = [str(k) for k in box.get("host_keys") or ()]  # its console log shows them


def place(region: RegionState, flavor: Flavor, *, zone: str | None,
          group: ServerGroup | None, host: str | None) -> Hypervisor | None:
    """Schedule honouring the server group: hard (anti-)affinity through the scheduler,
    ``max_server_per_host`` (2.64+) and the soft policies as Nova's weighers would."""
    if group is None or group.policy == "affinity":
        return region.schedule(flavor, zone=zone, group=group, host=host)
    counts: Counter[str] = Counter()
    for m in group.members:
        member = region.servers.get(m)
        if member is not None and member.host:
            counts[member.host] += 1
    if group.policy == "anti-affinity":
        per_host = int(group.rules.get("max_server_per_host") or 1)
        if per_host <= 1:
            return region.schedule(flavor, zone=zone, group=group, host=host)
        full = {h for h, n in counts.items() if n >= per_host}
        return region.schedule(flavor, zone=zone, host=host, exclude=full)
    if group.policy == "soft-anti-affinity":
        return (region.schedule(flavor, zone=zone, host=host, exclude=set(counts))
                or region.schedule(flavor, zone=zone, host=host))
    for member_host, _ in counts.most_common():  # soft-affinity: pack where members are
        if host in (None, member_host):
            hv = region.schedule(flavor, zone=zone, host=member_host)
            if hv is not None:
                return hv
    return region.schedule(flavor, zone=zone, host=host)


def attach(region: RegionState, s: Server, vol: Volume, *, device: str,
           delete_on_termination: bool, tag: str | None = None) -> dict[str, Any]:
    """Attach ``vol`` to ``s`` in both Nova's BDM view and Cinder's attachment list."""
    attachment_id = region.ids.uuid()
    stamp = dt.datetime.now(dt.UTC)
    vol.attachments.append({
        "id": vol.id, "attachment_id": attachment_id, "volume_id": vol.id,
        "server_id": s.id, "host_name": s.host, "device": device,
        "attached_at": stamp.strftime("%Y-%m-%dT%H:%M:%S.%f"),
    })
    vol.status = "in-use"
    vol.updated_at = now()
    entry = {"id": vol.id, "device": device, "delete_on_termination": delete_on_termination,
             "tag": tag, "attachment_id": attachment_id, "bdm_uuid": region.ids.uuid()}
    s.volumes_attached.append(entry)
    return entry
