"""Protection in the reverse direction (docs/dr.md, "Reprotect: protection reversed"), end to
end on the simulator with real sshd sandboxes and the real playbooks: a level-5 system of
gd-hrss fails over to its hot copy in DR-LOCAL; until it is reprotected nothing protects it
(non-compliant, no copy server to protect); after reprotect the protection cycle copies from
the new active site to the old production server (a warm copy: started for the cycle, stopped
again), records the recovery point for that reversed pair, and the posture judges the
reversed plan; failback's final cycle is that reversed cycle, and afterwards the system is
protected and judged in its normal direction again."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from govcloud.client import ApiClient
from govcloud.demo.sandbox import Sandbox, write_files
from tests.integration.dr.protect_helpers import (
    DATA,
    data,
    history,
    provision,
    sim_servers,
    wait_done,
)
from tests.integration.migrate.conftest import Plane
from tests.integration.migrate.waves import cli

pytestmark = pytest.mark.slow
DEPARTMENT, SYSTEM = "gd-hrss", "payroll"  # DR level 5: hot DR-LOCAL, cold DR-REMOTE


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    from govcloud.workers.provision import start_provision_worker

    return start_provision_worker


def _posture(plane: Plane) -> dict[str, Any]:
    answer = plane.admin.get("/dr/posture", department=DEPARTMENT)
    (row,) = [s for s in answer["systems"] if s["system"] == SYSTEM]
    return row


def _fresh_posture(plane: Plane, want: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The posture once the held one was judged again after the change (at most a few
    reads: the server rebuilds it in the background)."""
    import time

    deadline = time.monotonic() + 20
    while True:
        row = _posture(plane)
        if want(row) or time.monotonic() > deadline:
            return row
        time.sleep(0.2)


def _protect(ops: ApiClient) -> list[dict[str, Any]]:
    import time

    run = ops.post("/dr/protect", {"department": DEPARTMENT, "system": SYSTEM})
    deadline = time.monotonic() + 120
    while not run["done"]:
        assert time.monotonic() < deadline, run["lines"]
        time.sleep(0.3)
        run = ops.get(f"/dr/protect/{run['id']}")
    return list(run["cycles"])


def test_reprotect_reverses_protection_and_failback_restores_it(
        cli_env: Plane, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str]) -> None:
    plane = cli_env
    plane.admin.post("/tenants/apply")
    assert plane.admin.post("/sync", {"full": True})["ok"]
    ops = plane.principal("operator")[1]
    assert plane.sim.clouds_yaml is not None
    boxes = provision(plane.sim.base_url, plane.sim.clouds_yaml,
                      lambda body: int(ops.post("/requests", body)["id"]),
                      lambda rid: plane.admin.post(f"/requests/{rid}/approve"),
                      lambda rid: wait_done(plane.admin, rid), sandboxes, SYSTEM, DEPARTMENT)
    assert plane.admin.post("/sync", {"full": True})["ok"]
    rid = max(r["id"] for r in plane.admin.get("/requests")["requests"]
              if r["system"] == SYSTEM)
    ids = {site: s.id for site, s in sim_servers(plane.sim.clouds_yaml, rid).items()}
    confirm = ("--department", DEPARTMENT, "--confirm", SYSTEM)

    code, out, err = cli(capsys, "dr", "failover", SYSTEM, "--to", "DR-LOCAL", *confirm,
                         "--json")
    assert code == 0, out + err
    assert json.loads(out)["state"] == "done"
    assert plane.admin.post("/sync", {"full": True})["ok"]
    # failed over, not reprotected: nothing protects it, and the posture says so
    row = _fresh_posture(plane, lambda r: "after a failover" in r["reasons"][0])
    assert row["verdict"] == "non-compliant"
    assert row["reasons"][0] == ("serving from DR-LOCAL after a failover: no copy protects "
                                 "it until `govcloud dr reprotect`")
    assert row["copies"] == []

    code, out, err = cli(capsys, "dr", "reprotect", SYSTEM, *confirm)
    assert code == 0, out + err
    # the service now writes in DR-LOCAL; the cycle carries it to the old production server
    write_files(boxes["DR-LOCAL"].root, DATA, {"after-failover.txt": b"written in DR-LOCAL\n"})
    (cycle,) = _protect(ops)
    assert (cycle["site"], cycle["kind"], cycle["server_id"], cycle["status"]) == (
        "PROD", "warm", ids["PROD"], "ok"), cycle
    assert data(boxes["PROD"]) == data(boxes["DR-LOCAL"])
    assert "after-failover.txt" in data(boxes["PROD"])
    (point, *_) = history(plane.engine, "PROD", ids["PROD"])
    assert (point.status.value, point.system, point.id) == ("ok", SYSTEM, cycle["point_id"])
    # a warm copy: started for its cycle, stopped again
    assert str(sim_servers(plane.sim.clouds_yaml, rid)["PROD"].status) == "SHUTOFF"
    assert plane.admin.post("/sync", {"full": True})["ok"]
    row = _fresh_posture(plane, lambda r: bool(r["copies"]) and
                         r["copies"][0]["recovery_point"] is not None)
    assert [(c["site"], c["kind"], c["state"]) for c in row["copies"]] == [
        ("PROD", "warm", "present")]
    assert row["copies"][0]["rpo_s"] is not None and row["copies"][0]["rpo_s"] < 600
    assert not any("PROD" in r and ("missing" in r or "no recovery point" in r)
                   for r in row["reasons"]), row["reasons"]

    code, out, err = cli(capsys, "dr", "failback", SYSTEM, *confirm, "--json")
    assert code == 0, out + err
    back = json.loads(out)
    # failback's final cycle is the reversed cycle: PROD's copy brought current first
    final = next(s for s in back["steps"] if s["step"] == "final_cycle")
    assert final["status"] == "succeeded" and "point #" in final["output"], final
    assert plane.admin.post("/sync", {"full": True})["ok"]
    row = _fresh_posture(plane, lambda r: [c["site"] for c in r["copies"]] ==
                         ["DR-LOCAL", "DR-REMOTE"])
    assert [c["site"] for c in row["copies"]] == ["DR-LOCAL", "DR-REMOTE"]
    # normal direction again: the copies in the DR sites are what a cycle protects
    cycles = _protect(ops)
    assert sorted((c["site"], c["status"]) for c in cycles) == [("DR-LOCAL", "ok"),
                                                                ("DR-REMOTE", "ok")]
