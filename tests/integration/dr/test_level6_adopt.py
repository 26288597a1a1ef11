"""DR level 6 and adopted systems on the simulator over HTTP (docs/dr.md, "Synchronous
replication: DR level 6" and "Adopted systems"):

- a level-6 system of gd-psd: its copies are synchronous; after each protection cycle the
  worker checks the copy server's volumes in the DR site against the replicated volume type
  (a Cinder volume type of the simulator): a copy with a volume of another type, or with no
  volume, is non-compliant with the reason; once its volume is of the replicated type its
  RPO is 0 by replication (`govcloud dr posture` says so);
- a production server no provisioning request made, adopted with `govcloud dr adopt`: the
  system gets the department's DR level and shows in the posture with its copies judged —
  missing, as it has none."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from govcloud.cloud import dr_volumes as cinder
from govcloud.cloud.connect import connect
from govcloud.cloud.provision import project_connection
from govcloud.demo.sandbox import Sandbox
from govcloud.domain.sites import default_sites
from govcloud.errors import Forbidden
from tests.integration.dr.protect_helpers import (
    DEPARTMENT,
    IMAGE,
    provision,
    sim_servers,
    wait_done,
)
from tests.integration.migrate.conftest import Plane
from tests.integration.migrate.waves import cli

pytestmark = pytest.mark.slow
SYSTEM, TYPE = "tax", "replicated-sync"  # gd-psd is DR level 6


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    from govcloud.workers.provision import start_provision_worker

    return start_provision_worker


def _site(plane: Plane, name: str) -> Any:
    assert plane.sim.clouds_yaml is not None
    return connect(next(s for s in default_sites() if s.name == name),
                   clouds_yaml=plane.sim.clouds_yaml)


@pytest.fixture
def local(plane: Plane) -> Iterator[Any]:
    conn = _site(plane, "DR-LOCAL")
    try:
        yield conn
    finally:
        conn.close()


def _row(plane: Plane, system: str, want: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The system's posture row once ``want`` holds (the held posture is judged again in the
    background after a change), or the last one read."""
    deadline = time.monotonic() + 20
    while True:
        rows = plane.admin.get("/dr/posture", department=DEPARTMENT)["systems"]
        row = next((r for r in rows if r["system"] == system), None)
        if row is not None and (want(row) or time.monotonic() > deadline):
            return row
        time.sleep(0.2)


def _protect(plane: Plane) -> dict[str, Any]:
    run = plane.admin.post("/dr/protect", {"department": DEPARTMENT, "system": SYSTEM})
    deadline = time.monotonic() + 120
    while not run["done"]:
        assert time.monotonic() < deadline, run["lines"]
        time.sleep(0.3)
        run = plane.admin.get(f"/dr/protect/{run['id']}")
    return run


def _volume(conn: Any, copy: Any, vtype: str | None) -> str:
    attrs: dict[str, Any] = {"size": 1, "name": f"{SYSTEM}-data-{vtype or 'plain'}"}
    if vtype:
        attrs["volume_type"] = vtype
    vol = conn.block_storage.create_volume(**attrs)
    cinder.wait_volume(conn, "DR-LOCAL", vol.id, timeout_s=30)
    cinder.attach_volume(conn, "DR-LOCAL", copy.id, vol.id, timeout_s=30)
    return str(vol.id)


