"""A system's lifecycle as use cases: scaling, resizing and retiring a provisioned system,
and showing it as it stands (docs/lifecycle.md).

Each is a provisioning request of another ``kind`` (``govcloud.domain.lifecycle``): submitted
here (RBAC first: ``system.scale``, ``system.resize``, ``system.retire`` on the department; a
system of a department the caller may not see does not exist for them), approved or rejected
through the requests' own use cases (``request approve``: a bureau-admin who is not the
requester; the approval reserves what a scale-out or a resize needs, never over-committing:
``govcloud.services.lifecycle_approval``), run by the provisioning job worker
(``govcloud.services.lifecycle_run``). A system has at most one lifecycle request open at a
time: the same one submitted again is answered with it (``unchanged``), another one is a
conflict naming it.

Every request may name the change it runs under (``change``); ``_gate`` is where the change
calendar's check is made at submission, before anything is stored (the worker's, when it
runs: ``govcloud.services.lifecycle_change``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from govcloud.domain.catalogue import Department
from govcloud.domain.changes import OperationKind, require_change
from govcloud.domain.lifecycle import (
    MEMBER_KINDS,
    Member,
    RequestKind,
    ScaleSpec,
    SystemView,
    justification,
    parse_change,
    plan_scale,
    retire_spec,
)
from govcloud.domain.lifecycle_resize import ResizeSpec, plan_resize
from govcloud.domain.limits import text_digest
from govcloud.domain.provisioning import CopyKind, RequestState, parse_request
from govcloud.domain.rbac import Action, Principal
from govcloud.errors import ConflictError, InvalidInput, NotFound
from govcloud.services.access import get_department
from govcloud.services.change_calendar import current_calendar
from govcloud.services.provisioning_common import ProvisioningContext, request_json, targets_of
from govcloud.services.provisioning_lifecycle import audit
from govcloud.store import changes_repo
from govcloud.store import lifecycle_repo as repo
from govcloud.store.provisioning_repo import Reader
from govcloud.store.tables_provisioning import ProvisionRequestRow


def _gate(ctx: ProvisioningContext, change_id: str | None, departments: Sequence[str]) -> None:
    """The change gate of a lifecycle request (docs/changes.md), checked when it is
    submitted: with change control on (``enforce``) a request names an approved lifecycle
    change covering its department whose window is not over (it may open later: the bureau
    approves the request meanwhile); a change given is checked whatever the setting. The
    worker checks it again when the request runs, and waits for the window
    (``lifecycle_change``, docs/lifecycle.md)."""
    if change_id is None and ctx.change_control != "enforce":
        return
    number = None
    if change_id is not None:
        if not change_id.isdigit() or len(change_id) > 12:
            raise InvalidInput(f"no change {change_id[:64]!r}: change ids are numbers",
                               hint="`govcloud change list` shows them")
        number = int(change_id)
    with ctx.engine.connect() as conn:
        change = changes_repo.find_change(conn, number) if number is not None else None
        calendar = current_calendar(conn)
    if number is not None and change is None:
        raise changes_repo.no_change(number)
    now = ctx.clock()
    at = max(now, change.start) if change is not None else now  # a window to come is fine
    require_change(change, OperationKind.LIFECYCLE, departments, at, calendar=calendar)


def no_system(department: str, system: str) -> NotFound:
    return NotFound(f"no system {system!r} in department {department}",
                    hint="`govcloud request list --department DEPT` shows its requests; a "
                         "system is a provisioning request that is done")


def _department(ctx: ProvisioningContext, principal: Principal, department: str,
                system: str, action: Action) -> Department:
    return get_department(principal, ctx.catalogue(), department, action,
                          missing=lambda: no_system(department, system))


@dataclass(frozen=True, slots=True)
class Found:
    """A system as read for a lifecycle request: its view and its requests."""

    view: SystemView
    rows: list[ProvisionRequestRow]


def read_system(tx: Reader, department: str, system: str) -> Found:
    """The system as it stands (NotFound: no such system; ConflictError: not provisioned
    yet)."""
    origin = repo.system_request(tx.session, department, system)
    if origin is None:
        raise no_system(department, system)
    if origin.state != RequestState.DONE.value:
        raise ConflictError(f"{department}/{system} is not provisioned yet: its request "
                            f"{origin.id} is {origin.state}",
                            hint=f"wait until `govcloud request show {origin.id}` says done")
    rows = repo.requests_since(tx.session, department, system, origin.id or 0)
    done = [r.id or 0 for r in rows
            if r.kind in MEMBER_KINDS and r.state == RequestState.DONE.value]
    targets = targets_of(origin)
    kinds = {t.site: t.kind for t in targets}
    members = tuple(
        Member(m.site, kinds.get(m.site, CopyKind.PRIMARY), m.name, m.server_id,
               m.request_id, m.ordinal, m.key, m.flavor, m.status, m.host)
        for m in repo.member_rows(tx.session.connection(), done) if m.site in kinds)
    shape = parse_request(repo.latest_shape(rows) or json.loads(origin.spec_json))
    view = SystemView(department, system, origin.dr_level, origin.id or 0, tuple(targets),
                      shape, members)
    return Found(view, rows)


def show_system(ctx: ProvisioningContext, principal: Principal, department: str,
                system: str) -> dict[str, Any]:
    """The system as it stands: its shape, its members in every site, its requests."""
    _department(ctx, principal, department, system, Action.VIEW_DEPARTMENT)
    with ctx.repo.reading() as tx:
        found = read_system(tx, department, system)
    view = found.view
    return {"department": department, "system": system, "dr_level": view.dr_level,
            "request": view.request_id,
            "sites": [{"site": t.site, "kind": t.kind.value} for t in view.targets],
            "groups": [g.to_dict() for g in view.shape.servers],
            "members": [m.to_dict() for m in view.members],
            "requests": [{"id": r.id, "kind": r.kind, "state": r.state, "phase": r.phase}
                         for r in found.rows]}


Planner = Callable[[SystemView], dict[str, Any]]


def _submit(ctx: ProvisioningContext, principal: Principal, *, department: str, system: str,
            kind: RequestKind, action: Action, params: dict[str, Any], planner: Planner,
            change: Any, why: str) -> dict[str, Any]:
    """Submit a lifecycle request of ``kind``: RBAC, the change gate, the system read and
    planned (``planner``: its plan, InvalidInput when it cannot be done), then stored under
    the system's lock — or the open request answered when it asks for the same."""
    _department(ctx, principal, department, system, action)
    change_id = parse_change(change)
    _gate(ctx, change_id, [department])
    spec = {"kind": kind.value, "department": department, "system": system, **params,
            "justification": why}
    with ctx.repo.reading() as tx:
        found = read_system(tx, department, system)
        same = _open_request(found.rows, spec)
        if same is not None:
            return {**request_json(same), "unchanged": True}
        plan = planner(found.view)
        _check_flavors(tx, found.view, plan)
    now = ctx.clock()
    with ctx.repo.writing() as tx:
        tx.lock_system(department, system)
        found = read_system(tx, department, system)
        same = _open_request(found.rows, spec)
        if same is not None:
            return {**request_json(same), "unchanged": True}
        row = ProvisionRequestRow(
            department=department, system=system, dr_level=found.view.dr_level,
            state=RequestState.SUBMITTED.value, requester=principal.name,
            requester_person=principal.person, kind=kind.value, change_id=change_id,
            spec_json=json.dumps(spec, ensure_ascii=False),
            plan_json=json.dumps(plan, ensure_ascii=False),
            placement_json=json.dumps({"targets": [{"site": t.site, "kind": t.kind.value}
                                                   for t in found.view.targets]}),
            created_at=now, updated_at=now)
        tx.add_request(row)
        audit(tx, principal.name, "submit", row, None, kind=kind.value, change=change_id,
              justification=text_digest(why), system_request=found.view.request_id,
              **{k: v for k, v in params.items() if k != "members"})
        tx.add_event(row.id or 0, "submitted", f"{kind.value} of {system} submitted by "
                     f"{principal.name}: {_summary(kind, plan)}", at=now)
    return request_json(row)


