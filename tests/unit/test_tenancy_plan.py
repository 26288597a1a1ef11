"""Tenancy planning (pure domain): creates, quota changes, drift, refusals, shared Keystones,
idempotence — and, with hypothesis, that applying any plan converges in one step."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from govcloud.domain.catalogue import (
    QUOTA_FIELDS,
    Catalogue,
    SiteQuota,
)
from govcloud.domain.tenancy import (
    MANAGED_TAG,
    ObservedProject,
    ObservedSite,
    ProjectRecord,
    QuotaFigure,
    TenancyPlan,
    dept_tag,
    match_projects,
    parse_record_tag,
    plan,
    record_tag,
)
from tests.unit.tenancy_fixtures import (
    BIG,
    KEYSTONE,
    SITES,
    SMALL,
    applied_cloud,
    catalogue,
    dept,
    figures,
    project,
)


def replace_project(observed: list[ObservedSite], site: str, code: str,
                    new: ObservedProject) -> list[ObservedSite]:
    return [ObservedSite(o.site, o.identity, {**o.projects, code: new}) if o.site == site
            else o for o in observed]


# --- examples -----------------------------------------------------------------------------------

def test_a_plan_against_an_applied_cloud_is_empty_and_says_so() -> None:
    cat = catalogue(dept("gd-a", {"PROD": BIG, "DR-REMOTE": SMALL}), dept("gd-b", {"PROD": SMALL}))
    result = plan(cat, applied_cloud(cat))
    assert result.empty and not result.refused and not result.has_drift
    assert result.summary() == "no changes: 2 departments match the catalogue in 3 sites"
    assert all(s.in_sync == ("gd-a", "gd-b") for s in result.sites)
    assert result.to_dict()["empty"] is True


def test_a_new_department_is_created_once_per_keystone() -> None:
    old = dept("gd-a", {"PROD": BIG})
    new = dept("gd-new", {"PROD": BIG, "DR-REMOTE": SMALL})
    result = plan(catalogue(old, new), applied_cloud(catalogue(old)))
    prod, local, remote = result.sites
    [create] = prod.creates
    assert (create.code, create.name) == ("gd-new", "gd-new")
    assert create.description == new.description
    assert set(create.tags) == {"dept:gd-new", MANAGED_TAG}
    assert not local.creates and not remote.creates
    # quotas everywhere the project will exist; zero where it has no allocation
    assert {c.field: c.desired for c in local.changes_for("gd-new")} == SiteQuota().as_dict()
    assert {c.field: c.desired for c in remote.changes_for("gd-new")} == SMALL.as_dict()
    assert all(c.current is None and c.project_id is None for c in prod.changes_for("gd-new"))
    # every site records what it applied
    assert {u.record for s in result.sites for u in s.updates} == {
        record_tag(s, new.quota(s)) for s in SITES}
    assert "1 project to create" in result.summary()


def test_separate_keystones_each_get_a_project() -> None:
    d = dept("gd-a", {"PROD": BIG, "DR-REMOTE": SMALL})
    observed = [ObservedSite("PROD", "ks-1"), ObservedSite("DR-LOCAL", "ks-1"),
                ObservedSite("DR-REMOTE", "ks-2")]
    result = plan(catalogue(d), observed)
    assert [len(s.creates) for s in result.sites] == [1, 0, 1]


def test_no_allocation_and_no_project_means_nothing_to_do() -> None:
    d = dept("gd-a", {"PROD": BIG})
    observed = [ObservedSite("PROD", "ks-1"), ObservedSite("SZ-CITY", "ks-sz")]
    result = plan(catalogue(d), observed)
    assert result.site("SZ-CITY").empty and result.site("SZ-CITY").in_sync == ()


def test_a_catalogue_change_is_a_quota_change_not_drift() -> None:
    before = dept("gd-a", {"PROD": BIG})
    after = dept("gd-a", {"PROD": SiteQuota(**{**BIG.as_dict(), "cores": 800})})
    result = plan(catalogue(after), applied_cloud(catalogue(before)))
    [change] = result.site("PROD").quota_changes
    assert (change.field, change.current, change.desired) == ("cores", 400, 800)
    assert change.project_id == "id-gd-a"
    assert not result.has_drift
    [update] = result.site("PROD").updates
    assert update.record == record_tag("PROD", after.quota("PROD")) and not update.add_tags


def test_a_quota_changed_by_hand_is_drift() -> None:
    d = dept("gd-a", {"PROD": BIG})
    observed = applied_cloud(catalogue(d))
    hand = figures(BIG) | {"ram_mb": QuotaFigure(1024000, 0)}
    observed = replace_project(observed, "PROD", "gd-a", project(d, {"PROD": hand}, "PROD"))
    result = plan(catalogue(d), observed)
    [drift] = result.site("PROD").drift
    assert (drift.field, drift.applied, drift.actual) == ("ram_mb", BIG.ram_mb, 1024000)
    [change] = result.site("PROD").quota_changes
    assert (change.current, change.desired) == (1024000, BIG.ram_mb)
    assert result.has_drift and "1 drifted" in result.summary()
    assert not result.site("PROD").updates  # the record already says what to restore
    assert any("drift gd-a ram_mb" in line for line in result.lines())


def test_quota_below_usage_is_refused_with_the_usage() -> None:
    d = dept("gd-a", {"PROD": BIG})
    observed = applied_cloud(catalogue(d), used={("gd-a", "PROD"): {"cores": 300}})
    smaller = dept("gd-a", {"PROD": SiteQuota(**{**BIG.as_dict(), "cores": 200})})
    result = plan(catalogue(smaller), observed)
    assert result.refused
    [refusal] = result.site("PROD").refusals
    assert (refusal.field, refusal.desired, refusal.in_use) == ("cores", 200, 300)
    assert "usage 300" in refusal.reason
    assert not result.site("PROD").quota_changes
    assert "refused" in result.summary()


def test_removing_a_site_zeroes_its_quotas_unless_in_use() -> None:
    both = dept("gd-a", {"PROD": BIG, "DR-REMOTE": SMALL})
    observed = applied_cloud(catalogue(both), used={("gd-a", "DR-REMOTE"): {"instances": 2}})
    prod_only = dept("gd-a", {"PROD": BIG})
    result = plan(catalogue(prod_only), observed)
    remote = result.site("DR-REMOTE")
    assert {c.field for c in remote.quota_changes} == set(QUOTA_FIELDS) - {"instances"}
    assert [r.field for r in remote.refusals] == ["instances"]


def test_projects_made_before_govcloud_are_adopted() -> None:
    d = dept("gd-a", {"PROD": BIG})
    legacy = ObservedProject(id="legacy", name="gd-a", description="旧名称 Old", tags=(),
                             quotas=figures(BIG))
    observed = [ObservedSite(s, KEYSTONE, {"gd-a": legacy}) for s in SITES]
    result = plan(catalogue(d), observed)
    assert not any(s.creates for s in result.sites)
    prod_update = result.site("PROD").updates[0]
    assert prod_update.description == d.description
    assert prod_update.current_description == "旧名称 Old"
    assert set(prod_update.add_tags) == {"dept:gd-a", MANAGED_TAG}
    # the other sites of the same Keystone only write their own record
    local_update = result.site("DR-LOCAL").updates[0]
    assert local_update.description is None and local_update.add_tags == ()
    assert local_update.record == record_tag("DR-LOCAL", SiteQuota())
    assert not result.has_drift  # nothing recorded yet, so nothing can have drifted


def test_two_projects_claiming_one_department_are_refused() -> None:
    records = [ProjectRecord("p1", "gd-a", tags=("dept:gd-a",)),
               ProjectRecord("p2", "gd-a-copy", tags=("dept:gd-a",))]
    match = match_projects(records, ["gd-a"])
    assert match.conflicts == {"gd-a": ("p1", "p2")} and not match.projects
    d = dept("gd-a", {"PROD": BIG})
    observed = [ObservedSite(s, KEYSTONE, conflicts=match.conflicts) for s in SITES]
    result = plan(catalogue(d), observed)
    assert result.refused and "p1, p2" in result.site("PROD").refusals[0].reason
    assert not any(s.creates for s in result.sites)


def test_matching_prefers_the_tag_over_the_name() -> None:
    records = [ProjectRecord("by-name", "gd-a"), ProjectRecord("by-tag", "x", tags=("dept:gd-a",)),
               ProjectRecord("other", "gd-b", tags=("dept:gd-c",)),
               ProjectRecord("unrelated", "admin")]
    match = match_projects(records, ["gd-a", "gd-b"])
    assert {c: p.id for c, p in match.projects.items()} == {"gd-a": "by-tag"}


def test_record_tags_round_trip_and_fit_keystone() -> None:
    big = SiteQuota(*(2**31 - 1 for _ in QUOTA_FIELDS))
    tag = record_tag("A-VERY-LONG-CITY-SITE-NAME.example", big)
    assert len(tag) <= 255 and "," not in tag and "/" not in tag
    assert parse_record_tag(tag) == ("A-VERY-LONG-CITY-SITE-NAME.example", big)
    for bad in ("quota:PROD:cores=1", "dept:x", "quota::cores=1", "quota:PROD:cores=-1;" * 2,
                record_tag("PROD", BIG).replace("ports", "port")):
        assert parse_record_tag(bad) is None


def test_an_unreported_quota_is_refused() -> None:
    d = dept("gd-a", {"PROD": BIG})
    limits = {k: v for k, v in figures(BIG).items() if k != "ports"}
    observed = replace_project(applied_cloud(catalogue(d)), "PROD", "gd-a",
                               project(d, {"PROD": limits}, "PROD"))
    assert [r.field for r in plan(catalogue(d), observed).site("PROD").refusals] == ["ports"]


def test_sites_observed_twice_is_a_bug() -> None:
    with pytest.raises(ValueError):
        plan(catalogue(), [ObservedSite("PROD", KEYSTONE), ObservedSite("PROD", KEYSTONE)])


# --- a pure model of apply, for properties ------------------------------------------------------

@dataclass
class World:
    """Keystones (identity → code → project) and per-site quotas, as a cloud would hold them."""

    keystones: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)
    limits: dict[tuple[str, str], dict[str, QuotaFigure]] = field(default_factory=dict)
    identity: dict[str, str] = field(default_factory=dict)
    created: int = 0

    @classmethod
    def from_observed(cls, observed: list[ObservedSite]) -> World:
        world = cls()
        for o in observed:
            world.identity[o.site] = o.identity
            ks = world.keystones.setdefault(o.identity, {})
            for code, p in o.projects.items():
                ks.setdefault(code, {"id": p.id, "name": p.name,
                                     "description": p.description, "tags": list(p.tags)})
                world.limits[(o.site, p.id)] = dict(p.quotas)
        return world

    def observe(self) -> list[ObservedSite]:
        out = []
        for site, identity in self.identity.items():
            projects = {}
            for code, p in self.keystones[identity].items():
                pid = str(p["id"])
                projects[code] = ObservedProject(
                    id=pid, name=str(p["name"]), description=str(p["description"]),
                    tags=tuple(p["tags"]),  # type: ignore[call-overload]
                    quotas=self.limits.setdefault((site, pid), {
                        n: QuotaFigure(10) for n in QUOTA_FIELDS}))
            out.append(ObservedSite(site, identity, projects))
        return out

    def apply(self, tenancy_plan: TenancyPlan) -> None:
        assert not tenancy_plan.refused
        for s in tenancy_plan.sites:
            ks = self.keystones[self.identity[s.site]]
            for c in s.creates:
                assert c.code not in ks, "created twice in one Keystone"
                self.created += 1
                ks[c.code] = {"id": f"new-{c.code}-{self.created}", "name": c.name,
                              "description": c.description, "tags": list(c.tags)}
            for q in s.quota_changes:
                pid = str(ks[q.code]["id"])
                assert q.project_id in (None, pid)
                limits = self.limits.setdefault((s.site, pid), {
                    n: QuotaFigure(10) for n in QUOTA_FIELDS})
                limits[q.field] = QuotaFigure(q.desired, limits[q.field].in_use)
            for u in s.updates:
                p = ks[u.code]
                tags: list[str] = list(p["tags"])  # type: ignore[call-overload]
                if u.record:
                    tags = [t for t in tags if not t.startswith(f"quota:{s.site}:")]
                for t in (*u.add_tags, *([u.record] if u.record else [])):
                    if t not in tags:
                        tags.append(t)
                p["tags"] = tags
                if u.description:
                    p["description"] = u.description


codes = st.sampled_from(["gd-a", "gd-b", "gd-c", "sz"])
quota = st.builds(SiteQuota, *(st.integers(0, 50) for _ in QUOTA_FIELDS))
departments = st.dictionaries(codes, st.dictionaries(st.sampled_from(SITES), quota, max_size=3),
                              max_size=4).map(
    lambda m: catalogue(*(dept(c, q) for c, q in m.items())))


@st.composite
def clouds(draw: st.DrawFn, cat: Catalogue) -> list[ObservedSite]:
    """Any plausible cloud: shared or separate Keystones, projects present or not, any limits,
    usage, descriptions and (possibly stale) quota records."""
    shared = draw(st.booleans())
    identities = {s: KEYSTONE if shared else f"ks-{s}" for s in SITES}
    present: dict[str, dict[str, ObservedProject]] = {}
    for identity in set(identities.values()):
        for code in [*cat.codes, "gd-x"]:
            if not draw(st.booleans()):
                continue
            d = cat.find(code) or dept(code, {})
            records = draw(st.lists(st.sampled_from(SITES), unique=True))
            stale = draw(st.booleans())
            tags = [record_tag(s, SiteQuota() if stale else d.quota(s)) for s in records]
            if draw(st.booleans()):
                tags += [dept_tag(code), MANAGED_TAG]
            present.setdefault(identity, {})[code] = ObservedProject(
                id=f"{identity}-{code}", name=code,
                description=draw(st.sampled_from([d.description, "old"])),
                tags=tuple(tags), quotas={})
    out = []
    for site, identity in identities.items():
        projects = {}
        for code, p in present.get(identity, {}).items():
            limits = {n: QuotaFigure(draw(st.integers(-1, 60)), draw(st.integers(0, 5)))
                      for n in QUOTA_FIELDS}
            projects[code] = ObservedProject(p.id, p.name, p.description, p.tags, limits)
        out.append(ObservedSite(site, identity, projects))
    return out


@settings(max_examples=150, deadline=None)
@given(st.data(), departments)
def test_applying_any_plan_converges_in_one_step(data: st.DataObject, cat: Catalogue) -> None:
    observed = data.draw(clouds(cat))
    first = plan(cat, observed)
    assume(not first.refused)
    world = World.from_observed(observed)
    world.apply(first)
    second = plan(cat, world.observe())
    assert second.empty, second.lines()
    # and the cloud now holds exactly the catalogue's quotas
    for o in world.observe():
        for d in cat:
            if d.code in o.projects:
                limits = {n: f.limit for n, f in o.projects[d.code].quotas.items()}
                assert limits == d.quota(o.site).as_dict()


@settings(max_examples=150, deadline=None)
@given(st.data(), departments)
def test_refusals_are_exactly_the_quotas_below_usage(data: st.DataObject, cat: Catalogue) -> None:
    observed = data.draw(clouds(cat))
    result = plan(cat, observed)
    for o, s in zip(observed, result.sites, strict=True):
        expected = {(code, n) for code, p in o.projects.items() if cat.find(code)
                    for n, f in p.quotas.items()
                    if f.limit != cat.get(code).quota(o.site).get(n)
                    and cat.get(code).quota(o.site).get(n) < f.in_use}
        assert {(r.code, r.field) for r in s.refusals} == expected
        # nothing refused is also planned as a change
        assert not expected & {(q.code, q.field) for q in s.quota_changes}


@settings(max_examples=150, deadline=None)
@given(st.data(), departments)
def test_drift_is_exactly_a_limit_that_differs_from_its_record(data: st.DataObject,
                                                                cat: Catalogue) -> None:
    observed = data.draw(clouds(cat))
    result = plan(cat, observed)
    for o, s in zip(observed, result.sites, strict=True):
        expected = set()
        for code, p in o.projects.items():
            applied = p.applied(o.site)
            if cat.find(code) is None or applied is None:
                continue
            expected |= {(code, n) for n, f in p.quotas.items() if f.limit != applied.get(n)}
        assert {(d.code, d.field) for d in s.drift} == expected


@given(departments)
def test_an_applied_cloud_always_plans_empty(cat: Catalogue) -> None:
    assert plan(cat, applied_cloud(cat)).empty
