"""Deciding on requests: approval (placing the request and reserving what it needs, under
the locks, in batches) and rejection.

Approval places the request (``govcloud.domain.placement``) against the stored inventory
snapshot minus what other approved requests hold, and records the reservation in the same
locked transaction (``govcloud.store.provisioning`` explains the locking). A request that does
not fit gets ``InsufficientCapacity`` with the placement's explanation and stays submitted.
Approvals arriving together are decided in one transaction (``store.group_commit.Batcher``):
``_approve_batch``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import OperationalError

from govcloud.domain.capacity import SiteCapacity
from govcloud.domain.catalogue import NO_QUOTA, Catalogue
from govcloud.domain.inventory import HypervisorInfo
from govcloud.domain.notifications import EventKind
from govcloud.domain.placement import (
    Demand,
    FitIndex,
    Placement,
    SiteInput,
    capped,
    catalogue_limits,
    place,
)
from govcloud.domain.provisioning import RequestSpec, RequestState, SiteTarget, transition
from govcloud.domain.rbac import Action, Principal, may_approve
from govcloud.domain.text import check_text
from govcloud.errors import (
    Forbidden,
    GovCloudError,
    InsufficientCapacity,
    InvalidInput,
    NotFound,
    TemporaryError,
)
from govcloud.services.access import get_department
from govcloud.services.inventory import site_placement
from govcloud.services.lifecycle_approval import flavors_of, is_lifecycle, place_lifecycle
from govcloud.services.notifications import tell
from govcloud.services.provisioning_common import (
    ProvisioningContext,
    request_json,
    targets_of,
    visible_request,
)
from govcloud.services.provisioning_lifecycle import finish
from govcloud.store import provisioning as sql
from govcloud.store.audit import AuditRecord
from govcloud.store.group_commit import Batcher, Piece
from govcloud.store.provisioning_repo import Writer


def _check_decider(ctx: ProvisioningContext, principal: Principal, request_id: int,
                   action: Action) -> None:
    """The role and scope may ``action`` the request, and the principal's person did not
    submit it."""
    with ctx.repo.reading() as tx:
        row = visible_request(ctx, principal, tx.find_request(request_id), request_id, action)
        requester = row.requester_person
    decision = may_approve(principal, requester)
    if not decision:
        raise Forbidden(decision.reason,
                        hint="a bureau-admin who is another person must decide on it")


def approve(ctx: ProvisioningContext, principal: Principal, request_id: int) -> dict[str, Any]:
    return _approve(ctx, request_id, approver=principal.name, actor=principal.name,
                    principal=principal)


def _insufficient(explanation: str, advice: str) -> InsufficientCapacity:
    """The request does not fit: why (per site), and the limits to raise (``advice``)."""
    return InsufficientCapacity(f"insufficient capacity: {explanation}", hint=advice)


@dataclass(frozen=True, slots=True)
class _Approval:
    request_id: int
    approver: str
    actor: str
    reason: str | None
    principal: Principal | None  # None: the caller decided in its own right (a policy)


_BATCHERS_LOCK = threading.Lock()
# how long a batch of approvals waits for the next ones under load (group_commit.Batcher):
# at most 15 ms for as many as the last batch held, and no longer than 3 ms after the last
# one queued (50 approvers answered together take 3-11 ms to all come back on 2 cores)
APPROVAL_GATHER_S = 0.015
APPROVAL_IDLE_S = 0.003


def _approve(ctx: ProvisioningContext, request_id: int, *, approver: str, actor: str,
             reason: str | None = None, principal: Principal | None = None) -> dict[str, Any]:
    """Approve: place the request against the inventory snapshot and the reservation ledger
    and reserve what it needs, all under the locks, with the approvals arriving at the same
    time (one transaction and one commit for them all: ``_approve_batch``)."""
    with _BATCHERS_LOCK:
        if ctx.approvals is None:
            ctx.approvals = Batcher(lambda batch: _approve_batch(ctx, batch),
                                    gather_s=APPROVAL_GATHER_S, idle_s=APPROVAL_IDLE_S)
        batcher = ctx.approvals
    try:
        row, placement = batcher.run(_Approval(request_id, approver, actor, reason, principal))
    except OperationalError as exc:
        if "locked" not in str(exc):
            raise
        raise TemporaryError("the database is busy (too many writers at once); nothing was "
                             "reserved", hint="approve again in a moment") from exc
    return request_json(row, placement=placement)  # by the caller, off the batch's lock


def _approve_batch(ctx: ProvisioningContext, batch: list[Piece]) -> None:
    """The approvals queued together, in arrival order, in one write transaction: lock their
    requests (by id) and the ledger rows they touch (sorted) — the order every writer locks
    in — then decide each in turn against the ledger as the ones before it left it, so the
    outcome is that of approving them one after another. A refused approval (not found, not
    allowed, not submitted, no room) gets its error and writes nothing; the others are written
    together (requests, reservations, ledger, events, audit entries) and committed once."""
    ids = sorted({piece.item.request_id for piece in batch})
    repo = ctx.repo
    while True:
        with repo.writing() as tx:
            rows = tx.lock_requests(ids)
            targets = {rid: targets_of(row) for rid, row in rows.items()}
            keys = sorted({k for rid, row in rows.items()
                           for k in sql.ledger_keys(row["department"],
                                                      [t.site for t in targets[rid]])})
            missing = repo.unensured(keys)
            if missing:  # a department's first request in a site: make its ledger rows
                tx.rollback()
                repo.ensure_ledger(missing)
                continue
            run = _ApprovalRun(ctx, tx, rows, targets, keys)
            for piece in batch:
                try:
                    piece.result = run.approve(piece.item)
                except GovCloudError as exc:
                    piece.error = exc
            run.write()
            return  # (committed as the unit of work ends)


class _ApprovalRun:
    """One batch of approvals: what it read (once for the batch) and what it will write."""

    def __init__(self, ctx: ProvisioningContext, tx: Writer,
                 rows: dict[int, dict[str, Any]], targets: Mapping[int, list[SiteTarget]],
                 keys: Sequence[tuple[str, str]]) -> None:
        self.ctx, self.tx, self.rows = ctx, tx, rows
        self.changed: dict[tuple[str, str], Demand] = {}
        self.requests: list[dict[str, Any]] = []
        self.reservations: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.audit: list[AuditRecord] = []
        self.allowed: dict[tuple[int, str], GovCloudError | None] = {}
        self.sites: dict[str, tuple[list[HypervisorInfo], SiteCapacity, FitIndex]] = {}
        self.catalogue: Catalogue | None = None
        self.limits: dict[tuple[str, str], dict[str, int]] = {}
        self.specs: dict[int, tuple[RequestSpec, list[SiteTarget]] | InvalidInput] = {}
        lifecycle: dict[int, set[str]] = {}  # a lifecycle request's flavors (its plan's)
        for rid, row in rows.items():
            if is_lifecycle(row):
                lifecycle[rid] = flavors_of(row)
                continue
            try:
                self.specs[rid] = (self.ctx.specs.of(rid, row["spec_json"]), targets[rid])
            except InvalidInput as exc:  # a stored spec that no longer parses: refused alone
                self.specs[rid] = exc
        self.targets = targets
        parsed = [(rows[rid]["department"], v) for rid, v in self.specs.items()
                  if not isinstance(v, InvalidInput)]
        reads = tx.batch_reads(  # locks the ledger rows, then the audit log
            keys,
            {(dept, t.site) for dept, (_, sites) in parsed for t in sites}
            | {(rows[rid]["department"], t.site) for rid in lifecycle for t in targets[rid]},
            {g.flavor for _, (spec, _) in parsed for g in spec.servers}
            | {name for names in lifecycle.values() for name in names})
        self.ledger, self.projects, self.flavors = reads.ledger, reads.projects, reads.flavors
        self.states, self.audit_head = reads.states, reads.audit_head

    def site_input(self, department: str, site: str) -> SiteInput:
        placed = self.sites.get(site)
        if placed is None:  # the site's hosts once per batch (a sync cannot change them now)
            placed = self.sites[site] = site_placement(
                self.tx.connection(), self.ctx.snapshot, site, self.states.get(site))
        hosts, cap, index = placed
        project, quotas = self.projects.get((department, site), (None, {}))
        quotas = capped(quotas, self.catalogue_limits(department, site))
        return SiteInput(
            site=site, hosts=hosts, flavors=self.flavors.get(site, {}), quotas=quotas,
            reserved_capacity=self.ledger[(site, sql.SITE_TOTAL)],
            reserved_quota=self.ledger[(site, department)], project_id=project,
            headroom=cap.headroom, fit_index=index)

    def catalogue_limits(self, department: str, site: str) -> dict[str, int]:
        """The catalogue's quotas of ``department`` in ``site``: what govcloud applies, in
        force for approvals even before the store has read them back from the cloud (a
        department the catalogue does not list, or a site it leaves out, gets none)."""
        limits = self.limits.get((department, site))
        if limits is None:
            if self.catalogue is None:
                self.catalogue = self.ctx.catalogue()
            entry = self.catalogue.find(department)
            limits = self.limits[(department, site)] = catalogue_limits(
                entry.quota(site) if entry is not None else NO_QUOTA)
        return limits

    def approve(self, item: _Approval) -> tuple[dict[str, Any], dict[str, Any]]:
        """Decide one approval; the request's new row and placement (or raise why not)."""
        rid = item.request_id
        row = self.rows.get(rid)
        if row is None:
            raise NotFound(f"no request {rid}",
                           hint="`govcloud request list` shows the requests you may see")
        department = row["department"]
        if item.principal is not None:
            seen = (id(item.principal), department)
            if seen not in self.allowed:  # the same approver's RBAC once per department
                try:
                    get_department(item.principal, self.ctx.catalogue(), department,
                                   Action.REQUEST_APPROVE)
                    self.allowed[seen] = None
                except (NotFound, Forbidden) as exc:
                    self.allowed[seen] = exc
            refusal = self.allowed[seen]
            if isinstance(refusal, NotFound):  # not even visible: the request "does not exist"
                raise NotFound(f"no request {rid}", hint="`govcloud request list` shows the "
                               "requests you may see")
            if refusal is not None:  # a fresh error per approval (each caller raises its own)
                raise Forbidden(refusal.message, hint=refusal.hint)
            decision = may_approve(item.principal, row["requester_person"])
            if not decision:
                raise Forbidden(decision.reason,
                                hint="a bureau-admin who is another person must decide on it")
        before = row["state"]
        transition(rid, before, RequestState.APPROVED)
        placement, targets = self.place(rid, row)
        if not placement.ok:
            raise _insufficient(placement.explain(), placement.advice(department))
        now = self.ctx.clock()
        demands = {s.site: s.demand for s in placement.sites if s.demand != Demand()}
        for site, demand in sorted(demands.items()):
            for key in ((site, sql.SITE_TOTAL), (site, department)):
                self.ledger[key] = self.changed[key] = self.ledger[key] + demand
            self.reservations.append(sql.reservation_values(rid, site, department, demand,
                                                              now))
        doc = {"targets": [{"site": t.site, "kind": t.kind.value} for t in targets],
               **placement.to_dict()}
        row.update(state=RequestState.APPROVED.value, approver=item.approver,
                   reason=item.reason, updated_at=now, placement_json=json.dumps(doc))
        self.requests.append(row)
        self.audit.append(AuditRecord(
            item.actor, "request.approve", f"department:{department}",
            {"request": rid, "state": before},
            {"request": rid, "state": row["state"], "system": row["system"],
             "approver": item.approver, "kind": row.get("kind") or "provision",
             "reserved": {s: d.to_dict() for s, d in demands.items()}}))
        self.events.append({"request_id": rid, "kind": "approved", "at": now, "message":
                            f"approved by {item.approver}; reserved "
                            + (", ".join(f"{s}: {d.cores} vCPU, {d.instances} servers"
                                         for s, d in sorted(demands.items())) or "nothing")})
        return row, doc

    def place(self, rid: int, row: Mapping[str, Any]) -> tuple[Placement, list[SiteTarget]]:
        """Where request ``rid`` goes and what it needs in each site: a provisioning
        request's servers, or what a lifecycle request needs (``lifecycle_approval``)."""
        targets = self.targets[rid]
        if is_lifecycle(row):
            return place_lifecycle(self, row, targets), targets
        parsed = self.specs[rid]
        if isinstance(parsed, InvalidInput):  # a fresh error per approval, as for Forbidden
            raise InvalidInput(parsed.message, hint=parsed.hint)
        spec, targets = parsed
        inputs = {t.site: self.site_input(row["department"], t.site) for t in targets}
        return place(spec, targets, inputs, group_policy=self.ctx.group_policy), targets

    def write(self) -> None:
        if not self.requests:
            return
        self.tx.write_approvals(requests=self.requests, reservations=self.reservations,
                                ledger=self.changed, events=self.events, audit=self.audit,
                                audit_head=self.audit_head)
        notifier = self.ctx.notify
        if notifier is not None and notifier.enabled:  # told in the approvals' transaction
            conn = self.tx.connection()
            for row in self.requests:
                tell(notifier, conn, EventKind.REQUEST_APPROVED, row["department"], row["id"],
                     row["updated_at"], actor=row["approver"], system=row["system"],
                     detail=row["reason"])


def reject(ctx: ProvisioningContext, principal: Principal, request_id: int,
           reason: str) -> dict[str, Any]:
    if not reason or not reason.strip():
        raise InvalidInput("a rejection needs a reason", hint="pass --reason TEXT")
    check_text(reason, "the reason")
    _check_decider(ctx, principal, request_id, Action.REQUEST_REJECT)
    return finish(ctx, request_id, RequestState.REJECTED, actor=principal.name,
                   reason=reason.strip(), verb="reject")
