"""The steps lifecycle requests share when they run (``lifecycle_run``,
``lifecycle_resize_run``): the department's project connection in a site, the worker's
retries, a server of the request recorded with its event, members deleted (idempotently,
the inventory told at once), the system's server groups removed, a phase moved (audited),
the system retired.

Each writing step is one transaction with its event (and audit entry where the request's
state or phase moves), so a worker killed between two steps leaves a consistent record to
resume from.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from govcloud.children import kill_control_plane
from govcloud.cloud import lifecycle as cloud
from govcloud.cloud import provision as pcloud
from govcloud.domain.changes import OperationKind
from govcloud.domain.lifecycle import Member, RetirePhase
from govcloud.domain.provisioning import RequestState
from govcloud.errors import GovCloudError
from govcloud.services import provisioning_lifecycle as svc
from govcloud.services.change_gate import end_in
from govcloud.services.provisioning_common import ProvisioningContext
from govcloud.services.provisioning_execution import Provisioner
from govcloud.services.provisioning_lifecycle import WORKER, audit
from govcloud.store import lifecycle_repo as repo
from govcloud.store.engine import write_begin
from govcloud.store.tables_provisioning import ProvisionRequestRow

log = logging.getLogger(__name__)
T = TypeVar("T")
FAULT_KILL_AFTER_DELETE = "GOVCLOUD_FAULT_KILL_AFTER_DELETE"


def _fault(variable: str) -> None:
    """The crash tests' faults: with ``variable=1`` in the environment, die (SIGKILL) now."""
    if os.environ.get(variable) == "1":
        kill_control_plane()


