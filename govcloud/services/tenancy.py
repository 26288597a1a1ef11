"""Tenancy use cases: plan and apply the department catalogue in every site, and show one
department across all sites.

Connections are injected, one per site (keyword-only ``connections``, in the order the sites
should be worked: production first). ``audit``, when given, is called once for every change
made in a cloud — ``audit(action, target, before, after)`` — after the change succeeded; the
caller (the API server) writes it to the audit log. RBAC is the caller's: these functions act
with the connections' credentials.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from govcloud.cloud import tenancy as cloud
from govcloud.cloud.tenancy import SiteConnection
from govcloud.domain.catalogue import Catalogue, SiteQuota
from govcloud.domain.summary import count_statuses
from govcloud.domain.tenancy import (
    RECORD_TAG_PREFIX,
    DepartmentSiteView,
    DepartmentView,
    ObservedSite,
    ProjectUpdate,
    QuotaFigure,
    SitePlan,
    TenancyPlan,
    plan,
)
from govcloud.errors import GovCloudError, InvalidInput, PermanentError
from govcloud.services.inventory import rbac_city
from govcloud.store import inventory as inv
from govcloud.store.audit import append_committed
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow

log = logging.getLogger(__name__)

Audit = Callable[[str, str, Mapping[str, Any] | None, Mapping[str, Any] | None], None]
Clock = Callable[[], datetime]
# (site, department code, project id, {catalogue field: (limit now set, in use)}), called after
# a project's quotas were set in a site
QuotasSet = Callable[[str, str, str, Mapping[str, QuotaFigure]], None]
CheckPlan = Callable[[TenancyPlan], None]  # called with the plan before anything changes
APPLY_WORKERS = 8


class TenancyRefused(InvalidInput):
    """The plan has refusals (a quota below usage, a project claimed twice): nothing applied."""

    def __init__(self, tenancy_plan: TenancyPlan) -> None:
        self.plan = tenancy_plan
        lines = [f"  {s.site} {r.code} {r.field}: {r.reason}"
                 for s in tenancy_plan.sites for r in s.refusals]
        super().__init__(
            "tenancy apply refused; nothing was changed in any site:\n" + "\n".join(lines),
            hint="raise the catalogue quota to at least the usage shown (or free resources in "
                 "the cloud first), then plan again")


@dataclass(frozen=True, slots=True)
class AppliedChange:
    """One change made in a cloud (also what was passed to ``audit``)."""

    site: str
    code: str
    action: str  # tenancy.project.create | tenancy.project.update | tenancy.quota.set
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "department": self.code, "action": self.action,
                "before": dict(self.before) if self.before is not None else None,
                "after": dict(self.after) if self.after is not None else None}


@dataclass(frozen=True, slots=True)
class TenancyResult:
    plan: TenancyPlan
    changes: tuple[AppliedChange, ...]
    # Each (site, department code) → (project id, project name) the catalogue now maps to:
    # the projects found by the plan and those this apply created.
    projects: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def per_site(self) -> dict[str, dict[str, int]]:
        """Counts of changes per site and action (every site listed, zero when unchanged)."""
        out: dict[str, dict[str, int]] = {s.site: {} for s in self.plan.sites}
        for c in self.changes:
            counts = out.setdefault(c.site, {})
            counts[c.action] = counts.get(c.action, 0) + 1
        return out

    def summary(self) -> str:
        if not self.changes:
            return (f"no changes: {self.plan.departments} departments already match the "
                    f"catalogue in {len(self.plan.sites)} sites")
        parts = []
        for site, counts in self.per_site().items():
            if not counts:
                parts.append(f"{site}: no changes")
                continue
            created = counts.get("tenancy.project.create", 0)
            quotas = counts.get("tenancy.quota.set", 0)
            updated = counts.get("tenancy.project.update", 0)
            parts.append(f"{site}: {_n(created, 'project')} created, "
                         f"{_n(quotas, 'quota set')} changed, {_n(updated, 'project')} updated")
        return "applied: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "summary": self.summary(),
                "per_site": self.per_site(), "changes": [c.to_dict() for c in self.changes],
                "drift": [d for s in self.plan.to_dict()["sites"] for d in s["drift"]]}


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --- reading --------------------------------------------------------------------------------------

def _per_site(connections: Mapping[str, SiteConnection], sites: Sequence[str] | None,
              read: Callable[[str, SiteConnection], Any]) -> list[Any]:
    """Run ``read`` for each site in parallel; the first error (naming its site) is raised."""
    names = list(connections) if sites is None else list(sites)
    missing = [n for n in names if n not in connections]
    if missing:
        raise InvalidInput(f"no connection for site(s) {', '.join(missing)}",
                           hint=f"connected sites: {', '.join(connections)}")
    if not names:
        raise InvalidInput("no sites to work on", hint="configure at least one site")
    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="tenancy") as pool:
        futures = [pool.submit(read, n, connections[n]) for n in names]
        results: list[Any] = []
        errors: list[BaseException] = []
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after all finish
                errors.append(exc)
    if errors:
        for extra in errors[1:]:
            log.warning("tenancy: another site failed too: %s", extra)
        raise errors[0]
    return results


def observe(catalogue: Catalogue, *, connections: Mapping[str, SiteConnection],
            sites: Sequence[str] | None = None) -> list[ObservedSite]:
    """Every site's view of the catalogue's departments, read in parallel."""
    codes = catalogue.codes
    return _per_site(connections, sites,
                     lambda name, conn: cloud.observe_site(conn, site=name, codes=codes))


def plan_tenancy(catalogue: Catalogue, *, connections: Mapping[str, SiteConnection],
                 sites: Sequence[str] | None = None,
                 departments: Iterable[str] | None = None) -> TenancyPlan:
    """What apply would change, per site (``departments`` restricts it to those codes)."""
    scoped = catalogue if departments is None else catalogue.only(departments)
    return plan(scoped, observe(scoped, connections=connections, sites=sites))


# --- applying -------------------------------------------------------------------------------------

class _Applier:
    def __init__(self, site: str, conn: SiteConnection, identity: str, audit: Audit | None,
                 lock: threading.Lock, project_ids: dict[tuple[str, str], str],
                 quotas_set: QuotasSet | None = None) -> None:
        self.site, self.conn, self.identity = site, conn, identity
        self.audit_fn, self.lock, self.project_ids = audit, lock, project_ids
        self.quotas_set = quotas_set
        self.changes: list[AppliedChange] = []

    def record(self, code: str, action: str, before: Mapping[str, Any] | None,
               after: Mapping[str, Any] | None) -> None:
        change = AppliedChange(self.site, code, action, before, after)
        with self.lock:  # audit entries are written one at a time, in order
            self.changes.append(change)
            if self.audit_fn is not None:
                self.audit_fn(action, f"department:{code}@{self.site}", before, after)

    def project_id(self, code: str, planned: str | None) -> str:
        if planned is not None:
            return planned
        with self.lock:
            known = self.project_ids.get((self.identity, code))
        if known is not None:
            return known
        found = cloud.find_project(self.conn, code, site=self.site)
        if found is None:
            raise PermanentError(f"site {self.site}: the project of {code} was to be created "
                                 "by this apply but cannot be found",
                                 hint="run plan again; another apply may be running")
        return found.id

    def department(self, site_plan: SitePlan, code: str) -> None:
        create = next((c for c in site_plan.creates if c.code == code), None)
        if create is not None:
            project, created = cloud.create_project(self.conn, create, site=self.site)
            with self.lock:
                self.project_ids[(self.identity, code)] = project.id
            if created:
                self.record(code, "tenancy.project.create", None,
                            {"project_id": project.id, "name": project.name,
                             "description": project.description, "tags": list(project.tags)})
        changes = site_plan.changes_for(code)
        update = next((u for u in site_plan.updates if u.code == code), None)
        planned = next((c.project_id for c in changes if c.project_id), None)
        if planned is None and update is not None:
            planned = update.project_id
        project_id = self.project_id(code, planned)
        if changes:
            values = {c.field: c.desired for c in changes}
            cloud.set_quotas(self.conn, project_id, values, site=self.site)
            if self.quotas_set is not None:  # in force for approvals from now on
                self.quotas_set(self.site, code, project_id,
                                {c.field: QuotaFigure(c.desired, c.in_use) for c in changes})
            self.record(code, "tenancy.quota.set",
                        {"project_id": project_id, **{c.field: c.current for c in changes}},
                        {"project_id": project_id, **values})
        if update is not None:
            self.update(code, project_id, update)

    def update(self, code: str, project_id: str, update: ProjectUpdate) -> None:
        before, after = cloud.update_project(
            self.conn, project_id, site=self.site, description=update.description,
            add_tags=update.add_tags, replace_prefix=f"{RECORD_TAG_PREFIX}{self.site}:",
            record=update.record)
        if before != after:
            self.record(code, "tenancy.project.update",
                        {"project_id": project_id, "description": before.description,
                         "tags": list(before.tags)},
                        {"project_id": project_id, "description": after.description,
                         "tags": list(after.tags)})


def apply_tenancy(catalogue: Catalogue, *, connections: Mapping[str, SiteConnection],
                  audit: Audit | None = None, sites: Sequence[str] | None = None,
                  departments: Iterable[str] | None = None,
                  workers: int = APPLY_WORKERS,
                  quotas_set: QuotasSet | None = None,
                  check_plan: CheckPlan | None = None) -> TenancyResult:
    """Make every site match the catalogue; idempotent (a second apply changes nothing).

    Plans first, from a fresh read of every site. A plan with any refusal is not applied at all
    (:class:`TenancyRefused`). Sites are worked one after another, in order, so a project
    created for the first site of a shared Keystone is there for the next; within a site,
    ``workers`` departments at a time. If a cloud call fails, what was done so far stays done
    (and audited) and the error is raised: run apply again to finish, it adopts what exists.
    ``quotas_set`` is called once a project's quotas are set in a site (``record_quotas``
    keeps them in the store, so that approvals reserve against them at once).
    ``check_plan`` is called with the plan before anything is changed (the change gate,
    ``services.tenancy_change``): what it raises stops the apply with nothing done.
    """
    scoped = catalogue if departments is None else catalogue.only(departments)
    observed = observe(scoped, connections=connections, sites=sites)
    tenancy_plan = plan(scoped, observed)
    if tenancy_plan.refused:
        raise TenancyRefused(tenancy_plan)
    if check_plan is not None:
        check_plan(tenancy_plan)
    found = {(o.site, code): (p.id, p.name) for o in observed for code, p in o.projects.items()}
    if tenancy_plan.empty:
        return TenancyResult(plan=tenancy_plan, changes=(), projects=found)
    lock = threading.Lock()
    project_ids: dict[tuple[str, str], str] = {}
    changes: list[AppliedChange] = []
    identities = {o.site: o.identity for o in observed}
    for site_plan in tenancy_plan.sites:
        applier = _Applier(site_plan.site, connections[site_plan.site],
                           identities[site_plan.site], audit, lock, project_ids, quotas_set)
        codes = site_plan.codes()
        errors: list[BaseException] = []
        with ThreadPoolExecutor(max_workers=max(1, workers),
                                thread_name_prefix=f"apply-{site_plan.site}") as pool:
            futures = [pool.submit(applier.department, site_plan, c) for c in codes]
            for future in futures:
                try:
                    future.result()
                except BaseException as exc:  # noqa: BLE001 - re-raised once all finished
                    errors.append(exc)
        changes += applier.changes
        if errors:
            log.error("tenancy apply stopped in site %s after %d changes", site_plan.site,
                      len(changes), extra={"site": site_plan.site})
            raise errors[0]
        log.info("tenancy apply: site %s, %d changes", site_plan.site, len(applier.changes),
                 extra={"site": site_plan.site})
    names = {c.code: c.name for sp in tenancy_plan.sites for c in sp.creates}
    for o in observed:  # a project created for one site serves every site of its Keystone
        for (identity, code), project_id in project_ids.items():
            if identity == o.identity and (o.site, code) not in found:
                found[(o.site, code)] = (project_id, names.get(code, code))
    return TenancyResult(plan=tenancy_plan, changes=tuple(changes), projects=found)


# quotas the store keeps (as sync stores them, by the cloud's names): Nova's and Cinder's
STORED_QUOTAS = {**cloud.NOVA_QUOTAS, **cloud.CINDER_QUOTAS}


def record_quotas(engine: Engine) -> QuotasSet:
    """A ``quotas_set`` for ``apply_tenancy`` that writes the limits just set into the stored
    quotas (``quota_usage``) at once: approvals place against them from then on, without
    waiting for the next full sync."""
    def record(site: str, code: str, project_id: str,
               figures: Mapping[str, QuotaFigure]) -> None:
        stored = {STORED_QUOTAS[name]: (f.limit, f.in_use) for name, f in figures.items()
                  if name in STORED_QUOTAS}
        with write_begin(engine) as conn:
            inv.set_quota_limits(conn, site, project_id, code, stored)

    return record


def apply_recorded(catalogue: Catalogue, *, connections: Mapping[str, SiteConnection],
                   engine: Engine, actor: str, departments: Sequence[str] | None,
                   lock: threading.Lock, clock: Clock = utcnow,
                   check_plan: CheckPlan | None = None) -> TenancyResult:
    """``apply_tenancy`` as the API runs it: under ``lock`` (one apply at a time, so that
    plans see each other's work), every change audited as ``actor`` in a transaction of its
    own, the quotas set recorded at once, and department × site → project recorded as apply
    made it (sync keeps it current afterwards)."""
    def audit(action: str, target: str, before: Mapping[str, Any] | None,
              after: Mapping[str, Any] | None) -> None:
        append_committed(engine, actor=actor, action=action, target=target,
                         before=before, after=after, clock=clock)

    with lock:
        result = apply_tenancy(catalogue, connections=connections, audit=audit,
                               departments=departments, quotas_set=record_quotas(engine),
                               check_plan=check_plan)
        _record_mapping(engine, catalogue, result.projects)
    return result


def _record_mapping(engine: Engine, catalogue: Catalogue,
                    projects: Mapping[tuple[str, str], tuple[str, str]]) -> None:
    per_site: dict[str, list[inv.ProjectMapping]] = {}
    for (site, code), (project_id, name) in sorted(projects.items()):
        department = catalogue.find(code)
        if department is None:
            continue
        per_site.setdefault(site, []).append(
            inv.ProjectMapping(code, project_id, name, rbac_city(department)))
    with write_begin(engine) as conn:
        inv.record_mappings(conn, per_site)


# --- one department across all sites --------------------------------------------------------

def _site_view(code: str, desired: SiteQuota | None, site: str,
               conn: SiteConnection) -> DepartmentSiteView:
    try:
        project = cloud.find_project(conn, code, site=site)
        if project is None:
            return DepartmentSiteView(site=site, project_id=None, desired=desired)
        quotas = cloud.read_quota_figures(conn, project.id, site=site)
        statuses = count_statuses(cloud.project_server_statuses(conn, project.id, site=site))
    except GovCloudError as exc:
        return DepartmentSiteView(site=site, project_id=None, desired=desired,
                                  error=exc.message)
    return DepartmentSiteView(site=site, project_id=project.id, desired=desired,
                              quotas=quotas, servers_by_status=statuses)


def department_view(code: str, *, catalogue: Catalogue,
                    connections: Mapping[str, SiteConnection],
                    sites: Sequence[str] | None = None) -> DepartmentView:
    """One department in every site: its project, quotas against the catalogue, usage and
    servers by status. A site that cannot be read shows its error; the others still show."""
    department = catalogue.get(code)

    def read(site: str, conn: SiteConnection) -> DepartmentSiteView:
        desired = department.quotas.get(site)
        return _site_view(code, desired, site, conn)

    views = _per_site(connections, sites, read)
    return DepartmentView(department=department, sites=tuple(views))


__all__ = ["Audit", "AppliedChange", "QuotasSet", "TenancyRefused", "TenancyResult",
           "apply_tenancy", "department_view", "observe", "plan_tenancy", "record_quotas"]
