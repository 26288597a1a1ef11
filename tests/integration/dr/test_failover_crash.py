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

from govcloud.cloud.connect import connect
from govcloud.demo.sandbox import Sandbox, write_files
from govcloud.domain.sites import default_sites
from tests.integration.dr.crash_plane import Served, served_plane
from tests.integration.migrate.waves import cli

pytestmark = pytest.mark.slow
DEPARTMENT, SYSTEM, SITE = "gd-agri", "ledger", "DR-REMOTE"


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with served_plane(tmp_path, monkeypatch, "ops-failover") as s:
        boxes: list[Sandbox] = []
        try:
            for name in ("a", "b"):
                box = Sandbox(name, tmp_path / "hosts" / name, Path(str(s.key) + ".pub")).start()
                write_files(box.root, "/srv/ledger", {"ledger.db": b"L" * 3000})
                boxes.append(box)
            httpx.post(f"{s.sim.base_url}/_sim/sandboxes",
                       json={"sandboxes": [b.endpoint() for b in boxes]},
                       timeout=10).raise_for_status()
            yield s
        finally:
            for box in boxes:
                box.stop()


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
    return served.provision(DEPARTMENT, SYSTEM, wait_s=120)


def _step(served: Served, failover_id: int, step: str) -> str:
    shown: dict[str, Any] = served.api(served.admin, "GET", f"/dr/failovers/{failover_id}")
    return str(next(s["status"] for s in shown["steps"] if s["step"] == step))


def test_kill_9_mid_failover_then_the_same_failover_resumes(
        served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    made = _provisioned(served)
    argv = ("dr", "failover", SYSTEM, "--department", DEPARTMENT, "--to", SITE,
            "--confirm", SYSTEM)
    code, out, err = cli(capsys, *argv, "--no-wait", "--json")
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
    code, out, err = cli(capsys, *argv, "--json")
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
