"""Migration targets made by the provisioning service, so that quotas, reservations, DR
placement and the audit apply to them as to any request.

``CloudTargets.provision(host, wave)`` submits a request for the host's system (one server,
the ``migrate_target`` setting's flavor, image and networks), approved in the name of the
migration (the wave's entry gate is the decision, checked before the run), waits for the
provisioning worker to build it, and returns how to reach it: the server's first fixed
address on port 22 — or, on the simulator, the SSH sandbox that backs it (metadata
``sim:ssh``/``sim:user``/``sim:root``). The request id is recorded before waiting, so a run
interrupted here adopts the same request on resume instead of submitting another.

The request's other servers — the DR copies its DR level asks for (a standby in DR-LOCAL, a
cold copy in DR-REMOTE) — are returned too: every sync copies the data to them as well.
``expected_keys`` reads each server's SSH host keys from its console log (what cloud-init
printed at boot), which the run pins the servers' keys to (``migration_keys``).
``release`` deletes every server of the request once the host is rolled back (idempotent:
a server already gone is fine).
"""

from __future__ import annotations

import re
from functools import partial

from sqlmodel import Session

from govcloud.cloud.console import read_boot_keys
from govcloud.cloud.provision import delete_server
from govcloud.domain.legacy import LegacyHost, TargetCopy
from govcloud.errors import GovCloudError, PermanentError, TemporaryError
from govcloud.services import provisioning
from govcloud.services.migration_commands import endpoint_of
from govcloud.services.migration_keys import Expected, wait_for_boot_keys
from govcloud.services.migration_run import DeclaredTargets, Provisioned
from govcloud.services.plane import Plane
from govcloud.store import inventory as inventory_store
from govcloud.store import migration as repo
from govcloud.store import provisioning as provision_store
from govcloud.store.audit import write_session
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow

APPROVER = "migration-gate"


def _system(name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return (slug or "migrated")[:42].rstrip("-").ljust(2, "0")


class CloudTargets:
    """Targets provisioned through ``govcloud.services.provisioning`` (declared ones first)."""

    def __init__(self, plane: Plane, *, timeout_s: float = 900.0) -> None:
        self.plane = plane
        self.timeout_s = timeout_s
        self.declared = DeclaredTargets()

    def provision(self, host: LegacyHost, wave: str, *,
                  actor: str = "migration") -> Provisioned:
        """The host's target; the request is submitted in the name of ``actor`` (who runs
        the wave)."""
        if host.target is not None:
            return self.declared.provision(host, wave, actor=actor)
        settings = self.plane.settings
        spec = dict(settings.migrate_target)
        ctx = self.plane.provisioning
        engine = self.plane.engine
        with Session(engine) as session:
            placed = next(p for p in repo.wave_hosts(session, wave) if p.host == host.name)
            pending = placed.target_server
        if pending and pending.startswith("request:"):
            rid = int(pending.split(":", 1)[1])  # resume: adopt the request made before
        else:
            data = {"department": host.department, "system": _system(host.system),
                    "justification": f"migration target of legacy host {host.name} "
                                     f"(wave {wave})",
                    "servers": [{"name_prefix": _system(host.name), "count": 1,
                                 "flavor": spec["flavor"], "image": spec["image"],
                                 "network": spec["network"]}]}
            answer = provisioning.submit_approved(ctx, actor=actor, data=data,
                                                  approver=APPROVER)
            rid = int(answer["id"])
            with write_session(engine) as session:
                row = next(p for p in repo.wave_hosts(session, wave) if p.host == host.name)
                row.target_server = f"request:{rid}"
                session.add(row)
                session.commit()
        final = provisioning.wait_for(ctx, rid, self.timeout_s)
        if final["state"] != "done":
            raise PermanentError(f"the target of {host.name} was not provisioned: request "
                                 f"{rid} is {final['state']} ({final.get('error') or '-'})",
                                 hint=f"`govcloud request show {rid}`")
        kinds = {t["site"]: t["kind"]
                 for t in (final.get("placement") or {}).get("targets") or ()}
        with Session(engine) as session:
            servers = [s for s in provision_store.servers(session, rid) if s.server_id]
        primary = next((s for s in servers if kinds.get(s.site) == "primary"),
                       next((s for s in servers if s.site == "PROD"),
                            servers[0] if servers else None))
        if primary is None or primary.server_id is None:
            raise PermanentError(f"request {rid} finished without a server")
        conns = self.plane.clouds.connections()
        user = str(spec.get("user", "root"))
        copies = tuple(
            TargetCopy(site=s.site, kind=kinds.get(s.site, "copy"), server=s.server_id,
                       endpoint=endpoint_of(conns[s.site].compute.get_server(s.server_id),
                                            user))
            for s in sorted(servers, key=lambda x: (x.site, x.ordinal)) if s is not primary)
        target = endpoint_of(conns[primary.site].compute.get_server(primary.server_id), user)
        return Provisioned(target, primary.server_id, copies, rid)

    def expected_keys(self, host: LegacyHost, made: Provisioned) -> dict[str, Expected | None]:
        """Each server's host keys as its console log shows them (cloud-init prints them at
        boot; waited for up to ``migrate_host_key_wait_s``); None for a server whose log
        shows none by then. A declared target: its inventory's pin."""
        if made.request is None:
            return self.declared.expected_keys(host, made)
        with Session(self.plane.engine) as session:
            sites = {s.server_id: s.site for s in provision_store.servers(session, made.request)
                     if s.server_id}
        conns = self.plane.clouds.connections()
        wait = self.plane.settings.migrate_host_key_wait_s
        out: dict[str, Expected | None] = {}
        for server, ep in ((made.server, made.endpoint),
                           *((c.server, c.endpoint) for c in made.copies)):
            site = sites.get(server or "")
            if server is None or site is None:
                out[ep.known_hosts_name] = None
                continue
            boot = wait_for_boot_keys(partial(read_boot_keys, conns[site], site, server),
                                      timeout_s=wait)
            out[ep.known_hosts_name] = None if boot is None else Expected.from_boot(
                boot, f"the console log of server {server} in {site}")
        return out

    def release(self, host: LegacyHost, wave: str, made: Provisioned, *,
                actor: str = "migration") -> list[str]:
        """Delete every server of the request that built the host's target (the target and
        its DR copies); a declared target is kept."""
        if made.request is None:
            return self.declared.release(host, wave, made, actor=actor)
        with Session(self.plane.engine) as session:
            servers = [s for s in provision_store.servers(session, made.request)
                       if s.server_id]
        conns = self.plane.clouds.connections()
        done, failed = [], []
        for s in sorted(servers, key=lambda x: (x.site, x.ordinal)):
            assert s.server_id is not None
            try:
                delete_server(conns[s.site], s.site, s.server_id)
            except GovCloudError as exc:  # the other sites' servers are deleted all the same
                failed.append(f"could not delete {s.site} server {s.server_id}: {exc.message}")
                continue
            with write_begin(self.plane.engine) as conn:  # the snapshot knows at once
                inventory_store.tombstone(conn, s.site, [s.server_id], utcnow())
            done.append(f"deleted {s.site} server {s.server_id} ({s.name}) of request "
                        f"{made.request}: the data is back on the legacy host")
        if failed:
            raise TemporaryError("; ".join([*failed, *done]),
                                 hint="roll back again once the site answers")
        provisioning.event(self.plane.provisioning, made.request, "released",
                           f"the servers were deleted by the rollback of {host.name} "
                           f"(wave {wave}, by {actor})")
        return done