class Steps:
    """The shared steps of one lifecycle request's run (request ``rid`` of ``department``)."""

    def __init__(self, ctx: ProvisioningContext, provisioner: Provisioner, rid: int,
                 department: str) -> None:
        self.ctx, self.provisioner, self.rid, self.department = ctx, provisioner, rid, department
        self.timeout_s = provisioner.settings.active_timeout_s
        self.poll_s = provisioner.settings.build_poll_s
        self._conns: Mapping[str, Any] | None = None
        self._pconns: dict[str, Any] = {}

    @property
    def conns(self) -> Mapping[str, Any]:
        """The sites' admin connections (made on first use)."""
        if self._conns is None:
            self._conns = self.provisioner.connections()
        return self._conns

    def pconn(self, site: str) -> Any:
        """The department's project connection in ``site``."""
        if site not in self._pconns:
            self._pconns[site] = self.provisioner.connect(self.rid, self.department, site,
                                                          self.conns)
        return self._pconns[site]

    def retry(self, fn: Callable[[], T], *, kind: str = "retry") -> T:
        return self.provisioner.retry(self.rid, fn, kind=kind)

    def stopping(self) -> bool:
        return self.provisioner.stopping()

    def record(self, m: Member, ordinal: int, status: str, message: str | None = None, *,
               kind: str = "server", error: str | None = None) -> None:
        """Member ``m`` as a server of this request (ordinal ``ordinal``), with an event."""
        svc.record_server(self.ctx, self.rid, site=m.site, ordinal=ordinal, name=m.name,
                          key=m.key, server_id=m.server_id, status=status, error=error,
                          event=None if message is None else (kind, message))

    # --- deleting members ------------------------------------------------------------------------

    def delete_members(self, members: Sequence[Member], *,
                       ordinals: Mapping[tuple[str, str], int]) -> None:
        """Delete ``members`` in order (one gone already is fine), each waited for until it is
        gone, then recorded deleted — its row here and the row of the request that made it,
        so it is no longer the system's — and finally the inventory of each site told: the
        servers tombstoned and the project's quota usage as the cloud now says."""
        gone: dict[str, list[str]] = {}
        for m in members:
            ordinal = ordinals[(m.site, m.server_id)]
            pconn = self.pconn(m.site)
            now = self.retry(partial(cloud.find_server, pconn, m.site, m.server_id))
            if now is not None:
                self.record(m, ordinal, "deleting")
                self.retry(partial(cloud.delete, pconn, m.site, m.server_id))
                _fault(FAULT_KILL_AFTER_DELETE)
                self.retry(partial(cloud.wait_gone, pconn, m.site, m.server_id,
                                   timeout_s=self.timeout_s, interval_s=self.poll_s))
            at = self.ctx.clock()
            with self.ctx.repo.writing() as tx:
                tx.record_server(self.rid, site=m.site, ordinal=ordinal, name=m.name,
                                 key=m.key, server_id=m.server_id, status="deleted")
                repo.mark_deleted(tx.session, [m.request_id], m.site, [m.server_id], at)
                tx.add_event(self.rid, "deleted", f"{m.site}: {m.name} deleted ({m.server_id})"
                             if now is not None else f"{m.site}: {m.name} was gone already "
                                                     f"({m.server_id})")
            gone.setdefault(m.site, []).append(m.server_id)
        for site, ids in sorted(gone.items()):
            self.forget(site, ids)

    def forget(self, site: str, server_ids: Sequence[str]) -> None:
        """The inventory told that ``server_ids`` are gone, with the quota usage now (a
        failure leaves it to the next sync, said in the events)."""
        try:
            project = svc.project_of(self.ctx, self.department, site)
            quotas = self.retry(partial(pcloud.read_compute_quotas, self.conns[site], site,
                                        project))
            with write_begin(self.ctx.engine) as conn:
                repo.forget_servers(conn, site, server_ids, self.ctx.clock(), quotas,
                                    project=project, department=self.department)
            svc.event(self.ctx, self.rid, "inventory", f"{site}: {len(server_ids)} servers "
                                                       "gone from the inventory; quota usage "
                                                       "read again")
        except GovCloudError as exc:
            svc.event(self.ctx, self.rid, "inventory", f"{site}: targeted refresh failed "
                                                       f"({exc.message}); the next sync does it")

    def write_servers(self, site: str, server_ids: Sequence[str]) -> None:
        """The inventory told what ``server_ids`` are now (a resized server's flavor and
        host) with the project's quota usage; a failure is left to the next sync."""
        try:
            project = svc.project_of(self.ctx, self.department, site)
            servers = self.retry(partial(pcloud.read_servers, self.conns[site], site,
                                         list(server_ids)))
            quotas = self.retry(partial(pcloud.read_compute_quotas, self.conns[site], site,
                                        project))
            svc.write_inventory(self.ctx, site, servers, quotas, project=project,
                                department=self.department)
        except GovCloudError as exc:
            svc.event(self.ctx, self.rid, "inventory", f"{site}: targeted refresh failed "
                                                       f"({exc.message}); the next sync does it")

    def delete_groups(self, sites: Sequence[str], name: str) -> None:
        """The system's server groups in ``sites``, once empty (each holds one of the
        project's ``server_groups`` quota)."""
        for site in sites:
            try:
                pconn = self.pconn(site)
                for group in self.retry(partial(pcloud.list_groups, pconn, site, name)):
                    if group.members:
                        svc.event(self.ctx, self.rid, "cleanup", f"{site}: kept server group "
                                  f"{name} ({len(group.members)} servers still in it)")
                        continue
                    self.retry(partial(pcloud.delete_group, pconn, site, group.id))
                    svc.event(self.ctx, self.rid, "cleanup", f"{site}: deleted server group "
                                                             f"{name} ({group.id})")
            except GovCloudError as exc:
                svc.event(self.ctx, self.rid, "cleanup", f"{site}: server group {name} not "
                                                         f"deleted: {exc.message}")

    def refresh_sites(self, sites: Sequence[str]) -> None:
        """A sync of ``sites`` (the plane's), as provisioning does after its work."""
        if self.provisioner.refresh is None or not sites:
            return
        try:
            self.provisioner.refresh(sorted(set(sites)))
        except Exception:
            log.exception("request %s: refresh after the lifecycle request failed", self.rid)

    # --- the request's own record ---------------------------------------------------------------

    def phase(self, phase: RetirePhase, until: dt.datetime | None, message: str, *,
              expect: RetirePhase | None = None) -> bool:
        """Move the request to ``phase`` (``until``: the worker leaves it until then),
        audited (``request.phase``) with an event; False (nothing moved) when ``expect`` is
        given and the request is in another phase (cancelled meanwhile)."""
        with self.ctx.repo.writing() as tx:
            row = tx.lock_request(self.rid)
            before = row.phase
            if expect is not None and before != expect.value:
                return False
            row.phase, row.not_before, row.updated_at = phase.value, until, self.ctx.clock()
            tx.save(row)
            audit(tx, WORKER, "phase", row, row.state, phase=phase.value, before_phase=before,
                  not_before=until.isoformat() if until else None)
            tx.add_event(self.rid, "phase", f"{phase.value}: {message}")
        return True

    def update_plan(self, **values: Any) -> None:
        """Add ``values`` to the request's plan (what a later phase needs to know)."""
        with self.ctx.repo.writing() as tx:
            row = tx.lock_request(self.rid)
            row.plan_json = json.dumps({**json.loads(row.plan_json or "{}"), **values})
            tx.save(row)

    def retire_system(self, row: ProvisionRequestRow, until: dt.datetime) -> None:
        """The system's servers are gone: its requests move to retired (the name may be used
        again), the request keeps the final snapshots until ``until``."""
        plan = json.loads(row.plan_json or "{}")
        with self.ctx.repo.writing() as tx:
            me = tx.lock_request(self.rid)
            retired = repo.retire_requests(tx.session, me.department, me.system,
                                           int(plan.get("request", 0)), self.ctx.clock())
            before = me.phase
            me.phase, me.not_before = RetirePhase.KEEP.value, until
            me.updated_at = self.ctx.clock()
            tx.save(me)
            audit(tx, WORKER, "phase", me, me.state, phase=me.phase, before_phase=before,
                  retired=retired, not_before=until.isoformat())
            end_in(tx.session, self.ctx.changes, OperationKind.LIFECYCLE,
                   f"lifecycle {self.rid}", actor=WORKER, ok=True,
                   detail=f"{me.department}/{me.system} retired; its final snapshots are "
                          f"kept until {until.isoformat(timespec='minutes')}")
            tx.add_event(self.rid, "retired", f"{me.department}/{me.system} retired: requests "
                         f"{', '.join(map(str, retired)) or 'none'} are {RequestState.RETIRED}"
                         f"; the final snapshots are kept until "
                         f"{until.isoformat(timespec='minutes')}")
