"""Shelving the cold copies that run: a one-shot for the cold copies provisioned before
provisioning shelved them (issue 19; docs/provisioning.md, "Cold copies").

A cold copy holds no compute capacity: its servers are shelved and offloaded
(``SHELVED_OFFLOADED``). Provisioning does that since issue 19; copies made before it run.
``shelve_cold_copies`` finds every server a finished request placed in a site where the request
holds a cold copy (its recorded targets), shelves and offloads the ones that are not offloaded
yet through the cloud adapter, records each server's state on its request (with an event), and
writes the servers and their projects' quota usage into the inventory (the sync then sees them
``SHELVED_OFFLOADED``, on no host). It is idempotent: a second run finds every cold copy
offloaded and changes nothing. A server the cloud no longer has is reported, not touched.
There is no CLI for it; call it from a Python shell on the control plane with the plane's
context and cloud connections.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from govcloud.cloud import provision as cloud
from govcloud.domain.provisioning import CopyKind, RequestState
from govcloud.errors import GovCloudError
from govcloud.services import provisioning_lifecycle as svc
from govcloud.services.provisioning_common import ProvisioningContext, targets_of

GONE = frozenset({"deleted", "failed"})  # recorded states of servers that are not there
MAX_REQUESTS = 1_000_000


@dataclass(frozen=True, slots=True)
class ColdServer:
    request_id: int
    department: str
    site: str
    ordinal: int
    name: str
    key: str
    server_id: str
    recorded: str  # its status on the request


@dataclass(slots=True)
class ShelveReport:
    """What a run did, by ``site/name (server id)``."""

    shelved: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # offloaded before the run
    missing: list[str] = field(default_factory=list)  # the cloud has no such server
    failed: list[str] = field(default_factory=list)   # with the cloud's error

    def to_dict(self) -> dict[str, Any]:
        return {"shelved": self.shelved, "already": self.already, "missing": self.missing,
                "failed": self.failed}


def cold_servers(ctx: ProvisioningContext, *,
                 departments: Sequence[str] | None = None) -> list[ColdServer]:
    """The servers of done requests in the sites where the request holds a cold copy."""
    out: list[ColdServer] = []
    with ctx.repo.reading() as tx:
        for row in tx.list_requests(departments=departments,
                                    states=[RequestState.DONE.value], limit=MAX_REQUESTS):
            assert row.id is not None
            cold = {t.site for t in targets_of(row) if t.kind is CopyKind.COLD}
            if not cold:
                continue
            out.extend(ColdServer(row.id, row.department, s.site, s.ordinal, s.name, s.key,
                                  s.server_id, s.status)
                       for s in tx.servers(row.id)
                       if s.site in cold and s.server_id and s.status not in GONE)
    return sorted(out, key=lambda c: (c.site, c.request_id, c.ordinal))


def shelve_cold_copies(ctx: ProvisioningContext, connections: Mapping[str, Any], *,
                       departments: Sequence[str] | None = None, timeout_s: float = 600.0,
                       interval_s: float = 0.5,
                       refresh: Callable[[Sequence[str]], Any] | None = None) -> ShelveReport:
    """Shelve and offload every cold copy's server that is not ``SHELVED_OFFLOADED``.

    ``connections``: site → the site's admin connection (``Plane.clouds.connections()``);
    ``refresh``: called with the sites it shelved servers in (the plane's sync), if given.
    A site it cannot reach, or a server the cloud fails to shelve, is in ``failed``; the
    others are still done."""
    report = ShelveReport()
    projects = cloud.ProjectConnections()
    touched: dict[tuple[str, str, str], list[str]] = {}  # (site, department, project) → ids
    for c in cold_servers(ctx, departments=departments):
        label = f"{c.site}/{c.name} ({c.server_id})"
        try:
            project = svc.project_of(ctx, c.department, c.site)
            pconn = projects.get(connections[c.site], c.site, project)
            state = cloud.server_state(pconn, c.site, c.server_id)
            if state is None:
                report.missing.append(label)
                continue
            if state.status == cloud.OFFLOADED:
                report.already.append(label)
            else:
                state = cloud.shelve_offloaded(pconn, c.site, c.server_id, timeout_s=timeout_s,
                                               interval_s=interval_s)
                report.shelved.append(label)
                touched.setdefault((c.site, c.department, project), []).append(c.server_id)
        except KeyError:
            report.failed.append(f"{label}: no connection to site {c.site}")
            continue
        except GovCloudError as exc:
            report.failed.append(f"{label}: {exc.message}")
            continue
        if c.recorded != state.status.lower():
            svc.record_server(ctx, c.request_id, site=c.site, ordinal=c.ordinal, name=c.name,
                              key=c.key, server_id=c.server_id, status=state.status.lower(),
                              event=("shelved", f"{c.site}: {c.name} is {state.status} "
                                                f"({c.server_id}): a cold copy holds no "
                                                "compute capacity (shelved by the one-shot)"))
    _write_inventory(ctx, connections, touched, report)
    if refresh is not None and touched:
        refresh(sorted({site for site, _, _ in touched}))
    return report


def _write_inventory(ctx: ProvisioningContext, connections: Mapping[str, Any],
                     touched: Mapping[tuple[str, str, str], Sequence[str]],
                     report: ShelveReport) -> None:
    """The shelved servers and their projects' quota usage into the inventory, now (a site
    that fails here is caught up by the next sync)."""
    for (site, department, project), ids in sorted(touched.items()):
        try:
            servers = cloud.read_servers(connections[site], site, ids)
            quotas = cloud.read_compute_quotas(connections[site], site, project)
        except GovCloudError as exc:
            report.failed.append(f"{site}: inventory not refreshed ({exc.message}); the next "
                                 "sync brings the shelved servers in")
            continue
        svc.write_inventory(ctx, site, servers, quotas, project=project,
                            department=department)
