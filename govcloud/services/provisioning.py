"""Provisioning requests as use cases: submit, approve (reserving capacity and quota),
reject, cancel, show and list; and the state changes the job worker makes.

Every accepted transition is audited (``request.<verb>``, target ``department:<code>``) in the
same transaction as the change, with who did it and why. RBAC: submitting and cancelling need
``request.submit`` / ``request.cancel`` on the request's department, deciding needs
``request.approve`` / ``request.reject`` there and ``may_approve`` (the requester never decides
on their own request — nor does any other principal of the same person: a request records its
requester's person). A department's auto-approval policy (setting ``auto_approve``) approves
a request at submission when it allows it; the request then shows the policy as its approver.

Approval places the request (``govcloud.domain.placement``) against the stored inventory
snapshot minus what other approved requests hold, and records the reservation in the same
locked transaction (``govcloud.store.provisioning`` explains the locking). A request that does
not fit gets ``InsufficientCapacity`` with the placement's explanation and stays submitted.

For other capabilities (the migration engineer provisions migration targets through here):
``submit_approved(ctx, actor=..., data=..., approver=...)`` submits a request for a system and
approves it at once in the name of ``approver`` (no RBAC: the caller has checked its own);
the job worker then provisions it like any other approved request, and
``wait_for(ctx, request_id, timeout_s)`` waits for it to finish.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from govcloud.domain.capacity import SiteCapacity
from govcloud.domain.catalogue import NO_QUOTA, Catalogue, Department
from govcloud.domain.inventory import HypervisorInfo
from govcloud.domain.limits import text_digest
from govcloud.domain.placement import (
    Demand,
    FitIndex,
    SiteInput,
    capped,
    catalogue_limits,
    place,
)
from govcloud.domain.provisioning import (
    DEFAULT_POLICY,
    AutoApprove,
    DrPolicy,
    RequestSpec,
    RequestState,
    SiteTarget,
    auto_approve_from_config,
    effective_dr_level,
    parse_request,
    policy_from_config,
    transition,
)
from govcloud.domain.rbac import GLOBAL, Action, Principal, Target, can, may_approve
from govcloud.domain.sites import Site
from govcloud.domain.text import check_text
from govcloud.errors import (
    ConflictError,
    Forbidden,
    GovCloudError,
    InsufficientCapacity,
    InvalidInput,
    NotFound,
    TemporaryError,
)
from govcloud.services.inventory import (
    SnapshotCache,
    catalogue_for,
    rbac_city,
    site_placement,
)
from govcloud.store import inventory as inv
from govcloud.store import provisioning as store
from govcloud.store.audit import AuditLog, AuditRecord, audit_insert, write_session
from govcloud.store.bulk import write_all
from govcloud.store.group_commit import Batcher, Piece
from govcloud.store.tables import utcnow
from govcloud.store.tables_provisioning import (
    ProvisionRequestRow,
    ProvisionServerRow,
)

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
# checks that images and networks exist in each target site; returns the problems found
Validator = Callable[[RequestSpec, Sequence[SiteTarget]], list[str]]


@dataclass
class ProvisioningContext:
    """What the use cases need; ``context_for(app.state)`` builds it for the API."""

    engine: Engine
    sites: Sequence[Site]
    catalogue: Callable[[], Catalogue]
    policy: DrPolicy = DEFAULT_POLICY
    auto_approve: Mapping[str, AutoApprove] = field(default_factory=dict)
    group_policy: str = "anti-affinity"
    validator: Validator | None = None
    clock: Clock = utcnow
    playbooks: Mapping[str, Any] = field(default_factory=dict)  # name → playbook path
    # the stored hosts and placement indexes, kept until a sync changes them (the plane's)
    snapshot: SnapshotCache = field(default_factory=SnapshotCache, compare=False)
    # the approvals queued together (``_approve``), made on first use
    approvals: Batcher | None = field(default=None, init=False, repr=False, compare=False)


def context_for(state: Any) -> ProvisioningContext:
    """The control plane's context, made once and kept on ``state`` (engine, settings, clouds,
    catalogue)."""
    ctx: ProvisioningContext | None = getattr(state, "provisioning", None)
    if ctx is not None:
        return ctx
    settings = state.settings
    cache = catalogue_for(state)

    def catalogue() -> Catalogue:
        value = cache.get()
        if value is None:
            raise NotFound("no department catalogue", hint="start the server with --catalogue")
        return value

    def validator(spec: RequestSpec, targets: Sequence[SiteTarget]) -> list[str]:
        from govcloud.cloud.provision import check_references

        conns = state.clouds.connections()
        return [p for t in targets
                for p in check_references(conns[t.site], t.site, spec)]

    ctx = ProvisioningContext(
        engine=state.engine, sites=settings.site_list(), catalogue=catalogue,
        policy=policy_from_config(settings.dr_policy) if settings.dr_policy else DEFAULT_POLICY,
        auto_approve=auto_approve_from_config(settings.auto_approve),
        group_policy=settings.provision_group_policy, validator=validator,
        clock=getattr(state, "clock", utcnow), playbooks=dict(settings.provision_playbooks))
    state.provisioning = ctx
    return ctx


# --- reading -----------------------------------------------------------------------------------

def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


_REQUEST_COLUMNS = ("id", "department", "system", "dr_level", "state", "requester", "approver",
                    "reason", "error", "spec_json", "placement_json", "created_at", "updated_at")


def request_json(row: ProvisionRequestRow | Mapping[str, Any], *,
                 placement: dict[str, Any] | None = None) -> dict[str, Any]:
    """A request as the API shows it (``placement``: the stored placement, already loaded)."""
    r = row if isinstance(row, Mapping) else {c: getattr(row, c) for c in _REQUEST_COLUMNS}
    if placement is None and r["placement_json"]:
        placement = json.loads(r["placement_json"])
    return {"id": r["id"], "department": r["department"], "system": r["system"],
            "dr_level": r["dr_level"], "state": r["state"], "requester": r["requester"],
            "approver": r["approver"], "reason": r["reason"], "error": r["error"],
            "spec": json.loads(r["spec_json"]), "placement": placement,
            "created_at": _iso(r["created_at"]), "updated_at": _iso(r["updated_at"])}


_SPECS: OrderedDict[str, RequestSpec] = OrderedDict()  # stored spec JSON → parsed (newest last)
_SPECS_LOCK = threading.Lock()
_SPECS_MAX = 4096


def _remember_spec(spec_json: str, spec: RequestSpec) -> None:
    with _SPECS_LOCK:
        _SPECS[spec_json] = spec
        _SPECS.move_to_end(spec_json)
        while len(_SPECS) > _SPECS_MAX:
            _SPECS.popitem(last=False)


def _stored_spec(spec_json: str) -> RequestSpec:
    """A stored request's spec, parsed (specs never change once submitted; the ones this
    process stored or read lately are kept parsed)."""
    with _SPECS_LOCK:
        spec = _SPECS.get(spec_json)
    if spec is None:
        spec = parse_request(json.loads(spec_json))
        _remember_spec(spec_json, spec)
    return spec


def _server_json(row: ProvisionServerRow) -> dict[str, Any]:
    return {"site": row.site, "ordinal": row.ordinal, "name": row.name, "key": row.key,
            "server_id": row.server_id, "status": row.status, "error": row.error}


def _department(ctx: ProvisioningContext, principal: Principal, code: str,
                action: Action) -> Department:
    """The department, when the principal may see it (else 404) and ``action`` it (else 403)."""
    department = ctx.catalogue().find(code)
    target = None if department is None else Target.of(code, rbac_city(department))
    if department is None or target is None or not can(principal, Action.VIEW_DEPARTMENT,
                                                       target):
        raise NotFound(f"no department {code!r}",
                       hint="`govcloud departments list` shows the departments you may see")
    decision = can(principal, action, target)
    if not decision:
        raise Forbidden(decision.reason,
                        hint="ask a bureau-admin for a principal with the right role or scope")
    return department


def _visible_request(ctx: ProvisioningContext, principal: Principal, session: Session,
                     request_id: int, action: Action = Action.VIEW_DEPARTMENT
                     ) -> ProvisionRequestRow:
    row = session.get(ProvisionRequestRow, request_id)
    if row is None:
        raise NotFound(f"no request {request_id}",
                       hint="`govcloud request list` shows the requests you may see")
    try:
        _department(ctx, principal, row.department, action)
    except NotFound:
        raise NotFound(f"no request {request_id}",
                       hint="`govcloud request list` shows the requests you may see") from None
    return row


def show(ctx: ProvisioningContext, principal: Principal, request_id: int, *,
         after_event: int = 0) -> dict[str, Any]:
    with Session(ctx.engine) as session:
        row = _visible_request(ctx, principal, session, request_id)
        out = request_json(row)
        out["servers"] = [_server_json(s) for s in store.servers(session, request_id)]
        out["events"] = [{"id": e.id, "at": _iso(e.at), "kind": e.kind, "message": e.message}
                         for e in store.events(session, request_id, after_id=after_event)]
    return out


def list_requests(ctx: ProvisioningContext, principal: Principal, *,
                  states: Sequence[str] | None = None, department: str | None = None,
                  limit: int = 200) -> dict[str, Any]:
    for s in states or ():
        if s not in {x.value for x in RequestState}:
            _bad_state(s)
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit must be 1..1000, not {limit}")
    if department is not None:
        _department(ctx, principal, department, Action.VIEW_DEPARTMENT)
        codes: list[str] | None = [department]
    elif can(principal, Action.VIEW_DEPARTMENT, GLOBAL):
        codes = None
    else:
        codes = [d.code for d in ctx.catalogue()
                 if can(principal, Action.VIEW_DEPARTMENT, Target.of(d.code, rbac_city(d)))]
    with Session(ctx.engine) as session:
        rows = store.list_requests(session, departments=codes, states=states, limit=limit)
        return {"requests": [request_json(r) for r in rows], "count": len(rows)}


def _bad_state(value: str) -> None:
    raise InvalidInput(f"unknown state {value!r}",
                       hint="states: " + ", ".join(s.value for s in RequestState))


# --- submitting -------------------------------------------------------------------------------

def _check_before_reserving(ctx: ProvisioningContext, spec: RequestSpec,
                            targets: Sequence[SiteTarget]) -> None:
    """Everything that can be known wrong before a request exists: flavors in every target
    site (from the synced flavor lists), the department's project in each site, and — through
    the cloud — images and networks."""
    problems: list[str] = [
        f"unknown playbook {name!r} (configured: {', '.join(sorted(ctx.playbooks)) or 'none'})"
        for name in spec.playbooks if name not in ctx.playbooks]
    sites = [s.name for s in ctx.sites]
    problems += [f"servers[{i}].network: unknown site {site!r} (sites: {', '.join(sites)})"
                 for i, g in enumerate(spec.servers) if not isinstance(g.network, str)
                 for site, _name in g.network if site not in sites]
    with Session(ctx.engine) as session:
        for t in targets:
            if store.project_of(session, spec.department, t.site) is None:
                problems.append(f"{t.site}: department {spec.department} has no project "
                                "(run `govcloud tenants apply` and `govcloud sync`)")
            names = {g.flavor for g in spec.servers}
            known = store.site_flavors(session, t.site, names)
            for name in sorted(names - set(known)):
                some = inv.flavor_names(session.connection(), limit=8)
                problems.append(f"{t.site}: unknown flavor {name!r} (known: "
                                f"{', '.join(some) or 'none synced: run `govcloud sync --full`'})")
            for g in spec.servers:
                if g.network_for(t.site) is None:
                    problems.append(f"{t.site}: servers {g.name_prefix} name no network for "
                                    "this site")
    if not problems and ctx.validator is not None:
        problems = ctx.validator(spec, targets)
    if problems:
        raise InvalidInput("request refused before anything was reserved: "
                           + "; ".join(problems),
                           hint="fix the request file (names are listed by `govcloud capacity "
                                "--flavor` and the cloud's image and network lists)")


def _audit(session: Session, ctx: ProvisioningContext, actor: str, verb: str,
           row: ProvisionRequestRow, before: str | None, **after: Any) -> None:
    AuditLog(session=session, clock=ctx.clock).append(
        actor=actor, action=f"request.{verb}", target=f"department:{row.department}",
        before=None if before is None else {"request": row.id, "state": before},
        after={"request": row.id, "state": row.state, "system": row.system, **after})


def submit(ctx: ProvisioningContext, principal: Principal, data: Any) -> dict[str, Any]:
    """Submit a request (parsed and checked first; nothing is stored when it is bad); a
    department's auto-approval policy may approve it at once.

    Idempotent per system: while the system has a live request (submitted, approved,
    provisioning or done), submitting the same request again changes nothing and answers that
    request with ``unchanged: true``; a different one is a ConflictError naming what differs.
    After a rejection, cancellation or failure the system may be asked for anew."""
    spec = parse_request(data)
    department = _department(ctx, principal, spec.department, Action.REQUEST_SUBMIT)
    with Session(ctx.engine) as session:  # a rerun of the same file: nothing to check again
        existing = _same_system(store.live_request(session, spec.department, spec.system),
                                spec)
    if existing is not None:
        return {**request_json(existing), "unchanged": True}
    row, made = _insert_submitted(ctx, spec, department, principal.name, principal.person,
                                  once_per_system=True)
    if not made:  # an identical request got in first
        return {**request_json(row), "unchanged": True}
    rid = row.id or 0
    policy = ctx.auto_approve.get(spec.department)
    if policy is not None:
        _try_auto_approve(ctx, rid, policy)
    with Session(ctx.engine) as session:
        return request_json(store.get_request(session, rid))


def _same_system(row: ProvisionRequestRow | None,
                 spec: RequestSpec) -> ProvisionRequestRow | None:
    """``row`` (the system's live request) when it asks for exactly ``spec``; None when there
    is none; a ConflictError naming what differs otherwise."""
    if row is None:
        return None
    stored = _stored_spec(row.spec_json).to_dict()
    wanted = spec.to_dict()
    if stored == wanted:
        return row
    differs = sorted(k for k in stored.keys() | wanted.keys() if stored.get(k) != wanted.get(k))
    after = ("cancel it first (`govcloud request cancel "
             f"{row.id} --reason ...`), then apply the changed file"
             if row.state in (RequestState.SUBMITTED, RequestState.APPROVED) else
             "a request cannot change servers that exist or are being made: give the "
             "changed system a new name, or ask the bureau")
    raise ConflictError(f"{row.department}/{row.system} already has request {row.id} "
                        f"({row.state}), which asks for something else: "
                        f"{', '.join(differs)} differ",
                        hint=f"the same file again is no change; to change it, {after}")


def _insert_submitted(ctx: ProvisioningContext, spec: RequestSpec, department: Department,
                      requester: str, requester_person: str, *,
                      once_per_system: bool = False) -> tuple[ProvisionRequestRow, bool]:
    """Store a submitted request; (it, True). ``once_per_system``: under the system's lock,
    (its live request, False) when that asks for the same (ConflictError when it differs)."""
    level = effective_dr_level(spec, department.dr_level)
    targets = ctx.policy.targets(level, ctx.sites)
    _check_before_reserving(ctx, spec, targets)
    now = ctx.clock()
    spec_json = json.dumps(spec.to_dict(), ensure_ascii=False)
    _remember_spec(spec_json, spec)  # what approving it will read back (the same spec)
    with write_session(ctx.engine) as session:
        if once_per_system:
            store.lock_system(session, spec.department, spec.system)
            existing = _same_system(store.live_request(session, spec.department, spec.system),
                                    spec)
            if existing is not None:
                return existing, False
        row = ProvisionRequestRow(
            department=spec.department, system=spec.system, dr_level=level,
            state=RequestState.SUBMITTED.value, requester=requester,
            requester_person=requester_person, spec_json=spec_json,
            placement_json=json.dumps({"targets": [{"site": t.site, "kind": t.kind.value}
                                                   for t in targets]}),
            created_at=now, updated_at=now)
        session.add(row)
        session.flush()
        _audit(session, ctx, requester, "submit", row, None, dr_level=level,
               justification=text_digest(spec.justification), servers=spec.server_count,
               sites=[t.site for t in targets])
        store.add_event(session, row.id or 0, "submitted",
                        f"submitted by {requester}: {spec.server_count} servers per site in "
                        f"{', '.join(t.site for t in targets)} (DR level {level})", now)
        session.commit()
        session.refresh(row)
        return row, True


def _try_auto_approve(ctx: ProvisioningContext, rid: int, policy: AutoApprove) -> None:
    with Session(ctx.engine) as session:
        row = store.get_request(session, rid)
        spec = parse_request(store.spec_of(row))
        month = ctx.clock().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        already = store.count_auto_approved(session, row.department, month)
        sites = [t["site"] for t in json.loads(row.placement_json or "{}").get("targets", [])]
        flavors = store.site_flavors(session, sites[0], {g.flavor for g in spec.servers}) \
            if sites else {}
    from govcloud.domain.placement import demand_of

    vcpu = demand_of(spec, flavors).cores if flavors else 0
    ok, why = policy.decide(vcpu, already)
    if not ok:
        _note(ctx, rid, "auto-approval", why)
        return
    try:
        _approve(ctx, rid, approver=policy.approver, actor=policy.approver, reason=why)
    except InsufficientCapacity as exc:
        _note(ctx, rid, "auto-approval", f"not auto-approved: {exc.message}")


def _note(ctx: ProvisioningContext, rid: int, kind: str, message: str) -> None:
    with write_session(ctx.engine) as session:
        store.add_event(session, rid, kind, message, ctx.clock())
        session.commit()


# --- deciding -------------------------------------------------------------------------------

def _check_decider(ctx: ProvisioningContext, principal: Principal, request_id: int,
                   action: Action) -> None:
    """The role and scope may ``action`` the request, and the principal's person did not
    submit it."""
    with Session(ctx.engine) as session:
        row = _visible_request(ctx, principal, session, request_id, action)
        requester = row.requester_person
    decision = may_approve(principal, requester)
    if not decision:
        raise Forbidden(decision.reason,
                        hint="a bureau-admin who is another person must decide on it")


def approve(ctx: ProvisioningContext, principal: Principal, request_id: int) -> dict[str, Any]:
    return _approve(ctx, request_id, approver=principal.name, actor=principal.name,
                    principal=principal)


def _targets(row: ProvisionRequestRow | Mapping[str, Any]) -> list[SiteTarget]:
    from govcloud.domain.provisioning import CopyKind

    text = row["placement_json"] if isinstance(row, Mapping) else row.placement_json
    doc = json.loads(text or "{}")
    return [SiteTarget(t["site"], CopyKind(t["kind"])) for t in doc.get("targets", [])]


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
    while True:
        with write_session(ctx.engine) as session:
            conn = session.connection()
            rows = store.lock_requests(conn, ids)
            targets = {rid: _targets(row) for rid, row in rows.items()}
            keys = sorted({k for rid, row in rows.items()
                           for k in store.ledger_keys(row["department"],
                                                      [t.site for t in targets[rid]])})
            missing = store.unensured(ctx.engine, keys)
            if missing:  # a department's first request in a site: make its ledger rows
                session.rollback()
                store.ensure_ledger(ctx.engine, missing)
                continue
            run = _ApprovalRun(ctx, session, rows, targets, keys)
            for piece in batch:
                try:
                    piece.result = run.approve(piece.item)
                except GovCloudError as exc:
                    piece.error = exc
            run.write()
            session.commit()
            return


class _ApprovalRun:
    """One batch of approvals: what it read (once for the batch) and what it will write."""

    def __init__(self, ctx: ProvisioningContext, session: Session,
                 rows: dict[int, dict[str, Any]], targets: Mapping[int, list[SiteTarget]],
                 keys: Sequence[tuple[str, str]]) -> None:
        self.ctx, self.session, self.rows = ctx, session, rows
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
        for rid, row in rows.items():
            try:
                self.specs[rid] = (_stored_spec(row["spec_json"]), targets[rid])
            except InvalidInput as exc:  # a stored spec that no longer parses: refused alone
                self.specs[rid] = exc
        parsed = [(rows[rid]["department"], v) for rid, v in self.specs.items()
                  if not isinstance(v, InvalidInput)]
        reads = store.batch_reads(  # locks the ledger rows, then the audit log
            session.connection(), keys,
            {(dept, t.site) for dept, (_, sites) in parsed for t in sites},
            {g.flavor for _, (spec, _) in parsed for g in spec.servers})
        self.ledger, self.projects, self.flavors = reads.ledger, reads.projects, reads.flavors
        self.states, self.audit_head = reads.states, reads.audit_head

    def site_input(self, department: str, site: str) -> SiteInput:
        placed = self.sites.get(site)
        if placed is None:  # the site's hosts once per batch (a sync cannot change them now)
            placed = self.sites[site] = site_placement(
                self.session.connection(), self.ctx.snapshot, site, self.states.get(site))
        hosts, cap, index = placed
        project, quotas = self.projects.get((department, site), (None, {}))
        quotas = capped(quotas, self.catalogue_limits(department, site))
        return SiteInput(
            site=site, hosts=hosts, flavors=self.flavors.get(site, {}), quotas=quotas,
            reserved_capacity=self.ledger[(site, store.SITE_TOTAL)],
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
                    _department(self.ctx, item.principal, department, Action.REQUEST_APPROVE)
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
        parsed = self.specs[rid]
        if isinstance(parsed, InvalidInput):  # a fresh error per approval, as for Forbidden
            raise InvalidInput(parsed.message, hint=parsed.hint)
        spec, targets = parsed
        inputs = {t.site: self.site_input(department, t.site) for t in targets}
        placement = place(spec, targets, inputs, group_policy=self.ctx.group_policy)
        if not placement.ok:
            raise _insufficient(placement.explain(), placement.advice(department))
        now = self.ctx.clock()
        demands = {s.site: s.demand for s in placement.sites}
        for site, demand in sorted(demands.items()):
            for key in ((site, store.SITE_TOTAL), (site, department)):
                self.ledger[key] = self.changed[key] = self.ledger[key] + demand
            self.reservations.append(store.reservation_values(rid, site, department, demand,
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
             "approver": item.approver,
             "reserved": {s: d.to_dict() for s, d in demands.items()}}))
        self.events.append({"request_id": rid, "kind": "approved", "at": now, "message":
                            f"approved by {item.approver}; reserved "
                            + ", ".join(f"{s}: {d.cores} vCPU, {d.instances} servers"
                                        for s, d in sorted(demands.items()))})
        return row, doc

    def write(self) -> None:
        if not self.requests:
            return
        sealed = AuditLog(session=self.session, clock=self.ctx.clock).seal_many(
            self.audit, head=self.audit_head)
        write_all(self.session.connection(), [
            *store.approval_writes(requests=self.requests, reservations=self.reservations,
                                   ledger=self.changed, events=self.events),
            audit_insert(sealed)])


def reject(ctx: ProvisioningContext, principal: Principal, request_id: int,
           reason: str) -> dict[str, Any]:
    if not reason or not reason.strip():
        raise InvalidInput("a rejection needs a reason", hint="pass --reason TEXT")
    check_text(reason, "the reason")
    _check_decider(ctx, principal, request_id, Action.REQUEST_REJECT)
    return _finish(ctx, request_id, RequestState.REJECTED, actor=principal.name,
                   reason=reason.strip(), verb="reject")


def cancel(ctx: ProvisioningContext, principal: Principal, request_id: int,
           reason: str | None = None) -> dict[str, Any]:
    if reason:
        check_text(reason, "the reason")
    with Session(ctx.engine) as session:
        _visible_request(ctx, principal, session, request_id, Action.REQUEST_CANCEL)
    return _finish(ctx, request_id, RequestState.CANCELLED, actor=principal.name,
                   reason=(reason or "").strip() or f"cancelled by {principal.name}",
                   verb="cancel")


def _finish(ctx: ProvisioningContext, request_id: int, state: RequestState, *, actor: str,
            reason: str | None, verb: str, error: str | None = None) -> dict[str, Any]:
    """Move to ``state`` (a final one) and release whatever the request holds."""
    with Session(ctx.engine) as session:
        row = store.get_request(session, request_id)
        keys = store.ledger_keys(row.department, [t.site for t in _targets(row)])
    store.ensure_ledger(ctx.engine, keys)
    with write_session(ctx.engine) as session:
        row = store.lock_request(session, request_id)
        before = row.state
        transition(request_id, row.state, state)
        now = ctx.clock()
        released = store.release(session, row, now)
        row.state = state.value
        row.reason = reason if reason is not None else row.reason
        row.error = error if error is not None else row.error
        row.updated_at = now
        session.add(row)
        _audit(session, ctx, actor, verb, row, before, reason=text_digest(reason), error=error,
               released_sites=released)
        text = f"{state} by {actor}" + (f": {reason}" if reason else "") \
            + (f" — {error}" if error else "") \
            + (f"; released the reservation in {released} site(s)" if released else "")
        store.add_event(session, request_id, state.value, text, now)
        session.commit()
        return request_json(row)


# --- for the job worker -----------------------------------------------------------------------

WORKER = "provisioner"


def start(ctx: ProvisioningContext, request_id: int) -> bool:
    """approved → provisioning; False if someone else moved it first (cancelled, say)."""
    with write_session(ctx.engine) as session:
        row = store.lock_request(session, request_id)
        if row.state != RequestState.APPROVED.value:
            return False
        row.state = RequestState.PROVISIONING.value
        row.updated_at = ctx.clock()
        session.add(row)
        _audit(session, ctx, WORKER, "provision", row, RequestState.APPROVED.value)
        store.add_event(session, request_id, "provisioning", "provisioning started",
                        row.updated_at)
        session.commit()
        return True


def complete(ctx: ProvisioningContext, request_id: int) -> dict[str, Any]:
    return _finish(ctx, request_id, RequestState.DONE, actor=WORKER, reason=None,
                   verb="done")


def fail(ctx: ProvisioningContext, request_id: int, error: str) -> dict[str, Any]:
    return _finish(ctx, request_id, RequestState.FAILED, actor=WORKER, reason=None,
                   verb="fail", error=error)


def pending(ctx: ProvisioningContext) -> list[tuple[int, str]]:
    """Requests the worker should work on: approved ones, and provisioning ones (left by a
    worker that stopped or a server that died), oldest first."""
    with Session(ctx.engine) as session:
        rows = store.list_requests(session, departments=None,
                                   states=[RequestState.APPROVED.value,
                                           RequestState.PROVISIONING.value], limit=1000)
        return sorted((r.id or 0, r.state) for r in rows)


def system_in_progress(ctx: ProvisioningContext, department: str, system: str, *,
                       excluding: int) -> bool:
    """Whether a request of the system other than ``excluding`` is approved or being
    provisioned (its servers go into the system's server groups)."""
    with Session(ctx.engine) as session:
        return any(r.id != excluding and r.system == system for r in store.list_requests(
            session, departments=[department], states=[RequestState.APPROVED.value,
                                                       RequestState.PROVISIONING.value],
            limit=1000))


def event(ctx: ProvisioningContext, request_id: int, kind: str, message: str) -> None:
    _note(ctx, request_id, kind, message)


def record_server(ctx: ProvisioningContext, request_id: int, *, site: str, ordinal: int,
                  name: str, key: str, server_id: str | None, status: str,
                  error: str | None = None) -> None:
    with write_session(ctx.engine) as session:
        row = session.get(ProvisionServerRow, (request_id, site, ordinal))
        if row is None:
            row = ProvisionServerRow(request_id=request_id, site=site, ordinal=ordinal,
                                     name=name, key=key)
        row.server_id = server_id or row.server_id
        row.status = status
        row.error = error
        row.updated_at = ctx.clock()
        session.add(row)
        session.commit()


def request_spec(ctx: ProvisioningContext, request_id: int) -> tuple[ProvisionRequestRow,
                                                                    RequestSpec,
                                                                    list[SiteTarget]]:
    with Session(ctx.engine) as session:
        row = store.get_request(session, request_id)
        session.expunge(row)
    return row, parse_request(store.spec_of(row)), _targets(row)


def submit_approved(ctx: ProvisioningContext, *, actor: str, data: Any,
                    approver: str) -> dict[str, Any]:
    """Submit and approve at once, for another capability acting in its own right (see the
    module docstring). Raises InsufficientCapacity (the request is then left submitted)."""
    spec = parse_request(data)
    department = ctx.catalogue().find(spec.department)
    if department is None:
        raise NotFound(f"no department {spec.department!r}")
    row, _ = _insert_submitted(ctx, spec, department, actor, actor)
    return _approve(ctx, row.id or 0, approver=approver, actor=approver)


def wait_for(ctx: ProvisioningContext, request_id: int, timeout_s: float,
             poll_s: float = 0.2) -> dict[str, Any]:
    """Wait until the request is final; TemporaryError on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        with Session(ctx.engine) as session:
            row = store.get_request(session, request_id)
            if RequestState(row.state).final:
                return request_json(row)
        if time.monotonic() > deadline:
            raise TemporaryError(f"request {request_id} is still {row.state} after "
                                 f"{timeout_s:.0f} s")
        time.sleep(poll_s)


def ledger_check(engine: Engine) -> dict[str, Any]:
    """The ledger next to the sums of active reservations (they must be equal)."""
    with Session(engine) as session:
        ledger = {k: v for k, v in store.ledger_totals(session).items()
                  if v != Demand()}
        sums = store.reservation_sums(session)
    return {"ledger": ledger, "reservations": sums, "matches": ledger == sums}
