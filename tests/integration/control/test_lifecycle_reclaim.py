"""The reclaim report end to end (docs/lifecycle.md, "Reclaim"): servers shut off in the
cloud and a volume left unattached are seen by the sync with since when; once they have
been idle longer than N days (the server's clock moved forward) they are reported per
department, with the system all of whose production members are shut off as a retirement
candidate; a scoped principal sees only its own department; the CLI prints the same.
SQLite and PostgreSQL, the simulator driven by unmodified openstacksdk."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from govcloud.api.models.lifecycle import Reclaim
from govcloud.cli import main
from govcloud.client import as_json
from govcloud.errors import GovCloudError
from govcloud.workers.provision import start_provision_worker

from .conftest import Plane
from .lifecycle_plane import provision, servers
from .provisioning_plane import ProvPlane

DEPARTMENT = "gd-data"


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    return {"provision_retries": 2, "provision_backoff_s": 0.05, "provision_poll_s": 0.2,
            "provision_active_timeout_s": 20}


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    return start_provision_worker


@pytest.fixture(scope="module")
def idle(plane: Plane) -> Iterator[ProvPlane]:
    """A system of gd-data whose running servers were shut off in the cloud, and a volume of
    the department attached to nothing; synced."""
    token = plane.add_principal("ops-reclaim", "operator")
    assert plane.admin.post("/sync", {"full": True})["ok"]
    assert plane.sim.clouds_yaml is not None
    prov = ProvPlane(plane.url, plane.engine, plane.sim, plane.admin, plane.client(token),
                     plane.sim.clouds_yaml, token)
    provision(prov, "idle", department=DEPARTMENT, count=1)
    for region in ("PROD", "DR-LOCAL"):
        conn = prov.cloud(region)
        try:
            for s in servers(prov, "idle")[region]:
                conn.compute.stop_server(s.id)
            deadline = time.monotonic() + 30
            while {conn.compute.get_server(s.id).status
                   for s in servers(prov, "idle")[region]} != {"SHUTOFF"}:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            conn.close()
    conn = prov.cloud("PROD")
    try:
        project = conn.identity.find_project(DEPARTMENT)
        scoped = conn.connect_as_project({"id": project.id, "name": project.name,
                                          "domain_id": project.domain_id})
        volume = scoped.block_storage.create_volume(size=5, name="left-behind")
        scoped.block_storage.wait_for_status(volume, "available", interval=0.1, wait=30)
    finally:
        conn.close()
    assert plane.admin.post("/sync", {"full": True})["ok"]
    yield prov
    plane.clock.offset = timedelta(0)


def _ours(answer: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in answer["departments"] if d["department"] == DEPARTMENT)


def test_idle_servers_and_volumes_are_reported_once_old_enough(idle: ProvPlane,
                                                              plane: Plane) -> None:
    plane.clock.offset = timedelta(0)  # (tests of the module run in any order)
    fresh = plane.admin.get("/reports/reclaim", days=1, department=DEPARTMENT)
    assert fresh["departments"] == [] or not (_ours(fresh)["servers"] or _ours(fresh)["volumes"])
    plane.clock.offset = timedelta(days=3)
    answer = plane.admin.get("/reports/reclaim", days=1)
    ours = _ours(answer)
    assert sorted((s["site"], s["name"]) for s in ours["servers"]) == [
        ("DR-LOCAL", "idle-app-1"), ("PROD", "idle-app-1")]
    assert all(2.9 <= s["days"] <= 3.1 for s in ours["servers"]), ours["servers"]
    assert {s["system"] for s in ours["servers"] if s["site"] == "PROD"} == {"idle"}
    assert "idle" in ours["systems"]
    assert [v["name"] for v in ours["volumes"]] == ["left-behind"]
    assert ours["vcpus"] >= 4 and ours["volume_gb"] >= 5
    assert "no traffic metric" in answer["traffic"]
    assert as_json(Reclaim.model_validate(answer)) == answer  # the model keeps every key
    longer = plane.admin.get("/reports/reclaim", days=10, department=DEPARTMENT)
    assert longer["departments"] == [] or not _ours(longer)["servers"]


def test_the_report_is_scoped_and_bounded(idle: ProvPlane, plane: Plane) -> None:
    _, own = plane.principal("department-viewer", department=DEPARTMENT)
    _, other = plane.principal("department-viewer", department="gd-edu")
    assert {d["department"] for d in own.get("/reports/reclaim", days=0)["departments"]} <= {
        DEPARTMENT}
    assert all(d["department"] != DEPARTMENT
               for d in other.get("/reports/reclaim", days=0)["departments"])
    with pytest.raises(GovCloudError, match="no department 'gd-data'") as err:
        other.get("/reports/reclaim", department=DEPARTMENT)
    assert err.value.http_status == 404
    for days in (-1, 1e9, "nan", "x"):
        with pytest.raises(GovCloudError) as err:
            plane.admin.get("/reports/reclaim", days=days)
        assert err.value.http_status == 422, days


def test_the_cli_prints_the_report(idle: ProvPlane, plane: Plane,
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GOVCLOUD_SERVER", plane.url)
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
    plane.clock.offset = timedelta(days=3)
    assert main(["report", "reclaim", "--department", DEPARTMENT, "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert "idle-app-1" in out and "left-behind" in out
    assert "govcloud system retire gd-data idle" in out
    assert main(["report", "reclaim", "--days", "1", "--json"]) == 0
    assert _ours(json.loads(capsys.readouterr().out))["systems"] == ["idle"]
    with pytest.raises(SystemExit) as usage:
        main(["report", "reclaim", "--days", "inf"])
    assert usage.value.code == 2
