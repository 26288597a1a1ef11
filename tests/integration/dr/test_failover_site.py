"""A whole site failed over in waves, on the simulator over HTTP with real sshd sandboxes and
the real playbooks: production down, ``govcloud dr failover --site PROD --unplanned`` fails
gd-hrss/payroll (DR level 5, its hot standby in DR-LOCAL) over in the first wave and
gd-agri/ledger (level 3, its cold copy in DR-REMOTE) in the second, only once the first is
done; run again, nothing is left to fail over. A module of its own: its own control plane,
so that only these systems are in production."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from govcloud.cli import main
from govcloud.demo.sandbox import Sandbox, write_files
from tests.integration.control.provisioning_plane import request, wait_final

from .conftest import Plane

pytestmark = pytest.mark.slow
FILES = {"app.db": b"A" * 4000}


def provision(plane: Plane, sandboxes: Callable[[str], Sandbox], department: str,
              system: str, copies: int) -> dict[str, str]:
    """One server of ``system`` in PROD and one per copy, each backed by a sandbox."""
    boxes = [sandboxes(f"{system}-{n}") for n in range(copies + 1)]
    for box in boxes:
        write_files(box.root, "/srv/app", FILES)
    answer = httpx.post(f"{plane.sim.base_url}/_sim/sandboxes",
                        json={"sandboxes": [b.endpoint() for b in boxes]}, timeout=10)
    assert answer.status_code == 200
    rid = plane.admin.post("/requests", request(system, count=1, department=department))["id"]
    plane.approver.post(f"/requests/{rid}/approve")
    assert wait_final(plane.admin, rid)["state"] == "done"
    return {s["site"]: s["server_id"] for s in plane.admin.get(f"/requests/{rid}")["servers"]}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_site_fails_over_in_waves_by_dr_level(plane: Plane, cli_env: Plane,
                                                sandboxes: Callable[[str], Sandbox],
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    plane.admin.post("/tenants/apply")
    assert plane.admin.post("/sync", {"full": True})["ok"]
    payroll = provision(plane, sandboxes, "gd-hrss", "payroll", copies=2)
    ledger = provision(plane, sandboxes, "gd-agri", "ledger", copies=1)
    assert set(payroll) == {"PROD", "DR-LOCAL", "DR-REMOTE"} and set(ledger) == {
        "PROD", "DR-REMOTE"}
    assert plane.admin.post("/sync", {"full": True})["ok"]
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
    argv = ("dr", "failover", "--site", "PROD", "--confirm", "PROD", "--unplanned")
    assert httpx.post(f"{plane.sim.base_url}/_sim/regions/PROD/down", timeout=10).is_success
    try:
        code, out, err = cli(capsys, *argv, "--json")
    finally:
        httpx.post(f"{plane.sim.base_url}/_sim/regions/PROD/up", timeout=10)
    assert code == 0, out + err
    answer = json.loads(out)
    assert answer["done"] and answer["site"] == "PROD"
    by = {f["system"]: f for f in answer["failovers"]}
    assert (by["payroll"]["target"], by["ledger"]["target"]) == ("DR-LOCAL", "DR-REMOTE")
    assert all(f["state"] == "done" and f["kind"] == "unplanned" for f in by.values())
    # wave 2 started only once wave 1 was done
    assert by["payroll"]["finished_at"] <= by["ledger"]["started_at"]
    hot = next(s for s in by["payroll"]["steps"] if s["step"] == "promote")
    assert "was ACTIVE already" in hot["output"]  # a hot standby runs already
    cold = next(s for s in by["ledger"]["steps"] if s["step"] == "promote")
    assert "unshelve" in cold["output"]
    # run again: every system serves elsewhere, nothing is left to fail over
    code, out, err = cli(capsys, *argv)
    assert code == 0, out + err
    assert "no protected system to fail over from PROD" in out and "0 of 0" in out
