"""Requests: submitting (parsed and checked first; a department's auto-approval policy may
approve at once), reading (show, list) and cancelling; and for other capabilities (the
migration engineer provisions its targets through here) ``submit_approved``.

The spec is parsed once, at submission (``domain.provisioning.parse_request``); the parsed spec
goes on in the context (``ProvisioningContext.specs``) to the approval.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from govcloud.domain.catalogue import Department
from govcloud.domain.limits import text_digest
from govcloud.domain.placement import demand_of
from govcloud.domain.provisioning import (
    AutoApprove,
    RequestSpec,
    RequestState,
    SiteTarget,
    effective_dr_level,
    parse_request,
)
from govcloud.domain.rbac import Action, Principal
from govcloud.domain.text import check_text
from govcloud.errors import ConflictError, InsufficientCapacity, InvalidInput, NotFound
from govcloud.services.access import get_department, visible_codes
from govcloud.services.inventory import rbac_city
from govcloud.services.lifecycle_cancel import cancel_running
from govcloud.services.provisioning_approval import _approve
from govcloud.services.provisioning_common import (
    ProvisioningContext,
    bad_state,
    iso,
    request_json,
    server_json,
    visible_request,
)
from govcloud.services.provisioning_lifecycle import audit
from govcloud.store.tables_provisioning import ProvisionRequestRow


def show(ctx: ProvisioningContext, principal: Principal, request_id: int, *,
         after_event: int = 0) -> dict[str, Any]:
    with ctx.repo.reading() as tx:
        row = visible_request(ctx, principal, tx.find_request(request_id), request_id)
        out = request_json(row)
        out["servers"] = [server_json(s) for s in tx.servers(request_id)]
        out["events"] = [{"id": e.id, "at": iso(e.at), "kind": e.kind, "message": e.message}
                         for e in tx.events(request_id, after_id=after_event)]
    return out


def list_requests(ctx: ProvisioningContext, principal: Principal, *,
                  states: Sequence[str] | None = None, department: str | None = None,
                  limit: int = 200) -> dict[str, Any]:
    for s in states or ():
        if s not in {x.value for x in RequestState}:
            bad_state(s)
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit must be 1..1000, not {limit}")
    if department is not None:
        get_department(principal, ctx.catalogue(), department, Action.VIEW_DEPARTMENT)
        codes: list[str] | None = [department]
    else:
        codes = visible_codes(principal, ctx.catalogue(), Action.VIEW_DEPARTMENT)
    with ctx.repo.reading() as tx:
        rows = tx.list_requests(departments=codes, states=states, limit=limit)
        return {"requests": [request_json(r) for r in rows], "count": len(rows)}


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
    with ctx.repo.reading() as tx:
        for t in targets:
            if tx.project_of(spec.department, t.site) is None:
                problems.append(f"{t.site}: department {spec.department} has no project "
                                "(run `govcloud tenants apply` and `govcloud sync`)")
            names = {g.flavor for g in spec.servers}
            known = tx.site_flavors(t.site, names)
            for name in sorted(names - set(known)):
                some = tx.flavor_names(limit=8)
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


def submit(ctx: ProvisioningContext, principal: Principal, data: Any) -> dict[str, Any]:
    """Submit a request (parsed and checked first; nothing is stored when it is bad); a
    department's auto-approval policy may approve it at once.

    Idempotent per system: while the system has a live request (submitted, approved,
    provisioning or done), submitting the same request again changes nothing and answers that
    request with ``unchanged: true``; a different one is a ConflictError naming what differs.
    After a rejection, cancellation or failure the system may be asked for anew."""
    spec = parse_request(data)
    department = get_department(principal, ctx.catalogue(), spec.department,
                                Action.REQUEST_SUBMIT)
    with ctx.repo.reading() as tx:  # a rerun of the same file: nothing to check again
        existing = _same_system(tx.live_request(spec.department, spec.system), spec)
    if existing is not None:
        return {**request_json(existing), "unchanged": True}
    row, made, targets = _insert_submitted(ctx, spec, department, principal.name,
                                           principal.person, once_per_system=True)
    if not made:  # an identical request got in first
        return {**request_json(row), "unchanged": True}
    rid = row.id or 0
    policy = ctx.auto_approve.get(spec.department)
    if policy is not None:
        _try_auto_approve(ctx, rid, spec, targets, policy)
    return request_json(ctx.repo.request(rid))


def _same_system(row: ProvisionRequestRow | None,
                 spec: RequestSpec) -> ProvisionRequestRow | None:
    """``row`` (the system's live request) when it asks for exactly ``spec``; None when there
    is none; a ConflictError naming what differs otherwise."""
    if row is None:
        return None
    stored = json.loads(row.spec_json)  # as submitted: the spec's to_dict()
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
                      once_per_system: bool = False
                      ) -> tuple[ProvisionRequestRow, bool, list[SiteTarget]]:
    """Store a submitted request; (it, True, its targets). ``once_per_system``: under the
    system's lock, (its live request, False, targets) when that asks for the same
    (ConflictError when it differs)."""
    level = effective_dr_level(spec, department.dr_level)
    targets = ctx.policy.targets(level, ctx.sites, city=rbac_city(department))
    _check_before_reserving(ctx, spec, targets)
    now = ctx.clock()
    spec_json = json.dumps(spec.to_dict(), ensure_ascii=False)
    with ctx.repo.writing() as tx:
        if once_per_system:
            tx.lock_system(spec.department, spec.system)
            existing = _same_system(tx.live_request(spec.department, spec.system), spec)
            if existing is not None:
                return existing, False, targets
        row = ProvisionRequestRow(
            department=spec.department, system=spec.system, dr_level=level,
            state=RequestState.SUBMITTED.value, requester=requester,
            requester_person=requester_person, spec_json=spec_json,
            placement_json=json.dumps({"targets": [{"site": t.site, "kind": t.kind.value}
                                                   for t in targets]}),
            created_at=now, updated_at=now)
        tx.add_request(row)
        audit(tx, requester, "submit", row, None, dr_level=level,
               justification=text_digest(spec.justification), servers=spec.server_count,
               sites=[t.site for t in targets])
        tx.add_event(row.id or 0, "submitted",
                        f"submitted by {requester}: {spec.server_count} servers per site in "
                        f"{', '.join(t.site for t in targets)} (DR level {level})", at=now)
    ctx.specs.put(row.id or 0, spec)  # what approving it will use (the same spec)
    return row, True, targets


def _try_auto_approve(ctx: ProvisioningContext, rid: int, spec: RequestSpec,
                      targets: Sequence[SiteTarget], policy: AutoApprove) -> None:
    month = ctx.clock().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with ctx.repo.reading() as tx:
        already = tx.count_auto_approved(spec.department, month)
        flavors = tx.site_flavors(targets[0].site, {g.flavor for g in spec.servers}) \
            if targets else {}
    vcpu = demand_of(spec, flavors).cores if flavors else 0
    ok, why = policy.decide(vcpu, already)
    if not ok:
        ctx.repo.note(rid, "auto-approval", why)
        return
    try:
        _approve(ctx, rid, approver=policy.approver, actor=policy.approver, reason=why)
    except InsufficientCapacity as exc:
        ctx.repo.note(rid, "auto-approval", f"not auto-approved: {exc.message}")


def cancel(ctx: ProvisioningContext, principal: Principal, request_id: int,
           reason: str | None = None) -> dict[str, Any]:
    if reason:
        check_text(reason, "the reason")
    with ctx.repo.reading() as tx:
        visible_request(ctx, principal, tx.find_request(request_id), request_id,
                        Action.REQUEST_CANCEL)
    return cancel_running(ctx, principal.name, request_id,
                          (reason or "").strip() or f"cancelled by {principal.name}")


def submit_approved(ctx: ProvisioningContext, *, actor: str, data: Any,
                    approver: str) -> dict[str, Any]:
    """Submit and approve at once, for another capability acting in its own right (see the
    module docstring). Raises InsufficientCapacity (the request is then left submitted)."""
    spec = parse_request(data)
    department = ctx.catalogue().find(spec.department)
    if department is None:
        raise NotFound(f"no department {spec.department!r}")
    row, _, _ = _insert_submitted(ctx, spec, department, actor, actor)
    return _approve(ctx, row.id or 0, approver=approver, actor=approver)
