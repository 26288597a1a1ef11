"""A drill refuses a system whose copy's latest recovery point it cannot bring up apart from
the copy (docs/dr.md, "Drills", snapshot_prod), on the simulator over HTTP: a hot or warm
copy's file-sync point lives on the running copy's own disk (no image, no Cinder backup), so
the drill fails at its first step with the reason and a hint, makes nothing and leaves
nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from govcloud.domain.drills import RUNNING_COPY_HINT
from govcloud.domain.recovery import Artifact, ArtifactKind, PointKind, PointRecord, manifest_digest
from govcloud.store import protection_repo
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from tests.integration.dr.drills import (
    DATA,
    DEPARTMENT,
    SITE,
    approved_drill,
    leftovers,
    provisioned,
)
from tests.integration.migrate.conftest import Plane
from tests.integration.migrate.waves import cli

pytestmark = pytest.mark.slow
SYSTEM = "rolls"


def test_a_drill_of_a_running_copys_file_sync_point_is_refused_with_a_hint(
        cli_env: Plane,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    plane = cli_env
    operator, made = provisioned(plane, SYSTEM, "ops-refused-drill")
    copy_id = made[SITE]
    manifest = ((f"{DATA}/a.db", "sha256:" + hashlib.sha256(b"a").hexdigest()),)
    with write_begin(plane.engine) as db:  # a file sync whose data is on the copy's own disk
        point_id = protection_repo.add_recovery_point(db, PointRecord(
            DEPARTMENT, SYSTEM, SITE, copy_id, utcnow() - timedelta(minutes=5),
            PointKind.FILE_SYNC, 1, manifest_digest(manifest),
            artifacts=(Artifact(ArtifactKind.SERVER, SITE, copy_id),), manifest=manifest))
    drill_id = approved_drill(plane, capsys, monkeypatch, operator, SYSTEM)
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
