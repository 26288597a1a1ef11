"""The lifecycle integration tests' helpers (test_lifecycle_*.py): a provisioned system to
scale, resize or retire, the servers of a system in every region as Nova shows them, and a
lifecycle request submitted, approved and followed to its end."""

from __future__ import annotations

import time
from typing import Any

from govcloud.client import ApiClient

from .provisioning_plane import NETWORKS, WAIT, ProvPlane, request, wait_final


def provision(prov: ProvPlane, system: str, *, department: str, count: int = 2,
              flavor: str = "gc.c2m4", dr_level: int | None = None) -> int:
    """Provision ``system`` (submitted by the operator, approved by the admin) and wait."""
    rid: int = prov.operator.post("/requests", request(
        system, department=department, count=count, flavor=flavor, dr_level=dr_level))["id"]
    prov.admin.post(f"/requests/{rid}/approve")
    done = wait_final(prov.admin, rid)
    assert done["state"] == "done", done
    return rid


def servers(prov: ProvPlane, system: str) -> dict[str, list[Any]]:
    """Every server named ``<system>-...`` in every region (all projects), by region."""
    out: dict[str, list[Any]] = {}
    for region in NETWORKS:
        conn = prov.cloud(region)
        try:
            out[region] = sorted((s for s in conn.compute.servers(all_projects=True)
                                  if s.name.startswith(f"{system}-")), key=lambda s: s.name)
        finally:
            conn.close()
    return out


def submit(api: ApiClient, department: str, system: str, verb: str,
           body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = api.post(f"/systems/{department}/{system}/{verb}", body)
    return answer


def run(prov: ProvPlane, department: str, system: str, verb: str,
        body: dict[str, Any]) -> dict[str, Any]:
    """Submit as the operator, approve as the admin, wait until final."""
    rid = submit(prov.operator, department, system, verb, body)["id"]
    prov.admin.post(f"/requests/{rid}/approve")
    return wait_final(prov.admin, rid)


def wait_phase(api: ApiClient, rid: int, phase: str, timeout: float = WAIT) -> dict[str, Any]:
    """Wait until request ``rid`` is in ``phase`` (or final: then it is returned as it is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r: dict[str, Any] = api.get(f"/requests/{rid}")
        if r.get("phase") == phase or r["state"] in ("done", "failed", "rejected",
                                                      "cancelled"):
            return r
        time.sleep(0.1)
    raise AssertionError(f"request {rid} never reached {phase}: {api.get(f'/requests/{rid}')}")
