"""Assemble the simulator: state + every service's routes + the control API."""

from __future__ import annotations

import base64
import binascii
import threading
import time
from typing import Any

from govcloud.sim.cinder import CinderAPI
from govcloud.sim.glance import GlanceAPI
from govcloud.sim.http import (
    App,
    Faults,
    Request,
    Response,
    Router,
    bad_request,
    json_response,
    mv_str,
    not_found,
    parse_microversion,
)
from govcloud.sim.keystone import KeystoneAPI
from govcloud.sim.neutron import NeutronAPI
from govcloud.sim.nova import NovaAPI
from govcloud.sim.placement import PlacementAPI
from govcloud.sim.state import Cloud

# The newest microversion each service speaks (a 2024.1-era cloud: compute 2.96).
COMPUTE_MV = ((2, 1), (2, 96))
PLACEMENT_MV = ((1, 0), (1, 39))
VOLUME_MV = ((3, 0), (3, 70))


def negotiate(req: Request) -> None:
    """Parse the microversion a request asks for and echo it back like the service does."""
    if req.service == "compute":
        v = parse_microversion(req, service_type="compute",
                               legacy_header="x-openstack-nova-api-version",
                               minimum=COMPUTE_MV[0], maximum=COMPUTE_MV[1])
        req.response_headers.update({
            "OpenStack-API-Version": f"compute {mv_str(v)}",
            "X-OpenStack-Nova-API-Version": mv_str(v),
            "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version",
        })
    elif req.service == "placement":
        v = parse_microversion(req, service_type="placement", legacy_header=None,
                               minimum=PLACEMENT_MV[0], maximum=PLACEMENT_MV[1])
        req.response_headers.update({"OpenStack-API-Version": f"placement {mv_str(v)}",
                                     "Vary": "openstack-api-version"})
    elif req.service == "volume":
        v = parse_microversion(req, service_type="volume", legacy_header=None,
                               minimum=VOLUME_MV[0], maximum=VOLUME_MV[1])
        req.response_headers.update({"OpenStack-API-Version": f"volume {mv_str(v)}",
                                     "Vary": "OpenStack-API-Version"})
    else:
        v = (0, 0)
    req.microversion = v


