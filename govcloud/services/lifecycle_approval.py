"""Approving a lifecycle request: what it reserves in each site, decided inside the approval
batch's locked transaction (``provisioning_approval._ApprovalRun``), so a scale-out or a
resize can never spend room another approval holds (docs/lifecycle.md).

* **scale** — the servers it adds, placed as provisioning places a request's (quota,
  capacity, one host each), with the system's running members' hosts taken (anti-affinity:
  the new ones join the system's server group) and its members counted in the group's
  ``server_group_members`` quota; a scale-in reserves nothing;
* **resize** — the capacity peak of resizing one server at a time (reserved) and the quota
  growth (checked), and a host for the new flavor (``domain.lifecycle_resize``);
* **retire** — nothing: it frees what the system holds.

What a request needs is read from its plan (``plan_json``, made at submission); the hosts
the members are on now are read from the inventory in the batch's transaction.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from govcloud.domain.capacity import FlavorSpec
from govcloud.domain.lifecycle import Member, RequestKind, ScalePlan
from govcloud.domain.lifecycle_resize import ResizeStep, fit_problem, resize_demand
from govcloud.domain.placement import (
    Demand,
    FitIndex,
    Placement,
    SiteInput,
    SitePlacement,
    check_site,
    place,
)
from govcloud.domain.provisioning import RequestSpec, ServerGroupSpec, SiteTarget, parse_request
from govcloud.store import lifecycle_repo as repo

if TYPE_CHECKING:
    from govcloud.services.provisioning_approval import _ApprovalRun


def is_lifecycle(row: Mapping[str, Any]) -> bool:
    return (row.get("kind") or RequestKind.PROVISION.value) != RequestKind.PROVISION.value


def flavors_of(row: Mapping[str, Any]) -> set[str]:
    """The flavors a lifecycle request's approval needs to know."""
    plan = json.loads(row.get("plan_json") or "{}")
    names = {a["flavor"] for a in plan.get("adds", ())}
    for step in plan.get("steps", ()):
        names.update((step["old_flavor"], step["new_flavor"]))
    return names


def _members(run: _ApprovalRun, plan: Mapping[str, Any]) -> list[Member]:
    """The plan's members with the hosts the inventory shows them on now."""
    members = [Member.from_dict(m) for m in plan.get("members", ())]
    by_site: dict[str, list[str]] = {}
    for m in members:
        by_site.setdefault(m.site, []).append(m.server_id)
    hosts = {(site, sid): host for site, ids in by_site.items()
             for sid, host in repo.hosts_of(run.tx.connection(), site, ids).items()}
    return [dataclasses.replace(m, host=hosts.get((m.site, m.server_id))) for m in members]


def _with_system(site: SiteInput, members: Sequence[Member]) -> SiteInput:
    here = [m for m in members if m.site == site.site]
    on: dict[str, int] = {}
    for m in here:
        if m.host:
            on[m.host] = on.get(m.host, 0) + 1
    return dataclasses.replace(site, group_members=len(here), members_on=on)


def place_lifecycle(run: _ApprovalRun, row: Mapping[str, Any],
                    targets: Sequence[SiteTarget]) -> Placement:
    """The placement of lifecycle request ``row`` in its sites (its demand per site is what
    the approval reserves)."""
    plan = json.loads(row.get("plan_json") or "{}")
    kind = RequestKind(row["kind"])
    department = row["department"]
    if kind is RequestKind.RETIRE:
        return Placement(())
    members = _members(run, plan)
    if kind is RequestKind.SCALE:
        scale = ScalePlan.from_dict(plan, parse_request(plan["shape"]))
        return Placement(tuple(_place_scale(run, department, row["system"], scale, t, members)
                               for t in targets if scale.added_in(t.site)))
    steps = [ResizeStep.from_dict(s) for s in plan.get("steps", ())]
    return Placement(tuple(_place_resize(run, department, t, steps, members)
                           for t in targets if any(s.site == t.site for s in steps)))


def _place_scale(run: _ApprovalRun, department: str, system: str, plan: ScalePlan,
                 target: SiteTarget, members: Sequence[Member]) -> SitePlacement:
    adds = plan.added_in(target.site)
    group = ServerGroupSpec(plan.group, adds[0].flavor, adds[0].image, len(adds),
                            adds[0].network, adds[0].volumes)
    spec = RequestSpec(department, system, (group,), "scale")
    site = _with_system(run.site_input(department, target.site), members)
    return place(spec, [target], {target.site: site}, group_policy=run.ctx.group_policy).sites[0]


def _place_resize(run: _ApprovalRun, department: str, target: SiteTarget,
                  steps: Sequence[ResizeStep], members: Sequence[Member]) -> SitePlacement:
    site = _with_system(run.site_input(department, target.site), members)
    here = [s for s in steps if s.site == target.site]
    flavors: Mapping[str, FlavorSpec] = site.flavors
    unknown = sorted({n for s in here for n in (s.old_flavor, s.new_flavor)} - set(flavors))
    if unknown:
        return SitePlacement(target.site, target.kind, Demand(), (
            f"{target.site}: unknown flavor {', '.join(unknown)}",))
    need = resize_demand(here, flavors)
    problems, quotas, short = check_site(site, need.peak, department, quota=need.growth)
    if not problems:
        index = site.fit_index if site.fit_index is not None else FitIndex(site.hosts)
        fit = fit_problem(target.site, here, flavors, index, members, run.ctx.group_policy)
        if fit is not None:
            problems, short = [fit], True
    return SitePlacement(target.site, target.kind, need.peak, tuple(problems),
                         quotas=tuple(quotas), short=short)
