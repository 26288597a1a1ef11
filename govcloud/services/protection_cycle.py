"""One protection cycle of one copy server (docs/dr.md, "Protection cycles"), ending in a
recovery point written with ``add_recovery_point``.

* **hot / warm copies** (running, or a warm one stopped): the guest's data paths are synced
  file by file from the production server to the copy server by the migration's own sync
  playbook (``playbooks/migrate/initial_sync.yml``: rsync over SSH, production → a stage on
  the control node → the copy, strict host keys against the migration's known_hosts); then
  the checksums of every file on the copy must equal the production guest's manifest. A warm
  copy that was stopped is started for the cycle and stopped again. Artifact: the copy server.
* **cold copies** (shelved and offloaded): unshelved, synced and verified the same way, then
  shelved and offloaded again — *always*, also when the sync failed — so the copy holds no
  compute capacity but during its cycle. Artifact: the snapshot image the shelving made.

A cycle that fails before any data moved records a ``failed`` point; one whose sync started
but did not finish, or whose copy does not match the manifest, a ``partial`` one: never
``ok``, so the copy's last good point stays its latest. A cycle killed outright records
nothing at all, which keeps the last good point the latest as well.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from govcloud.cloud import copy_servers as cloud
from govcloud.cloud import provision as provision_cloud
from govcloud.domain.legacy import Endpoint, LegacyHost
from govcloud.domain.protection import StandbyKind
from govcloud.domain.protection_schedule import manifest_differences, parse_sums
from govcloud.domain.recovery import (
    MAX_MANIFEST,
    Artifact,
    ArtifactKind,
    PointKind,
    PointRecord,
    PointStatus,
    manifest_digest,
)
from govcloud.errors import GovCloudError
from govcloud.runner.playbook import run_playbook
from govcloud.services import provisioning_lifecycle as svc
from govcloud.services.dr_keys import CloudServer, KeyCheck, pin_server
from govcloud.services.dr_posture import CopyServer
from govcloud.services.migration import known_hosts
from govcloud.services.migration_commands import (
    checksums_command,
    endpoint_of,
    playbook_env,
    step_inventory,
)
from govcloud.services.migration_run import PLAYBOOKS
from govcloud.services.provisioning_common import ProvisioningContext
from govcloud.settings import Settings
from govcloud.ssh.hosts import HostKeyChanged, HostKeyUnknown, connect, run
from govcloud.store import protection_repo as repo
from govcloud.store.engine import write_begin

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
SYNC_PLAYBOOK = PLAYBOOKS / "initial_sync.yml"


@dataclass
class CycleDeps:
    """What a cycle needs of the plane."""

    settings: Settings
    engine: Engine
    connections: Callable[[], Any]      # site → the site's admin connection
    provisioning: ProvisioningContext
    clock: Callable[[], datetime]
    projects: provision_cloud.ProjectConnections = field(
        default_factory=provision_cloud.ProjectConnections)


class CycleFailed(Exception):
    """A cycle that cannot end ``ok``: its status (failed or partial) and reason."""

    def __init__(self, status: PointStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class CycleRun:
    copy: CopyServer
    paths: tuple[str, ...]
    started: datetime
    manifest: tuple[tuple[str, str], ...] = ()
    size_bytes: int = 0
    artifacts: tuple[Artifact, ...] = ()


# --- the guests: data paths, checksums -------------------------------------------------------

def _guest(deps: CycleDeps, ep: Endpoint, command: str) -> str:
    """Run ``command`` on a guest (paramiko, strict host keys); its stdout. A command that
    fails is a failed cycle with the guest's answer."""
    settings = deps.settings
    with connect(ep, known=known_hosts(settings), key_file=settings.ssh_key,
                 timeout=settings.ssh_timeout_s) as client:
        status, out = run(client, command, timeout=max(60.0, settings.dr_protect_timeout_s))
    if status != 0:
        raise CycleFailed(PointStatus.FAILED, f"{ep.known_hosts_name}: `{command[:60]}...` "
                                              f"exited {status}: {out.strip()[-200:]}")
    return out


def present_paths(deps: CycleDeps, ep: Endpoint, paths: Sequence[str]) -> tuple[str, ...]:
    """The data paths that exist (as directories) on the guest."""
    command = "; ".join(f"if test -d {shlex.quote(ep.path(p))}; then printf '%s\\n' "
                        f"{shlex.quote(p)}; fi" for p in paths) + "; true"
    found = set(_guest(deps, ep, command).splitlines())
    return tuple(p for p in paths if p in found)