def test_level_six_copies_are_judged_by_their_replicated_volumes(
        cli_env: Plane, sandboxes: Callable[[str], Sandbox], local: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    plane = cli_env
    plane.admin.post("/tenants/apply")
    assert plane.admin.post("/sync", {"full": True})["ok"]
    ops = plane.principal("operator")[1]
    assert plane.sim.clouds_yaml is not None
    provision(plane.sim.base_url, plane.sim.clouds_yaml,
              lambda body: int(ops.post("/requests", body)["id"]),
              lambda rid: plane.admin.post(f"/requests/{rid}/approve"),
              lambda rid: wait_done(plane.admin, rid), sandboxes, SYSTEM)
    rid = max(r["id"] for r in plane.admin.get("/requests")["requests"]
              if r["system"] == SYSTEM)
    copy = sim_servers(plane.sim.clouds_yaml, rid)["DR-LOCAL"]
    local.block_storage.create_type(name=TYPE, extra_specs={"replication_enabled": "<is> True"})
    project = project_connection(local, "DR-LOCAL", copy.project_id)
    plain = _volume(project, copy, None)
    assert plane.admin.post("/sync", {"full": True})["ok"]

    run = _protect(plane)
    assert all(c["status"] == "ok" for c in run["cycles"]), run["cycles"]
    assert any(f"volume {plain} (" in line and f"not the replicated type '{TYPE}'" in line
               for line in run["lines"]), run["lines"]
    row = _row(plane, SYSTEM, lambda r: any("not replicated" in x for x in r["reasons"]))
    assert row["level"] == 6 and row["target_rpo_s"] == 0
    assert row["verdict"] == "non-compliant"
    assert [(c["site"], c["replication"], c["rpo_s"]) for c in row["copies"]] == [
        ("DR-LOCAL", "synchronous", None), ("DR-REMOTE", "synchronous", None)]
    reasons = "\n".join(row["reasons"])
    assert (f"DR-LOCAL (hot copy): not replicated synchronously: DR-LOCAL/{SYSTEM}-app-1: "
            f"volume {plain} (/dev/vdb) is of type") in reasons
    assert (f"DR-REMOTE (cold copy): not replicated synchronously: DR-REMOTE/{SYSTEM}-app-1 "
            f"has no volume attached") in reasons

    # its data moved to a volume of the replicated type: RPO 0 by replication in DR-LOCAL
    project.compute.delete_volume_attachment(copy.id, plain)
    cinder.wait_volume(project, "DR-LOCAL", plain, timeout_s=30)
    _volume(project, copy, TYPE)
    run = _protect(plane)
    assert any(f"DR-LOCAL/{SYSTEM}-app-1: 1 volumes of the replicated type {TYPE}" in line
               for line in run["lines"]), run["lines"]
    row = _row(plane, SYSTEM, lambda r: r["copies"][0]["rpo_s"] == 0)
    assert [(c["site"], c["rpo_s"]) for c in row["copies"]] == [("DR-LOCAL", 0),
                                                                ("DR-REMOTE", None)]
    assert not any(x.startswith("DR-LOCAL") for x in row["reasons"]), row["reasons"]
    code, out, err = cli(capsys, "dr", "posture", "--department", DEPARTMENT)
    assert code == 0, err
    line = next(x for x in out.splitlines() if f" {SYSTEM} " in x)
    assert "DR-LOCAL hot present, RPO 0 by replication" in line
    assert "DR-REMOTE cold present, not replicated" in line


def test_an_adopted_system_is_protected_at_its_departments_level(
        cli_env: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    plane = cli_env
    plane.admin.post("/tenants/apply")
    prod = _site(plane, "PROD")
    try:  # a server made outside govcloud, in the department's project
        project_id = next(p.id for p in prod.identity.projects() if p.name == DEPARTMENT)
        conn = project_connection(prod, "PROD", project_id)
        net = conn.network.find_network("prod-net")
        server = conn.compute.create_server(
            name="legacy-web", flavorRef=conn.compute.find_flavor("gc.c2m4").id,
            imageRef=conn.image.find_image(IMAGE).id, networks=[{"uuid": net.id}])
        conn.compute.wait_for_server(server, wait=30)
    finally:
        prod.close()
    assert plane.admin.post("/sync", {"full": True})["ok"]
    _, viewer = plane.principal("department-viewer", department=DEPARTMENT)
    with pytest.raises(Forbidden):
        viewer.post("/dr/adopt", {"department": DEPARTMENT, "system": "legacy",
                                  "servers": ["legacy-web"]})
    code, _, err = cli(capsys, "dr", "adopt", DEPARTMENT, "legacy", "--member", "nope")
    assert code == 4 and "not in PROD for department gd-psd: 'nope'" in err
    code, out, err = cli(capsys, "dr", "adopt", DEPARTMENT, "legacy", "--member",
                         "legacy-web")
    assert code == 0, err
    assert "adopted gd-psd/legacy at DR level 6: 1 servers in PROD (legacy-web)" in out
    row = _row(plane, "legacy", lambda r: True)
    assert (row["level"], row["verdict"], row["members"]) == (6, "non-compliant", 1)
    assert [(c["site"], c["state"]) for c in row["copies"]] == [("DR-LOCAL", "missing"),
                                                                ("DR-REMOTE", "missing")]
    assert "DR-LOCAL (hot copy): 1 of 1 servers missing (legacy-web)" in row["reasons"]
    assert "DR-REMOTE (cold copy): 1 of 1 servers missing (legacy-web)" in row["reasons"]