def _open_request(rows: Sequence[ProvisionRequestRow],
                  spec: dict[str, Any]) -> ProvisionRequestRow | None:
    """The system's open lifecycle request when it asks for exactly ``spec``; None when
    there is none; ConflictError naming it when it asks for something else."""
    open_ = repo.open_lifecycle(rows)
    if not open_:
        return None
    row = open_[-1]
    if json.loads(row.spec_json) == spec:
        return row
    raise ConflictError(f"{row.department}/{row.system} already has {row.kind} request "
                        f"{row.id} ({row.state}): one lifecycle request at a time",
                        hint=f"wait for it, or cancel it while it is submitted or approved "
                             f"(`govcloud request cancel {row.id}`)")


def _check_flavors(tx: Reader, view: SystemView, plan: dict[str, Any]) -> None:
    """Every flavor the plan names is known (synced) in the sites it is used in."""
    wanted: dict[str, set[str]] = {}
    for item in plan.get("adds", ()):
        wanted.setdefault(item["site"], set()).add(item["flavor"])
    for step in plan.get("steps", ()):
        wanted.setdefault(step["site"], set()).update((step["new_flavor"], step["old_flavor"]))
    problems = []
    for site, names in sorted(wanted.items()):
        known = tx.site_flavors(site, names)
        problems += [f"{site}: unknown flavor {name!r}" for name in sorted(names - set(known))]
    if problems:
        some = tx.flavor_names(limit=8)
        raise InvalidInput(f"{view.department}/{view.system}: " + "; ".join(problems),
                           hint=f"flavors known: {', '.join(some) or 'none synced: run '}"
                                f"{'' if some else '`govcloud sync --full`'}")


