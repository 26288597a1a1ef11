"""Provisioning one approved request through the cloud: the job worker's work
(``govcloud.workers.provision`` runs the loop and a thread per request).

1. per site: the department's project connection, the flavor/image/network ids and the
   system's server group (``govcloud-<department>-<system>``, policy
   ``provision_group_policy``) — found or created;
2. per server, at most ``provision_concurrency`` at once over all sites and requests: look for
   a server tagged with its idempotency key and **adopt** it, else create it; record it; wait
   for ACTIVE (``provision_active_timeout_s``);
3. every cloud call that fails transiently (5xx, timeout, connection) is retried up to
   ``provision_retries`` times with exponential backoff (``provision_backoff_s`` × 2ⁿ);
4. all ACTIVE: the post-provision playbooks run (on the running servers), then the servers of
   a **cold copy** are shelved and offloaded and waited for until ``SHELVED_OFFLOADED`` (they
   hold no compute capacity; recorded ``shelved_offloaded``; a failure there is a cloud error
   like any other: retried when transient, else the request fails and is cleaned up);
5. the new servers and the project's quota usage are written into the inventory at
   once (targeted refresh), then the request is done and its reservation released;
   any server failed: the request's servers are deleted (unless ``provision_keep_failed``),
   the request fails with the cloud's error verbatim, and its reservation is released.

Fault injection for the crash test: with ``GOVCLOUD_FAULT_KILL_AFTER_CREATE=1`` in its
environment the process kills itself (SIGKILL) right after the cloud accepted the first
server and before the database recorded it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from govcloud.children import kill_control_plane
from govcloud.cloud import provision as cloud
from govcloud.domain.provisioning import CopyKind, PlannedServer, RequestState, plan_servers
from govcloud.errors import DatabaseUnavailable, GovCloudError, PermanentError, TemporaryError
from govcloud.services import provisioning_lifecycle as svc
from govcloud.services.provisioning_common import ProvisioningContext

log = logging.getLogger(__name__)

T = TypeVar("T")
FAULT_KILL_AFTER_CREATE = "GOVCLOUD_FAULT_KILL_AFTER_CREATE"
Connections = Callable[[], Mapping[str, Any]]


def group_name(department: str, system: str) -> str:
    """The server group of a system's members in a site."""
    return f"govcloud-{department}-{system}"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    concurrency: int = 16
    active_timeout_s: float = 600.0
    retries: int = 3
    backoff_s: float = 0.5
    keep_failed: bool = False
    group_policy: str = "anti-affinity"
    poll_s: float = 1.0
    request_timeout_s: float | None = 60.0
    build_poll_s: float = 0.5
    playbooks: Mapping[str, Any] = field(default_factory=dict)
    playbook_timeout_s: float = 900.0
    runner_dir: Any = None
    resize_soak_s: float = 0.0  # a resized server's wait in VERIFY_RESIZE (docs/lifecycle.md)

    @classmethod
    def from_settings(cls, settings: Any) -> WorkerSettings:
        return cls(concurrency=settings.provision_concurrency,
                   active_timeout_s=settings.provision_active_timeout_s,
                   retries=settings.provision_retries, backoff_s=settings.provision_backoff_s,
                   keep_failed=settings.provision_keep_failed,
                   group_policy=settings.provision_group_policy,
                   poll_s=settings.provision_poll_s,
                   playbooks=dict(settings.provision_playbooks),
                   playbook_timeout_s=settings.provision_playbook_timeout_s,
                   runner_dir=settings.provision_runner_dir,
                   resize_soak_s=settings.resize_soak_s)


