"""The provisioning integration tests' plane on the simulator and their helpers: a request
body, waiting for a request to end, the servers tagged with a request, the reservations it
holds (test_provisioning.py, test_provisioning_cold.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from govcloud.client import ApiClient
from govcloud.cloud.connect import connect
from govcloud.domain.sites import default_sites
from govcloud.sim.server import RunningSimulator

NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}
IMAGE = "cirros-0.6.2-x86_64-disk"
WAIT = 60


@dataclass
class ProvPlane:
    url: str
    engine: Engine
    sim: RunningSimulator
    admin: ApiClient
    operator: ApiClient
    clouds_yaml: Path
    operator_token: str

    def cloud(self, region: str) -> Any:
        site = next(s for s in default_sites() if s.name == region)
        return connect(site, clouds_yaml=self.clouds_yaml)

    def faults(self, **knobs: Any) -> None:
        httpx.put(f"{self.sim.base_url}/_sim/faults", json=knobs, timeout=10).raise_for_status()

    def region(self, name: str, up: bool) -> None:
        verb = "up" if up else "down"
        httpx.post(f"{self.sim.base_url}/_sim/regions/{name}/{verb}", timeout=10).raise_for_status()


def request(system: str, *, count: int = 2, flavor: str = "gc.c2m4", image: str = IMAGE,
            dr_level: int | None = None, department: str = "gd-psd") -> dict[str, Any]:
    body: dict[str, Any] = {
        "department": department, "system": system, "justification": "integration test",
        "servers": [{"name_prefix": "app", "flavor": flavor, "image": image, "count": count,
                     "network": NETWORKS}]}
    if dr_level is not None:
        body["dr_level"] = dr_level
    return body


def wait_final(api: ApiClient, rid: int) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        r: dict[str, Any] = api.get(f"/requests/{rid}")
        if r["state"] in ("done", "failed", "rejected", "cancelled"):
            return r
        time.sleep(0.1)
    raise AssertionError(f"request {rid} did not finish: {api.get(f'/requests/{rid}')}")


def tagged(prov: ProvPlane, rid: int) -> dict[str, list[Any]]:
    """Every server in every region carrying one of the request's idempotency tags."""
    out = {}
    for region in NETWORKS:
        conn = prov.cloud(region)
        out[region] = [s for s in conn.compute.servers(all_projects=True)
                       if any(t.startswith(f"govcloud-req-{rid}-") for t in (s.tags or []))]
        conn.close()
    return out


def held(engine: Engine, rid: int) -> int:
    """How many active reservations the request still holds."""
    from sqlmodel import Session

    from govcloud.store.provisioning import active_reservations

    with Session(engine) as session:
        return len(active_reservations(session, rid))
