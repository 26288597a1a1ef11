"""kill -9 of the control plane between a failover's restore of a Cinder backup and its
attach (docs/dr.md, "Failover restores the data"), for real: ``govcloud serve`` as a process
armed with the step machine's fault point ``failover:promote:restored``; gd-agri/ledger's
production server has a data volume, so the planned failover's final cycle is a volume cycle
and promote restores its backup in DR-REMOTE. The process dies with the volume restored and
not attached; served again, the same failover resumes and ends done, with that one volume
attached to the copy — no second restore, nothing left over."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from govcloud.cloud import dr_volumes as cinder
from govcloud.cloud.connect import connect
from govcloud.cloud.provision import project_connection
from govcloud.domain.sites import default_sites

from .crash_plane import CrashPlane, crash_plane

pytestmark = [pytest.mark.slow, pytest.mark.dr_crash_steps]
DEPARTMENT, SYSTEM, SITE = "gd-agri", "ledger", "DR-REMOTE"  # DR level 3: a cold copy
MEMBER = f"{SYSTEM}-app-1"
ASK = {"department": DEPARTMENT, "system": SYSTEM, "confirm": SYSTEM, "to": SITE}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashPlane]:
    with crash_plane(tmp_path_factory.mktemp("restore-crash")) as p:
        for name in ("prod", "copy"):
            p.sandbox(name, "/srv/ledger", {"ledger.db": b"L" * 3000})
        yield p


def _conn(plane: CrashPlane, region: str, server_id: str) -> Any:
    site = next(x for x in default_sites() if x.name == region)
    admin = connect(site, clouds_yaml=plane.clouds_yaml)
    return project_connection(admin, region, admin.compute.get_server(server_id).project_id)


def _restored(conn: Any) -> list[cinder.VolumeInfo]:
    return [cinder.get_volume_info(conn, SITE, str(v.id))
            for v in conn.block_storage.volumes(details=True)
            if str(v.name or "").startswith(f"{MEMBER}-restored-")]


def test_kill_9_between_restore_and_attach_resumes_with_one_volume(plane: CrashPlane) -> None:
    made = plane.provision(DEPARTMENT, SYSTEM)
    prod = _conn(plane, "PROD", made["PROD"])
    vol = cinder.create_volume(prod, "PROD", "ledger-data", size=1)
    cinder.wait_volume(prod, "PROD", vol, timeout_s=60)
    cinder.attach_volume(prod, "PROD", made["PROD"], vol, timeout_s=60)
    plane.kill_at("failover:promote:restored")
    first = plane.api(plane.operator, "POST", "/dr/failovers", ASK)
    failover_id = int(first["failover"])
    plane.died()
    shown = plane.api(plane.admin, "GET", f"/dr/failovers/{failover_id}")
    at = {s["step"]: s["status"] for s in shown["steps"]}
    assert shown["state"] == "running" and at["promote"] == "running", at
    dr = _conn(plane, SITE, made[SITE])
    (left,) = _restored(dr)  # what the dead run left: restored, not attached
    assert (left.status, left.attached_to) == ("available", ())
    again = plane.retry("POST", "/dr/failovers", ASK)
    assert (int(again["failover"]), again["resumed"]) == (failover_id, True)
    done = plane.until(f"/dr/failovers/{failover_id}",
                       lambda f: f["state"] != "running" and not f["running"])
    assert done["state"] == "done", done["steps"]
    promote = next(s["output"] for s in done["steps"] if s["step"] == "promote")
    assert f"{SITE} {MEMBER}: volume {left.id} restored from backup" in promote
    (after,) = _restored(dr)
    assert (after.id, after.status, after.attached_to) == (left.id, "in-use", (made[SITE],))
    assert [s for _, s in plane.servers(SITE, MEMBER)] == ["ACTIVE"]
