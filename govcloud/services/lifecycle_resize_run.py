"""Running an approved resize: one server at a time, each a real Nova resize that is
confirmed — or reverted — before the next begins (docs/lifecycle.md, "Resize").

For each step of the plan (``domain.lifecycle_resize.plan_resize``), in order:

1. a cold copy (shelved and offloaded: Nova resizes only running or stopped servers) is
   unshelved first;
2. ``resize`` to the new flavor; the server goes to ``RESIZE`` and then either
   ``VERIFY_RESIZE`` on the new flavor or — the migration failed, e.g. no host has room —
   back to where it was with a fault: the step fails, nothing to undo;
3. in ``VERIFY_RESIZE`` the flavor is checked, the server left ``resize_soak_s`` seconds
   (an operator's look before confirming), then ``confirmResize``; if Nova refuses it the
   resize is reverted (``revertResize``: back to the old flavor and host) and the step
   fails; once Nova took it, the confirmation's end is waited for (Nova confirms
   asynchronously: the server stays ``VERIFY_RESIZE`` until the source compute is done);
4. a cold copy is shelved and offloaded again; the inventory is told the server's flavor.

The request fails at the first step that fails, naming it; the steps before it keep their
new flavor (confirmed resizes cannot be undone by Nova — ask for the old flavor again), and
a resize asked again does the rest. On resume each step looks at its server first: one in
``VERIFY_RESIZE`` is confirmed, one being resized is waited for, one of the new flavor
already is done — so a worker killed mid-resize finishes it, never resizes twice.

Fault injection for the crash test: ``GOVCLOUD_FAULT_KILL_AFTER_RESIZE=1`` kills the process
(SIGKILL) right after Nova accepted the first resize.
"""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

from govcloud.cloud import lifecycle as cloud
from govcloud.cloud import provision as pcloud
from govcloud.domain.lifecycle import Member
from govcloud.domain.lifecycle_resize import ResizeStep
from govcloud.domain.provisioning import CopyKind
from govcloud.errors import GovCloudError
from govcloud.services import provisioning_lifecycle as svc
from govcloud.services.cold_copy_points import repoint_reshelved
from govcloud.services.lifecycle_change import ChangeWatch
from govcloud.services.lifecycle_steps import Steps, _fault
from govcloud.store.tables_provisioning import ProvisionRequestRow

FAULT_KILL_AFTER_RESIZE = "GOVCLOUD_FAULT_KILL_AFTER_RESIZE"
DONE = frozenset({"resized"})


class StepFailed(Exception):
    """A step that failed, with what to say (the request fails with it)."""


