"""kill -9 of the control plane in the middle of a failover, for real: ``govcloud serve`` runs
as a process and is killed while the failover waits for the copy it is unshelving (the
promote step is recorded as running). On restart, running the same failover again takes the
dead run over and resumes at that step, to the end: the copy serves, production is stopped,
the endpoint record points at the copy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcloud.cli import main
from govcloud.cloud.connect import connect
from govcloud.demo.sandbox import Sandbox, make_key, write_files
from govcloud.domain.sites import default_sites
from govcloud.sim.server import RunningSimulator, start
from tests.integration.control.conftest import small_catalogue
from tests.integration.control.provisioning_plane import request
from tests.served import ServedPlane

pytestmark = pytest.mark.slow
DEPARTMENT, SYSTEM, SITE = "gd-agri", "ledger", "DR-REMOTE"


class Served(ServedPlane):
    sim: RunningSimulator
    admin: str
    operator: str


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    clouds_yaml = tmp_path / "clouds.yaml"
    # servers take 3 s to build or unshelve: the kill lands while the copy is unshelved
    sim = start(scale="small", seed=42, clouds_yaml=clouds_yaml, build_delay=3.0)
    key = make_key(tmp_path / "keys" / "id_ed25519")
    s = Served(tmp_path, database_url=f"sqlite:///{tmp_path / 'govcloud.db'}",
               catalogue=small_catalogue(tmp_path / "tenants"), clouds_yaml=clouds_yaml,
               env={"GOVCLOUD_MIGRATE_DIR": str(tmp_path / "state"),
                    "GOVCLOUD_SSH_KEY": str(key), "GOVCLOUD_MIGRATE_PYTHON": "/usr/bin/python3",
                    "GOVCLOUD_MIGRATE_STALE_AFTER_S": "2",
                    "GOVCLOUD_PROVISION_ACTIVE_TIMEOUT_S": "60"})
    s.sim = sim
    boxes: list[Sandbox] = []
    try:
        s.admin = s.bootstrap()
        s.serve()
        s.operator = s.principal(s.admin, "ops-failover", "operator")
        for name in ("a", "b"):
            box = Sandbox(name, tmp_path / "hosts" / name, Path(str(key) + ".pub")).start()
            write_files(box.root, "/srv/ledger", {"ledger.db": b"L" * 3000})
            boxes.append(box)
        httpx.post(f"{sim.base_url}/_sim/sandboxes",
                   json={"sandboxes": [b.endpoint() for b in boxes]},
                   timeout=10).raise_for_status()
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
        monkeypatch.setenv("GOVCLOUD_SERVER", s.url)
        monkeypatch.setenv("GOVCLOUD_TOKEN", s.operator)
        yield s
    finally:
        s.stop()
        for box in boxes:
            box.stop()
        sim.stop()


def _status(served: Served, region: str, server_id: str) -> str:
    site = next(x for x in default_sites() if x.name == region)
    conn = connect(site, clouds_yaml=served.clouds_yaml)
    try:
        return str(conn.compute.get_server(server_id).status)
    finally:
        conn.close()


def _provisioned(served: Served) -> dict[str, str]:
    served.api(served.admin, "POST", "/tenants/apply")
    assert served.api(served.admin, "POST", "/sync", {"full": True})["ok"]
    rid = served.api(served.operator, "POST", "/requests",
                     request(SYSTEM, count=1, department=DEPARTMENT))["id"]
    served.api(served.admin, "POST", f"/requests/{rid}/approve")
    deadline = time.monotonic() + 120
    while served.api(served.admin, "GET", f"/requests/{rid}")["state"] != "done":
        assert time.monotonic() < deadline, served.api(served.admin, "GET", f"/requests/{rid}")
        time.sleep(0.3)
    assert served.api(served.admin, "POST", "/sync", {"full": True})["ok"]
    return {s["site"]: s["server_id"] for s in served.api(served.admin, "GET",
                                                          f"/requests/{rid}")["servers"]}


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _step(served: Served, failover_id: int, step: str) -> str:
    shown: dict[str, Any] = served.api(served.admin, "GET", f"/dr/failovers/{failover_id}")
    return str(next(s["status"] for s in shown["steps"] if s["step"] == step))


def test_kill_9_mid_failover_then_the_same_failover_resumes(
        served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    made = _provisioned(served)
    argv = ("dr", "failover", SYSTEM, "--department", DEPARTMENT, "--to", SITE,
            "--confirm", SYSTEM)
    code, out, err = _cli(capsys, *argv, "--no-wait", "--json")
    assert code == 0, out + err
    failover_id = int(json.loads(out)["failover"])
    deadline = time.monotonic() + 90
    while _step(served, failover_id, "promote") != "running":
        assert time.monotonic() < deadline, served.api(served.admin, "GET",
                                                       f"/dr/failovers/{failover_id}")
        time.sleep(0.1)
    assert served.proc is not None
    served.proc.kill()  # SIGKILL: no release, the heartbeat stops mid-promote
    served.proc.wait(10)
    served.serve()
    shown = served.api(served.admin, "GET", f"/dr/failovers/{failover_id}")
    assert shown["state"] == "running" and shown["running"]  # as the dead process left it
    time.sleep(2.5)  # the dead run's heartbeat is stale (GOVCLOUD_MIGRATE_STALE_AFTER_S=2)
    code, out, err = _cli(capsys, *argv, "--json")
    assert code == 0, out + err
    resumed = json.loads(out)
    assert resumed["id"] == failover_id and resumed["state"] == "done", \
        json.dumps(resumed["steps"], indent=1)
    steps = {s["step"]: s for s in resumed["steps"]}
    assert [steps[s]["status"] for s in ("freeze", "final_cycle", "stop_primary", "promote",
                                         "move_endpoint", "verify")] == [
        "succeeded", "succeeded", "succeeded", "succeeded", "succeeded", "succeeded"]
    assert "final protection cycle: " in steps["final_cycle"]["output"]
    assert _status(served, SITE, made[SITE]) == "ACTIVE"
    assert _status(served, "PROD", made["PROD"]) == "SHUTOFF"
    assert list(resumed["endpoints"]) == [f"{SYSTEM}-app-1"]