def _summary(kind: RequestKind, plan: dict[str, Any]) -> str:
    if kind is RequestKind.SCALE:
        return (f"group {plan['group']} to {plan['count']} servers per site: "
                f"{len(plan['adds'])} to add, {len(plan['removes'])} to remove")
    if kind is RequestKind.RESIZE:
        return f"{len(plan['steps'])} servers to resize, one at a time"
    return (f"{len(plan['members'])} servers shut off for {plan['grace_days']:g} days, then "
            f"deleted; final snapshots kept {plan['keep_days']:g} days")


def submit_scale(ctx: ProvisioningContext, principal: Principal, department: str,
                 system: str, spec: ScaleSpec, *, change: Any = None,
                 why: Any = None) -> dict[str, Any]:
    text = justification(why, f"scale to {spec.servers} servers per site")

    def planner(view: SystemView) -> dict[str, Any]:
        return {**plan_scale(view, spec).to_dict(),
                "members": [m.to_dict() for m in view.members]}

    return _submit(ctx, principal, department=department, system=system,
                   kind=RequestKind.SCALE, action=Action.SYSTEM_SCALE, params=spec.to_dict(),
                   planner=planner, change=change, why=text)


def submit_resize(ctx: ProvisioningContext, principal: Principal, department: str,
                  system: str, spec: ResizeSpec, *, change: Any = None,
                  why: Any = None) -> dict[str, Any]:
    text = justification(why, f"resize to {spec.flavor}")

    def planner(view: SystemView) -> dict[str, Any]:
        steps = plan_resize(view, spec)
        return {"flavor": spec.flavor, "steps": [s.to_dict() for s in steps],
                "members": [m.to_dict() for m in view.members]}

    return _submit(ctx, principal, department=department, system=system,
                   kind=RequestKind.RESIZE, action=Action.SYSTEM_RESIZE,
                   params=spec.to_dict(), planner=planner, change=change, why=text)


def submit_retire(ctx: ProvisioningContext, principal: Principal, department: str,
                  system: str, *, grace_days: Any, keep_days: Any, change: Any = None,
                  why: Any = None) -> dict[str, Any]:
    spec = retire_spec(grace_days, keep_days)
    text = justification(why, f"retire after {spec.grace_days:g} days of grace")

    def planner(view: SystemView) -> dict[str, Any]:
        if not view.members:
            raise InvalidInput(f"{department}/{system} has no servers left to retire",
                               hint="`govcloud system show` lists its members")
        return {**spec.to_dict(), "request": view.request_id,
                "members": [m.to_dict() for m in view.members]}

    return _submit(ctx, principal, department=department, system=system,
                   kind=RequestKind.RETIRE, action=Action.SYSTEM_RETIRE,
                   params=spec.to_dict(), planner=planner, change=change, why=text)
