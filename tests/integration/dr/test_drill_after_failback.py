"""A DR drill of a system that was failed over, reprotected and failed back (issue 19, found on
the real cloud: docs/real-openstack.md, "A drill after a failback"). Nova deletes a shelved
server's snapshot image when it unshelves the server, so the failover's unshelve of the cold
copy deletes the image its recovery points name; failback shelves the copy again (a new image)
and records the copy's recovery point naming that image, so a drill after it boots from an
image that exists and finds the data of the failback's final cycle. Simulator over HTTP, real
sshd sandboxes, the real playbooks."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from govcloud.cli import main
from govcloud.demo.sandbox import Sandbox, write_files
from govcloud.domain.drills import DrillStep
from govcloud.services.cold_copy_points import record_reshelved
from govcloud.store import protection_repo

from .conftest import Plane
from .drills import leftovers
from .failovers import DATA, DEPARTMENT, FILES, SITE, cloud, pool, protect, server

pytestmark = pytest.mark.slow


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _images(plane: Plane) -> set[str]:
    conn = cloud(plane, SITE)
    try:
        return {str(i.id) for i in conn.image.images()}
    finally:
        conn.close()


def test_a_drill_after_failover_reprotect_failback_passes(
        plane: Plane, cli_env: Plane, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    system = protect(plane, sandboxes, "census")
    operator = plane.add_principal("ops-census", "operator")
    monkeypatch.setenv("GOVCLOUD_TOKEN", operator)
    code, out, err = cli(capsys, "dr", "failover", "census", "--department", DEPARTMENT,
                         "--to", SITE, "--confirm", "census", "--json")
    assert code == 0 and json.loads(out)["state"] == "done", out + err
    with plane.engine.connect() as db:
        (final,) = protection_repo.recovery_points(db, SITE, system.copy_id, limit=1)
        final = protection_repo.recovery_point(db, final.id)
    assert final is not None
    (failover_image,) = [a.id for a in final.artifacts]
    # the failover unshelved the copy: Nova deleted the image its final point names
    assert failover_image not in _images(plane)
    # the data changes while the system runs in DR-REMOTE
    write_files(system.copy_box.root, DATA, {"data.db": b"E" * 9000})
    for argv in (("dr", "reprotect"), ("dr", "failback")):
        code, out, err = cli(capsys, *argv, "census", "--department", DEPARTMENT,
                             "--confirm", "census")
        assert code == 0, out + err
    assert server(plane, SITE, system.copy_id).status == "SHELVED_OFFLOADED"
    # failback recorded the copy's point: the new shelved image, the data it holds
    with plane.engine.connect() as db:
        (latest,) = protection_repo.recovery_points(db, SITE, system.copy_id, limit=1)
        latest = protection_repo.recovery_point(db, latest.id)
    assert latest is not None and latest.status.value == "ok" and latest.id != final.id
    (image,) = [a.id for a in latest.artifacts]
    assert image != failover_image and image in _images(plane)
    assert dict(latest.manifest)[f"{DATA}/data.db"] != dict(final.manifest)[f"{DATA}/data.db"]
    # recorded once: the step run again (resumed after a crash) finds it
    conn = cloud(plane, SITE)
    try:
        again = record_reshelved(plane.engine, conn, SITE, system.copy_id, "census-app-1",
                                 latest)
    finally:
        conn.close()
    assert again is not None and again.id == latest.id
    with plane.engine.connect() as db:
        assert [p.id for p in protection_repo.recovery_points(db, SITE, system.copy_id)
                if image in {a.id for a in p.artifacts}] == [latest.id]
    # the drill: planned, approved, run; it boots from that image and finds that data
    pool(plane, [sandboxes("census-drill")])
    code, out, err = cli(capsys, "dr", "drill", "plan", DEPARTMENT, "--system", "census",
                         "--site", SITE, "--json")
    assert code == 0, out + err
    drill_id = int(json.loads(out)["id"])
    plane.admin.post(f"/dr/drills/{drill_id}/approve")
    code, out, err = cli(capsys, "dr", "drill", "run", str(drill_id), "--json")
    shown = json.loads(out)
    assert code == 0 and shown["state"] == "passed", json.dumps(shown["steps"], indent=1)
    assert [(s["step"], s["status"]) for s in shown["steps"]] == [
        (s.value, "succeeded") for s in DrillStep]
    bring_up = next(s["output"] for s in shown["steps"] if s["step"] == "bring_up")
    assert f"from image {image} (recovery point {latest.id} " in bring_up
    (evidence,) = shown["evidence"]["systems"]
    assert evidence["healthy"] and all(c["matched"] for c in evidence["checksums"])
    assert len(evidence["checksums"]) == len(FILES)
    assert shown["evidence"]["leftovers"] == []
    assert plane.sim.clouds_yaml is not None
    assert leftovers(plane.sim.clouds_yaml, drill_id) == []
    assert server(plane, SITE, system.copy_id).status == "SHELVED_OFFLOADED"