class Simulator:
    """The running simulator's parts, kept together for the CLI and for tests."""

    def __init__(self, cloud: Cloud, *, faults: Faults | None = None) -> None:
        self.cloud = cloud
        self.faults = faults or Faults()
        self.lock = threading.RLock()
        self.started = time.time()
        self.router = Router()
        self.identity = KeystoneAPI(cloud)
        self.identity.register(self.router)
        NovaAPI(cloud).register(self.router)
        PlacementAPI(cloud).register(self.router)
        GlanceAPI(cloud).register(self.router)
        NeutronAPI(cloud).register(self.router)
        CinderAPI(cloud).register(self.router)
        self.app = App(router=self.router, authenticate=self.identity.authenticate,
                       negotiate=negotiate, faults=self.faults,
                       regions=list(cloud.regions), lock=self.lock, control=self.control)

    # --- control API: /_sim/... ----------------------------------------------------------------

    def control(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        if path in ("", "/", "/health") and req.method == "GET":
            return json_response({"status": "ok", "regions": list(self.cloud.regions),
                                  "uptime_s": round(time.time() - self.started, 1),
                                  "requests": self.app.requests})
        if path == "/faults":
            if req.method == "GET":
                return json_response(self.faults.to_dict())
            if req.method in ("PUT", "PATCH", "POST"):
                with self.lock:
                    self.apply_faults(req.json_object())
                return json_response(self.faults.to_dict())
        if path.startswith("/regions/") and req.method == "POST":
            bits = path.split("/")  # ['', 'regions', NAME, 'down'|'up']
            if len(bits) == 4 and bits[3] in ("down", "up"):
                name = bits[2]
                if name not in self.cloud.regions:
                    raise not_found(f"No region {name}; regions are "
                                    f"{', '.join(self.cloud.regions)}.")
                with self.lock:
                    if bits[3] == "down":
                        self.faults.down.add(name)
                    else:
                        self.faults.down.discard(name)
                return json_response(self.faults.to_dict())
        if path.startswith("/regions/") and path.count("/") == 5 and req.method == "POST":
            # ['', 'regions', REGION, 'computes', HOST, 'down'|'restart']: a compute host's
            # service stops heartbeating (a dead host), or starts again — and, as nova-compute
            # does when it starts, cleans up what servers evacuated off it still hold there
            _, _, name, kind, host, what = path.split("/")
            region = self.cloud.regions.get(name)
            if kind == "computes" and what in ("down", "restart") and region is not None:
                with self.lock:
                    hv = region.hv_by_host.get(host)
                    if hv is None:
                        raise not_found(f"No compute host {host} in {name}.")
                    if what == "down":
                        hv.service.state = "down"
                    else:
                        region.restart_compute(host)
                    return json_response({"host": host, "state": hv.service.state,
                                          "forced_down": hv.service.forced_down})
        if path == "/sandboxes":
            if req.method in ("POST", "PUT"):
                with self.lock:
                    self.add_sandboxes(req.json_object())
            return json_response({"sandboxes": list(self.cloud.sandboxes)})
        if path == "/summary" and req.method == "GET":
            with self.lock:
                return json_response(self.summary())
        raise not_found(f"No control endpoint {req.method} /_sim{req.path}.")

    def apply_faults(self, doc: dict[str, Any]) -> None:
        """Validate everything first, then change; bad input changes nothing."""
        new: dict[str, Any] = {}
        for key in ("latency_ms", "jitter_ms", "error_rate"):
            if key in doc:
                try:
                    value = float(doc[key])
                except (TypeError, ValueError):
                    raise bad_request(f"{key} must be a number, got {doc[key]!r}") from None
                if value < 0 or (key == "error_rate" and value > 1):
                    raise bad_request(f"{key} out of range: {value}")
                new[key] = value
        if "down" in doc:
            down = doc["down"]
            if not isinstance(down, list) or any(r not in self.cloud.regions for r in down):
                raise bad_request(f"down must be a list of regions among "
                                  f"{', '.join(self.cloud.regions)}")
            new["down"] = set(down)
        unknown = set(doc) - {"latency_ms", "jitter_ms", "error_rate", "down"}
        if unknown:
            raise bad_request(f"unknown fault knob(s): {', '.join(sorted(unknown))}")
        for key, value in new.items():
            setattr(self.faults, key, value)

    def add_sandboxes(self, doc: dict[str, Any]) -> None:
        """Add SSH sandboxes to the pool new servers take from (all or nothing)."""
        boxes = doc.get("sandboxes")
        if not isinstance(boxes, list):
            raise bad_request("sandboxes must be a list of {address, port, user, root, "
                              "host_keys}")
        for box in boxes:
            if not isinstance(box, dict) or not box.get("address") or \
                    not isinstance(box.get("port"), int):
                raise bad_request(f"a sandbox needs an address and an integer port: {box!r}")
            keys = box.get("host_keys", [])
            if not isinstance(keys, list) or len(keys) > 8 or not all(
                    isinstance(k, str) and len(k) <= 8192 and _public_key(k) for k in keys):
                raise bad_request("host_keys must be a list of at most 8 public keys "
                                  "('TYPE BASE64 [COMMENT]', as in ssh_host_*_key.pub)")
        self.cloud.sandboxes.extend(dict(b) for b in boxes)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"regions": {}}
        for name, region in self.cloud.regions.items():
            region.tick()
            cap: dict[str, dict[str, int]] = {}
            for rp in region.providers.values():
                for rc, inv in rp.inventories.items():
                    c = cap.setdefault(rc, {"total": 0, "capacity": 0, "used": 0})
                    c["total"] += inv.total
                    c["capacity"] += inv.capacity()
                    c["used"] += rp.used.get(rc, 0)
            statuses: dict[str, int] = {}
            for s in region.servers.values():
                statuses[s.status] = statuses.get(s.status, 0) + 1
            out["regions"][name] = {
                "role": region.role,
                "hypervisors": len(region.hypervisors),
                "services_down": sum(1 for s in region.services.values() if not s.is_up),
                "servers": len(region.servers),
                "servers_by_status": statuses,
                "resources": cap,
            }
        out["projects"] = len(self.cloud.projects)
        out["users"] = len(self.cloud.users)
        return out


def _public_key(line: str) -> bool:
    """``TYPE BASE64 [COMMENT]`` with a blob that is base64."""
    parts = line.split()
    if len(parts) < 2:
        return False
    try:
        base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