class ResizeRun:
    def __init__(self, steps: Steps, row: ProvisionRequestRow, *, soak_s: float = 0.0,
                 watch: ChangeWatch | None = None) -> None:
        self.steps, self.row, self.soak_s, self.watch = steps, row, soak_s, watch
        self.ctx, self.rid = steps.ctx, row.id or 0
        plan = json.loads(row.plan_json or "{}")
        self.plan = [ResizeStep.from_dict(s) for s in plan.get("steps", ())]

    def run(self) -> dict[str, Any] | None:
        """Every step not done yet, in order; between two members the request may stop for
        its change's window (``ChangeWatch.may_go_on``: None, it waits)."""
        with self.ctx.repo.reading() as tx:
            done = {(s.site, s.ordinal) for s in tx.servers(self.rid) if s.status in DONE}
        touched: set[str] = set()
        last: str | None = None  # the member resized last in this run
        for step in self.plan:
            if (step.site, step.ordinal) in done:
                continue
            if last is not None and step.name != last and self.watch is not None and \
                    not self.watch.may_go_on(f"{self._resized()} of {len(self.plan)} "
                                             "servers resized"):
                self.steps.refresh_sites(sorted(touched))  # between two members only
                return self.watch.outcome
            last = step.name
            touched.add(step.site)
            try:
                self._step(step)
            except (GovCloudError, StepFailed) as exc:
                message = exc.message if isinstance(exc, GovCloudError) else str(exc)
                self._member(step, "failed", f"{step.site}: {step.name}: {message}",
                             error=message)
                self.steps.refresh_sites(sorted(touched))
                return svc.fail(self.ctx, self.rid, f"{step.site}: resizing {step.name} to "
                                                    f"{step.new_flavor}: {message}")
        self.steps.refresh_sites(sorted(touched))
        return svc.complete(self.ctx, self.rid)

    def _resized(self) -> int:
        with self.ctx.repo.reading() as tx:
            return sum(s.status in DONE for s in tx.servers(self.rid))

    def _member(self, step: ResizeStep, status: str, message: str | None = None, *,
                error: str | None = None) -> None:
        m = Member(step.site, step.kind, step.name, step.server_id, self.rid, step.ordinal,
                   step.key)
        self.steps.record(m, step.ordinal, status, message, kind="resize", error=error)

    def _step(self, step: ResizeStep) -> None:
        """Resize one server (or finish what a stopped worker left of it)."""
        pconn = self.steps.pconn(step.site)
        now = self.steps.retry(partial(cloud.find_server, pconn, step.site, step.server_id))
        if now is None:
            raise StepFailed(f"server {step.server_id} is gone")
        if now.task or now.status in ("RESIZE", "REVERT_RESIZE"):
            now = self._settle(pconn, step)
        if now.status != "VERIFY_RESIZE":
            if now.flavor == step.new_flavor and now.status in ("ACTIVE", "SHUTOFF",
                                                                 "SHELVED_OFFLOADED"):
                self._finished(pconn, step, now.status)
                return
            now = self._resize(pconn, step, now)
        self._finished(pconn, step, self._confirm(pconn, step, now))

    def _settle(self, pconn: Any, step: ResizeStep) -> cloud.ServerNow:
        return self.steps.retry(partial(cloud.wait_settled, pconn, step.site, step.server_id,
                                        timeout_s=self.steps.timeout_s,
                                        interval_s=self.steps.poll_s))

    def _resize(self, pconn: Any, step: ResizeStep, now: cloud.ServerNow) -> cloud.ServerNow:
        """Start the resize (a shelved cold copy unshelved first) and wait for its outcome:
        ``VERIFY_RESIZE``, or StepFailed with the cloud's fault."""
        if now.status == "SHELVED_OFFLOADED":
            self.steps.retry(partial(cloud.unshelve, pconn, step.site, step.server_id))
            now = self._settle(pconn, step)
            self._member(step, "unshelved", f"{step.site}: {step.name} unshelved to be "
                                            f"resized ({now.status}, {now.host})")
            if now.status != "ACTIVE":
                raise StepFailed(f"unshelving it left it {now.status}: "
                                 f"{now.fault or 'no fault given'}")
        if now.status not in ("ACTIVE", "SHUTOFF"):
            raise StepFailed(f"it is {now.status}; Nova resizes only ACTIVE or SHUTOFF servers")
        flavor = self.steps.retry(partial(cloud.flavor_id, pconn, step.site, step.new_flavor))
        self._member(step, "resizing", f"{step.site}: resizing {step.name} from "
                                       f"{step.old_flavor} to {step.new_flavor} "
                                       f"(step {step.ordinal} of {len(self.plan)})")
        before = now.fault
        self.steps.retry(partial(cloud.resize, pconn, step.site, step.server_id, flavor))
        _fault(FAULT_KILL_AFTER_RESIZE)
        after = self._settle(pconn, step)
        if after.status == "VERIFY_RESIZE":
            return after
        fault = after.fault if after.fault != before else None
        migration = self.steps.retry(partial(cloud.last_migration, pconn, step.site,
                                             step.server_id))
        why = fault or ("its resize migration " + " is ".join(migration) if migration else
                        "no fault given")
        raise StepFailed(f"Nova did not resize it: it is {after.status} on {after.flavor} "
                         f"again ({why}; `openstack server event list {step.server_id}` says "
                         "why); nothing to revert")

    def _confirm(self, pconn: Any, step: ResizeStep, now: cloud.ServerNow) -> str:
        """Check the resized server, wait the soak time, confirm; revert when Nova refuses
        the confirmation. Once Nova has taken it (the migration ``confirming``) it cannot be
        reverted any more: its end is waited for — on a real cloud the server stays
        ``VERIFY_RESIZE`` until the source compute has done it."""
        try:
            if now.flavor != step.new_flavor:
                raise StepFailed(f"it is in VERIFY_RESIZE on {now.flavor}, not "
                                 f"{step.new_flavor}")
            migration = self.steps.retry(partial(cloud.last_migration, pconn, step.site,
                                                 step.server_id))
            if not (migration and migration[1] == "confirming"):  # not taken by a dead run
                self._member(step, "verify_resize", f"{step.site}: {step.name} is "
                                                    f"VERIFY_RESIZE on {step.new_flavor} "
                                                    f"({now.host})")
                deadline = time.monotonic() + self.soak_s
                while time.monotonic() < deadline and not self.steps.stopping():
                    time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
                self.steps.retry(partial(cloud.confirm, pconn, step.site, step.server_id))
        except (GovCloudError, StepFailed) as exc:
            why = exc.message if isinstance(exc, GovCloudError) else str(exc)
            self._revert(pconn, step, why)
            raise StepFailed(f"confirming the resize failed ({why}); reverted to "
                             f"{step.old_flavor}") from exc
        after = self.steps.retry(partial(cloud.wait_confirmed, pconn, step.site,
                                         step.server_id, timeout_s=self.steps.timeout_s,
                                         interval_s=self.steps.poll_s))
        if after.flavor != step.new_flavor or after.status not in ("ACTIVE", "SHUTOFF"):
            raise StepFailed(f"after confirming it is {after.status} on {after.flavor}"
                             f"{f' ({after.fault})' if after.fault else ''}")
        return after.status

    def _revert(self, pconn: Any, step: ResizeStep, why: str) -> None:
        svc.event(self.ctx, self.rid, "resize", f"{step.site}: reverting {step.name} to "
                                                f"{step.old_flavor}: {why}")
        now = self.steps.retry(partial(cloud.get_server, pconn, step.site, step.server_id))
        if now.status == "VERIFY_RESIZE":
            self.steps.retry(partial(cloud.revert, pconn, step.site, step.server_id))
            now = self._settle(pconn, step)
        self._member(step, "reverted", f"{step.site}: {step.name} is {now.status} on "
                                       f"{now.flavor} again")
        if step.kind is CopyKind.COLD and now.status in ("ACTIVE", "SHUTOFF"):
            self._shelve(pconn, step)

    def _shelve(self, pconn: Any, step: ResizeStep) -> None:
        """Shelved and offloaded again; Nova deleted the image the copy's latest recovery point
        names when it unshelved it: the point names the new one (the data is the same)."""
        self.steps.retry(partial(pcloud.shelve_offloaded, pconn, step.site, step.server_id,
                                 timeout_s=self.steps.timeout_s, interval_s=self.steps.poll_s))
        moved = self.steps.retry(partial(repoint_reshelved, self.ctx.engine, pconn, step.site,
                                         step.server_id, step.name))
        if moved is not None:
            svc.event(self.ctx, self.rid, "resize", f"{step.site}: {step.name}'s recovery "
                      f"point #{moved.id} is held in its new shelved image "
                      f"{moved.artifacts[0].id if moved.artifacts else ''}")

    def _finished(self, pconn: Any, step: ResizeStep, status: str) -> None:
        """The server is of the new flavor: a cold copy shelved again, the inventory told."""
        if step.kind is CopyKind.COLD and status != "SHELVED_OFFLOADED":
            self._shelve(pconn, step)
            status = "SHELVED_OFFLOADED"
        self.steps.write_servers(step.site, [step.server_id])
        self._member(step, "resized", f"{step.site}: {step.name} is {step.new_flavor} "
                                      f"({status})")
