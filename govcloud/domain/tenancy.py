"""Tenancy reconciliation: compare the catalogue with what every site's cloud has, and plan.

The adapter reads each site into an :class:`ObservedSite` (the department projects Keystone
shows there, with their Nova, Cinder and Neutron quota limits and usage); :func:`plan` turns the
catalogue and those observations into a :class:`TenancyPlan`: per site, projects to create or
update, quotas to change, drift and refusals. Nothing here does I/O.

How govcloud remembers what it applied: after setting a project's quotas in a site it tags the
Keystone project with a *quota record* (``quota:<SITE>:cores=...;ram_mb=...``). A later limit
that differs from the record was changed outside govcloud — that is **drift**. The catalogue
changing is not drift; it is simply a planned change.

Sites may share one Keystone (the three centres of the province do). ``ObservedSite.identity``
says which Keystone a site uses, so a missing project is created once, listed under the first
site of that Keystone (apply works the sites in order), and the other sites of it use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from govcloud.domain.catalogue import (
    CODE_PATTERN,
    QUOTA_FIELDS,
    Catalogue,
    Department,
    SiteQuota,
)

DEPT_TAG_PREFIX = "dept:"
MANAGED_TAG = "managed-by:govcloud"
RECORD_TAG_PREFIX = "quota:"


def dept_tag(code: str) -> str:
    return f"{DEPT_TAG_PREFIX}{code}"


def record_tag(site: str, quota: SiteQuota) -> str:
    """The Keystone tag recording the quotas govcloud applied in ``site`` (< 255 characters,
    no ',' or '/', as Keystone requires)."""
    values = ";".join(f"{name}={quota.get(name)}" for name in QUOTA_FIELDS)
    return f"{RECORD_TAG_PREFIX}{site}:{values}"


def parse_record_tag(tag: str) -> tuple[str, SiteQuota] | None:
    """``(site, quota)`` from a quota record tag, or None if ``tag`` is not a valid one."""
    if not tag.startswith(RECORD_TAG_PREFIX):
        return None
    site, sep, rest = tag[len(RECORD_TAG_PREFIX):].rpartition(":")
    if not sep or not site:
        return None
    values: dict[str, int] = {}
    for part in rest.split(";"):
        name, eq, number = part.partition("=")
        if not eq or name not in QUOTA_FIELDS or not number.isdigit() or name in values:
            return None
        values[name] = int(number)
    if set(values) != set(QUOTA_FIELDS):
        return None
    return site, SiteQuota.from_mapping(values)


def _is_record_for(tag: str, site: str) -> bool:
    return tag.startswith(f"{RECORD_TAG_PREFIX}{site}:")


# --- what the adapter reads -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProjectRecord:
    """A Keystone project as listed (before matching it to a department)."""

    id: str
    name: str
    description: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QuotaFigure:
    """One quota in one site: the limit (-1 is unlimited) and what is in use."""

    limit: int
    in_use: int = 0


@dataclass(frozen=True, slots=True)
class ObservedProject:
    """A department's project as one site sees it, with that site's quotas (by QUOTA_FIELDS)."""

    id: str
    name: str
    description: str
    tags: tuple[str, ...]
    quotas: Mapping[str, QuotaFigure]

    def applied(self, site: str) -> SiteQuota | None:
        """What govcloud last applied in ``site`` (from the project's record tag), if known."""
        for tag in self.tags:
            if _is_record_for(tag, site):
                parsed = parse_record_tag(tag)
                if parsed is not None and parsed[0] == site:
                    return parsed[1]
        return None


@dataclass(frozen=True, slots=True)
class ObservedSite:
    """One site's view: department projects by code, and which Keystone it uses."""

    site: str
    identity: str
    projects: Mapping[str, ObservedProject] = field(default_factory=dict)
    conflicts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProjectMatch:
    """Projects matched to department codes; ``conflicts`` lists codes claimed twice."""

    projects: Mapping[str, ProjectRecord]
    conflicts: Mapping[str, tuple[str, ...]]


def match_projects(projects: Iterable[ProjectRecord], codes: Iterable[str]) -> ProjectMatch:
    """Which project belongs to which department.

    A project tagged ``dept:<code>`` belongs to that department; failing that, a project named
    exactly ``<code>`` does (how projects made before govcloud are adopted). Two projects tagged
    for one department is a conflict govcloud will not guess its way out of.
    """
    wanted = set(codes)
    tagged: dict[str, list[ProjectRecord]] = {}
    named: dict[str, ProjectRecord] = {}
    for p in projects:
        claims = {t[len(DEPT_TAG_PREFIX):] for t in p.tags if t.startswith(DEPT_TAG_PREFIX)}
        for code in claims & wanted:
            tagged.setdefault(code, []).append(p)
        if p.name in wanted and not claims:
            named[p.name] = p
    result: dict[str, ProjectRecord] = {}
    conflicts: dict[str, tuple[str, ...]] = {}
    for code in sorted(wanted):
        candidates = tagged.get(code, [])
        if len(candidates) > 1:
            conflicts[code] = tuple(sorted(p.id for p in candidates))
        elif candidates:
            result[code] = candidates[0]
        elif code in named:
            result[code] = named[code]
    return ProjectMatch(projects=result, conflicts=conflicts)


# --- the plan -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProjectCreate:
    code: str
    name: str
    description: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProjectUpdate:
    """Keystone changes for an existing (or just created) project in one site: description,
    tags to add, and the site's quota record tag to write (replacing the old one)."""

    code: str
    project_id: str | None  # None: the project is created by this plan
    description: str | None = None
    current_description: str | None = None
    add_tags: tuple[str, ...] = ()
    record: str | None = None


@dataclass(frozen=True, slots=True)
class QuotaChange:
    code: str
    project_id: str | None
    field: str
    current: int | None  # None: the project does not exist yet
    desired: int
    in_use: int


@dataclass(frozen=True, slots=True)
class Drift:
    """A limit that differs from what govcloud last applied: someone changed it by hand."""

    code: str
    project_id: str
    field: str
    applied: int
    actual: int


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    field: str
    desired: int | None
    in_use: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class SitePlan:
    site: str
    creates: tuple[ProjectCreate, ...] = ()
    updates: tuple[ProjectUpdate, ...] = ()
    quota_changes: tuple[QuotaChange, ...] = ()
    drift: tuple[Drift, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    in_sync: tuple[str, ...] = ()  # departments with nothing to do here

    @property
    def empty(self) -> bool:
        return not (self.creates or self.updates or self.quota_changes or self.drift
                    or self.refusals)

    def changes_for(self, code: str) -> tuple[QuotaChange, ...]:
        return tuple(c for c in self.quota_changes if c.code == code)

    def codes(self) -> tuple[str, ...]:
        """Departments with something to do in this site, in order."""
        seen = dict.fromkeys([*(c.code for c in self.creates), *(u.code for u in self.updates),
                              *(q.code for q in self.quota_changes)])
        return tuple(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "create_projects": [{"code": c.code, "name": c.name, "description": c.description,
                                 "tags": list(c.tags)} for c in self.creates],
            "update_projects": [{"code": u.code, "project_id": u.project_id,
                                 "description": u.description, "add_tags": list(u.add_tags),
                                 "record": u.record} for u in self.updates],
            "quota_changes": [{"code": q.code, "project_id": q.project_id, "field": q.field,
                               "current": q.current, "desired": q.desired, "in_use": q.in_use}
                              for q in self.quota_changes],
            "drift": [{"code": d.code, "project_id": d.project_id, "field": d.field,
                       "applied": d.applied, "actual": d.actual} for d in self.drift],
            "refusals": [{"code": r.code, "field": r.field, "desired": r.desired,
                          "in_use": r.in_use, "reason": r.reason} for r in self.refusals],
            "in_sync": len(self.in_sync),
        }


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class TenancyPlan:
    sites: tuple[SitePlan, ...]
    departments: int

    @property
    def empty(self) -> bool:
        return all(s.empty for s in self.sites)

    @property
    def refused(self) -> bool:
        return any(s.refusals for s in self.sites)

    @property
    def has_drift(self) -> bool:
        return any(s.drift for s in self.sites)

    def site(self, name: str) -> SitePlan:
        for s in self.sites:
            if s.site == name:
                return s
        raise KeyError(name)

    def summary(self) -> str:
        if self.empty:
            return (f"no changes: {self.departments} departments match the catalogue in "
                    f"{len(self.sites)} sites")
        creates = sum(len(s.creates) for s in self.sites)
        quotas = sum(len(s.quota_changes) for s in self.sites)
        updates = sum(len(s.updates) for s in self.sites)
        drift = sum(len(s.drift) for s in self.sites)
        refusals = sum(len(s.refusals) for s in self.sites)
        parts = [f"{_n(creates, 'project')} to create", f"{_n(quotas, 'quota')} to change",
                 f"{_n(updates, 'project record')} to update", f"{_n(drift, 'drifted quota')}"]
        if refusals:
            parts.append(f"{refusals} refused (nothing will be applied until fixed)")
        return "plan: " + ", ".join(parts)

    def lines(self) -> list[str]:
        """A human-readable plan, one line per item, grouped by site."""
        out = []
        for s in self.sites:
            if s.empty:
                out.append(f"{s.site}: no changes ({len(s.in_sync)} departments in sync)")
                continue
            out.append(f"{s.site}:")
            out += [f"  + project {c.code} ({c.description})" for c in s.creates]
            for u in s.updates:
                what = [f"description → {u.description!r}"] if u.description else []
                what += [f"tag {t}" for t in u.add_tags]
                what += ["quota record"] if u.record else []
                out.append(f"  ~ project {u.code}: {', '.join(what)}")
            for q in s.quota_changes:
                current = "new" if q.current is None else str(q.current)
                out.append(f"  ~ {q.code} {q.field}: {current} → {q.desired} (in use {q.in_use})")
            out += [f"  ! drift {d.code} {d.field}: applied {d.applied}, now {d.actual}"
                    for d in s.drift]
            out += [f"  ✗ refused {r.code} {r.field}: {r.reason}" for r in s.refusals]
        out.append(self.summary())
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"empty": self.empty, "refused": self.refused, "summary": self.summary(),
                "departments": self.departments, "sites": [s.to_dict() for s in self.sites]}


@dataclass
class _SiteDraft:
    site: str
    creates: list[ProjectCreate] = field(default_factory=list)
    updates: list[ProjectUpdate] = field(default_factory=list)
    quota_changes: list[QuotaChange] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    in_sync: list[str] = field(default_factory=list)

    def freeze(self) -> SitePlan:
        return SitePlan(site=self.site, creates=tuple(self.creates), updates=tuple(self.updates),
                        quota_changes=tuple(self.quota_changes), drift=tuple(self.drift),
                        refusals=tuple(self.refusals), in_sync=tuple(self.in_sync))


def _department_tags(code: str) -> tuple[str, ...]:
    return (dept_tag(code), MANAGED_TAG)


def _plan_quotas(draft: _SiteDraft, dept: Department, project: ObservedProject | None,
                 desired: SiteQuota) -> None:
    site = draft.site
    if project is None:
        for name in QUOTA_FIELDS:
            draft.quota_changes.append(QuotaChange(dept.code, None, name, None,
                                                   desired.get(name), 0))
        return
    applied = project.applied(site)
    for name in QUOTA_FIELDS:
        figure = project.quotas.get(name)
        if figure is None:
            draft.refusals.append(Refusal(dept.code, name, desired.get(name), None,
                                          f"the cloud did not report the {name} quota"))
            continue
        want = desired.get(name)
        if applied is not None and figure.limit != applied.get(name):
            draft.drift.append(Drift(dept.code, project.id, name, applied.get(name),
                                     figure.limit))
        if figure.limit == want:
            continue
        if want < figure.in_use:
            draft.refusals.append(Refusal(
                dept.code, name, want, figure.in_use,
                f"desired {want} is below current usage {figure.in_use} (limit now "
                f"{figure.limit}); free resources first or raise the catalogue quota"))
            continue
        draft.quota_changes.append(QuotaChange(dept.code, project.id, name, figure.limit, want,
                                               figure.in_use))


def _plan_department(dept: Department, observed: Sequence[ObservedSite],
                     drafts: Mapping[str, _SiteDraft]) -> None:
    by_identity: dict[str, list[ObservedSite]] = {}
    for obs in observed:
        by_identity.setdefault(obs.identity, []).append(obs)
    for group in by_identity.values():
        conflict = next((o for o in group if dept.code in o.conflicts), None)
        if conflict is not None:
            ids = ", ".join(conflict.conflicts[dept.code])
            for obs in group:
                drafts[obs.site].refusals.append(Refusal(
                    dept.code, "project", None, None,
                    f"several projects are tagged {dept_tag(dept.code)} ({ids}); remove the "
                    "tag from all but one"))
            continue
        existing = next((o.projects[dept.code] for o in group if dept.code in o.projects), None)
        needing = [o for o in group if o.site in dept.quotas]
        if existing is None and not needing:
            continue  # no allocation and no project in this Keystone: nothing to do
        first = group[0]  # Keystone-side work is listed under the first site using it
        for obs in group:
            draft = drafts[obs.site]
            project = obs.projects.get(dept.code)
            before = (len(draft.quota_changes), len(draft.drift), len(draft.refusals))
            desired = dept.quota(obs.site)
            if existing is None and obs is first:
                draft.creates.append(ProjectCreate(dept.code, dept.code, dept.description,
                                                   _department_tags(dept.code)))
            update = _project_update(dept, obs, project, existing, desired,
                                     keystone_owner=obs is first)
            _plan_quotas(draft, dept, project, desired)
            if update is not None:
                draft.updates.append(update)
            after = (len(draft.quota_changes), len(draft.drift), len(draft.refusals))
            if update is None and before == after and not (existing is None and obs is first):
                draft.in_sync.append(dept.code)


def _project_update(dept: Department, obs: ObservedSite, project: ObservedProject | None,
                    existing: ObservedProject | None, desired: SiteQuota, *,
                    keystone_owner: bool) -> ProjectUpdate | None:
    """Keystone-side changes: description and tags once per Keystone (by its first site),
    and this site's quota record."""
    record = record_tag(obs.site, desired)
    if project is None:
        # created by this plan (or visible only through another site of the same Keystone)
        base = existing
        if base is None:
            return ProjectUpdate(dept.code, None, record=record)
        tags: tuple[str, ...] = base.tags
        project_id: str | None = base.id
        description = base.description
    else:
        tags, project_id, description = project.tags, project.id, project.description
    new_description = None
    add_tags: tuple[str, ...] = ()
    if keystone_owner:
        if description != dept.description:
            new_description = dept.description
        add_tags = tuple(t for t in _department_tags(dept.code) if t not in tags)
    write_record = record if record not in tags else None
    if new_description is None and not add_tags and write_record is None:
        return None
    return ProjectUpdate(dept.code, project_id, new_description,
                         description if new_description else None, add_tags, write_record)


def plan(catalogue: Catalogue, observed: Sequence[ObservedSite]) -> TenancyPlan:
    """What must change in each observed site so that the cloud matches the catalogue.

    Every department of ``catalogue`` is planned in every site of ``observed`` (in that order):
    a site the department has quotas for gets a project (created if its Keystone has none) and
    those quotas; a site it has none for gets zero quotas wherever its project exists. A quota
    below what is in use there is refused, with the usage shown. Sites in the catalogue but not
    in ``observed`` are left alone.
    """
    names = [o.site for o in observed]
    if len(set(names)) != len(names):
        raise ValueError(f"sites observed twice: {names}")
    drafts = {o.site: _SiteDraft(o.site) for o in observed}
    for dept in catalogue:
        if not CODE_PATTERN.fullmatch(dept.code):  # parse_department guarantees it; be sure
            raise ValueError(f"bad department code {dept.code!r}")
        _plan_department(dept, observed, drafts)
    return TenancyPlan(sites=tuple(drafts[n].freeze() for n in names),
                       departments=len(catalogue))


# --- one department across the sites ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DepartmentSiteView:
    """A department in one site: its project, quotas (limit and use) against the catalogue's,
    and its servers by status. ``desired`` is None where the catalogue gives no quota (no
    allocation); ``error`` says why the site could not be read."""

    site: str
    project_id: str | None
    desired: SiteQuota | None
    quotas: Mapping[str, QuotaFigure] = field(default_factory=dict)
    servers_by_status: Mapping[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def servers(self) -> int:
        return sum(self.servers_by_status.values())

    @property
    def in_sync(self) -> bool | None:
        """Whether every limit equals the catalogue's (None when unknown: not read, no
        project)."""
        if self.error is not None or self.project_id is None or not self.quotas:
            return None
        want = self.desired or SiteQuota()
        return all(self.quotas.get(n, QuotaFigure(-2)).limit == want.get(n)
                   for n in QUOTA_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site, "project_id": self.project_id,
            "desired": self.desired.as_dict() if self.desired else None,
            "quotas": {n: {"limit": f.limit, "in_use": f.in_use}
                       for n, f in self.quotas.items()},
            "in_sync": self.in_sync,
            "servers": {"total": self.servers,
                        "by_status": dict(sorted(self.servers_by_status.items()))},
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class DepartmentView:
    department: Department
    sites: tuple[DepartmentSiteView, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.department.to_dict(), "sites": [s.to_dict() for s in self.sites]}
