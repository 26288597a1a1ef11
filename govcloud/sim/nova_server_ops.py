"""Server actions and sub-resources: metadata, tags, ips, os-interface, volume attachments,
remote consoles, instance actions."""

from __future__ import annotations

import time
import uuid
from typing import Any

from govcloud.sim.console_log import console_lines
from govcloud.sim.http import (
    ApiError,
    Request,
    Response,
    Router,
    bad_request,
    conflict,
    forbidden,
    json_response,
    no_content,
    not_found,
)
from govcloud.sim.model import Server, now
from govcloud.sim.nova_common import (
    NovaContext,
    additional,
    check_keys,
    invalid,
    is_uuid,
    iso_naive_us,
    metadata_field,
    policy,
    record,
    require_admin,
    str_field,
)
from govcloud.sim.nova_create import attach
from govcloud.sim.nova_servers import ViewCtx, server_view, touch
from govcloud.sim.state import RegionState

# vm_states Nova accepts per operation (nova/compute/api.py check_instance_state)
META_STATES = ("active", "paused", "suspended", "stopped", "shelved", "shelved_offloaded")
ATTACH_STATES = ("active", "paused", "stopped", "resized", "soft-delete", "shelved",
                 "shelved_offloaded")
MAX_TAGS = 50


def invalid_state(s: Server, action: str, attr: str = "vm_state") -> ApiError:
    state = s.vm_state if attr == "vm_state" else s.task_state
    return conflict(f"Cannot '{action}' instance {s.id} while it is in {attr} {state}")


def check_state(s: Server, action: str, vm_states: tuple[str, ...],
                task_states: tuple[str | None, ...] | None = (None,)) -> None:
    if s.vm_state not in vm_states:
        raise invalid_state(s, action)
    if task_states is not None and s.task_state not in task_states:
        raise invalid_state(s, action, "task_state")


