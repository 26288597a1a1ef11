"""A drill refuses a system whose copy's latest recovery point it cannot bring up apart from
the copy (docs/dr.md, "Drills", snapshot_prod), on the simulator over HTTP: a hot or warm
copy's file-sync point lives on the running copy's own disk (no image, no Cinder backup), so
the drill fails at its first step with the reason and a hint, makes nothing and leaves
nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest

from govcloud.cli import main
from govcloud.domain.drills import RUNNING_COPY_HINT
from govcloud.domain.recovery import Artifact, ArtifactKind, PointKind, PointRecord, manifest_digest
from govcloud.store import protection_repo
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from tests.integration.control.provisioning_plane import request, wait_final
from tests.integration.dr.drills import DATA, DEPARTMENT, SITE, leftovers
from tests.integration.migrate.conftest import Plane

pytestmark = pytest.mark.slow
SYSTEM = "rolls"


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    from govcloud.workers.provision import start_provision_worker

    return start_provision_worker


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_drill_of_a_running_copys_file_sync_point_is_refused_with_a_hint(
        cli_env: Plane,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    plane = cli_env
    plane.admin.post("/tenants/apply")
    assert plane.admin.post("/sync", {"full": True})["ok"]
    operator = plane.add_principal("ops-refused-drill", "operator")
    rid = plane.client(operator).post("/requests", request(SYSTEM, count=1,
                                                           department=DEPARTMENT))["id"]
    plane.admin.post(f"/requests/{rid}/approve")
    assert wait_final(plane.admin, rid)["state"] == "done"
    assert plane.admin.post("/sync", {"full": True})["ok"]
    copy_id = next(s["server_id"] for s in plane.admin.get(f"/requests/{rid}")["servers"]
                   if s["site"] == SITE)
    manifest = ((f"{DATA}/a.db", "sha256:" + hashlib.sha256(b"a").hexdigest()),)
    with write_begin(plane.engine) as db:  # a file sync whose data is on the copy's own disk
        point_id = protection_repo.add_recovery_point(db, PointRecord(
            DEPARTMENT, SYSTEM, SITE, copy_id, utcnow() - timedelta(minutes=5),
            PointKind.FILE_SYNC, 1, manifest_digest(manifest),
            artifacts=(Artifact(ArtifactKind.SERVER, SITE, copy_id),), manifest=manifest))
    monkeypatch.setenv("GOVCLOUD_TOKEN", operator)
    code, out, err = cli(capsys, "dr", "drill", "plan", DEPARTMENT, "--system", SYSTEM,
                         "--site", SITE, "--json")
    assert code == 0, out + err
    drill_id = int(json.loads(out)["id"])
    plane.admin.post(f"/dr/drills/{drill_id}/approve")
    code, out, err = cli(capsys, "dr", "drill", "run", str(drill_id), "--json")
    assert code != 0
    shown = json.loads(out)
    assert shown["state"] == "failed", json.dumps(shown["steps"], indent=1)
    first = shown["steps"][0]
    assert (first["step"], first["status"]) == ("snapshot_prod", "failed")
    assert (f"nothing to bring up in {SITE}: {SYSTEM}-app-1: its recovery point "
            f"#{point_id} (file-sync) is the running copy's own disk in {SITE}") in \
        first["output"]
    assert f"hint: {RUNNING_COPY_HINT}" in first["output"]
    assert plane.sim.clouds_yaml is not None
    assert leftovers(plane.sim.clouds_yaml, drill_id) == []
