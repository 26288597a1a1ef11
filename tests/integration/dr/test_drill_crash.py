"""kill -9 of the control plane in the middle of a drill, for real: ``govcloud serve`` runs as
a process and is killed while the drill waits for the server it booted from the recovery
point (the server exists in the DR site, the run's step is recorded as running). On restart
``govcloud dr drill cleanup`` removes everything the dead run made — nothing is left in any
region, the drill is recorded as failed with its evidence — and ``govcloud dr drill run``
resumes another such drill at the step that did not finish, to a pass."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from govcloud.demo.sandbox import Sandbox, write_files
from govcloud.store.engine import make_engine
from tests.integration.migrate.waves import cli

from .crash_plane import Served, served_plane
from .drills import DATA, DEPARTMENT, SITE, SYSTEM, leftovers, record_point

pytestmark = pytest.mark.slow
FILES = {"ledger.db": b"L" * 5000}


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with served_plane(tmp_path, monkeypatch, "ops-drill") as s:
        yield s


def _protected(served: Served) -> None:
    """gd-agri/ledger built by provisioning, its cold copy's recovery point recorded."""
    served.api(served.admin, "POST", "/tenants/apply")
    assert served.api(served.admin, "POST", "/sync", {"full": True})["ok"]
    copy = served.provision(DEPARTMENT, SYSTEM, wait_s=120)[SITE]
    engine = make_engine(served.db)
    try:
        record_point(engine, served.clouds_yaml, copy, FILES, age=timedelta(minutes=5))
    finally:
        engine.dispose()


def _sandbox(served: Served, name: str) -> Sandbox:
    box = Sandbox(name, served.tmp / "hosts" / name,
                  Path(served.extra_env["GOVCLOUD_SSH_KEY"] + ".pub")).start()
    write_files(box.root, DATA, FILES)
    httpx.post(f"{served.sim.base_url}/_sim/sandboxes", json={"sandboxes": [box.endpoint()]},
               timeout=10).raise_for_status()
    return box


def _made(served: Served, drill_id: int) -> list[str]:
    return leftovers(served.clouds_yaml, drill_id)


def _planned(served: Served, capsys: pytest.CaptureFixture[str]) -> int:
    code, out, err = cli(capsys, "dr", "drill", "plan", DEPARTMENT, "--system", SYSTEM,
                         "--site", SITE, "--json")
    assert code == 0, out + err
    drill_id = int(json.loads(out)["id"])
    second: str = served._approver  # the second bureau-admin principal() added
    assert served.api(second, "POST", f"/dr/drills/{drill_id}/approve")["state"] == "approved"
    return drill_id


def _kill_while_booting(served: Served, capsys: pytest.CaptureFixture[str],
                        drill_id: int) -> None:
    code, out, err = cli(capsys, "dr", "drill", "run", str(drill_id), "--no-wait")
    assert code == 0, out + err
    deadline = time.monotonic() + 60
    while not any(" server " in x for x in _made(served, drill_id)):
        assert time.monotonic() < deadline, "the drill booted no server"
        time.sleep(0.1)
    assert served.proc is not None
    served.proc.kill()  # SIGKILL: no release, no teardown, the heartbeat stops
    served.proc.wait(10)
    served.serve()
    time.sleep(2.5)  # the dead run's heartbeat is stale (GOVCLOUD_MIGRATE_STALE_AFTER_S=2)


def test_kill_9_mid_drill_then_cleanup_leaves_nothing_and_run_resumes(
        served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    _protected(served)
    _sandbox(served, "first")
    first = _planned(served, capsys)
    _kill_while_booting(served, capsys, first)
    left = _made(served, first)
    assert any(" server " in x for x in left) and any(" network " in x for x in left)
    shown = served.api(served.admin, "GET", f"/dr/drills/{first}")
    assert shown["state"] == "running"  # as the dead process left it
    code, out, err = cli(capsys, "dr", "drill", "cleanup", str(first))
    assert code == 0, out + err
    assert _made(served, first) == []
    shown = served.api(served.admin, "GET", f"/dr/drills/{first}")
    steps = {s["step"]: s["status"] for s in shown["steps"]}
    assert shown["state"] == "failed" and shown["evidence_sha256"]
    assert steps["bring_up"] == "interrupted"
    assert (steps["teardown"], steps["verify_leftovers"]) == ("succeeded", "succeeded")

    _sandbox(served, "second")
    second = _planned(served, capsys)
    _kill_while_booting(served, capsys, second)
    code, out, err = cli(capsys, "dr", "drill", "run", str(second), "--json")
    assert code == 0, out + err
    resumed = json.loads(out)
    assert resumed["state"] == "passed", json.dumps(resumed["steps"], indent=1)
    assert _made(served, second) == []
