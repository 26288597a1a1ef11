"""Running an approved lifecycle request in the clouds: the provisioning job worker's work for
a scale or a retirement (a resize: ``govcloud.services.lifecycle_resize_run``), docs/lifecycle.md.

Every step is idempotent, so a worker killed at any point resumes where it stopped (the
request stays ``provisioning``; the worker takes it up again on restart):

* **scale** — the members it removes first (highest number first, copies before the
  primary: deleted, waited for until gone, their rows marked deleted, the inventory told at
  once), then the servers it adds, built exactly as provisioning builds a request's (tagged
  with the scale request's idempotency keys and adopted on resume; in the system's server
  group of each site; cold copies shelved), then done — its reservation released;
* **retire** — its phases (``domain.lifecycle.RetirePhase``): every running member shut off
  (the system's protection ends here: the posture and the protection worker leave a system
  being retired alone), then the grace period (``not_before``: the worker leaves it until
  then); then a final snapshot of each primary member (found again by name on resume,
  recorded before anything is deleted), every member deleted in every site, the inventory
  and quota usage written at once (the capacity and quota are free for the next approval),
  the protection's backups and recovery points deleted, the server groups removed and the
  system's requests moved to ``retired``; then the snapshots kept until ``keep_days``
  pass, deleted, and the request is done.

Fault injection for the crash tests: ``GOVCLOUD_FAULT_KILL_AFTER_DELETE=1`` kills the process
(SIGKILL) right after the cloud accepted the first deletion of a retirement or a scale-in
(``lifecycle_steps``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from functools import partial
from typing import Any

from govcloud.cloud import dr_volumes as cinder
from govcloud.cloud import lifecycle as cloud
from govcloud.domain.lifecycle import (
    Member,
    RequestKind,
    RetirePhase,
    ScalePlan,
    backup_name,
    snapshot_name,
)
from govcloud.domain.provisioning import CopyKind, RequestState, parse_request
from govcloud.domain.volume_backups import NAME_PREFIX
from govcloud.errors import GovCloudError
from govcloud.services import provisioning_lifecycle as svc
from govcloud.services.lifecycle_change import ChangeWatch
from govcloud.services.lifecycle_resize_run import ResizeRun
from govcloud.services.lifecycle_steps import FAULT_KILL_AFTER_DELETE, Steps
from govcloud.services.provisioning_common import ProvisioningContext, targets_of
from govcloud.services.provisioning_execution import Provisioner, group_name
from govcloud.store import lifecycle_repo as repo
from govcloud.store.tables_provisioning import LifecycleSnapshotRow, ProvisionRequestRow


class LifecycleRunner:
    """Runs lifecycle requests (scale, resize, retire) for the provisioning job worker, over
    its ``Provisioner`` (project connections, retries, building servers)."""

    def __init__(self, ctx: ProvisioningContext, provisioner: Provisioner, *,
                 soak_s: float = 0.0) -> None:
        self.ctx = ctx
        self.provisioner = provisioner
        self.soak_s = soak_s

    def run(self, rid: int) -> dict[str, Any] | None:
        row = self.ctx.repo.request(rid)
        waking = row.phase in (RetirePhase.GRACE.value, RetirePhase.KEEP.value,
                               RetirePhase.RESTORE.value)
        if row.state == RequestState.APPROVED.value:
            if not svc.start(self.ctx, rid):
                return None
        elif row.state == RequestState.PROVISIONING.value:
            if not waking:
                svc.event(self.ctx, rid, "resumed", f"{row.kind} resumed (the previous worker "
                                                    "stopped): it goes on where it stopped")
        else:
            return None
        resumed = row.state == RequestState.PROVISIONING.value and not waking
        steps = Steps(self.ctx, self.provisioner, rid, row.department)
        kind = RequestKind(row.kind)
        watch = ChangeWatch(self.ctx, row)
        # the change lets it run now: at its start and resumption, not once a retirement
        # has stopped the service (its grace, deletion and snapshots' time follow)
        gated = kind is not RequestKind.RETIRE or row.phase in (None, RetirePhase.SHUTOFF)
        if gated and not watch.enter():
            return watch.outcome
        if kind is RequestKind.SCALE:
            return self._scale(steps, row, resumed)
        if kind is RequestKind.RESIZE:
            return ResizeRun(steps, row, soak_s=self.soak_s, watch=watch).run()
        return Retirement(steps, row, watch).run()

    # --- scale ---------------------------------------------------------------------------------

    def _scale(self, steps: Steps, row: ProvisionRequestRow,
               resumed: bool) -> dict[str, Any]:
        plan_doc = json.loads(row.plan_json or "{}")
        plan = ScalePlan.from_dict(plan_doc, parse_request(plan_doc["shape"]))
        rid = row.id or 0
        if plan.removes:
            rank = {t.site: i for i, t in enumerate(targets_of(row))}
            doomed = sorted(plan.removes, key=lambda m: (-(_number(m) or 0),
                                                         -rank.get(m.site, 0)))
            ordinals: dict[tuple[str, str], int] = {}
            for m in doomed:  # after the ordinals of the servers it adds in the site
                taken = len(plan.added_in(m.site)) + sum(s == m.site for s, _ in ordinals)
                ordinals[(m.site, m.server_id)] = taken + 1
            try:
                steps.delete_members(doomed, ordinals=ordinals)
            except GovCloudError as exc:
                return svc.fail(self.ctx, rid, exc.message)
        if plan.adds:
            sites = sorted({p.site for p in plan.adds})
            return self.provisioner.build(rid, row.department, row.system, plan.adds, sites,
                                          resumed=resumed)
        steps.refresh_sites(sorted({m.site for m in plan.removes}))
        return svc.complete(self.ctx, rid)


def _number(m: Member) -> int | None:
    head, _, number = m.name.rpartition("-")
    return int(number) if head and number.isdigit() else None


class Retirement:
    """One retirement's run: the phase it is in, then the next ones as far as it can go now."""

    def __init__(self, steps: Steps, row: ProvisionRequestRow, watch: ChangeWatch) -> None:
        self.steps, self.row, self.watch = steps, row, watch
        self.ctx, self.rid = steps.ctx, row.id or 0
        plan = json.loads(row.plan_json or "{}")
        self.members = [Member.from_dict(m) for m in plan.get("members", ())]
        self.volumes: list[str] | None = plan.get("volumes")
        self.grace = dt.timedelta(days=float(plan.get("grace_days", 0)))
        self.keep = dt.timedelta(days=float(plan.get("keep_days", 0)))

    def run(self) -> dict[str, Any] | None:
        phase = RetirePhase(self.row.phase or RetirePhase.SHUTOFF.value)
        if phase is RetirePhase.RESTORE:
            return self._restore()
        try:
            if phase is RetirePhase.SHUTOFF:
                self._shut_off()
                until = self.ctx.clock() + self.grace
                self.steps.phase(RetirePhase.GRACE, until,
                                 f"every server is shut off; deleted after "
                                 f"{until.isoformat(timespec='minutes')} (grace period)")
                if self.grace > dt.timedelta(0):
                    self.watch.park(f"grace period until {until.isoformat(timespec='minutes')}"
                                    " (the servers are shut off)")
                    return None
                phase = RetirePhase.GRACE
            if phase is RetirePhase.GRACE:
                if not self.steps.phase(RetirePhase.DELETE, None, "the grace period is over: "
                                        "final snapshots, then deletion",
                                        expect=RetirePhase.GRACE):
                    return None  # cancelled meanwhile: restored by the next run
                phase = RetirePhase.DELETE
            if phase is RetirePhase.DELETE:
                self._delete()
                if self.keep > dt.timedelta(0):
                    return None
            return self._expire()
        except GovCloudError as exc:
            return svc.fail(self.ctx, self.rid, exc.message)

    def _shut_off(self) -> None:
        """Stop every member that runs (a shelved cold copy is off already)."""
        for i, m in enumerate(self.members, start=1):
            pconn = self.steps.pconn(m.site)
            now = self.steps.retry(partial(cloud.find_server, pconn, m.site, m.server_id))
            if now is None:
                self.steps.record(m, i, "gone", f"{m.site}: {m.name} is gone already")
                continue
            if now.status == "ACTIVE":
                self.steps.retry(partial(cloud.stop, pconn, m.site, m.server_id))
            settled = self.steps.retry(partial(
                cloud.wait_settled, pconn, m.site, m.server_id,
                timeout_s=self.steps.timeout_s, interval_s=self.steps.poll_s))
            self.steps.record(m, i, settled.status.lower(),
                              f"{m.site}: {m.name} is {settled.status} ({m.server_id})")
        if self.volumes is None:  # while the servers exist: their protection backups' names
            self.volumes = self._member_volumes(
                [m for m in self.members if m.kind is CopyKind.PRIMARY])
            self.steps.update_plan(volumes=self.volumes)

    def _delete(self) -> None:
        """The final snapshots, then every member deleted, the inventory, the protection and
        the server groups; then the system's requests retired and the snapshots kept."""
        primary = [m for m in self.members if m.kind is CopyKind.PRIMARY]
        for m in primary:
            self._snapshot(m)
            self._backups(m)
        volumes = self.volumes if self.volumes is not None else self._member_volumes(primary)
        ordinals = {id(m): i for i, m in enumerate(self.members, start=1)}
        copies_first = sorted(self.members, key=lambda m: m.kind is CopyKind.PRIMARY)
        self.steps.delete_members(copies_first, ordinals={
            (m.site, m.server_id): ordinals[id(m)] for m in self.members})
        sites = sorted({m.site for m in self.members})
        self._protection(sites, volumes)
        self.steps.delete_groups(sites, group_name(self.row.department, self.row.system))
        self.steps.refresh_sites(sites)
        until = self.ctx.clock() + self.keep
        self.steps.retire_system(self.row, until)

    def _snapshot(self, m: Member) -> None:
        with self.ctx.repo.reading() as tx:
            taken = {s.server_id for s in repo.snapshots(tx.session, self.rid)
                     if s.kind == "image"}
        if m.server_id in taken:
            return
        pconn = self.steps.pconn(m.site)
        if self.steps.retry(partial(cloud.find_server, pconn, m.site, m.server_id)) is None:
            svc.event(self.ctx, self.rid, "snapshot", f"{m.site}: {m.name} is gone: no final "
                                                      "snapshot of it")
            return
        name = snapshot_name(self.rid, m.name)
        found = self.steps.retry(partial(cloud.find_image, pconn, m.site, name, m.server_id))
        image_id = found.id if found is not None else self.steps.retry(partial(
            cloud.snapshot, pconn, m.site, m.server_id, name,
            {"govcloud_request": str(self.rid), "govcloud_system": self.row.system}))
        now = self.ctx.clock()
        with self.ctx.repo.writing() as tx:
            repo.add_snapshot(tx.session, LifecycleSnapshotRow(
                request_id=self.rid, site=m.site, server_id=m.server_id, name=name,
                kind="image", artifact_id=image_id, created_at=now, expires_at=now + self.keep))
            tx.add_event(self.rid, "snapshot", f"{m.site}: final snapshot of {m.name}: image "
                                               f"{image_id} ({name})")
        self.steps.retry(partial(cloud.wait_image, pconn, m.site, image_id,
                                 timeout_s=self.steps.timeout_s, interval_s=self.steps.poll_s))

    def _backups(self, m: Member) -> None:
        """A Cinder backup of each volume attached to ``m`` (its data volumes go with the
        server), kept as long as the image: found again by name on resume."""
        with self.ctx.repo.reading() as tx:
            taken = {s.name for s in repo.snapshots(tx.session, self.rid) if s.kind == "backup"}
        pconn = self.steps.pconn(m.site)
        if self.steps.retry(partial(cloud.find_server, pconn, m.site, m.server_id)) is None:
            return
        attached = self.steps.retry(partial(cinder.attached_volumes, pconn, m.site,
                                            m.server_id))
        for volume in attached:
            name = backup_name(self.rid, volume.volume_id)
            if name in taken:
                continue
            found = [b for b in self.steps.retry(partial(cinder.backups_named, pconn, m.site,
                                                         name)) if b.name == name]
            backup_id = found[0].id if found else self.steps.retry(partial(
                cinder.create_backup, pconn, m.site, volume.volume_id, name, force=True))
            now = self.ctx.clock()
            with self.ctx.repo.writing() as tx:
                repo.add_snapshot(tx.session, LifecycleSnapshotRow(
                    request_id=self.rid, site=m.site, server_id=m.server_id, name=name,
                    kind="backup", artifact_id=backup_id, created_at=now,
                    expires_at=now + self.keep))
                tx.add_event(self.rid, "snapshot", f"{m.site}: final backup of {m.name}'s "
                                                   f"volume {volume.volume_id} ({volume.device}):"
                                                   f" backup {backup_id} ({name})")
            self.steps.retry(partial(cinder.wait_backup, pconn, m.site, backup_id,
                                     timeout_s=self.steps.timeout_s,
                                     interval_s=self.steps.poll_s))

    def _restore(self) -> dict[str, Any]:
        """Cancelled in its grace period: every member that ran before is started again (a
        cold copy stays shelved), then the request is cancelled — nothing was deleted yet,
        and a retirement holds no reservation; its change's link ends with it."""
        asked = json.loads(self.row.plan_json or "{}").get("cancel") or {}
        for i, m in enumerate(self.members, start=1):
            if m.kind is CopyKind.COLD or (m.status or "ACTIVE").upper() != "ACTIVE":
                continue
            pconn = self.steps.pconn(m.site)
            now = self.steps.retry(partial(cloud.find_server, pconn, m.site, m.server_id))
            if now is None:
                svc.event(self.ctx, self.rid, "restore", f"{m.site}: {m.name} is gone")
                continue
            if now.status == "SHUTOFF":
                self.steps.retry(partial(cloud.start, pconn, m.site, m.server_id))
            settled = self.steps.retry(partial(
                cloud.wait_settled, pconn, m.site, m.server_id,
                timeout_s=self.steps.timeout_s, interval_s=self.steps.poll_s))
            self.steps.record(m, i, settled.status.lower(), f"{m.site}: {m.name} is "
                              f"{settled.status} again ({m.server_id})", kind="restore")
        for site in sorted({m.site for m in self.members}):
            self.steps.write_servers(site, [m.server_id for m in self.members if m.site == site])
        reason = str(asked.get("reason") or "cancelled in its grace period")
        return svc.finish(self.ctx, self.rid, RequestState.CANCELLED,
                          actor=str(asked.get("by") or svc.WORKER),
                          reason=f"{reason} (rolled back: the servers run again)",
                          verb="cancel")

    def _member_volumes(self, primary: Sequence[Member]) -> list[str]:
        """The volumes attached to the primary members (their protection backups are named by
        them); none known when the site cannot say."""
        out: list[str] = []
        for m in primary:
            try:
                pconn = self.steps.pconn(m.site)
                out += [v.volume_id for v in cinder.attached_volumes(pconn, m.site, m.server_id)]
            except GovCloudError as exc:
                svc.event(self.ctx, self.rid, "protection", f"{m.site}: the volumes of {m.name} "
                                                            f"are not known: {exc.message}")
        return out

    def _protection(self, sites: Sequence[str], volumes: Sequence[str]) -> None:
        """The system's protection goes with it: its volumes' protection backups (newest
        first: an incremental before its parent) and the backups and snapshots its recovery
        points hold, then its recovery points. A backup that cannot be deleted is named in
        the events (it needs a look); the retirement goes on."""
        with self.ctx.engine.connect() as conn:
            held = repo.protection_artifacts(conn, self.row.department, self.row.system)
        doomed: dict[tuple[str, str, str], None] = {(a.site, a.kind, a.id): None for a in held}
        for site in sites:
            try:
                pconn = self.steps.pconn(site)
                for b in sorted(cinder.backups_named(pconn, site, NAME_PREFIX),
                                key=lambda b: b.name, reverse=True):
                    if any(b.name.startswith(f"{NAME_PREFIX}{v}-") for v in volumes):
                        doomed[(site, "backup", b.id)] = None
            except GovCloudError as exc:
                svc.event(self.ctx, self.rid, "protection", f"{site}: backups not listed: "
                                                            f"{exc.message}")
        for site, kind, ident in doomed:
            try:
                pconn = self.steps.pconn(site)
                delete = cinder.delete_backup if kind == "backup" else \
                    cinder.delete_volume_snapshot
                self.steps.retry(partial(delete, pconn, site, ident,
                                         timeout_s=self.steps.timeout_s))
            except GovCloudError as exc:
                svc.event(self.ctx, self.rid, "protection", f"{site}: {kind} {ident} not "
                                                            f"deleted: {exc.message}")
        with self.ctx.repo.writing() as tx:
            points = repo.forget_protection(tx.session.connection(), self.row.department,
                                            self.row.system)
            tx.add_event(self.rid, "protection", f"protection ended: {len(doomed)} backups and "
                                                 f"snapshots, {points} recovery points deleted")

    def _expire(self) -> dict[str, Any]:
        """The kept snapshots deleted; the request done."""
        with self.ctx.repo.reading() as tx:
            kept = [s for s in repo.snapshots(tx.session, self.rid) if s.deleted_at is None]
        for s in kept:
            pconn = self.steps.pconn(s.site)
            if s.kind == "backup":
                self.steps.retry(partial(cinder.delete_backup, pconn, s.site, s.artifact_id,
                                         timeout_s=self.steps.timeout_s))
            else:
                self.steps.retry(partial(cloud.delete_image, pconn, s.site, s.artifact_id))
            with self.ctx.repo.writing() as tx:
                row = tx.session.get(LifecycleSnapshotRow, s.id)
                if row is not None:
                    row.deleted_at = self.ctx.clock()
                    tx.session.add(row)
                tx.add_event(self.rid, "snapshot", f"{s.site}: final {s.kind} {s.artifact_id} "
                                                   "deleted (kept as long as asked)")
        return svc.complete(self.ctx, self.rid)


__all__ = ["FAULT_KILL_AFTER_DELETE", "LifecycleRunner", "Retirement"]