def guest_manifest(deps: CycleDeps, ep: Endpoint,
                   paths: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The checksum manifest of the files under ``paths`` on a guest: (path, ``sha256:``),
    at most ``MAX_MANIFEST`` files (the output read is cut one line past that)."""
    command = (f"{{ {checksums_command([(p, ep.path(p)) for p in paths])}; }} | "
               f"head -n {MAX_MANIFEST + len(paths) + 1}")
    return parse_sums(_guest(deps, ep, command))


def guest_size(deps: CycleDeps, ep: Endpoint, paths: Sequence[str]) -> int:
    """Bytes under ``paths`` on a guest (``du -sk``, so in whole KiB)."""
    command = (f"du -sk {' '.join(shlex.quote(ep.path(p)) for p in paths)} | "
               "awk '{s+=$1} END {print s+0}'")
    out = _guest(deps, ep, command).strip().splitlines()
    return int(out[-1]) * 1024 if out and out[-1].isdigit() else 0


# --- the cloud side ---------------------------------------------------------------------------

def project_conn(deps: CycleDeps, site: str, department: str) -> Any:
    project = svc.project_of(deps.provisioning, department, site)
    conn = deps.connections()[site]
    return deps.projects.get(conn, site, project), project


def guest_endpoint(deps: CycleDeps, pconn: Any, site: str, server_id: str) -> Endpoint:
    reach = cloud.find_server_reach(pconn, site, server_id)
    if reach is None:
        raise CycleFailed(PointStatus.FAILED, f"{site}: server {server_id} is gone")
    user = str(deps.settings.migrate_target.get("user", "root"))
    return endpoint_of(reach, user)


def pin_guest(deps: CycleDeps, ep: Endpoint, conn: Any, site: str, server_id: str, *,
              booted: bool = False) -> None:
    """The guest's host key pinned to what its cloud shows (``services.dr_keys``): a key it
    does not show, or none vouched for, fails the cycle before anything runs on the guest
    (the error's ``__cause__`` says which)."""
    check = KeyCheck(deps.settings, deps.engine, "protection", deps.clock)
    try:
        pin_server(check, ep, CloudServer(conn, site, server_id), booted=booted)
    except (HostKeyChanged, HostKeyUnknown) as exc:
        raise CycleFailed(PointStatus.FAILED, f"{exc.message} (hint: {exc.hint}); the last "
                                              "good recovery point is kept") from exc


def _refresh_inventory(deps: CycleDeps, copy: CopyServer, project: str) -> None:
    """The copy server's status into the inventory now (the posture reads it)."""
    conn = deps.connections()[copy.site]
    try:
        servers = provision_cloud.read_servers(conn, copy.site, [copy.server_id])
        quotas = provision_cloud.read_compute_quotas(conn, copy.site, project)
        svc.write_inventory(deps.provisioning, copy.site, servers, quotas, project=project,
                            department=copy.department)
    except GovCloudError as exc:
        log.info("protection: inventory of %s/%s not refreshed: %s", copy.site,
                 copy.server_id, exc.message)


# --- the cycle ----------------------------------------------------------------------------------

def _sync(deps: CycleDeps, r: CycleRun, prod: Endpoint, target: Endpoint,
          cancel: threading.Event, progress: Progress) -> None:
    """The migration's sync playbook, production guest → stage → copy guest."""
    c = r.copy
    settings = deps.settings
    base = settings.migrate_path() / "protect"
    ident = f"protect-{c.site}-{c.server_id}-{uuid.uuid4().hex[:8]}"[:120]
    host = LegacyHost(name=c.name, department=c.department, system=c.system, endpoint=prod,
                      data_paths=r.paths)
    inventory = step_inventory([(host, target)], settings=settings,
                               stage=base / "stage" / f"{c.site}-{c.server_id}")
    progress(f"{c.site}/{c.name}: syncing {', '.join(r.paths)} from {c.production_site}")
    result = run_playbook(SYNC_PLAYBOOK, private_data_dir=base / "runs" / ident,
                          inventory=inventory, envvars=playbook_env(settings, base / "runs"),
                          timeout_s=settings.dr_protect_timeout_s, ident=ident,
                          cancel=cancel.is_set,
                          idle_timeout_s=min(settings.step_idle_timeout_s,
                                             settings.dr_protect_timeout_s))
    if not result.ok:
        detail = ""
        with contextlib.suppress(OSError):
            detail = (result.artifact_dir / "stdout").read_text(errors="replace")
        last = " ".join(detail.split())[-300:]
        raise CycleFailed(PointStatus.PARTIAL, f"the sync did not finish ({result.status}): "
                                               f"{last or result.summary()}")


def _verify(deps: CycleDeps, r: CycleRun, prod: Endpoint, target: Endpoint,
            progress: Progress) -> None:
    """The production guest's manifest, and the copy's files must match it."""
    c = r.copy
    r.manifest = guest_manifest(deps, prod, r.paths)
    found = guest_manifest(deps, target, r.paths)
    if found != r.manifest:
        raise CycleFailed(PointStatus.PARTIAL, "the copy does not match the production "
                                               "guest's manifest: "
                                               + "; ".join(manifest_differences(r.manifest,
                                                                                found)))
    r.size_bytes = guest_size(deps, target, r.paths)
    progress(f"{c.site}/{c.name}: verified {len(r.manifest)} files")


def _transfer(deps: CycleDeps, r: CycleRun, prod: Endpoint, cancel: threading.Event,
              progress: Progress, pconn: Any) -> None:
    """Sync and verify onto the copy, brought up for it (the caller puts it back)."""
    c = r.copy
    booted = c.kind is StandbyKind.COLD or c.status in ("SHELVED", "SHELVED_OFFLOADED",
                                                         "SHUTOFF")
    if booted:
        progress(f"{c.site}/{c.name}: bringing the {c.kind} copy up ({c.status})")
        cloud.bring_up(pconn, c.site, c.server_id,
                       timeout_s=deps.settings.provision_active_timeout_s)
    target = guest_endpoint(deps, pconn, c.site, c.server_id)
    pin_guest(deps, target, pconn, c.site, c.server_id, booted=booted)
    r.started = deps.clock()  # the data is safe up to the moment the sync starts reading
    _sync(deps, r, prod, target, cancel, progress)
    _verify(deps, r, prod, target, progress)


def _put_back(deps: CycleDeps, r: CycleRun, pconn: Any, progress: Progress) -> str | None:
    """A cold copy shelved and offloaded again (its artifact the new image), a warm one
    stopped again; the reason when that failed."""
    c = r.copy
    try:
        if c.kind is StandbyKind.COLD:
            provision_cloud.shelve_offloaded(pconn, c.site, c.server_id,
                                             timeout_s=deps.settings.provision_active_timeout_s)
            image = cloud.find_shelved_image(pconn, c.site, c.server_id, c.name)
            r.artifacts = ((Artifact(ArtifactKind.IMAGE, c.site, image),) if image else
                           (Artifact(ArtifactKind.SERVER, c.site, c.server_id),))
            progress(f"{c.site}/{c.name}: shelved and offloaded again")
        elif c.kind is StandbyKind.WARM and c.status == "SHUTOFF":
            cloud.stop(pconn, c.site, c.server_id,
                       timeout_s=deps.settings.provision_active_timeout_s)
            progress(f"{c.site}/{c.name}: stopped again")
    except GovCloudError as exc:
        return f"could not put the {c.kind} copy back: {exc.message}"
    return None


def run_cycle(deps: CycleDeps, copy: CopyServer, *, paths: Sequence[str] | None = None,
              cancel: threading.Event | None = None,
              progress: Progress | None = None) -> PointRecord:
    """One cycle of ``copy``; records its recovery point and returns it (with its id)."""
    say: Progress = progress or (lambda _line: None)
    stop = cancel or threading.Event()
    r = CycleRun(copy, tuple(paths or deps.settings.dr_protect_paths), deps.clock())
    status, reason = PointStatus.OK, None
    pconn = project = None
    moved = False
    try:
        prod_conn, _ = project_conn(deps, copy.production_site, copy.department)
        prod = guest_endpoint(deps, prod_conn, copy.production_site, copy.production_id)
        pin_guest(deps, prod, prod_conn, copy.production_site, copy.production_id)
        wanted, r.paths = r.paths, present_paths(deps, prod, r.paths)
        if not r.paths:
            raise CycleFailed(PointStatus.FAILED,
                              f"none of the protected paths ({', '.join(wanted)}) exists on "
                              f"{copy.production_site}/{copy.name}")
        pconn, project = project_conn(deps, copy.site, copy.department)
        moved = True
        _transfer(deps, r, prod, stop, say, pconn)
    except CycleFailed as exc:
        status, reason = exc.status, exc.reason
    except GovCloudError as exc:
        status, reason = PointStatus.FAILED, exc.message
    finally:
        if moved and pconn is not None:
            undone = _put_back(deps, r, pconn, say)
            if undone is not None:
                status = PointStatus.FAILED
                reason = f"{reason}; {undone}" if reason else undone
            _refresh_inventory(deps, copy, str(project))
    return record_point(deps, r, status, reason)


def record_point(deps: CycleDeps, r: CycleRun, status: PointStatus, reason: str | None,
                 kind: PointKind = PointKind.FILE_SYNC) -> PointRecord:
    """Record the cycle's recovery point (only an ok one keeps artifacts and manifest)."""
    c = r.copy
    ok = status is PointStatus.OK
    artifacts = r.artifacts or ((Artifact(ArtifactKind.SERVER, c.site, c.server_id),)
                                if ok else ())
    point = PointRecord(c.department, c.system, c.site, c.server_id, r.started,
                        kind, r.size_bytes if ok else 0,
                        manifest_digest(r.manifest) if ok else None, status,
                        None if ok else reason, artifacts=artifacts if ok else (),
                        manifest=r.manifest if ok else ())
    with write_begin(deps.engine) as conn:
        point_id = repo.add_recovery_point(conn, point)
    if not ok:
        log.warning("protection cycle of %s/%s (%s %s copy of %s/%s) %s: %s", c.site,
                    c.server_id, c.department, c.kind, c.system, c.name, status, reason)
    return PointRecord(point.department, point.system, point.site, point.server_id,
                       point.taken_at, point.kind, point.size_bytes, point.manifest_digest,
                       point.status, point.error, point_id, point.artifacts, point.manifest)


__all__ = ["CycleDeps", "CycleFailed", "CycleRun", "guest_endpoint", "guest_manifest",
           "pin_guest", "present_paths", "project_conn", "record_point", "run_cycle"]
