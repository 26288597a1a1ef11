"""Protection cycles end to end (issue 19, "Data protection"), over real HTTP on the simulator
with real sshd sandboxes and real ansible-runner: ``govcloud dr protect`` syncs a production
guest's data to its hot copy (running) and its cold copy (unshelved for the cycle, shelved and
offloaded again), verifies both against the guest's checksum manifest and records an ok
recovery point each; a failed transfer records partial points, keeps the last good ones as the
latest and still shelves the cold copy again; the protection worker then retries with backoff
and brings both copies current, cutting the history to its retention; a stopped warm copy is
started for its cycle and stopped again."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from govcloud.client import ApiClient
from govcloud.cloud.connect import connect
from govcloud.demo.sandbox import Sandbox, write_files
from govcloud.domain.recovery import ArtifactKind, PointStatus
from govcloud.domain.sites import default_sites
from govcloud.errors import Forbidden
from govcloud.services.protection import failing_copies
from govcloud.store.tables import AuditEntryRow
from govcloud.workers.protection import start_protection_worker
from tests.integration.dr.protect_helpers import (
    DEPARTMENT,
    data,
    history,
    latest,
    local_plane,
    manifest,
    provision_system,
    server_status,
    system_servers,
)
from tests.integration.migrate.conftest import Plane
from tests.integration.migrate.waves import cli
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def test_a_cycle_syncs_and_verifies_the_hot_and_the_cold_copy(
        cli_env: Plane, ops: ApiClient, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str]) -> None:
    plane = cli_env
    boxes = provision_system(plane, ops, sandboxes, "ledger")
    assert server_status(plane, "ledger", "DR-REMOTE") == "SHELVED_OFFLOADED"
    code, out, err = cli(capsys, "dr", "protect", "--department", DEPARTMENT,
                         "--system", "ledger")
    assert code == 0, out + err
    assert "protecting 2 copy servers" in out
    assert "DR-REMOTE/ledger-app-1: bringing the cold copy up (SHELVED_OFFLOADED)" in out
    assert "DR-REMOTE/ledger-app-1: shelved and offloaded again" in out
    assert "verified 3 files" in out and "2 of 2 cycles ok" in out
    # both copies hold exactly the production guest's data
    prod = data(boxes["PROD"])
    assert len(prod) == 3
    assert data(boxes["DR-LOCAL"]) == prod and data(boxes["DR-REMOTE"]) == prod
    # each recorded an ok point with the guest's manifest and where the data is held
    points = latest(plane.engine, "ledger")
    assert set(points) == {"DR-LOCAL", "DR-REMOTE"}
    expected = {f"/srv/app/{path}": f"sha256:{digest}" for path, digest in prod.items()}
    for point in points.values():
        assert point.status is PointStatus.OK and point.id is not None
        assert manifest(plane.engine, point.id) == expected
        assert point.size_bytes > 0
    (hot,) = points["DR-LOCAL"].artifacts
    assert (hot.kind, hot.site, hot.id) == (ArtifactKind.SERVER, "DR-LOCAL",
                                            points["DR-LOCAL"].server_id)
    (cold,) = points["DR-REMOTE"].artifacts
    assert (cold.kind, cold.site) == (ArtifactKind.IMAGE, "DR-REMOTE")
    # the cold copy holds no compute capacity again, and its image is the new shelved one
    servers = system_servers(plane, "ledger")
    assert servers["DR-REMOTE"].status == "SHELVED_OFFLOADED"
    assert servers["DR-LOCAL"].status == "ACTIVE"
    assert cold.id != points["DR-LOCAL"].server_id
    # the run is audited, per department
    with Session(plane.engine) as session:
        entries = session.exec(select(AuditEntryRow).where(
            AuditEntryRow.action == "dr.protect")).all()
    assert any(e.target == f"department:{DEPARTMENT}" for e in entries)
    # --json: the run's answer, each cycle with its point
    code, out, err = cli(capsys, "dr", "protect", "--system", "ledger", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["done"] and [c["status"] for c in answer["cycles"]] == ["ok", "ok"]
    assert {c["files"] for c in answer["cycles"]} == {3}
    # clear refusals: nothing to protect, a relative path, a viewer
    code, _, err = cli(capsys, "dr", "protect", "--system", "nosuch")
    assert code == 4 and "no DR copy to protect for system 'nosuch'" in err
    assert "govcloud dr posture" in err
    code, _, err = cli(capsys, "dr", "protect", "--system", "ledger", "--path", "srv")
    assert code == 2 and "must be an absolute path" in err
    _, viewer = plane.principal("department-viewer", department=DEPARTMENT)
    with pytest.raises(Forbidden):
        viewer.post("/dr/protect", {"system": "ledger"})


def _failing_rsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """rsync on PATH that copies nothing and exits 23 (a partial transfer); the PATH
    before."""
    original = os.environ["PATH"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rsync").write_text("#!/bin/sh\necho 'rsync: partial transfer' >&2\nexit 23\n")
    (bin_dir / "rsync").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{original}")
    return original


def test_a_failed_transfer_keeps_the_last_good_point_and_shelves_the_cold_copy_again(
        cli_env: Plane, ops: ApiClient, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, plane_settings: dict[str, Any]) -> None:
    plane = cli_env
    boxes = provision_system(plane, ops, sandboxes, "cases")
    assert cli(capsys, "dr", "protect", "--system", "cases")[0] == 0
    good = latest(plane.engine, "cases")
    before = data(boxes["PROD"])
    write_files(boxes["PROD"].root, "/srv/app", {"ledger.db": b"M" * 60_000})
    original_path = _failing_rsync(tmp_path, monkeypatch)
    code, out, err = cli(capsys, "dr", "protect", "--system", "cases")
    assert code == 1, out + err
    assert "0 of 2 cycles ok" in out and "PARTIAL" in out and "hint:" in out
    # the last good points are still the latest; the failed cycles are in the history
    assert latest(plane.engine, "cases") == good
    for site, point in good.items():
        newest = history(plane.engine, site, point.server_id)[0]
        assert newest.status is PointStatus.PARTIAL
        assert newest.error is not None and "the sync did not finish" in newest.error
        assert newest.manifest_digest is None and not newest.artifacts
    assert data(boxes["DR-LOCAL"]) == before == data(boxes["DR-REMOTE"])
    # the cold copy was shelved and offloaded again all the same
    assert server_status(plane, "cases", "DR-REMOTE") == "SHELVED_OFFLOADED"
    failing = {(f.site, f.server_id): f for f in failing_copies(plane.engine)
               if f.system == "cases"}
    assert {f.failures for f in failing.values()} == {1}
    assert all("did not finish" in (f.error or "") for f in failing.values())

    # the worker retries after the backoff (short here) and brings both copies current
    monkeypatch.setenv("PATH", original_path)
    worker_plane = local_plane(plane, plane_settings, dr_protect_worker=True,
                               dr_protect_tick_s=0.5, dr_protect_backoff_s=0.5,
                               dr_protect_keep=2)
    stop = start_protection_worker(worker_plane)
    try:
        wait_until(lambda: all(latest(plane.engine, "cases")[s].taken_at > p.taken_at
                               for s, p in good.items()), 120, "the retried cycles")
    finally:
        stop()
    assert data(boxes["DR-LOCAL"]) == data(boxes["PROD"]) == data(boxes["DR-REMOTE"])
    assert server_status(plane, "cases", "DR-REMOTE") == "SHELVED_OFFLOADED"
    assert not [f for f in failing_copies(plane.engine) if f.system == "cases"]
    # the history keeps the newest 2 cycles (ok, partial): the first good point went
    for site, point in latest(plane.engine, "cases").items():
        kept = history(plane.engine, site, point.server_id)
        assert [p.status for p in kept] == [PointStatus.OK, PointStatus.PARTIAL]
        assert kept[0].id == point.id and good[site].id not in {p.id for p in kept}


def test_a_stopped_warm_copy_is_started_for_its_cycle_and_stopped_again(
        cli_env: Plane, ops: ApiClient, sandboxes: Callable[[str], Sandbox],
        plane_settings: dict[str, Any]) -> None:
    plane = cli_env
    assert plane.sim.clouds_yaml is not None
    boxes = provision_system(plane, ops, sandboxes, "permits")
    # a policy whose level-6 standby is warm (stopped); the standby is stopped in the cloud
    conn = connect(next(s for s in default_sites() if s.name == "DR-LOCAL"),
                   clouds_yaml=plane.sim.clouds_yaml)
    try:
        standby = system_servers(plane, "permits")["DR-LOCAL"]
        conn.compute.stop_server(standby.id)
        wait_until(lambda: conn.compute.get_server(standby.id).status == "SHUTOFF", 30,
                   "the standby stopped")
    finally:
        conn.close()
    assert plane.admin.post("/sync", {"full": True})["ok"]
    protector = local_plane(plane, plane_settings, dr_protection={"levels": {"6": {"copies": [
        {"site_role": "same-city-dr", "kind": "warm"},
        {"site_role": "remote-dr", "kind": "cold"}]}}}).protector
    (warm,) = [c for c in protector.copies(system="permits") if c.site == "DR-LOCAL"]
    assert (warm.kind.value, warm.status) == ("warm", "SHUTOFF")
    lines: list[str] = []
    result = protector.cycle(warm, progress=lines.append)
    assert result.point is not None and result.point.status is PointStatus.OK, result
    assert "DR-LOCAL/permits-app-1: bringing the warm copy up (SHUTOFF)" in lines
    assert "DR-LOCAL/permits-app-1: stopped again" in lines
    assert data(boxes["DR-LOCAL"]) == data(boxes["PROD"])
    assert server_status(plane, "permits", "DR-LOCAL") == "SHUTOFF"
    assert latest(plane.engine, "permits")["DR-LOCAL"].id == result.point.id