class ServerOpsRoutes:
    def __init__(self, api: NovaContext) -> None:
        self.api = api

    def register(self, router: Router) -> None:
        add = router.add
        c = "compute"
        p = "/v2.1/servers/{server_id}"
        add(c, "POST", f"{p}/action", self.action)
        add(c, "GET", f"{p}/metadata", self.meta_index)
        add(c, "POST", f"{p}/metadata", self.meta_update)
        add(c, "PUT", f"{p}/metadata", self.meta_replace)
        add(c, "GET", f"{p}/metadata/{{key}}", self.meta_show)
        add(c, "PUT", f"{p}/metadata/{{key}}", self.meta_put)
        add(c, "DELETE", f"{p}/metadata/{{key}}", self.meta_delete)
        add(c, "GET", f"{p}/tags", self.tags_index)
        add(c, "PUT", f"{p}/tags", self.tags_replace)
        add(c, "DELETE", f"{p}/tags", self.tags_clear)
        add(c, "GET", f"{p}/tags/{{tag}}", self.tag_check)
        add(c, "PUT", f"{p}/tags/{{tag}}", self.tag_add)
        add(c, "DELETE", f"{p}/tags/{{tag}}", self.tag_delete)
        add(c, "GET", f"{p}/ips", self.ips)
        add(c, "GET", f"{p}/ips/{{network}}", self.ips_network)
        add(c, "GET", f"{p}/os-interface", self.interfaces)
        add(c, "POST", f"{p}/os-interface", self.interface_attach)
        add(c, "GET", f"{p}/os-interface/{{port_id}}", self.interface_show)
        add(c, "DELETE", f"{p}/os-interface/{{port_id}}", self.interface_detach)
        add(c, "GET", f"{p}/os-volume_attachments", self.volume_list)
        add(c, "POST", f"{p}/os-volume_attachments", self.volume_attach)
        add(c, "GET", f"{p}/os-volume_attachments/{{volume_id}}", self.volume_show)
        add(c, "PUT", f"{p}/os-volume_attachments/{{volume_id}}", self.volume_update)
        add(c, "DELETE", f"{p}/os-volume_attachments/{{volume_id}}", self.volume_detach)
        add(c, "POST", f"{p}/remote-consoles", self.remote_console)
        add(c, "GET", f"{p}/os-instance-actions", self.instance_actions)
        add(c, "GET", f"{p}/os-instance-actions/{{request_id}}", self.instance_action)

    def _server(self, req: Request, server_id: str) -> tuple[RegionState, Server]:
        region = self.api.region(req)
        return region, self.api.servers.get(req, region, server_id)

    @staticmethod
    def _writer(req: Request, rule: str) -> None:
        roles = req.auth.roles
        if "admin" not in roles and "member" not in roles:
            raise policy(rule)

    # --- actions ---------------------------------------------------------------------------

    def action(self, req: Request, server_id: str) -> Response:
        region = self.api.region(req)
        doc = req.json()
        if not isinstance(doc, dict) or len(doc) != 1:
            raise bad_request("Malformed request body")
        (name, body), = doc.items()
        attr = "_act_" + name.replace("-", "_")
        handler = getattr(self, attr, None) or getattr(self.api.moves, attr, None)
        if handler is None:
            raise bad_request(f"There is no such action: {name}")
        s = self.api.servers.get(req, region, server_id)
        resp: Response = handler(req, region, s, body)
        touch(s)
        return resp

    def _async(self, region: RegionState, s: Server, status: str, task: str,
               target: str, delay: float | None = None) -> None:
        s.status, s.task_state, s.target_status = status, task, target
        s.ready_at = time.time() + (region.build_delay if delay is None else delay)
        region.pending.add(s.id)

    def _act_os_start(self, req: Request, region: RegionState, s: Server, body: Any) -> Response:
        self._writer(req, "os_compute_api:servers:start")
        self.api.servers.check_lock(req, s)
        check_state(s, "start", ("stopped",))
        s.status, s.vm_state, s.power_state, s.task_state = "ACTIVE", "active", 1, None
        record(s, req, "start")
        return Response(status=202)

    def _act_os_stop(self, req: Request, region: RegionState, s: Server, body: Any) -> Response:
        self._writer(req, "os_compute_api:servers:stop")
        self.api.servers.check_lock(req, s)
        check_state(s, "stop", ("active", "rescued", "error"))
        s.status, s.vm_state, s.power_state, s.task_state = "SHUTOFF", "stopped", 4, None
        record(s, req, "stop")
        return Response(status=202)

    def _act_reboot(self, req: Request, region: RegionState, s: Server, body: Any) -> Response:
        self._writer(req, "os_compute_api:servers:reboot")
        if not isinstance(body, dict):
            raise invalid("reboot", body, f"{body!r} is not of type 'object'")
        kind = body.get("type")
        if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
            raise invalid("reboot.type", kind, f"{kind!r} is not one of ['HARD', 'Hard', "
                                               "'hard', 'SOFT', 'Soft', 'soft']")
        self.api.servers.check_lock(req, s)
        if kind.upper() == "SOFT":
            check_state(s, "reboot", ("active",))
            self._async(region, s, "REBOOT", "reboot_started", "ACTIVE")
        else:
            check_state(s, "reboot", ("active", "stopped", "paused", "suspended", "error"),
                        (None, "reboot_pending", "reboot_started", "rebooting"))
            self._async(region, s, "HARD_REBOOT", "reboot_started_hard", "ACTIVE")
        s.vm_state = "active"
        record(s, req, "reboot")
        return Response(status=202)

    def _act_lock(self, req: Request, region: RegionState, s: Server, body: Any) -> Response:
        self._writer(req, "os_compute_api:os-lock-server:lock")
        reason = None
        if body is not None:
            if not isinstance(body, dict):
                raise invalid("lock", body, f"{body!r} is not of type 'object', 'null'")
            if body and not req.mv_at_least(2, 73):
                raise additional_props(body)
            check_keys(body, {"locked_reason"})
            reason = str_field(body, "locked_reason", max_len=255)
        s.locked = True
        s.locked_reason = reason
        s.locked_by = "admin" if req.auth.is_admin else "owner"  # type: ignore[attr-defined]
        record(s, req, "lock")
        return Response(status=202)

    def _act_unlock(self, req: Request, region: RegionState, s: Server, body: Any) -> Response:
        self._writer(req, "os_compute_api:os-lock-server:unlock")
        if s.locked and getattr(s, "locked_by", "owner") == "admin" and not req.auth.is_admin:
            raise policy("os_compute_api:os-lock-server:unlock:unlock_override")
        s.locked, s.locked_reason = False, None
        record(s, req, "unlock")
        return Response(status=202)

    def _simple(self, req: Request, s: Server, action: str, rule: str, from_states: tuple[str, ...],
                status: str, vm_state: str, power: int) -> Response:
        self._writer(req, rule)
        self.api.servers.check_lock(req, s)
        check_state(s, action, from_states)
        s.status, s.vm_state, s.power_state, s.task_state = status, vm_state, power, None
        record(s, req, action)
        return Response(status=202)

    def _act_pause(self, req: Request, region: RegionState, s: Server, body: Any) -> Response:
        return self._simple(req, s, "pause", "os_compute_api:os-pause-server:pause",
                            ("active",), "PAUSED", "paused", 3)

    def _act_unpause(self, req: Request, region: RegionState, s: Server,
                     body: Any) -> Response:
        return self._simple(req, s, "unpause", "os_compute_api:os-pause-server:unpause",
                            ("paused",), "ACTIVE", "active", 1)

    def _act_suspend(self, req: Request, region: RegionState, s: Server,
                     body: Any) -> Response:
        return self._simple(req, s, "suspend", "os_compute_api:os-suspend-server:suspend",
                            ("active",), "SUSPENDED", "suspended", 7)

    def _act_resume(self, req: Request, region: RegionState, s: Server, body: Any) -> Response:
        return self._simple(req, s, "resume", "os_compute_api:os-suspend-server:resume",
                            ("suspended",), "ACTIVE", "active", 1)

    def _act_os_resetState(self, req: Request, region: RegionState, s: Server,
                           body: Any) -> Response:
        require_admin(req, "os_compute_api:os-admin-actions:reset_state")
        state = body.get("state") if isinstance(body, dict) else None
        if state not in ("active", "error"):
            raise invalid("os-resetState.state", state,
                          f"{state!r} is not one of ['active', 'error']")
        region.pending.discard(s.id)
        if state == "active":
            s.status, s.vm_state, s.task_state = "ACTIVE", "active", None
        else:
            s.status, s.vm_state, s.task_state = "ERROR", "error", None
        return Response(status=202)

    def _act_addSecurityGroup(self, req: Request, region: RegionState, s: Server,
                              body: Any) -> Response:
        self._writer(req, "os_compute_api:os-security-groups:add")
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            raise bad_request("Security group name cannot be empty")
        if name not in s.security_groups:
            s.security_groups.append(name)
        return Response(status=202)

    def _act_removeSecurityGroup(self, req: Request, region: RegionState,
                                 s: Server, body: Any) -> Response:
        self._writer(req, "os_compute_api:os-security-groups:remove")
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            raise bad_request("Security group name cannot be empty")
        if name not in s.security_groups:
            raise not_found(f"Security group {name} not associated with the instance "
                            f"{s.id}")
        s.security_groups.remove(name)
        return Response(status=202)

    def _act_changePassword(self, req: Request, region: RegionState,
                            s: Server, body: Any) -> Response:
        self._writer(req, "os_compute_api:os-admin-password")
        if not isinstance(body, dict) or not isinstance(body.get("adminPass"), str):
            raise invalid("changePassword", body, "'adminPass' is a required property")
        check_state(s, "set_admin_password", ("active",))
        s.admin_pass = body["adminPass"]
        return Response(status=202)

    def _act_createImage(self, req: Request, region: RegionState, s: Server,
                         body: Any) -> Response:
        self._writer(req, "os_compute_api:servers:create_image")
        if not isinstance(body, dict):
            raise invalid("createImage", body, f"{body!r} is not of type 'object'")
        check_keys(body, {"name", "metadata"})
        name = str_field(body, "name", required=True, min_len=1)
        meta = metadata_field(body)
        check_state(s, "createImage", ("active", "stopped", "paused", "suspended"))
        image = region.snapshot_image(s, name or "", properties=meta)
        record(s, req, "createImage")
        location = f"{req.base_url.rsplit('/', 1)[0]}/image/v2/images/{image.id}"
        if req.mv_at_least(2, 45):
            return json_response({"image_id": image.id}, status=202, Location=location)
        return Response(status=202, headers={"Location": location})

    def _act_os_getConsoleOutput(self, req: Request, region: RegionState,
                                 s: Server, body: Any) -> Response:
        self._writer(req, "os_compute_api:os-console-output")
        length = body.get("length") if isinstance(body, dict) else None
        if s.vm_state == "building":
            raise conflict(f"Instance {s.id} is not ready")
        lines = console_lines(s)  # with the host keys cloud-init prints
        if length not in (None, -1, "-1"):
            try:
                n = int(length)
            except (TypeError, ValueError):
                raise invalid("os-getConsoleOutput.length", length,
                              f"{length!r} does not match '^-?[0-9]+$'") from None
            lines = lines[-n:] if n > 0 else []
        return json_response({"output": "\n".join(lines) + "\n"})

    def _act_os_getVNCConsole(self, req: Request, region: RegionState,
                              s: Server, body: Any) -> Response:
        kind = body.get("type") if isinstance(body, dict) else None
        if kind not in ("novnc", "xvpvnc"):
            raise invalid("os-getVNCConsole.type", kind, f"{kind!r} is not one of "
                                                         "['novnc', 'xvpvnc']")
        return json_response({"console": {"type": kind, "url": self._console_url(s)}})

    def _act_rebuild(self, req: Request, region: RegionState, s: Server, body: Any) -> Response:
        self._writer(req, "os_compute_api:servers:rebuild")
        if not isinstance(body, dict):
            raise invalid("rebuild", body, f"{body!r} is not of type 'object'")
        ref = body.get("imageRef")
        if not isinstance(ref, str) or not is_uuid(ref.rsplit("/", 1)[-1]):
            raise invalid("rebuild", body, "'imageRef' is a required property")
        image_id = ref.rsplit("/", 1)[-1]
        if image_id not in region.images:
            raise bad_request(f"Image {image_id} could not be found.")
        self.api.servers.check_lock(req, s)
        check_state(s, "rebuild", ("active", "stopped", "error"))
        s.image_id = image_id
        if isinstance(body.get("name"), str) and body["name"]:
            s.name = body["name"]
        if "metadata" in body:
            s.metadata = metadata_field(body)
        password = body.get("adminPass") or s.admin_pass or ""
        self._async(region, s, "REBUILD", "rebuilding", "ACTIVE")
        s.vm_state = "active"
        record(s, req, "rebuild")
        view = server_view(ViewCtx(req, region), s, show=True)
        view["adminPass"] = password
        return json_response({"server": view}, status=202)

    # --- metadata --------------------------------------------------------------------------

    def meta_index(self, req: Request, server_id: str) -> Response:
        _, s = self._server(req, server_id)
        return json_response({"metadata": dict(s.metadata)})

    def _meta_write(self, req: Request, region: RegionState, s: Server,
                    new: dict[str, str]) -> None:
        self._writer(req, "os_compute_api:server-metadata:update")
        check_state(s, "update metadata", META_STATES, None)
        limit = region.compute_quota(s.project_id)["metadata_items"]
        if limit >= 0 and len(new) > limit:
            raise forbidden(f"Quota exceeded for metadata_items: Requested {len(new)}, but "
                            f"already used 0 of {limit} metadata_items")
        s.metadata = new
        touch(s)

    def meta_update(self, req: Request, server_id: str) -> Response:
        region, s = self._server(req, server_id)
        doc = req.json_object()
        check_keys(doc, {"metadata"})
        if "metadata" not in doc:
            raise invalid("body", doc, "'metadata' is a required property")
        meta = metadata_field(doc)
        self._meta_write(req, region, s, {**s.metadata, **meta})
        return json_response({"metadata": dict(s.metadata)})

    def meta_replace(self, req: Request, server_id: str) -> Response:
        region, s = self._server(req, server_id)
        doc = req.json_object()
        check_keys(doc, {"metadata"})
        if "metadata" not in doc:
            raise invalid("body", doc, "'metadata' is a required property")
        meta = metadata_field(doc)
        self._meta_write(req, region, s, meta)
        return json_response({"metadata": dict(s.metadata)})

    def meta_show(self, req: Request, server_id: str, key: str) -> Response:
        _, s = self._server(req, server_id)
        if key not in s.metadata:
            raise not_found("Metadata item was not found")
        return json_response({"meta": {key: s.metadata[key]}})

    def meta_put(self, req: Request, server_id: str, key: str) -> Response:
        region, s = self._server(req, server_id)
        doc = req.json_object()
        check_keys(doc, {"meta"})
        if "meta" not in doc:
            raise invalid("body", doc, "'meta' is a required property")
        meta = metadata_field(doc, "meta")
        if key not in meta:
            raise bad_request("Request body and URI mismatch")
        if len(meta) > 1:
            raise bad_request("Request body contains too many items")
        self._meta_write(req, region, s, {**s.metadata, **meta})
        return json_response({"meta": meta})

    def meta_delete(self, req: Request, server_id: str, key: str) -> Response:
        region, s = self._server(req, server_id)
        if key not in s.metadata:
            raise not_found("Metadata item was not found")
        self._writer(req, "os_compute_api:server-metadata:delete")
        check_state(s, "delete metadata", META_STATES, None)
        s.metadata = {k: v for k, v in s.metadata.items() if k != key}
        touch(s)
        return no_content()

    # --- tags (2.26+) ----------------------------------------------------------------------

    def _tag_server(self, req: Request, server_id: str,
                    write: str | None = None) -> tuple[RegionState, Server]:
        if not req.mv_at_least(2, 26):
            raise not_found("The resource could not be found.")
        region, s = self._server(req, server_id)
        if write is not None:
            self._writer(req, f"os_compute_api:os-server-tags:{write}")
            check_state(s, "update tag" if write != "delete" else "delete tag",
                        META_STATES, None)
        return region, s

    @staticmethod
    def _valid_tag(tag: Any) -> str:
        if not isinstance(tag, str) or not 1 <= len(tag) <= 60 or "/" in tag or "," in tag:
            raise invalid("tags", tag, f"{tag!r} does not match '^[^,/]*$'")
        return tag

    def tags_index(self, req: Request, server_id: str) -> Response:
        _, s = self._tag_server(req, server_id)
        return json_response({"tags": list(s.tags)})

    def tags_replace(self, req: Request, server_id: str) -> Response:
        doc = req.json_object()
        check_keys(doc, {"tags"})
        tags = doc.get("tags")
        if not isinstance(tags, list):
            raise invalid("tags", tags, f"{tags!r} is not of type 'array'")
        tags = [self._valid_tag(t) for t in tags]
        if len(tags) > MAX_TAGS:
            raise bad_request(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
        _, s = self._tag_server(req, server_id, "update_all")
        s.tags = list(dict.fromkeys(tags))
        touch(s)
        return json_response({"tags": list(s.tags)})

    def tags_clear(self, req: Request, server_id: str) -> Response:
        _, s = self._tag_server(req, server_id, "delete_all")
        s.tags = []
        touch(s)
        return no_content()

    def tag_check(self, req: Request, server_id: str, tag: str) -> Response:
        _, s = self._tag_server(req, server_id)
        if tag not in s.tags:
            raise not_found(f"Tag '{tag}' could not be found for instance {s.id}.")
        return no_content()

    def tag_add(self, req: Request, server_id: str, tag: str) -> Response:
        self._valid_tag(tag)
        _, s = self._tag_server(req, server_id, "update")
        if tag in s.tags:
            return no_content()
        if len(s.tags) >= MAX_TAGS:
            raise bad_request(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
        s.tags = [*s.tags, tag]
        touch(s)
        return Response(status=201, headers={
            "Location": f"{req.base_url}/v2.1/servers/{s.id}/tags/{tag}"})

    def tag_delete(self, req: Request, server_id: str, tag: str) -> Response:
        _, s = self._tag_server(req, server_id, "delete")
        if tag not in s.tags:
            raise not_found(f"Tag '{tag}' could not be found for instance {s.id}.")
        s.tags = [t for t in s.tags if t != tag]
        touch(s)
        return no_content()

    # --- ips and interfaces ----------------------------------------------------------------

    def ips(self, req: Request, server_id: str) -> Response:
        _, s = self._server(req, server_id)
        return json_response({"addresses": {
            net: [{"addr": a["addr"], "version": a["version"]} for a in ads]
            for net, ads in s.addresses.items()}})

    def ips_network(self, req: Request, server_id: str, network: str) -> Response:
        _, s = self._server(req, server_id)
        if network not in s.addresses:
            raise not_found("Instance is not a member of specified network")
        return json_response({network: [{"addr": a["addr"], "version": a["version"]}
                                         for a in s.addresses[network]]})

    @staticmethod
    def _iface(req: Request, port: Any) -> dict[str, Any]:
        out = {"fixed_ips": [{"ip_address": ip["ip_address"], "subnet_id": ip["subnet_id"]}
                             for ip in port.fixed_ips],
               "mac_addr": port.mac_address, "net_id": port.network_id,
               "port_id": port.id, "port_state": port.status}
        if req.mv_at_least(2, 70):
            out["tag"] = None
        return out

    def interfaces(self, req: Request, server_id: str) -> Response:
        region, s = self._server(req, server_id)
        ports = [region.ports[p] for p in s.port_ids if p in region.ports]
        return json_response({"interfaceAttachments": [self._iface(req, p) for p in ports]})

    def interface_show(self, req: Request, server_id: str, port_id: str) -> Response:
        region, s = self._server(req, server_id)
        if port_id not in s.port_ids or port_id not in region.ports:
            raise not_found(f"Port {port_id} is not attached")
        return json_response({"interfaceAttachment": self._iface(req, region.ports[port_id])})

    def interface_attach(self, req: Request, server_id: str) -> Response:
        region, s = self._server(req, server_id)
        self._writer(req, "os_compute_api:os-attach-interfaces:create")
        doc = req.json_object()
        check_keys(doc, {"interfaceAttachment"})
        body = doc.get("interfaceAttachment") or {}
        if not isinstance(body, dict):
            raise invalid("interfaceAttachment", body, f"{body!r} is not of type 'object'")
        check_keys(body, {"net_id", "port_id", "fixed_ips", "tag"})
        check_state(s, "attach_interface", ("active", "paused", "stopped"), None)
        if body.get("port_id"):
            port = region.ports.get(body["port_id"])
            if port is None:
                raise not_found(f"Port id {body['port_id']} could not be found.")
            if port.device_id:
                raise conflict(f"Port {port.id} is still in use.")
            port.device_id, port.device_owner = s.id, "compute:nova"
            port.binding_host_id = s.host or ""
            kept: set[str] = getattr(s, "preexisting_ports", set())
            kept.add(port.id)
            s.preexisting_ports = kept  # type: ignore[attr-defined]
        else:
            net_id = body.get("net_id")
            net = region.networks.get(net_id or "")
            if net_id and net is None:
                raise not_found(f"Network {net_id} could not be found.")
            if net is None:
                raise bad_request("Must input network_id when request IP address")
            fixed = None
            if body.get("fixed_ips"):
                fixed = body["fixed_ips"][0].get("ip_address")
            port = region.allocate_port(net, project_id=s.project_id, device_id=s.id,
                                        host=s.host, fixed_ip=fixed)
        s.port_ids.append(port.id)
        s.addresses = region.addresses_for([region.ports[p] for p in s.port_ids
                                            if p in region.ports])
        touch(s)
        return json_response({"interfaceAttachment": self._iface(req, port)})

    def interface_detach(self, req: Request, server_id: str, port_id: str) -> Response:
        region, s = self._server(req, server_id)
        self._writer(req, "os_compute_api:os-attach-interfaces:delete")
        if port_id not in s.port_ids:
            raise not_found(f"Port {port_id} is not attached")
        self.api.servers.check_lock(req, s)
        s.port_ids.remove(port_id)
        port = region.ports.get(port_id)
        if port is not None:
            if port_id not in getattr(s, "preexisting_ports", ()):
                region.ports.pop(port_id, None)
            else:
                port.device_id, port.device_owner, port.binding_host_id = "", "", ""
        s.addresses = region.addresses_for([region.ports[p] for p in s.port_ids
                                            if p in region.ports])
        touch(s)
        return Response(status=202)

    # --- volume attachments ----------------------------------------------------------------

    @staticmethod
    def _va_view(req: Request, s: Server, a: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"device": a.get("device"), "serverId": s.id,
                               "volumeId": a["id"]}
        if not req.mv_at_least(2, 89):
            out["id"] = a["id"]
        if req.mv_at_least(2, 70):
            out["tag"] = a.get("tag")
        if req.mv_at_least(2, 79):
            out["delete_on_termination"] = bool(a.get("delete_on_termination"))
        if req.mv_at_least(2, 89):
            out["attachment_id"] = a.get("attachment_id")
            out["bdm_uuid"] = a.get("bdm_uuid")
        return out

    def volume_list(self, req: Request, server_id: str) -> Response:
        _, s = self._server(req, server_id)
        return json_response({"volumeAttachments": [self._va_view(req, s, a)
                                                     for a in s.volumes_attached]})

    @staticmethod
    def _find_attachment(s: Server, volume_id: str) -> dict[str, Any]:
        for a in s.volumes_attached:
            if a["id"] == volume_id:
                return a
        raise not_found(f"Volume {volume_id} is not attached to the instance {s.id}")

    def volume_show(self, req: Request, server_id: str, volume_id: str) -> Response:
        _, s = self._server(req, server_id)
        return json_response({"volumeAttachment": self._va_view(
            req, s, self._find_attachment(s, volume_id))})

    def volume_attach(self, req: Request, server_id: str) -> Response:
        region, s = self._server(req, server_id)
        self._writer(req, "os_compute_api:os-volumes-attachments:create")
        doc = req.json_object()
        check_keys(doc, {"volumeAttachment"})
        body = doc.get("volumeAttachment")
        if not isinstance(body, dict):
            raise invalid("volumeAttachment", body, f"{body!r} is not of type 'object'")
        allowed = {"volumeId", "device"}
        if req.mv_at_least(2, 49):
            allowed.add("tag")
        if req.mv_at_least(2, 79):
            allowed.add("delete_on_termination")
        check_keys(body, allowed)
        vid = body.get("volumeId")
        if not is_uuid(vid):
            raise invalid("volumeId", vid, f"{vid!r} is not a 'uuid'")
        dot = body.get("delete_on_termination", False)
        if not isinstance(dot, bool):
            raise invalid("delete_on_termination", dot, f"{dot!r} is not of type 'boolean'")
        self.api.servers.check_lock(req, s)
        check_state(s, "attach_volume", ATTACH_STATES, None)
        vol = region.volumes.get(str(vid))
        if vol is None or not (req.auth.is_admin or vol.project_id == s.project_id):
            raise not_found(f"Volume {vid} could not be found.")
        if vol.status != "available" or any(a["id"] == vid for a in s.volumes_attached):
            raise bad_request(f"Invalid volume: volume {vid} is already attached"
                              if vol.status == "in-use" else
                              f"Invalid volume: Volume {vid} status must be available or "
                              f"downloading to reserve, but the current status is "
                              f"{vol.status}.")
        device = body.get("device")
        if not device:
            used = {a.get("device") for a in s.volumes_attached}
            device = next(f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz"
                          if f"/dev/vd{c}" not in used)
        entry = attach(region, s, vol, device=device, delete_on_termination=dot,
                       tag=body.get("tag"))
        touch(s)
        return json_response({"volumeAttachment": self._va_view(req, s, entry)})

    def volume_update(self, req: Request, server_id: str, volume_id: str) -> Response:
        region, s = self._server(req, server_id)
        self._writer(req, "os_compute_api:os-volumes-attachments:update")
        doc = req.json_object()
        body = doc.get("volumeAttachment")
        if not isinstance(body, dict) or "volumeId" not in body:
            raise invalid("volumeAttachment", body, "'volumeId' is a required property")
        a = self._find_attachment(s, volume_id)
        if body["volumeId"] != volume_id:
            raise bad_request("Swapping volumes is not supported by the simulator")
        if "delete_on_termination" in body:
            if not req.mv_at_least(2, 85):
                raise additional_props({"delete_on_termination": None})
            if not isinstance(body["delete_on_termination"], bool):
                raise invalid("delete_on_termination", body["delete_on_termination"],
                              "is not of type 'boolean'")
            a["delete_on_termination"] = body["delete_on_termination"]
        touch(s)
        return Response(status=202)

    def volume_detach(self, req: Request, server_id: str, volume_id: str) -> Response:
        region, s = self._server(req, server_id)
        self._writer(req, "os_compute_api:os-volumes-attachments:delete")
        a = self._find_attachment(s, volume_id)
        self.api.servers.check_lock(req, s)
        if a.get("device") == "/dev/vda" and not s.image_id:
            raise bad_request("Cannot detach a root device volume")
        s.volumes_attached = [x for x in s.volumes_attached if x["id"] != volume_id]
        vol = region.volumes.get(volume_id)
        if vol is not None:
            vol.attachments = [x for x in vol.attachments if x.get("server_id") != s.id]
            if not vol.attachments:
                vol.status = "available"
            vol.updated_at = now()
        touch(s)
        return Response(status=202)

    # --- consoles and instance actions -----------------------------------------------------

    @staticmethod
    def _console_url(s: Server) -> str:
        return (f"http://127.0.0.1:6080/vnc_auto.html?path=%3Ftoken%3D"
                f"{uuid.uuid5(uuid.NAMESPACE_URL, s.id)}")

    def remote_console(self, req: Request, server_id: str) -> Response:
        _, s = self._server(req, server_id)
        doc = req.json_object()
        body = doc.get("remote_console")
        if not isinstance(body, dict):
            raise invalid("body", doc, "'remote_console' is a required property")
        protocol, kind = body.get("protocol"), body.get("type")
        kinds = {"vnc": ("novnc", "xvpvnc"), "spice": ("spice-html5", "spice-direct"),
                 "serial": ("serial",), "mks": ("webmks",), "rdp": ("rdp-html5",)}
        if protocol not in kinds:
            raise invalid("protocol", protocol, f"{protocol!r} is not one of "
                                                f"{sorted(kinds)}")
        if kind not in kinds[protocol]:
            raise bad_request(f"Unsupported console type {kind}")
        if s.vm_state != "active":
            raise conflict(f"Instance {s.id} is not ready")
        return json_response({"remote_console": {"protocol": protocol, "type": kind,
                                                 "url": self._console_url(s)}})

    def instance_actions(self, req: Request, server_id: str) -> Response:
        _, s = self._server(req, server_id)
        log = [{"action": "create", "instance_uuid": s.id,
                "request_id": "req-" + str(uuid.uuid5(uuid.NAMESPACE_URL, s.id)),
                "user_id": s.user_id, "project_id": s.project_id,
                "start_time": iso_naive_us(s.created_at), "message": None}]
        log += getattr(s, "instance_actions", [])
        out = []
        for entry in reversed(log):
            e = dict(entry)
            if req.mv_at_least(2, 58):
                e["updated_at"] = e["start_time"]
            out.append(e)
        return json_response({"instanceActions": out})

    def instance_action(self, req: Request, server_id: str, request_id: str) -> Response:
        resp = self.instance_actions(req, server_id)
        for e in resp.body["instanceActions"]:
            if e["request_id"] == request_id:
                return json_response({"instanceAction": {**e, "events": []}})
        raise not_found(f"Action for request_id {request_id} on instance {server_id} not "
                        "found")


def additional_props(body: dict[str, Any]) -> ApiError:
    return additional(set(body))
