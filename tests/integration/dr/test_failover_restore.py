"""A failover restores the recovery point's Cinder backups (docs/dr.md, "Failover restores the
data") on the simulator over HTTP, with real sshd sandboxes and the real verify playbook: the
cold copy's latest point is a volume-backup point whose backup is in DR-REMOTE; the failover's
promote unshelves the copy, restores the backup into a volume named for the member and the
point, and attaches it to the copy. A run killed between the restore and the attach is
resumed without a second volume, and running promote again changes nothing."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session

from govcloud.cli import main
from govcloud.cloud import dr_volumes as cinder
from govcloud.cloud import failover as cloud_failover
from govcloud.cloud.provision import project_connection
from govcloud.demo.sandbox import Sandbox
from govcloud.domain.failover import FailoverKind
from govcloud.domain.recovery import Artifact, ArtifactKind, PointKind, PointRecord, manifest_digest
from govcloud.services import failover_restore, failover_run, failover_steps
from govcloud.services.failover_state import FailoverContext, read, state_of
from govcloud.store import failover_repo, protection_repo
from govcloud.store.audit import write_session
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from govcloud.store.tables_failover import FailoverRow
from tests.integration.migrate.conftest import Plane

from .failovers import DATA, DEPARTMENT, FILES, SITE, protect, server

pytestmark = pytest.mark.slow


def _project_conn(ctx: FailoverContext, copy_id: str) -> Any:
    admin = ctx.connections()[SITE]
    return project_connection(admin, SITE, admin.compute.get_server(copy_id).project_id)


def _backup_point(ctx: FailoverContext, system: str, copy_id: str, age: timedelta
                  ) -> tuple[int, str]:
    """A Cinder backup of a 2 GiB data volume in DR-REMOTE recorded as the copy's latest good
    point (``age`` old, FILES' manifest): (the point's id, the backup's id)."""
    conn = _project_conn(ctx, copy_id)
    vol = conn.block_storage.create_volume(size=2, name=f"{system}-data")
    cinder.wait_volume(conn, SITE, vol.id, timeout_s=30)
    backup = cinder.create_backup(conn, SITE, vol.id, f"govcloud-protect-{vol.id}",
                                  incremental=False, force=True)
    cinder.wait_backup(conn, SITE, backup, timeout_s=30)
    cinder.delete_volume(conn, SITE, vol.id, timeout_s=30)  # the backup is what the site holds
    manifest = tuple(sorted((f"{DATA}/{n}", "sha256:" + hashlib.sha256(d).hexdigest())
                            for n, d in FILES.items()))
    with write_begin(ctx.engine) as db:
        point_id = protection_repo.add_recovery_point(db, PointRecord(
            DEPARTMENT, system, SITE, copy_id, utcnow() - age, PointKind.VOLUME_BACKUP,
            2 << 30, manifest_digest(manifest),
            artifacts=(Artifact(ArtifactKind.BACKUP, SITE, backup),), manifest=manifest))
    return int(point_id), backup


def _point(ctx: FailoverContext, point_id: int) -> PointRecord:
    with ctx.engine.connect() as db:
        point = protection_repo.recovery_point(db, point_id)
    assert point is not None
    return point


def _volumes(ctx: FailoverContext, copy_id: str, prefix: str) -> list[cinder.VolumeInfo]:
    conn = _project_conn(ctx, copy_id)
    return [cinder.get_volume_info(conn, SITE, str(v.id))
            for v in conn.block_storage.volumes(details=True)
            if str(v.name or "").startswith(prefix)]


def test_unplanned_failover_restores_and_attaches_the_backups(
        plane: Plane, failover_ctx: FailoverContext, sandboxes: Callable[[str], Sandbox]) -> None:
    system = protect(plane, sandboxes, "vaults")
    point_id, backup = _backup_point(failover_ctx, "vaults", system.copy_id, timedelta(minutes=5))
    member = "vaults-app-1"
    name = failover_restore.volume_name(member, point_id, 0)
    # what a run killed between the restore and the attach leaves: the volume restored
    conn = _project_conn(failover_ctx, system.copy_id)
    early = cinder.restore_backup(conn, SITE, backup, name=name, timeout_s=30)
    with write_session(failover_ctx.engine) as session:
        fid = failover_repo.add(session, FailoverRow(
            department=DEPARTMENT, system="vaults", kind="unplanned", source="PROD",
            target=SITE, state="running", requester="admin", created_at=failover_ctx.clock(),
            started_at=failover_ctx.clock()))
        session.commit()
    assert failover_run.run_failover(failover_ctx, fid, actor="admin",
                                     cancel=threading.Event()) == "done"
    with Session(failover_ctx.engine) as session:
        steps = {r.step: r for r in failover_repo.steps(session, fid)}
    promote = steps["promote"].output or ""
    assert steps["verify"].status == "succeeded", steps["verify"].output
    assert (f"{SITE} {member}: volume {early} restored from backup {backup}, 2 GiB, "
            "attached") in promote
    # one volume, the one the dead run restored, attached to the promoted copy
    (vol,) = _volumes(failover_ctx, system.copy_id, f"{member}-restored-")
    assert (vol.id, vol.status, vol.attached_to) == (early, "in-use", (system.copy_id,))
    assert vol.meta("govcloud_system") == f"{DEPARTMENT}/vaults"
    assert vol.meta("govcloud_point") == str(point_id)
    assert server(plane, SITE, system.copy_id).status == "ACTIVE"
    row, _ = read(failover_ctx, fid)
    state = state_of(row)
    assert state["restored"] == {member: [{"member": member, "volume": early,
                                            "backup": backup, "size_gib": 2,
                                            "bootable": False}]}
    assert state["restore_points"] == {member: point_id}
    # the data-loss window stays the point's age at the loss
    assert 5 * 60 <= state["data_loss_s"] < 5 * 60 + 60
    # promote again (a resumed run after a crash at its end): nothing new is restored
    run = failover_steps.Run(fid, DEPARTMENT, "vaults", FailoverKind.UNPLANNED, "PROD", SITE,
                             row.started_at or failover_ctx.clock())
    again = failover_steps.promote(failover_ctx, run)
    assert f"volume {early} restored from backup {backup}" in again
    assert [v.id for v in _volumes(failover_ctx, system.copy_id, f"{member}-restored-")] == [early]
    attached = cinder.attached_volumes(conn, SITE, system.copy_id)
    assert [a.volume_id for a in attached].count(early) == 1


def test_a_restore_in_error_is_made_again_and_older_restores_are_dropped(
        plane: Plane, failover_ctx: FailoverContext, sandboxes: Callable[[str], Sandbox]) -> None:
    """A volume an earlier attempt left in ``error`` is deleted and restored again; a volume
    restored for an earlier point and still attached to the copy is detached and deleted, the
    server's own data volume detached and kept."""
    system = protect(plane, sandboxes, "ledgers")
    member = "ledgers-app-1"
    old_point, old_backup = _backup_point(failover_ctx, "ledgers", system.copy_id,
                                          timedelta(hours=2))
    point_id, backup = _backup_point(failover_ctx, "ledgers", system.copy_id,
                                     timedelta(minutes=3))
    conn = _project_conn(failover_ctx, system.copy_id)
    cloud_failover.bring_to(conn, SITE, system.copy_id, "ACTIVE", timeout_s=60)
    older = failover_restore.restore_member(
        conn, SITE, department=DEPARTMENT, system="ledgers", member=member,
        server_id=system.copy_id, point=_point(failover_ctx, old_point), timeout_s=30)
    own = conn.block_storage.create_volume(size=1, name="ledgers-own")
    cinder.wait_volume(conn, SITE, own.id, timeout_s=30)
    cinder.attach_volume(conn, SITE, system.copy_id, own.id, timeout_s=30)
    broken = cinder.restore_backup(conn, SITE, backup,
                                   name=failover_restore.volume_name(member, point_id, 0),
                                   timeout_s=30)
    conn.block_storage.reset_volume_status(broken, status="error", attach_status=None,
                                           migration_status=None)
    made = failover_restore.restore_member(
        conn, SITE, department=DEPARTMENT, system="ledgers", member=member,
        server_id=system.copy_id, point=_point(failover_ctx, point_id), timeout_s=30)
    (restored,) = made
    assert restored.volume_id != broken and restored.backup_id == backup
    dropped = failover_restore.drop_superseded(conn, SITE, member=member,
                                               server_id=system.copy_id, point_id=point_id,
                                               timeout_s=30)
    assert sorted(dropped) == sorted([
        f"{SITE} {member}: volume {older[0].volume_id} restored from an earlier point "
        "detached and deleted",
        f"{SITE} {member}: volume ledgers-own ({own.id}) detached and kept, superseded by "
        f"recovery point #{point_id}'s"])
    kept = cinder.get_volume_info(conn, SITE, own.id)  # not govcloud's to delete
    assert (kept.status, kept.meta("govcloud_superseded_by")) == ("available", str(point_id))
    assert older[0].backup_id == old_backup
    left = _volumes(failover_ctx, system.copy_id, f"{member}-restored-")
    assert [(v.id, v.attached_to) for v in left] == [(restored.volume_id, (system.copy_id,))]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _step(shown: dict[str, Any], name: str) -> str:
    return str(next(s["output"] for s in shown["steps"] if s["step"] == name))


def test_planned_failover_and_failback_carry_the_volumes_data(
        plane: Plane, cli_env: Plane, failover_ctx: FailoverContext,
        sandboxes: Callable[[str], Sandbox], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The real path: a production server with a data volume, protected by a volume cycle;
    the planned failover's final cycle backs it up again, promote restores that backup and
    attaches it to the copy; after reprotect a reversed cycle backs the restored volume up
    into PROD, and failback restores it there — production's own volume detached and kept."""
    system = protect(plane, sandboxes, "deeds")
    member = "deeds-app-1"
    prod_admin = failover_ctx.connections()["PROD"]
    prod_conn = project_connection(prod_admin, "PROD",
                                   prod_admin.compute.get_server(system.prod_id).project_id)
    own = cinder.create_volume(prod_conn, "PROD", "deeds-data", size=1)
    cinder.wait_volume(prod_conn, "PROD", own, timeout_s=30)
    cinder.attach_volume(prod_conn, "PROD", system.prod_id, own, timeout_s=30)
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
    code, out, err = _cli(capsys, "dr", "protect", "--system", "deeds")
    assert code == 0 and f"full backup of volume {own}" in out, out + err
    code, out, err = _cli(capsys, "dr", "failover", "deeds", "--department", DEPARTMENT,
                          "--to", SITE, "--confirm", "deeds", "--json")
    assert code == 0, out + err
    shown = json.loads(out)
    assert shown["state"] == "done", json.dumps(shown["steps"], indent=1)
    promote = _step(shown, "promote")
    with plane.engine.connect() as db:
        (final,) = protection_repo.recovery_points(db, SITE, system.copy_id, limit=1)
    assert final.kind is PointKind.VOLUME_BACKUP and "final protection cycle" in \
        _step(shown, "final_cycle")
    (backup,) = [a.id for a in final.artifacts]
    (restored,) = _volumes(failover_ctx, system.copy_id, f"{member}-restored-p{final.id}-")
    assert (f"{SITE} {member}: volume {restored.id} restored from backup {backup}, 1 GiB, "
            "attached") in promote
    assert restored.attached_to == (system.copy_id,)
    # reprotect, a reversed cycle (the restored volume backed up into PROD), failback
    code, out, err = _cli(capsys, "dr", "reprotect", "deeds", "--department", DEPARTMENT,
                          "--confirm", "deeds")
    assert code == 0, out + err
    code, out, err = _cli(capsys, "dr", "protect", "--system", "deeds")
    assert code == 0 and f"backup of volume {restored.id}" in out, out + err
    code, out, err = _cli(capsys, "dr", "failback", "deeds", "--department", DEPARTMENT,
                          "--confirm", "deeds", "--json")
    assert code == 0, out + err
    back = json.loads(out)
    assert back["state"] == "done", json.dumps(back["steps"], indent=1)
    with plane.engine.connect() as db:
        (home,) = protection_repo.recovery_points(db, "PROD", system.prod_id, limit=1)
    (home_backup,) = [a.id for a in home.artifacts if a.site == "PROD"]
    names = {v.name: v for v in (cinder.get_volume_info(prod_conn, "PROD", str(x.id))
                                 for x in prod_conn.block_storage.volumes(details=True))}
    again = names[failover_restore.volume_name(member, int(home.id or 0), 0)]
    assert again.attached_to == (system.prod_id,)
    assert (f"PROD {member}: volume {again.id} restored from backup {home_backup}, 1 GiB, "
            "attached") in _step(back, "promote")
    kept = names["deeds-data"]  # production's own volume: detached, kept, marked
    assert (kept.id, kept.status, kept.attached_to) == (own, "available", ())
    assert kept.meta("govcloud_superseded_by") == str(home.id)
    assert server(plane, "PROD", system.prod_id).status == "ACTIVE"