class Provisioner:
    """Provisions requests one ``run`` at a time per request (several requests at once, each
    in its caller's thread); ``stop`` set: retries stop and playbooks are cancelled."""

    def __init__(self, ctx: ProvisioningContext, *, connections: Connections,
                 settings: WorkerSettings, refresh: Callable[[Sequence[str]], Any] | None,
                 stop: threading.Event) -> None:
        self.ctx = ctx
        self.connections = connections
        self.settings = settings
        self.refresh = refresh
        self._stop = stop
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        # one member of a server group per site is being scheduled at a time (wait_placed)
        self._placing: dict[tuple[str, str], threading.Lock] = {}
        self._placing_guard = threading.Lock()
        self.projects = cloud.ProjectConnections()  # the project connections it made

    def run(self, rid: int) -> dict[str, Any] | None:
        row, spec, targets = svc.request_spec(self.ctx, rid)
        if row.state == RequestState.APPROVED.value:
            if not svc.start(self.ctx, rid):
                return None
        elif row.state == RequestState.PROVISIONING.value:
            svc.event(self.ctx, rid, "resumed", "provisioning resumed (the previous worker "
                                                "stopped); servers already created are adopted")
        else:
            return None
        planned = plan_servers(spec, targets)
        return self.build(rid, row.department, row.system, planned,
                          [t.site for t in targets], playbooks=spec.playbooks,
                          resumed=row.state == RequestState.PROVISIONING.value)

    def build(self, rid: int, department: str, system: str, planned: Sequence[PlannedServer],
              sites: Sequence[str], *, playbooks: Sequence[str] = (),
              resumed: bool = False) -> dict[str, Any]:
        """Make ``planned`` (request ``rid``'s servers, by their idempotency keys) in
        ``sites``, in the system's server group of each site, and finish the request (done,
        or failed and cleaned up); ``resumed``: servers may exist already (adopted). A
        scale-out builds its added servers through here too."""
        conns = self.connections()
        groups: dict[str, str | None] = {}
        pconns: dict[str, Any] = {}
        refs: dict[tuple[str, str, str, str], cloud.Refs] = {}
        try:
            for site in sites:
                project = self._project(department, site)
                pconns[site] = self._retry(rid, partial(
                    self.projects.get, conns[site], site, project,
                    request_timeout_s=self.settings.request_timeout_s))
                name = group_name(department, system)
                groups[site] = self._retry(rid, partial(
                    cloud.ensure_group, pconns[site], site, name,
                    self.settings.group_policy))
            for p in planned:
                k = (p.site, p.flavor, p.image, p.network)
                if k not in refs:
                    refs[k] = self._retry(rid, partial(
                        cloud.resolve, pconns[p.site], p.site, flavor=p.flavor, image=p.image,
                        network=p.network))
        except DatabaseUnavailable:
            raise  # nothing to clean up: the request is resumed once the database is back
        except GovCloudError as exc:  # (a resumed request's servers may exist already)
            self._cleanup(rid, planned if resumed else (), pconns, department=department,
                          system=system, sites=sites)
            return svc.fail(self.ctx, rid, exc.message)
        svc.event(self.ctx, rid, "plan", f"{len(planned)} servers in {', '.join(sites)}")
        errors: list[str] = []
        created: dict[tuple[str, int], str] = {}
        lock = threading.Lock()

        def one(p: PlannedServer) -> None:
            try:
                sid = self._server(rid, department, system, p, pconns[p.site],
                                   refs[(p.site, p.flavor, p.image, p.network)],
                                   groups[p.site])
                with lock:
                    created[(p.site, p.ordinal)] = sid
            except DatabaseUnavailable:
                raise  # the cloud may hold the server: a resumed run adopts it by its tag
            except GovCloudError as exc:
                with lock:
                    errors.append(exc.message)
                svc.record_server(self.ctx, rid, site=p.site, ordinal=p.ordinal, name=p.name,
                                  key=self._key(p, rid), server_id=None, status="failed",
                                  error=exc.message)

        workers = max(1, min(len(planned), self.settings.concurrency))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"req{rid}") as pool:
            list(pool.map(one, planned))
        if errors:
            self._cleanup(rid, planned, pconns, department=department, system=system,
                          sites=sites)
            return svc.fail(self.ctx, rid, errors[0] + (
                f" (and {len(errors) - 1} more failures)" if len(errors) > 1 else ""))
        return self._finish(rid, department, system, playbooks, planned, created,
                            pconns, conns)

    def _finish(self, rid: int, department: str, system: str, playbooks: Sequence[str],
                planned: Sequence[PlannedServer], created: Mapping[tuple[str, int], str],
                pconns: Mapping[str, Any], conns: Mapping[str, Any]) -> dict[str, Any]:
        """Every server is ACTIVE: the post-provision playbooks (on running servers), then the
        cold copies shelved and offloaded, the inventory refreshed, the request done. With no
        playbook the inventory is refreshed once, after the shelving."""
        if playbooks:
            servers = self._refresh(rid, department, created, conns)
            for name in playbooks:
                error = self._playbook(rid, name, system, servers)
                if error is not None:
                    svc.event(self.ctx, rid, "playbook", "the servers are kept: they were "
                                                         "created, only the playbook failed")
                    return svc.fail(self.ctx, rid, error)
        cold = [p for p in planned if p.kind is CopyKind.COLD]
        error = self._shelve(rid, cold, created, pconns)
        if error is not None:
            self._cleanup(rid, planned, pconns, department=department, system=system,
                          sites=sorted({p.site for p in planned}))
            return svc.fail(self.ctx, rid, error)
        if not playbooks:
            self._refresh(rid, department, created, conns)
        elif cold:  # the inventory read them running: read them offloaded
            self._refresh(rid, department, {(p.site, p.ordinal): created[(p.site, p.ordinal)]
                                            for p in cold}, conns)
        return svc.complete(self.ctx, rid)

    def _shelve(self, rid: int, cold: Sequence[PlannedServer],
                created: Mapping[tuple[str, int], str], pconns: Mapping[str, Any]) -> str | None:
        """Shelve and offload the cold copies' servers (``SHELVED_OFFLOADED``: they hold no
        compute capacity until unshelved on recovery), at most ``concurrency`` at once;
        transient errors retried. Returns the first error (and how many more), or None."""
        errors: list[str] = []
        lock = threading.Lock()

        def one(p: PlannedServer) -> None:
            sid = created[(p.site, p.ordinal)]
            try:
                state = self._retry(rid, partial(
                    cloud.shelve_offloaded, pconns[p.site], p.site, sid,
                    timeout_s=self.settings.active_timeout_s,
                    interval_s=self.settings.build_poll_s))
            except GovCloudError as exc:
                with lock:
                    errors.append(exc.message)
                return
            svc.record_server(self.ctx, rid, site=p.site, ordinal=p.ordinal, name=p.name,
                              key=self._key(p, rid), server_id=sid, status=state.status.lower(),
                              event=("shelved", f"{p.site}: {p.name} is {state.status} ({sid}): "
                                                "a cold copy holds no compute capacity"))

        if not cold:
            return None
        workers = max(1, min(len(cold), self.settings.concurrency))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"shelve{rid}") as pool:
            list(pool.map(one, cold))
        if not errors:
            return None
        return errors[0] + (f" (and {len(errors) - 1} more failures)" if len(errors) > 1 else "")

    def _playbook(self, rid: int, name: str, system: str,
                  servers: Mapping[str, Sequence[Any]]) -> str | None:
        """Run post-provision playbook ``name`` on the new servers; its events become the
        request's events. Returns the error, or None when it succeeded."""
        from govcloud.config_files import state_dir
        from govcloud.runner.playbook import PlaybookEvent, run_playbook

        hosts: dict[str, Any] = {}
        for site, infos in sorted(servers.items()):
            for info in infos:
                if info.status in cloud.SHELVED_STATUSES:
                    continue  # a cold copy shelved before a restart: the playbook ran on it
                addresses = [a for addrs in info.addresses.values() for a in addrs]
                hosts[f"{info.name}.{site.lower()}"] = {
                    "govcloud_site": site, "govcloud_server_id": info.id,
                    **({"ansible_host": addresses[0]} if addresses else {})}
        inventory = {"all": {"hosts": hosts, "vars": {"govcloud_request": rid,
                                                      "govcloud_system": system}}}

        def on_event(e: PlaybookEvent) -> None:
            svc.event(self.ctx, rid, "playbook", f"{name}: {e.line()}")

        svc.event(self.ctx, rid, "playbook", f"{name}: starting on {len(hosts)} servers")
        try:
            result = run_playbook(
                self.settings.playbooks[name],
                private_data_dir=self.settings.runner_dir or state_dir() / "runner",
                inventory=inventory, timeout_s=self.settings.playbook_timeout_s,
                ident=f"request-{rid}-{name}-{int(time.time())}", on_event=on_event,
                cancel=self._stop.is_set)
        except GovCloudError as exc:
            return f"post-provision playbook {name}: {exc.message}"
        svc.event(self.ctx, rid, "playbook", f"{name}: {result.summary()} "
                                             f"(artifacts {result.artifact_dir})")
        return None if result.ok else f"post-provision playbook {name}: {result.summary()}"

    def _key(self, p: PlannedServer, rid: int) -> str:
        """``p``'s idempotency key, with this installation's id (docs/provisioning.md)."""
        return p.key(rid, installation=self.ctx.installation)

    def _project(self, department: str, site: str) -> str:
        return svc.project_of(self.ctx, department, site)

    def connect(self, rid: int, department: str, site: str, conns: Mapping[str, Any]) -> Any:
        """The department's project connection in ``site`` (made once, kept; transient
        errors retried as events of request ``rid``)."""
        project = self._project(department, site)
        return self._retry(rid, partial(self.projects.get, conns[site], site, project,
                                        request_timeout_s=self.settings.request_timeout_s))

    def stopping(self) -> bool:
        """Whether the worker is stopping (long waits end early)."""
        return self._stop.is_set()

    def retry(self, rid: int, fn: Callable[[], T], *, kind: str = "retry") -> T:
        """``fn()`` with the worker's retries of transient errors (events of request
        ``rid``): what the lifecycle requests' cloud calls go through."""
        return self._retry(rid, fn, kind=kind)

    def _retry(self, rid: int, fn: Callable[[], T], *, kind: str = "retry") -> T:
        """``fn()``, retried on transient errors (each retry is an event of ``kind``)."""
        attempt = 0
        while True:
            try:
                return fn()
            except DatabaseUnavailable:
                raise  # not the cloud's: the run stops, and is resumed later
            except TemporaryError as exc:
                if attempt >= self.settings.retries or self._stop.is_set():
                    raise TemporaryError(f"{exc.message} (gave up after {attempt + 1} "
                                         "attempts)", hint=exc.hint) from exc
                delay = self.settings.backoff_s * (2 ** attempt)
                svc.event(self.ctx, rid, kind, f"{exc.message}; retry {attempt + 1} of "
                                               f"{self.settings.retries} in {delay:.1f} s")
                time.sleep(delay)
                attempt += 1

    def _server(self, rid: int, department: str, system: str, p: PlannedServer, pconn: Any,
                refs: cloud.Refs, group: str | None) -> str:
        key = self._key(p, rid)
        with self._slots:
            existing = self._retry(rid, lambda: cloud.find_by_key(pconn, p.site, key))
            adopted = None
            if existing is not None and existing.status != "ERROR":
                sid = existing.id
                adopted = ("adopted", f"{p.site}: {p.name} exists already ({sid}, "
                                      f"{existing.status}): adopted")
            elif existing is not None:
                raise PermanentError(f"site {p.site}: server {existing.id} went to ERROR: "
                                     f"{existing.fault or 'no fault given'}")
            else:
                with self._placing_lock(p.site, group):
                    sid = self._retry(rid, lambda: self._create(rid, p, pconn, refs, group,
                                                                key, system, department))
                    if os.environ.get(FAULT_KILL_AFTER_CREATE) == "1":
                        kill_control_plane()
                    if group is not None:
                        self._retry(rid, lambda: cloud.wait_placed(
                            pconn, p.site, sid, timeout_s=self.settings.active_timeout_s,
                            interval_s=self.settings.build_poll_s))
            svc.record_server(self.ctx, rid, site=p.site, ordinal=p.ordinal, name=p.name,
                              key=key, server_id=sid, status="building", event=adopted)
        if p.kind is CopyKind.COLD and existing is not None and \
                existing.status in cloud.SHELVED_STATUSES:
            return sid  # shelved before the worker stopped: the shelving step finishes it
        state = self._retry(rid, lambda: cloud.wait_active(
            pconn, p.site, sid, timeout_s=self.settings.active_timeout_s,
            interval_s=self.settings.build_poll_s))
        svc.record_server(self.ctx, rid, site=p.site, ordinal=p.ordinal, name=p.name, key=key,
                          server_id=sid, status=state.status.lower(),
                          event=("active", f"{p.site}: {p.name} is ACTIVE ({sid})"))
        return sid

    def _placing_lock(self, site: str, group: str | None) -> contextlib.AbstractContextManager[Any]:
        """The lock a group member's create and scheduling hold in its site (none without a
        group)."""
        if group is None:
            return contextlib.nullcontext()
        with self._placing_guard:
            return self._placing.setdefault((site, group), threading.Lock())

    def _create(self, rid: int, p: PlannedServer, pconn: Any, refs: cloud.Refs,
                group: str | None, key: str, system: str, department: str) -> str:
        # a retry after a timeout may find the server the lost answer created
        again = cloud.find_by_key(pconn, p.site, key)
        if again is not None:
            return again.id
        return cloud.create_server(pconn, p.site, name=p.name, refs=refs, key=key,
                                   request_id=rid, ordinal=p.ordinal, group_id=group,
                                   volumes=p.volumes, system=system, department=department)

    def _cleanup(self, rid: int, planned: Sequence[PlannedServer],
                 pconns: Mapping[str, Any], *, department: str, system: str,
                 sites: Sequence[str]) -> None:
        """Remove what the failed request made in the cloud: its servers (found by their
        idempotency keys; their ports and volumes go with them) and then the system's server
        group in each site, unless servers of the system are still in it or another request
        of the system is being provisioned. A site that cannot be reached is named in the
        events (its leftovers need a look)."""
        if self.settings.keep_failed:
            svc.event(self.ctx, rid, "cleanup", "keeping the servers for inspection "
                                                "(provision_keep_failed)")
            return
        removed: dict[str, set[str]] = {}
        for p in planned:
            if p.site not in pconns:
                continue
            try:
                found = self._retry(rid, partial(cloud.find_by_key, pconns[p.site], p.site,
                                                 self._key(p, rid)), kind="cleanup")
                if found is not None:
                    self._retry(rid, partial(cloud.delete_server, pconns[p.site], p.site,
                                             found.id), kind="cleanup")
                    removed.setdefault(p.site, set()).add(found.id)
                    svc.record_server(self.ctx, rid, site=p.site, ordinal=p.ordinal,
                                      name=p.name, key=self._key(p, rid), server_id=found.id,
                                      status="deleted")
            except GovCloudError as exc:
                svc.event(self.ctx, rid, "cleanup", f"could not delete {p.name}: "
                                                    f"{exc.message}")
        count = sum(len(v) for v in removed.values())
        svc.event(self.ctx, rid, "cleanup", f"deleted {count} server(s) this request created")
        unreachable = [site for site in sites if site not in pconns]
        if unreachable:
            svc.event(self.ctx, rid, "cleanup", f"could not reach {', '.join(unreachable)} "
                                                "to look for leftovers")
        name = group_name(department, system)
        if svc.system_in_progress(self.ctx, department, system, excluding=rid):
            svc.event(self.ctx, rid, "cleanup", f"kept server group {name}: another request "
                                                "of the system is being provisioned")
            return
        for site in sites:
            if site not in pconns:
                continue
            try:
                groups = self._retry(rid, partial(cloud.list_groups, pconns[site], site, name),
                                     kind="cleanup")
                for group in groups:
                    others = group.members - removed.get(site, set())
                    if others:
                        svc.event(self.ctx, rid, "cleanup", f"{site}: kept server group {name}"
                                  f" ({len(others)} other server(s) of the system in it)")
                        continue
                    self._retry(rid, partial(cloud.delete_group, pconns[site], site, group.id),
                                kind="cleanup")
                    svc.event(self.ctx, rid, "cleanup", f"{site}: deleted server group {name} "
                                                        f"({group.id})")
            except GovCloudError as exc:
                svc.event(self.ctx, rid, "cleanup", f"{site}: could not delete server group "
                                                    f"{name}: {exc.message}")

    def _refresh(self, rid: int, department: str, created: Mapping[tuple[str, int], str],
                 conns: Mapping[str, Any]) -> dict[str, list[Any]]:
        """Write the new servers and the project's quota usage into the inventory now;
        returns the servers read, per site."""
        out: dict[str, list[Any]] = {}
        by_site: dict[str, list[str]] = {}
        for (site, _), sid in created.items():
            by_site.setdefault(site, []).append(sid)
        for site, ids in sorted(by_site.items()):
            try:
                project = self._project(department, site)
                servers = self._retry(rid, partial(cloud.read_servers, conns[site], site, ids))
                out[site] = servers
                quotas = self._retry(rid, partial(cloud.read_compute_quotas, conns[site], site,
                                                  project))
                svc.write_inventory(self.ctx, site, servers, quotas, project=project,
                                    department=department)
                svc.event(self.ctx, rid, "inventory", f"{site}: {len(servers)} new servers "
                                                      "in the inventory")
            except GovCloudError as exc:  # the next sync will bring them in
                svc.event(self.ctx, rid, "inventory", f"{site}: targeted refresh failed "
                                                      f"({exc.message}); the next sync adds them")
        if self.refresh is not None:
            try:
                self.refresh(sorted(by_site))
            except Exception:
                log.exception("request %s: refresh after provisioning failed", rid)
        return out
