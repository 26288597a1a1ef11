"""Server actions that move a server or change its size: resize (confirm, revert), cold and
live migration, evacuation, shelve (offload) and unshelve; and the migrations Nova records of them
(``/os-migrations``, ``/servers/{id}/migrations``).

Semantics follow nova/compute/api.py and the API reference:

* ``resize`` (member): vm_state ``active``/``stopped`` only (409 ``Cannot 'resize' instance
  ... while it is in vm_state ...``), a new flavor (400 ``When resizing, instances must change
  flavor!``), cores/RAM growth within quota (403), never the same host
  (``allow_resize_to_same_host`` is off); status ``RESIZE`` (task ``resize_prep``), then
  ``VERIFY_RESIZE`` (vm_state ``resized``). While waiting, the source host's allocation is
  held by the migration (the Placement consumer is the migration's uuid; Nova names no
  consumer type, so Placement shows ``unknown``) and the destination's by the server.
* ``confirmResize`` (member, 204): the migration ``confirming`` and the server still
  ``VERIFY_RESIZE`` (no task) until the source compute has done it (``build_delay``, as
  Nova's cast): then the migration's allocation is released, the migration ``confirmed``,
  and the server ``ACTIVE``/``SHUTOFF`` on the new flavor. ``revertResize`` (member, 202): status
  ``REVERT_RESIZE``, then back to the old flavor and host.
* ``migrate`` (admin): a resize to the same flavor on another host (``host`` 2.56+); it waits
  in ``VERIFY_RESIZE`` for a confirm like a resize.
* ``os-migrateLive`` (admin): ``active``/``paused`` only; status ``MIGRATING``, then the same
  state on the new host, the source allocation released. The source compute must be up
  (``Compute service of <host> is unavailable at this time.``). From 2.34 the request is
  asynchronous: a host that cannot take the server, or a source that is down, fails the
  migration (status ``error``), not the request.
* ``evacuate`` (admin): only off a compute whose service is down (400 ``Compute service of
  ... is still in use.``); rebuilt on another host (``REBUILD``, then as it was, stopped from
  2.95); the server's allocation spans both hosts until the dead one's service is up again,
  which cleans it up (migration ``done`` → ``completed``).
* ``shelve`` (member): ``SHELVED_OFFLOADED`` at once (``shelved_offload_time`` 0): snapshot
  ``<name>-shelved``, allocation and host gone. ``unshelve`` (member): scheduled again,
  ``ACTIVE`` with a new allocation; the snapshot is deleted.

Scheduling and allocation go through ``RegionState`` (``schedule``, ``start_move``,
``confirm_move``, ``revert_move``), so Placement, quotas and hypervisors stay in step.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

from govcloud.sim import guest_disk
from govcloud.sim.http import (
    ApiError,
    Request,
    Response,
    Router,
    bad_request,
    conflict,
    json_response,
    not_found,
)
from govcloud.sim.model import Flavor, Hypervisor, Migration, Server, now
from govcloud.sim.nova_common import (
    NovaContext,
    check_keys,
    invalid,
    iso_naive_us,
    record,
    require_admin,
    require_member,
)
from govcloud.sim.nova_create import take_sandbox
from govcloud.sim.state import RegionState

LIVE_IN_PROGRESS = ("queued", "preparing", "running", "post-migrating")


def invalid_state(s: Server, action: str, attr: str = "vm_state") -> ApiError:
    state = s.vm_state if attr == "vm_state" else s.task_state
    return conflict(f"Cannot '{action}' instance {s.id} while it is in {attr} {state}")


def check_state(s: Server, action: str, vm_states: tuple[str, ...]) -> None:
    """nova.compute.api.check_instance_state: the vm_state, then no task in progress."""
    if s.vm_state not in vm_states:
        raise invalid_state(s, action)
    if s.task_state is not None:
        raise invalid_state(s, action, "task_state")


class MoveActions:
    """The ``_act_*`` handlers ``ServerOpsRoutes.action`` dispatches to, and the migration
    listings."""

    def __init__(self, api: NovaContext) -> None:
        self.api = api

    def register(self, router: Router) -> None:
        router.add("compute", "GET", "/v2.1/os-migrations", self.migrations)
        router.add("compute", "GET", "/v2.1/servers/{server_id}/migrations",
                   self.server_migrations)
        router.add("compute", "GET", "/v2.1/servers/{server_id}/migrations/{migration_id}",
                   self.server_migration)

    # --- shared pieces -------------------------------------------------------------------

    @staticmethod
    def _later(region: RegionState, s: Server, status: str, task: str | None,
               target: str) -> None:
        s.status, s.task_state, s.target_status = status, task, target
        s.ready_at = time.time() + region.build_delay
        region.pending.add(s.id)

    def _source_up(self, region: RegionState, s: Server) -> None:
        """check_instance_host(check_is_up=True): a move needs the source compute alive."""
        hv = region.hv_by_host.get(s.host or "")
        if hv is None or not hv.service.is_up:
            raise conflict("Service is unavailable at this time.")

    @staticmethod
    def _host(region: RegionState, name: Any) -> Hypervisor:
        hv = region.hv_by_host.get(name) if isinstance(name, str) else None
        if hv is None:
            raise bad_request(f"Compute host {name} could not be found.")
        return hv

    def _cold_move(self, req: Request, region: RegionState, s: Server, flavor: Flavor,
                   kind: str, host: Hypervisor | None) -> Response:
        """A resize or cold migration: scheduled now; with no host it fails as Nova's
        conductor fails it (the server back as it was, the migration in ``error``)."""
        group = region.server_groups.get(s.server_group_id or "")
        dest = region.schedule(flavor, zone=s.requested_availability_zone, group=group,
                               exclude={s.host or ""},
                               host=host.hostname if host is not None else None)
        old_status = s.status
        mig = region.new_migration(s, kind, new_flavor=flavor, dest=dest,
                                   user_id=req.auth.user_id,
                                   status="pre-migrating" if dest else "error")
        record(s, req, "resize" if kind == "resize" else "migrate")
        if dest is None:
            s.fault = {"code": 400, "created": iso_naive_us(now()),
                       "message": "No valid host was found. There are not enough hosts "
                                  "available."}
            self._later(region, s, "RESIZE", "resize_prep", old_status)
            return Response(status=202)
        region.start_move(s, mig, dest)
        mig.status = "post-migrating"
        self._later(region, s, "RESIZE", "resize_prep", "VERIFY_RESIZE")
        return Response(status=202)

    # --- resize, confirm, revert ---------------------------------------------------------

    def _act_resize(self, req: Request, region: RegionState, s: Server, body: Any) -> Response:
        require_member(req, "os_compute_api:servers:resize")
        if not isinstance(body, dict):
            raise invalid("resize", body, f"{body!r} is not of type 'object'")
        check_keys(body, {"flavorRef", "OS-DCF:diskConfig"})
        ref = body.get("flavorRef")
        if ref is None:
            raise invalid("resize", body, "'flavorRef' is a required property")
        if isinstance(ref, bool) or not isinstance(ref, (str, int)) or ref == "":
            raise invalid("resize/flavorRef", ref,
                          f"{ref!r} is not of type 'string', 'integer'")
        self.api.servers.check_lock(req, s)
        check_state(s, "resize", ("active", "stopped"))
        self._source_up(region, s)
        fid = str(ref).rstrip("/").rsplit("/", 1)[-1]
        flavor = region.flavors.get(fid)
        if flavor is None or flavor.disabled or not (
                flavor.is_public or req.auth.is_admin or s.project_id in flavor.access):
            raise bad_request(f"Flavor {fid} could not be found.")
        if flavor.id == s.flavor.id:
            raise bad_request("When resizing, instances must change flavor!")
        if flavor.disk == 0 and s.flavor.disk != 0 and s.image_id:
            raise bad_request("Resize to zero disk flavor is not allowed.")
        region.check_compute_quota(s.project_id, instances=0,
                                   cores=max(0, flavor.vcpus - s.flavor.vcpus),
                                   ram=max(0, flavor.ram - s.flavor.ram))
        snapshot = dataclasses.replace(flavor, extra_specs=dict(flavor.extra_specs),
                                       access=set(flavor.access))
        return self._cold_move(req, region, s, snapshot, "resize", None)

    def _resized(self, req: Request, region: RegionState, s: Server, action: str) -> None:
        self.api.servers.check_lock(req, s)
        if s.vm_state != "resized":
            raise invalid_state(s, action)
        mig = region.migration_of(s)
        if mig is None or mig.status != "finished":
            raise bad_request("Instance has not been resized.")

    def _act_confirmResize(self, req: Request, region: RegionState, s: Server,
                           body: Any) -> Response:
        require_member(req, "os_compute_api:servers:confirm_resize")
        if body is not None:
            raise invalid("confirmResize", body, f"{body!r} is not of type 'null'")
        self._resized(req, region, s, "confirmResize")
        mig = region.migration_of(s)
        src = region.hv_by_host.get(mig.source_compute if mig else "")
        if src is not None and not src.service.is_up:
            raise conflict("Service is unavailable at this time.")
        # Nova marks the migration ``confirming`` and casts to the source compute: the server
        # stays VERIFY_RESIZE (no task) until that compute has confirmed it
        back = "SHUTOFF" if s.old_vm_state == "stopped" else "ACTIVE"
        if mig is not None:
            mig.status, mig.updated_at = "confirming", now()
        s.old_vm_state = None
        self._later(region, s, "VERIFY_RESIZE", None, back)
        record(s, req, "confirmResize")
        return Response(status=204)

    def _act_revertResize(self, req: Request, region: RegionState, s: Server,
                          body: Any) -> Response:
        require_member(req, "os_compute_api:servers:revert_resize")
        if body is not None:
            raise invalid("revertResize", body, f"{body!r} is not of type 'null'")
        self._resized(req, region, s, "revertResize")
        back = "SHUTOFF" if s.old_vm_state == "stopped" else "ACTIVE"
        region.revert_move(s)
        s.old_vm_state = None
        self._later(region, s, "REVERT_RESIZE", "resize_reverting", back)
        record(s, req, "revertResize")
        return Response(status=202)

    # --- migrations ----------------------------------------------------------------------

    def _act_migrate(self, req: Request, region: RegionState, s: Server,
                     body: Any) -> Response:
        host_name = None
        if req.mv_at_least(2, 56):
            if body is not None:
                if not isinstance(body, dict):
                    raise invalid("migrate", body, f"{body!r} is not of type 'object', "
                                                   "'null'")
                check_keys(body, {"host"})
                host_name = body.get("host")
        elif body is not None:
            raise invalid("migrate", body, f"{body!r} is not of type 'null'")
        require_admin(req, "os_compute_api:os-migrate-server:migrate"
                      + (":host" if host_name else ""))
        self.api.servers.check_lock(req, s)
        check_state(s, "migrate", ("active", "stopped"))
        self._source_up(region, s)
        host = None
        if host_name:
            host = self._host(region, host_name)
            if host.hostname == s.host:
                raise bad_request("Cannot migrate to the host where the server exists.")
        return self._cold_move(req, region, s, s.flavor, "migration", host)

    def _act_os_migrateLive(self, req: Request, region: RegionState, s: Server,
                            body: Any) -> Response:
        if not isinstance(body, dict):
            raise invalid("os-migrateLive", body, f"{body!r} is not of type 'object'")
        required = ["block_migration", "host"]
        allowed = set(required)
        if not req.mv_at_least(2, 25):
            required.append("disk_over_commit")
            allowed.add("disk_over_commit")
        if req.mv_at_least(2, 30) and not req.mv_at_least(2, 68):
            allowed.add("force")
        check_keys(body, allowed)
        for key in required:
            if key not in body:
                raise invalid("os-migrateLive", body, f"'{key}' is a required property")
        host_name = body.get("host")
        block = body.get("block_migration")
        if block not in (True, False, "True", "False", "true", "false") and not (
                req.mv_at_least(2, 25) and block == "auto"):
            raise invalid("os-migrateLive/block_migration", block,
                          f"{block!r} is not one of [True, False, 'True', 'False', "
                          "'true', 'false'" + (", 'auto']" if req.mv_at_least(2, 25) else "]"))
        if body.get("force") in (True, "True", "true") and not host_name:
            raise bad_request("Can't force to a non-provided destination")
        require_admin(req, "os_compute_api:os-migrate-server:migrate_live"
                      + (":host" if host_name else ""))
        self.api.servers.check_lock(req, s)
        check_state(s, "os-migrateLive", ("active", "paused"))
        host = self._host(region, host_name) if host_name else None
        asynchronous = req.mv_at_least(2, 34)
        dest: Hypervisor | None = None
        error: str | None = None
        source = region.hv_by_host.get(s.host or "")
        if host is not None and host.hostname == s.host:
            error = f"Unable to migrate instance ({s.id}) to current host ({s.host})."
        elif source is None or not source.service.is_up:
            # the conductor's LiveMigrationTask._check_host_is_up(source):
            # ComputeServiceUnavailable, a 400 before 2.34
            error = f"Compute service of {s.host} is unavailable at this time."
        else:
            group = region.server_groups.get(s.server_group_id or "")
            dest = region.schedule(s.flavor, zone=s.requested_availability_zone,
                                   group=group, exclude={s.host or ""},
                                   host=host.hostname if host is not None else None)
            if dest is None:
                error = "No valid host was found. There are not enough hosts available."
        if error is not None and not asynchronous:
            raise bad_request(error)
        mig = region.new_migration(s, "live-migration", new_flavor=s.flavor, dest=dest,
                                   user_id=req.auth.user_id,
                                   status="error" if dest is None else "running")
        record(s, req, "live-migration")
        back = s.status
        if dest is None:
            self._later(region, s, "MIGRATING", "migrating", back)
            return Response(status=202)
        region.start_move(s, mig, dest)
        self._later(region, s, "MIGRATING", "migrating", back)
        return Response(status=202)

    # --- evacuate ------------------------------------------------------------------------

    def _act_evacuate(self, req: Request, region: RegionState, s: Server,
                      body: Any) -> Response:
        if not isinstance(body, dict):
            raise invalid("evacuate", body, f"{body!r} is not of type 'object'")
        allowed = {"host", "adminPass"}
        if not req.mv_at_least(2, 14):
            allowed.add("onSharedStorage")
            if "onSharedStorage" not in body:
                raise invalid("evacuate", body, "'onSharedStorage' is a required property")
        if req.mv_at_least(2, 29) and not req.mv_at_least(2, 68):
            allowed.add("force")
        check_keys(body, allowed)
        require_admin(req, "os_compute_api:os-evacuate")
        host_name = body.get("host")
        if body.get("force") in (True, "True", "true") and not host_name:
            raise bad_request("Can't force to a non-provided destination")
        host = None
        if host_name is not None:
            host = region.hv_by_host.get(host_name) if isinstance(host_name, str) else None
            if host is None:
                raise not_found(f"Compute host {host_name} not found.")
        if s.host == host_name:
            raise bad_request("The target host can't be the same one.")
        check_state(s, "evacuate", ("active", "stopped", "error"))
        source = region.hv_by_host.get(s.host or "")
        if source is not None and source.service.is_up:
            raise bad_request(f"Compute service of {s.host} is still in use.")
        target = "SHUTOFF" if req.mv_at_least(2, 95) or s.vm_state == "stopped" else "ACTIVE"
        group = region.server_groups.get(s.server_group_id or "")
        dest = region.schedule(s.flavor, zone=s.requested_availability_zone, group=group,
                               exclude={s.host or ""},
                               host=host.hostname if host is not None else None)
        mig = region.new_migration(s, "evacuation", new_flavor=s.flavor, dest=dest,
                                   user_id=req.auth.user_id,
                                   status="accepted" if dest else "error")
        record(s, req, "evacuate")
        if dest is None:
            # the conductor's NoValidHost on a rebuild puts the server in ERROR
            s.fault = {"code": 500, "created": iso_naive_us(now()),
                       "message": "No valid host was found. There are not enough hosts "
                                  "available."}
            self._later(region, s, "REBUILD", "rebuilding", "ERROR")
        else:
            region.start_evacuation(s, mig, dest)
            self._later(region, s, "REBUILD", "rebuilding", target)
        password = body.get("adminPass") or uuid.uuid4().hex[:12]
        if not req.mv_at_least(2, 14):
            return json_response({"adminPass": password})
        return Response(status=200)

    # --- shelve, unshelve ----------------------------------------------------------------

    def _act_shelve(self, req: Request, region: RegionState, s: Server, body: Any) -> Response:
        require_member(req, "os_compute_api:os-shelve:shelve")
        self.api.servers.check_lock(req, s)
        check_state(s, "shelve", ("active", "stopped", "paused", "suspended"))
        if s.image_id:
            s.shelved_image_id = region.snapshot_image(s, f"{s.name}-shelved").id
        self._later(region, s, s.status, "shelving", "SHELVED_OFFLOADED")
        record(s, req, "shelve")
        return Response(status=202)

    def _act_shelveOffload(self, req: Request, region: RegionState, s: Server,
                           body: Any) -> Response:
        require_admin(req, "os_compute_api:os-shelve:shelve_offload")
        self.api.servers.check_lock(req, s)
        check_state(s, "shelveOffload", ("shelved",))
        self._later(region, s, "SHELVED", "shelving_offloading", "SHELVED_OFFLOADED")
        record(s, req, "shelveOffload")
        return Response(status=202)

    def _act_unshelve(self, req: Request, region: RegionState, s: Server,
                      body: Any) -> Response:
        zone: str | None = s.requested_availability_zone
        host_name = None
        if body is not None and not req.mv_at_least(2, 77):
            body = None  # before 2.77 the body's value is ignored
        if body is not None:
            if not isinstance(body, dict):
                raise invalid("unshelve", body, f"{body!r} is not of type 'object', 'null'")
            allowed = {"availability_zone"} | ({"host"} if req.mv_at_least(2, 91) else set())
            check_keys(body, allowed)
            if not req.mv_at_least(2, 91) and "availability_zone" not in body:
                raise invalid("unshelve", body, "'availability_zone' is a required property")
            if "availability_zone" in body:
                zone = body["availability_zone"]
            host_name = body.get("host")
        require_member(req, "os_compute_api:os-shelve:unshelve")
        self.api.servers.check_lock(req, s)
        check_state(s, "unshelve", ("shelved", "shelved_offloaded"))
        if (zone != s.requested_availability_zone or host_name) \
                and s.vm_state != "shelved_offloaded":
            raise conflict(f'Specifying an availability zone or a host when unshelving '
                           f'server "{s.id}" with status "{s.status}" is not supported. '
                           f'The server status must be SHELVED_OFFLOADED.')
        if zone is not None and zone not in region.zones:
            raise bad_request("The requested availability zone is not available")
        host = self._host(region, host_name) if host_name else None
        if host is not None and zone is not None and host.service.zone != zone:
            raise conflict(f"Host {host.hostname} is not in the availability zone {zone}.")
        s.requested_availability_zone = zone
        record(s, req, "unshelve")
        if s.vm_state == "shelved":
            self._later(region, s, s.status, "unshelving", "ACTIVE")
            return Response(status=202)
        group = region.server_groups.get(s.server_group_id or "")
        dest = region.schedule(s.flavor, zone=zone, group=group,
                               host=host.hostname if host is not None else None)
        if dest is None:
            # the conductor leaves it offloaded, with the fault recorded
            s.fault = {"code": 400, "created": iso_naive_us(now()),
                       "message": "No valid host was found. There are not enough hosts "
                                  "available."}
            self._later(region, s, s.status, "unshelving", "SHELVED_OFFLOADED")
            return Response(status=202)
        region.claim(s, dest)
        for pid in s.port_ids:
            port = region.ports.get(pid)
            if port is not None:
                port.binding_host_id = dest.hostname
        if s.shelved_image_id:
            self._respawn_guest(region, s)
            region.drop_image(s.shelved_image_id)
            s.shelved_image_id = None
        self._later(region, s, s.status, "spawning", "ACTIVE")
        return Response(status=202)

    def _respawn_guest(self, region: RegionState, s: Server) -> None:
        """Unshelving spawns the guest again from its shelved snapshot: a server without a
        sandbox takes the pool's next one, and the snapshot's files go into its root."""
        if "sim:ssh" not in s.metadata and self.api.cloud.sandboxes:
            take_sandbox(self.api.cloud, s)
        guest_disk.give(s, region.guest_disks.get(s.shelved_image_id or ""))

    # --- migration records ---------------------------------------------------------------

    @staticmethod
    def _flavor_number(region: RegionState, f: Flavor) -> int:
        """The flavor's database id, which the migrations API shows (not its flavorid)."""
        if f.id.isdigit():
            return int(f.id)
        ids = list(region.flavors)
        return ids.index(f.id) + 1 if f.id in ids else 0

    def _view(self, req: Request, region: RegionState, m: Migration) -> dict[str, Any]:
        src = region.hv_by_host.get(m.source_compute)
        out: dict[str, Any] = {
            "id": m.id, "instance_uuid": m.instance_uuid, "status": m.status,
            "source_compute": m.source_compute or None,
            "source_node": src.hostname if src else (m.source_compute or None),
            "dest_compute": m.dest_compute, "dest_node": m.dest_compute,
            "dest_host": m.dest_host,
            "old_instance_type_id": self._flavor_number(region, m.old_flavor),
            "new_instance_type_id": self._flavor_number(region, m.new_flavor),
            "created_at": iso_naive_us(m.created_at), "updated_at": iso_naive_us(m.updated_at),
        }
        if req.mv_at_least(2, 23):
            out["migration_type"] = m.migration_type
            if m.migration_type == "live-migration" and m.status in LIVE_IN_PROGRESS:
                base = f"{req.base_url}/v2.1/servers/{m.instance_uuid}/migrations/{m.id}"
                out["links"] = [{"rel": "self", "href": base},
                                {"rel": "bookmark", "href": base.replace("/v2.1", "")}]
        if req.mv_at_least(2, 59):
            out["uuid"] = m.uuid
        if req.mv_at_least(2, 80):
            out["user_id"], out["project_id"] = m.user_id, m.project_id
        return out

    def migrations(self, req: Request) -> Response:
        require_admin(req, "os_compute_api:os-migrations:index")
        region = self.api.region(req)
        rows = list(region.migrations.values())
        filters = {"instance_uuid": lambda m, v: m.instance_uuid == v,
                   "status": lambda m, v: m.status == v,
                   "migration_type": lambda m, v: m.migration_type == v,
                   "source_compute": lambda m, v: m.source_compute == v,
                   "host": lambda m, v: v in (m.source_compute, m.dest_compute)}
        if req.mv_at_least(2, 80):
            filters["user_id"] = lambda m, v: m.user_id == v
            filters["project_id"] = lambda m, v: m.project_id == v
        for key, test in filters.items():
            value = req.arg(key)
            if value is not None:
                rows = [m for m in rows if test(m, value)]
        rows.sort(key=lambda m: (m.created_at, m.id), reverse=True)
        return json_response({"migrations": [self._view(req, region, m) for m in rows]})

    def _live(self, req: Request, server_id: str) -> tuple[RegionState, list[Migration]]:
        require_admin(req, "os_compute_api:servers:migrations:index")
        region = self.api.region(req)
        s = self.api.servers.get(req, region, server_id)
        return region, [m for m in region.migrations.values()
                        if m.instance_uuid == s.id and m.migration_type == "live-migration"
                        and m.status in LIVE_IN_PROGRESS]

    def _live_view(self, req: Request, region: RegionState, m: Migration) -> dict[str, Any]:
        out = {k: v for k, v in self._view(req, region, m).items()
               if k not in ("migration_type", "links", "old_instance_type_id",
                            "new_instance_type_id", "instance_uuid")}
        out.update(server_uuid=m.instance_uuid, memory_total_bytes=None,
                   memory_processed_bytes=None, memory_remaining_bytes=None,
                   disk_total_bytes=None, disk_processed_bytes=None,
                   disk_remaining_bytes=None)
        return out

    def server_migrations(self, req: Request, server_id: str) -> Response:
        region, rows = self._live(req, server_id)
        return json_response({"migrations": [self._live_view(req, region, m) for m in rows]})

    def server_migration(self, req: Request, server_id: str, migration_id: str) -> Response:
        region, rows = self._live(req, server_id)
        for m in rows:
            if str(m.id) == migration_id:
                return json_response({"migration": self._live_view(req, region, m)})
        raise not_found(f"In-progress live migration {migration_id} is not found for "
                        f"server {server_id}.")
