"""Admin views: hypervisors, os-services, availability zones, aggregates, tenant usage."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from govcloud.sim.http import (
    Request,
    Response,
    Router,
    bad_request,
    conflict,
    json_response,
    no_content,
    not_found,
)
from govcloud.sim.model import ComputeService, Hypervisor, Server, now
from govcloud.sim.nova_common import (
    NovaContext,
    additional,
    body_object,
    bool_arg,
    check_keys,
    invalid,
    invalid_query,
    is_uuid,
    iso_naive_us,
    limit_and_marker,
    next_link,
    policy,
    require_admin,
    str_field,
)
from govcloud.sim.state import RegionState

HYP = "os_compute_api:os-hypervisors"
CPU_FEATURES = ["pge", "avx", "avx2", "clflush", "sep", "syscall", "vme", "dtes64", "msr",
                "fsgsbase", "xsave", "vmx", "erms", "xtpr", "cmov", "tsc", "pat", "pdpe1gb",
                "aes", "pclmuldq", "mmx", "sse4.2", "sse4.1", "ssse3", "sse2", "sse"]


class AdminRoutes:
    def __init__(self, api: NovaContext) -> None:
        self.api = api

    def register(self, router: Router) -> None:
        add = router.add
        c = "compute"
        add(c, "GET", "/v2.1/os-hypervisors", self.hyp_index)
        add(c, "GET", "/v2.1/os-hypervisors/detail", self.hyp_detail)
        add(c, "GET", "/v2.1/os-hypervisors/statistics", self.hyp_statistics)
        add(c, "GET", "/v2.1/os-hypervisors/{hid}", self.hyp_show)
        add(c, "GET", "/v2.1/os-hypervisors/{hid}/uptime", self.hyp_uptime)
        add(c, "GET", "/v2.1/os-hypervisors/{pattern}/search", self.hyp_search)
        add(c, "GET", "/v2.1/os-hypervisors/{pattern}/servers", self.hyp_servers)
        add(c, "GET", "/v2.1/os-services", self.svc_index)
        add(c, "PUT", "/v2.1/os-services/{sid}", self.svc_update)
        add(c, "DELETE", "/v2.1/os-services/{sid}", self.svc_delete)
        add(c, "GET", "/v2.1/os-availability-zone", self.az_index)
        add(c, "GET", "/v2.1/os-availability-zone/detail", self.az_detail)
        add(c, "GET", "/v2.1/os-aggregates", self.agg_index)
        add(c, "POST", "/v2.1/os-aggregates", self.agg_create)
        add(c, "GET", "/v2.1/os-aggregates/{aid}", self.agg_show)
        add(c, "PUT", "/v2.1/os-aggregates/{aid}", self.agg_update)
        add(c, "DELETE", "/v2.1/os-aggregates/{aid}", self.agg_delete)
        add(c, "POST", "/v2.1/os-aggregates/{aid}/action", self.agg_action)
        add(c, "GET", "/v2.1/os-simple-tenant-usage", self.usage_index)
        add(c, "GET", "/v2.1/os-simple-tenant-usage/{tenant_id}", self.usage_show)

    # --- hypervisors -----------------------------------------------------------------------

    def _svc_id(self, req: Request, region: RegionState, svc: ComputeService) -> Any:
        if req.mv_at_least(2, 53):
            return svc.id
        return self.api.extra(region).legacy_service_id(svc.id)

    def _hyp_view(self, req: Request, region: RegionState, hv: Hypervisor, *, detail: bool,
                  servers: bool) -> dict[str, Any]:
        uuid_ids = req.mv_at_least(2, 53)
        out: dict[str, Any] = {"id": hv.id if uuid_ids else hv.legacy_id,
                               "hypervisor_hostname": hv.hostname,
                               "state": hv.state, "status": hv.status}
        if detail:
            rp = hv.provider
            cpu = {"arch": "x86_64", "model": "Cascadelake-Server", "vendor": "Intel",
                   "topology": {"cells": 2, "sockets": 2,
                                "cores": max(1, _total(rp, "VCPU") // 4), "threads": 2},
                   "features": CPU_FEATURES}
            out.update({
                "hypervisor_type": hv.hypervisor_type,
                "hypervisor_version": hv.hypervisor_version,
                "host_ip": hv.host_ip,
                "service": {"host": hv.service.host, "id": self._svc_id(req, region, hv.service),
                            "disabled_reason": hv.service.disabled_reason},
            })
            if req.mv_at_least(2, 88):  # cpu_info went with the capacity figures
                out["uptime"] = hv.uptime
            else:
                out["cpu_info"] = cpu if req.mv_at_least(2, 28) else json.dumps(cpu)
                out.update(_figures(region, hv))
        if servers:
            names = [{"name": f"instance-{s.instance_number:08x}", "uuid": s.id}
                     for s in self._host_servers(region, hv)]
            if names or req.mv_at_least(2, 75):
                out["servers"] = names
        return out

    @staticmethod
    def _host_servers(region: RegionState, hv: Hypervisor) -> list[Server]:
        out = [region.servers[sid] for sid in hv.servers if sid in region.servers]
        out.sort(key=lambda s: s.seq)
        return out

    def _hyp_list(self, req: Request, detail: bool) -> Response:
        region = self.api.region(req)
        require_admin(req, f"{HYP}:list-detail" if detail else f"{HYP}:list")
        mv53 = req.mv_at_least(2, 53)
        if mv53:
            known = {"limit", "marker", "hypervisor_hostname_pattern", "with_servers"}
            extra = set(req.query) - known
            if extra:
                raise additional(extra)
        with_servers = bool(bool_arg(req, "with_servers", False)) if mv53 else False
        pattern = req.arg("hypervisor_hostname_pattern") if mv53 else None
        hvs = sorted(region.hypervisors.values(), key=lambda h: h.legacy_id)
        paging = req.mv_at_least(2, 33)
        limit, marker = limit_and_marker(req) if paging else (len(hvs), None)
        if pattern is not None:
            if "limit" in req.query or "marker" in req.query:
                raise bad_request("Paging over hypervisors with the "
                                  "hypervisor_hostname_pattern query parameter is not "
                                  "supported.")
            hvs = [h for h in hvs if pattern in h.hostname]
            if not hvs:
                raise not_found(f"No hypervisor matching '{pattern}' could be found.")
        if marker is not None:
            ids = [str(h.id if mv53 else h.legacy_id) for h in hvs]
            if marker not in ids:
                raise bad_request(f"marker [{marker}] not found")
            hvs = hvs[ids.index(marker) + 1:]
        hvs = hvs[:limit]
        body: dict[str, Any] = {"hypervisors": [
            self._hyp_view(req, region, h, detail=detail, servers=with_servers) for h in hvs]}
        if paging and hvs and len(hvs) >= min(limit, 1000) and pattern is None:
            last = hvs[-1].id if mv53 else hvs[-1].legacy_id
            body["hypervisors_links"] = [next_link(
                req, "os-hypervisors/detail" if detail else "os-hypervisors", str(last))]
        return json_response(body)

    def hyp_index(self, req: Request) -> Response:
        return self._hyp_list(req, detail=False)

    def hyp_detail(self, req: Request) -> Response:
        return self._hyp_list(req, detail=True)

    def _get_hv(self, req: Request, region: RegionState, hid: str) -> Hypervisor:
        if req.mv_at_least(2, 53):
            if not is_uuid(hid):
                raise bad_request(f"Invalid uuid {hid}")
            hv = region.hypervisors.get(hid)
        else:
            hv = None
            if hid.isdigit():
                hv = next((h for h in region.hypervisors.values()
                           if h.legacy_id == int(hid)), None)
        if hv is None:
            raise not_found(f"Hypervisor with ID '{hid}' could not be found.")
        return hv

    def hyp_show(self, req: Request, hid: str) -> Response:
        region = self.api.region(req)
        require_admin(req, f"{HYP}:show")
        with_servers = False
        if req.mv_at_least(2, 53):
            extra = set(req.query) - {"with_servers"}
            if extra:
                raise additional(extra)
            with_servers = bool(bool_arg(req, "with_servers", False))
        hv = self._get_hv(req, region, hid)
        return json_response({"hypervisor": self._hyp_view(req, region, hv, detail=True,
                                                           servers=with_servers)})

    def hyp_uptime(self, req: Request, hid: str) -> Response:
        region = self.api.region(req)
        if req.mv_at_least(2, 88):
            raise not_found("The resource could not be found.")
        require_admin(req, f"{HYP}:uptime")
        hv = self._get_hv(req, region, hid)
        view = self._hyp_view(req, region, hv, detail=False, servers=False)
        view["uptime"] = hv.uptime
        return json_response({"hypervisor": view})

    def hyp_statistics(self, req: Request) -> Response:
        region = self.api.region(req)
        if req.mv_at_least(2, 88):
            raise not_found("The resource could not be found.")
        require_admin(req, f"{HYP}:statistics")
        keys = ("count", "vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "free_ram_mb",
                "local_gb", "local_gb_used", "free_disk_gb", "disk_available_least",
                "running_vms", "current_workload")
        stats = dict.fromkeys(keys, 0)
        for hv in region.hypervisors.values():
            stats["count"] += 1
            for k, v in _figures(region, hv).items():
                stats[k] += v
        return json_response({"hypervisor_statistics": stats})

    def _legacy_pattern(self, req: Request, pattern: str, servers: bool) -> Response:
        region = self.api.region(req)
        if req.mv_at_least(2, 53):
            raise not_found("The resource could not be found.")
        require_admin(req, f"{HYP}:servers" if servers else f"{HYP}:search")
        hvs = [h for h in sorted(region.hypervisors.values(), key=lambda h: h.legacy_id)
               if pattern in h.hostname]
        if not hvs:
            raise not_found(f"No hypervisor matching '{pattern}' could be found.")
        return json_response({"hypervisors": [
            self._hyp_view(req, region, h, detail=False, servers=servers) for h in hvs]})

    def hyp_search(self, req: Request, pattern: str) -> Response:
        return self._legacy_pattern(req, pattern, servers=False)

    def hyp_servers(self, req: Request, pattern: str) -> Response:
        return self._legacy_pattern(req, pattern, servers=True)

    # --- services --------------------------------------------------------------------------

    def _svc_view(self, req: Request, region: RegionState,
                  svc: ComputeService) -> dict[str, Any]:
        updated = svc.updated_at
        if svc.state == "up":
            # a live service heartbeats every 10 s
            t = now()
            updated = t - dt.timedelta(seconds=t.second % 10)
        out: dict[str, Any] = {
            "id": self._svc_id(req, region, svc), "binary": svc.binary, "host": svc.host,
            "zone": svc.zone, "status": svc.status, "state": "up" if svc.is_up else "down",
            "updated_at": iso_naive_us(updated), "disabled_reason": svc.disabled_reason,
        }
        if req.mv_at_least(2, 11):
            out["forced_down"] = svc.forced_down
        return out

    def svc_index(self, req: Request) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-services:list")
        host, binary = req.arg("host"), req.arg("binary")
        out = [self._svc_view(req, region, s) for s in region.services.values()
               if (host is None or s.host == host) and (binary is None or s.binary == binary)]
        return json_response({"services": out})

    def _find_svc(self, req: Request, region: RegionState, sid: str) -> ComputeService:
        if req.mv_at_least(2, 53):
            if not is_uuid(sid):
                raise bad_request(f"Invalid uuid {sid}")
            svc = region.services.get(sid)
        else:
            ex = self.api.extra(region)
            svc = next((s for s in region.services.values()
                        if str(ex.legacy_service_id(s.id)) == sid), None)
        if svc is None:
            raise not_found(f"Service {sid} could not be found.")
        return svc

    def svc_update(self, req: Request, sid: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-services:update")
        if not req.mv_at_least(2, 53):
            return self._svc_legacy(req, region, sid)
        doc = req.json_object()
        check_keys(doc, {"status", "disabled_reason", "forced_down"})
        status = doc.get("status")
        if status is not None and status not in ("enabled", "disabled"):
            raise invalid("status", status, f"'{status}' is not one of ['enabled', "
                                            "'disabled']")
        reason = str_field(doc, "disabled_reason", min_len=1)
        forced = doc.get("forced_down")
        if forced is not None and not isinstance(forced, bool):
            raise invalid("forced_down", forced, f"{forced!r} is not of type 'boolean'")
        if reason is not None and status != "disabled":
            raise bad_request(f"Specifying 'disabled_reason' with status '{status}' is "
                              "invalid.")
        if status is None and forced is None:
            raise bad_request("At least one of 'status' or 'forced_down' must be specified.")
        svc = self._find_svc(req, region, sid)
        if svc.binary != "nova-compute":
            raise bad_request(f"Updating a {svc.binary} service is not supported. Only "
                              "nova-compute services can be updated.")
        if forced is False:
            self._check_for_evacuations(region, svc.host)
        if status is not None:
            svc.status = status
            svc.disabled_reason = reason if status == "disabled" else None
        if forced is not None:
            svc.forced_down = forced
        svc.updated_at = now()
        return json_response({"service": self._svc_view(req, region, svc)})

    @staticmethod
    def _check_for_evacuations(region: RegionState, host: str) -> None:
        """Nova refuses to force a compute back up while evacuations off it are ``done`` but
        not yet cleaned up by that compute service restarting (``completed``)."""
        if region.evacuated_from(host):
            raise bad_request(f"Unable to force up host {host} as `done` evacuation migration "
                              "records remain associated with the host. Ensure the compute "
                              "service has been restarted, allowing these records to move "
                              "to `completed` before retrying this request.")

    def _svc_legacy(self, req: Request, region: RegionState, action: str) -> Response:
        actions = {"enable", "disable", "disable-log-reason"}
        if req.mv_at_least(2, 11):
            actions.add("force-down")
        if action not in actions:
            raise not_found("Unknown action")
        doc = req.json_object()
        host, binary = doc.get("host"), doc.get("binary")
        if not isinstance(host, str) or not isinstance(binary, str):
            raise invalid("body", doc, "'host' is a required property")
        svc = next((s for s in region.services.values()
                    if s.host == host and s.binary == binary), None)
        if svc is None:
            raise not_found(f"Service {binary} on host {host} not found.")
        out: dict[str, Any] = {"host": host, "binary": binary}
        if action == "force-down":
            forced = doc.get("forced_down")
            if not isinstance(forced, bool):
                raise invalid("forced_down", forced, f"{forced!r} is not of type 'boolean'")
            if forced is False:
                self._check_for_evacuations(region, svc.host)
            svc.forced_down = forced
            out["forced_down"] = forced
        else:
            svc.status = "enabled" if action == "enable" else "disabled"
            svc.disabled_reason = None
            out["status"] = svc.status
            if action == "disable-log-reason":
                reason = str_field(doc, "disabled_reason", required=True, min_len=1)
                svc.disabled_reason = reason
                out["disabled_reason"] = reason
        svc.updated_at = now()
        return json_response({"service": out})

    def svc_delete(self, req: Request, sid: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-services:delete")
        svc = self._find_svc(req, region, sid)
        if svc.binary == "nova-compute":
            hv = region.hv_by_host.get(svc.host)
            if hv is not None and any(s in region.servers for s in hv.servers):
                raise conflict("Unable to delete compute service that is hosting instances. "
                               "Migrate or delete the instances first.")
            if hv is not None:
                region.hypervisors.pop(hv.id, None)
                region.hv_by_host.pop(svc.host, None)
                region.providers.pop(hv.provider.uuid, None)
        region.services.pop(svc.id, None)
        return no_content()

    # --- availability zones ----------------------------------------------------------------

    def _zones(self, region: RegionState) -> tuple[list[str], list[str]]:
        available: list[str] = []
        all_zones: list[str] = []
        for s in region.services.values():
            if s.binary != "nova-compute" or s.zone == "internal":
                continue
            if s.zone not in all_zones:
                all_zones.append(s.zone)
            if s.status == "enabled" and s.zone not in available:
                available.append(s.zone)
        return available, [z for z in all_zones if z not in available]

    def az_index(self, req: Request) -> Response:
        region = self.api.region(req)
        available, unavailable = self._zones(region)
        info = [{"zoneName": z, "zoneState": {"available": True}, "hosts": None}
                for z in available]
        info += [{"zoneName": z, "zoneState": {"available": False}, "hosts": None}
                 for z in unavailable]
        return json_response({"availabilityZoneInfo": info})

    def az_detail(self, req: Request) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-availability-zone:detail")
        available, unavailable = self._zones(region)
        hosts: dict[str, dict[str, dict[str, Any]]] = {}
        for s in region.services.values():
            zone_hosts = hosts.setdefault(s.zone, {})
            zone_hosts.setdefault(s.host, {})[s.binary] = {
                "available": s.is_up and s.status == "enabled",
                "active": s.status == "enabled",
                "updated_at": self._svc_view(req, region, s)["updated_at"]}
        info: list[dict[str, Any]] = [{"zoneName": "internal", "zoneState": {"available": True},
                 "hosts": hosts.get("internal", {})}]
        info += [{"zoneName": z, "zoneState": {"available": True}, "hosts": hosts.get(z, {})}
                 for z in available]
        info += [{"zoneName": z, "zoneState": {"available": False}, "hosts": None}
                 for z in unavailable]
        return json_response({"availabilityZoneInfo": info})

    # --- aggregates ------------------------------------------------------------------------

    def _agg_view(self, req: Request, agg: dict[str, Any], full: bool = True) -> dict[str, Any]:
        out = {k: agg[k] for k in ("availability_zone", "created_at", "deleted", "deleted_at",
                                   "id", "name", "updated_at")}
        if full:
            out["hosts"] = list(agg["hosts"])
            out["metadata"] = dict(agg["metadata"])
        if req.mv_at_least(2, 41):
            out["uuid"] = agg["uuid"]
        return out

    def _agg(self, req: Request, region: RegionState, aid: str) -> dict[str, Any]:
        aggs = self.api.extra(region).aggregates
        if not aid.isdigit() or int(aid) not in aggs:
            raise not_found(f"Aggregate {aid} could not be found.")
        return aggs[int(aid)]

    def agg_index(self, req: Request) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-aggregates:index")
        aggs = self.api.extra(region).aggregates.values()
        return json_response({"aggregates": [self._agg_view(req, a) for a in aggs]})

    def _agg_fields(self, doc: dict[str, Any], *, create: bool) -> tuple[str | None, Any]:
        check_keys(doc, {"name", "availability_zone"})
        name = str_field(doc, "name", required=create, min_len=1)
        if name is not None and name.strip() != name:
            raise invalid("name", name, f"'{name}' has leading or trailing spaces")
        zone = doc.get("availability_zone")
        if zone is not None and (not isinstance(zone, str) or not zone.strip()):
            raise invalid("availability_zone", zone, f"{zone!r} is too short")
        return name, zone

    def agg_create(self, req: Request) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-aggregates:create")
        name, zone = self._agg_fields(body_object(req, "aggregate"), create=True)
        ex = self.api.extra(region)
        if any(a["name"] == name for a in ex.aggregates.values()):
            raise conflict(f"Aggregate {name} already exists.")
        ex.aggregate_seq += 1
        stamp = iso_naive_us(now())
        agg = {"id": ex.aggregate_seq, "uuid": region.ids.uuid(), "name": name,
               "availability_zone": zone, "created_at": stamp, "updated_at": None,
               "deleted": False, "deleted_at": None, "hosts": [],
               "metadata": {"availability_zone": zone} if zone else {}}
        ex.aggregates[agg["id"]] = agg
        return json_response({"aggregate": self._agg_view(req, agg, full=False)})

    def agg_show(self, req: Request, aid: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-aggregates:show")
        return json_response({"aggregate": self._agg_view(req, self._agg(req, region, aid))})

    def agg_update(self, req: Request, aid: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-aggregates:update")
        doc = body_object(req, "aggregate")
        if not doc:
            raise invalid("aggregate", doc, "{} does not have enough properties")
        name, zone = self._agg_fields(doc, create=False)
        agg = self._agg(req, region, aid)
        ex = self.api.extra(region)
        if name is not None:
            if any(a["name"] == name and a is not agg for a in ex.aggregates.values()):
                raise conflict(f"Aggregate {name} already exists.")
            agg["name"] = name
        if "availability_zone" in doc:
            self._set_zone(region, agg, zone)
        agg["updated_at"] = iso_naive_us(now())
        return json_response({"aggregate": self._agg_view(req, agg)})

    @staticmethod
    def _set_zone(region: RegionState, agg: dict[str, Any], zone: str | None) -> None:
        agg["availability_zone"] = zone
        if zone:
            agg["metadata"]["availability_zone"] = zone
        else:
            agg["metadata"].pop("availability_zone", None)
        for host in agg["hosts"]:
            for s in region.services.values():
                if s.host == host and s.binary == "nova-compute":
                    s.zone = zone or "nova"

    def agg_delete(self, req: Request, aid: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-aggregates:delete")
        agg = self._agg(req, region, aid)
        if agg["hosts"]:
            raise bad_request(f"Cannot perform action 'delete' on aggregate {aid}. Reason: "
                              "Host aggregate is not empty.")
        del self.api.extra(region).aggregates[agg["id"]]
        return Response(status=200)

    def agg_action(self, req: Request, aid: str) -> Response:
        region = self.api.region(req)
        doc = req.json()
        if not isinstance(doc, dict) or len(doc) != 1:
            raise bad_request("Malformed request body")
        (name, body), = doc.items()
        if name not in ("add_host", "remove_host", "set_metadata"):
            raise bad_request(f"There is no such action: {name}")
        require_admin(req, f"os_compute_api:os-aggregates:{name}")
        if not isinstance(body, dict):
            raise invalid(name, body, f"{body!r} is not of type 'object'")
        agg = self._agg(req, region, aid)
        if name == "set_metadata":
            meta = body.get("metadata")
            if not isinstance(meta, dict):
                raise invalid("metadata", meta, "'metadata' is a required property")
            for k, v in meta.items():
                if v is None:
                    agg["metadata"].pop(k, None)
                else:
                    agg["metadata"][k] = str(v)
            if "availability_zone" in meta:
                self._set_zone(region, agg, meta["availability_zone"])
        else:
            host = str_field(body, "host", required=True, min_len=1)
            if host not in region.hv_by_host and not any(
                    s.host == host for s in region.services.values()):
                raise not_found(f"Compute host {host} could not be found.")
            if name == "add_host":
                if host in agg["hosts"]:
                    raise conflict(f"Aggregate {aid} already has host {host}.")
                agg["hosts"].append(host)
                if agg["availability_zone"]:
                    self._set_zone(region, agg, agg["availability_zone"])
            else:
                if host not in agg["hosts"]:
                    raise not_found(f"Aggregate {aid} has no host {host}.")
                agg["hosts"].remove(host)
                for s in region.services.values():
                    if s.host == host and s.binary == "nova-compute":
                        s.zone = "nova"
        agg["updated_at"] = iso_naive_us(now())
        return json_response({"aggregate": self._agg_view(req, agg)})

    # --- simple tenant usage ---------------------------------------------------------------

    @staticmethod
    def _period(req: Request) -> tuple[dt.datetime, dt.datetime]:
        def parse(name: str) -> dt.datetime:
            raw = req.arg(name)
            if raw is None:
                return dt.datetime.now(dt.UTC).replace(tzinfo=None)
            for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f"):
                try:
                    return dt.datetime.strptime(raw, fmt)
                except ValueError:
                    continue
            raise invalid_query(name, raw, f"'{raw}' is not a 'date-time'")

        start, end = parse("start"), parse("end")
        if start > end:
            raise bad_request("Invalid start time. The start time cannot occur after the end "
                              "time.")
        return start, end

    @staticmethod
    def _usages(region: RegionState, start: dt.datetime, end: dt.datetime,
                project: str | None) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        wall = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for s in [*region.servers.values(), *region.tombstones.values()]:
            if project is not None and s.project_id != project:
                continue
            began = (s.launched_at or s.created_at).replace(tzinfo=None)
            ended = s.terminated_at.replace(tzinfo=None) if s.terminated_at else None
            if began > end or (ended is not None and ended < start):
                continue
            lo, hi = max(began, start), min(ended or end, end)
            hours = max(0.0, (hi - lo).total_seconds() / 3600.0)
            f = s.flavor
            out.setdefault(s.project_id, []).append({
                "ended_at": iso_naive_us(ended) if ended else None, "flavor": f.name,
                "hours": hours, "instance_id": s.id, "local_gb": f.disk + f.ephemeral,
                "memory_mb": f.ram, "name": s.name, "started_at": iso_naive_us(began),
                "state": "terminated" if s.deleted else s.vm_state,
                "tenant_id": s.project_id, "vcpus": f.vcpus,
                "uptime": int(((ended or wall) - began).total_seconds()),
            })
        return out

    @staticmethod
    def _tenant(pid: str, rows: list[dict[str, Any]], start: dt.datetime, end: dt.datetime,
                detailed: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tenant_id": pid, "start": start.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "stop": end.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "total_hours": sum(r["hours"] for r in rows),
            "total_local_gb_usage": sum(r["hours"] * r["local_gb"] for r in rows),
            "total_memory_mb_usage": sum(r["hours"] * r["memory_mb"] for r in rows),
            "total_vcpus_usage": sum(r["hours"] * r["vcpus"] for r in rows),
        }
        if detailed:
            out["server_usages"] = rows
        return out

    def usage_index(self, req: Request) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-simple-tenant-usage:list")
        start, end = self._period(req)
        detailed = bool(bool_arg(req, "detailed", False))
        usages = self._usages(region, start, end, None)
        out = [self._tenant(pid, rows, start, end, detailed)
               for pid, rows in sorted(usages.items())]
        links: list[dict[str, str]] = []
        if req.mv_at_least(2, 40):
            limit, marker = limit_and_marker(req)
            if marker is not None:
                ids = [u["tenant_id"] for u in out]
                if marker not in ids:
                    raise bad_request(f"marker [{marker}] not found")
                out = out[ids.index(marker) + 1:]
            out = out[:limit]
            if out and len(out) >= limit:
                links = [next_link(req, "os-simple-tenant-usage", out[-1]["tenant_id"])]
        body: dict[str, Any] = {"tenant_usages": out}
        if links:
            body["tenant_usages_links"] = links
        return json_response(body)

    def usage_show(self, req: Request, tenant_id: str) -> Response:
        region = self.api.region(req)
        if not req.auth.is_admin and req.auth.project_id != tenant_id:
            raise policy("os_compute_api:os-simple-tenant-usage:show")
        start, end = self._period(req)
        rows = self._usages(region, start, end, tenant_id).get(tenant_id, [])
        body: dict[str, Any] = {"tenant_usage": self._tenant(tenant_id, rows, start, end, True)
                                if rows else {}}
        return json_response(body)


def _total(rp: Any, rc: str) -> int:
    inv = rp.inventories.get(rc)
    return inv.total if inv is not None else 0


def _figures(region: RegionState, hv: Hypervisor) -> dict[str, int]:
    """The pre-2.88 capacity fields, derived from the host's placement inventory/usage."""
    rp = hv.provider

    def inv(rc: str) -> tuple[int, int]:
        i = rp.inventories.get(rc)
        return (i.total, i.reserved) if i is not None else (0, 0)

    vcpus, _ = inv("VCPU")
    mem, mem_res = inv("MEMORY_MB")
    disk, disk_res = inv("DISK_GB")
    vcpus_used = rp.used.get("VCPU", 0)
    mem_used = rp.used.get("MEMORY_MB", 0) + mem_res
    disk_used = rp.used.get("DISK_GB", 0) + disk_res
    live = [region.servers[s] for s in hv.servers if s in region.servers]
    return {
        "vcpus": vcpus, "vcpus_used": vcpus_used,
        "memory_mb": mem, "memory_mb_used": mem_used, "free_ram_mb": mem - mem_used,
        "local_gb": disk, "local_gb_used": disk_used, "free_disk_gb": disk - disk_used,
        "disk_available_least": disk - disk_used,
        "running_vms": len(live),
        "current_workload": sum(1 for s in live if s.task_state is not None),
    }
