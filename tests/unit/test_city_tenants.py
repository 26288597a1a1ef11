"""A city site's tenants (issue 22): the city's own departments (kind ``city-department``) and
the provincial or national bodies' branches in the city (``city-branch``) beside the city's own
entry: validated with hints, their city's for RBAC (a city-operator of that city operates them,
others don't; a department-viewer of one sees its own), and shipped as examples under
``tenants/cities/`` that load only where their city sites are configured."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from govcloud.demo.cities import city_catalogue
from govcloud.domain.capacity import Resources
from govcloud.domain.catalogue import (
    CITY_KINDS,
    Catalogue,
    CatalogueError,
    Department,
    DepartmentKind,
    build_catalogue,
    department_problems,
    parse_department,
)
from govcloud.domain.rbac import Action, Principal, Role, Target, can, visible_departments
from govcloud.domain.sites import Site, SiteRole
from govcloud.domain.whatif import Load, lose_site
from govcloud.services.catalogue import load_catalogue
from govcloud.services.inventory import DepartmentRef, city_dr_of, rbac_city
from govcloud.sim import seed
from govcloud.sim.scales import SCALES

REPO = Path(__file__).resolve().parents[2]
TENANTS = REPO / "tenants"
SOURCE = "tenants/gz-psb.yaml"
QUOTA = {"cores": 2400, "ram_mb": 4915200, "instances": 300, "volumes": 300,
         "gigabytes": 60000, "ports": 600, "server_groups": 60, "server_group_members": 60}
SITES = ("PROD", "DR-LOCAL", "DR-REMOTE", "GUANGZHOU", "SHENZHEN")


def entry(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "code": "gz-psb", "name_zh": "广州市公安局",
        "name_en": "Guangzhou Municipal Public Security Bureau", "kind": "city-department",
        "city": "guangzhou", "dr_level": 5, "quotas": {"GUANGZHOU": dict(QUOTA)},
        "contacts": [{"name": "陈志强", "phone": "+86 20 8311 6000",
                      "email": "cloud@gz-psb.gz-gov.example"}],
    }
    base.update(changes)
    return base


def city(code: str, zh: str) -> dict[str, Any]:
    return entry(code=code, name_zh=zh, name_en=code.title(), kind="city", city=code,
                 quotas={"PROD": dict(QUOTA)})


def problems(document: Any, sites: tuple[str, ...] = SITES) -> dict[str, tuple[str, str]]:
    return {p.field: (p.message, p.hint)
            for p in department_problems(document, source=SOURCE, sites=sites)}


def test_a_city_department_and_a_city_branch_parse() -> None:
    psb = parse_department(entry(), source=SOURCE, sites=SITES)
    assert psb.kind is DepartmentKind.CITY_DEPARTMENT and psb.city == "guangzhou"
    assert psb.sites == ("GUANGZHOU",) and psb.quota("PROD").cores == 0
    tax = parse_department(entry(code="sz-tax", name_zh="国家税务总局深圳市税务局",
                                 name_en="Shenzhen Municipal Tax Service", kind="city-branch",
                                 city="shenzhen", quotas={"SHENZHEN": dict(QUOTA)}),
                           source="tenants/sz-tax.yaml", sites=SITES)
    assert tax.kind is DepartmentKind.CITY_BRANCH
    assert {DepartmentKind.CITY_DEPARTMENT, DepartmentKind.CITY_BRANCH} < CITY_KINDS
    assert DepartmentKind.VERTICAL not in CITY_KINDS


def test_a_city_tenant_needs_a_code_of_its_own_with_a_hint() -> None:
    message, hint = problems(entry(code="guangzhou"))["code"]
    assert "city-department needs a code of its own" in message
    assert "gz-psb" in hint and "kind: city" in hint
    assert "code" in problems(entry(code="shenzhen", city="shenzhen", kind="city-branch"))


def test_an_unknown_kind_lists_the_city_kinds() -> None:
    message, hint = problems(entry(kind="city-bureau"))["kind"]
    assert "'city-bureau' is not a kind" in message
    assert "city-department" in hint and "city-branch" in hint


def test_a_city_site_quota_needs_the_city_site_configured() -> None:
    message, hint = problems(entry(), sites=("PROD", "DR-LOCAL", "DR-REMOTE"))["quotas.GUANGZHOU"]
    assert "unknown site 'GUANGZHOU'" in message and "PROD" in hint


def test_a_city_tenant_belongs_to_a_city_in_the_catalogue() -> None:
    psb = parse_department(entry(city="guangzou"), source=SOURCE, sites=SITES)
    gz = parse_department(city("guangzhou", "广州市"), source="tenants/guangzhou.yaml")
    with pytest.raises(CatalogueError) as caught:
        build_catalogue([psb, gz])
    [problem] = caught.value.problems
    assert problem.field == "city" and "did you mean guangzhou" in problem.message
    assert "city's own entry (kind: city)" in problem.hint


def test_city_tenants_count_under_their_city_for_rbac() -> None:
    psb = parse_department(entry(), source=SOURCE, sites=SITES)
    gz = parse_department(city("guangzhou", "广州市"), source="tenants/guangzhou.yaml")
    sz = parse_department(city("shenzhen", "深圳市"), source="tenants/shenzhen.yaml")
    tax = parse_department(entry(code="sz-tax", name_zh="国家税务总局深圳市税务局",
                                 kind="city-branch", city="shenzhen",
                                 quotas={"SHENZHEN": dict(QUOTA)}),
                           source="tenants/sz-tax.yaml", sites=SITES)
    provincial = parse_department(entry(code="gd-psd", name_zh="广东省公安厅",
                                        kind="department", quotas={"PROD": dict(QUOTA)}),
                                  source="tenants/gd-psd.yaml")
    assert rbac_city(psb) == "guangzhou" and rbac_city(tax) == "shenzhen"
    assert rbac_city(provincial) is None  # filed under guangzhou, the province's all the same
    cat = build_catalogue([psb, gz, sz, tax, provincial])
    refs = [Target.of(d.code, rbac_city(d)) for d in cat]

    def seen(principal: Principal, action: Action) -> list[str]:
        return [t.department or "" for t in refs if can(principal, action, t)]

    gz_ops = Principal("gz-ops", Role.CITY_OPERATOR, city="guangzhou")
    sz_ops = Principal("sz-ops", Role.CITY_OPERATOR, city="shenzhen")
    assert seen(gz_ops, Action.TENANCY_APPLY) == ["guangzhou", "gz-psb"]
    assert seen(sz_ops, Action.TENANCY_APPLY) == ["shenzhen", "sz-tax"]
    assert not can(sz_ops, Action.PROVISION, Target.of("gz-psb", "guangzhou"))
    viewer = Principal("psb-view", Role.DEPARTMENT_VIEWER, department="gz-psb")
    assert seen(viewer, Action.VIEW_DEPARTMENT) == ["gz-psb"]
    assert not can(viewer, Action.PROVISION, Target.of("gz-psb", "guangzhou"))
    refs_of = [DepartmentRef(d.code, rbac_city(d)) for d in cat]
    assert [d.code for d in visible_departments(gz_ops, refs_of)] == ["guangzhou", "gz-psb"]
    assert [d.code for d in visible_departments(viewer, refs_of)] == ["gz-psb"]


def test_the_what_if_sends_a_city_department_to_its_city_site() -> None:
    """With ``dr_city_sites``, city_dr_of names a city's departments and branches too, so
    losing PROD moves them to their city's site; a provincial department goes to DR-LOCAL."""
    psb = parse_department(entry(quotas={"PROD": dict(QUOTA), "GUANGZHOU": dict(QUOTA)}),
                           source=SOURCE, sites=SITES)
    gz = parse_department(city("guangzhou", "广州市"), source="tenants/guangzhou.yaml")
    provincial = parse_department(entry(code="gd-psd", name_zh="广东省公安厅",
                                        kind="department", quotas={"PROD": dict(QUOTA)}),
                                  source="tenants/gd-psd.yaml")
    cat = build_catalogue([psb, gz, provincial])

    class Cache:
        def get(self) -> Catalogue:
            return cat

    city_dr = city_dr_of(Cache())
    assert city_dr == {"guangzhou": "guangzhou", "gz-psb": "guangzhou"}
    sites = [Site("PROD", "c", "PROD", SiteRole.PRODUCTION),
             Site("DR-LOCAL", "c", "DR-LOCAL", SiteRole.SAME_CITY_DR),
             Site("GUANGZHOU", "gz", "RegionOne", SiteRole.CITY, city="guangzhou")]
    big = Resources(10_000, 10_000_000, 100_000)
    one = Load(2, Resources(8, 16384, 100))
    verdict = lose_site("PROD", sites=sites, free={"DR-LOCAL": big, "GUANGZHOU": big},
                        loads={"PROD": {"gz-psb": one, "gd-psd": one}},
                        dr_levels={"gz-psb": 5, "gd-psd": 5}, city_dr=city_dr)
    assert {m.department: m.target for m in verdict.moves} == {"gz-psb": "GUANGZHOU",
                                                                "gd-psd": "DR-LOCAL"}


def test_the_shipped_city_tenants_load_with_the_city_sites_only() -> None:
    """tenants/cities/ holds Guangzhou's and Shenzhen's departments and branches; the
    province-scale catalogue (tenants/*.yaml, 71 tenants) does not read them."""
    assert len(load_catalogue(TENANTS)) == 71
    files = sorted((TENANTS / "cities").glob("*.yaml"))
    assert len(files) >= 6
    assert not {p.stem for p in files} & set(load_catalogue(TENANTS).codes)


def test_the_shipped_city_tenants_validate(tmp_path: Path) -> None:
    folder = tmp_path / "tenants"
    folder.mkdir()
    for path in [*TENANTS.glob("*.yaml"), *(TENANTS / "cities").glob("*.yaml"),
                 TENANTS / "schema.json"]:
        shutil.copy(path, folder / path.name)
    cat = load_catalogue(folder, sites=SITES)
    mine = [d for d in cat if d.kind in (DepartmentKind.CITY_DEPARTMENT,
                                          DepartmentKind.CITY_BRANCH)]
    assert {d.city for d in mine} == {"guangzhou", "shenzhen"}
    assert {d.kind for d in mine} == {DepartmentKind.CITY_DEPARTMENT,
                                      DepartmentKind.CITY_BRANCH}
    for d in mine:
        assert d.sites == (d.city.upper(),), d.code  # quotas in their city's site only
        assert d.name_zh.startswith(("广州市", "深圳市", "国家税务总局"))
        assert (TENANTS / "cities" / f"{d.code}.yaml").is_file()


def test_the_demo_catalogue_adds_the_city_tenants_of_cities_with_a_site(tmp_path: Path) -> None:
    sites = [Site("PROD", "c", "PROD", SiteRole.PRODUCTION),
             Site("GUANGZHOU", "gz", "RegionOne", SiteRole.CITY, city="guangzhou")]
    target = city_catalogue(TENANTS, tmp_path / "t", sites=sites, servers={"GUANGZHOU": 8},
                            keep=("gd-psd", "guangzhou", "shenzhen"))
    names = sorted(p.stem for p in target.glob("*.yaml"))
    assert "gz-psb" in names and "gz-tax" in names
    assert not any(n.startswith("sz-") for n in names)  # Shenzhen has no site here
    cat = load_catalogue(target, sites=("PROD", "DR-LOCAL", "DR-REMOTE", "GUANGZHOU"))
    assert cat.get("gz-psb").quota("GUANGZHOU").cores == 2400



def _shipped_city_tenants(folder: Path) -> list[Department]:
    """tenants/cities/ loaded beside the province's catalogue (their cities' own entries)."""
    folder.mkdir()
    for path in [*TENANTS.glob("*.yaml"), *(TENANTS / "cities").glob("*.yaml"),
                 TENANTS / "schema.json"]:
        shutil.copy(path, folder / path.name)
    return [d for d in load_catalogue(folder, sites=SITES)
            if d.kind in (DepartmentKind.CITY_DEPARTMENT, DepartmentKind.CITY_BRANCH)]


def test_the_simulator_seeds_the_shipped_city_tenants_in_their_city_clouds(
        tmp_path: Path) -> None:
    """The simulator's reference data has tenants/cities/ (names, kind, city, DR level): a
    city cloud's Keystone holds them, the province's does not; each runs a share of its city
    site's servers within its quota, taken from the city's own, so the site's total and the
    scale's 60,000 stay as they were."""
    mine = _shipped_city_tenants(tmp_path / "tenants")
    assert len(mine) == 8
    province = {t["code"] for t in seed.tenants("cities")}
    for d in mine:
        assert d.code not in province
        seeded = {t["code"]: t for t in seed.tenants("cities", cities=frozenset({d.city}))}
        t = seeded[d.code]
        assert (t["zh"], t["en"], t["kind"], t["city"], t["dr_level"]) == (
            d.name_zh, d.name_en, d.kind.value, d.city, d.dr_level), d.code
    quota = {d.code: d.quota(d.city.upper()).instances for d in mine}
    for scale in ("cities", "cities-small"):
        shapes = SCALES[scale]
        assert sum(s.servers for s in shapes) == {"cities": 60_000, "cities-small": 94}[scale]
        for shape in (s for s in shapes if s.city in ("guangzhou", "shenzhen")):
            counts = seed.city_site_servers(
                shape.servers, seed.tenants(scale, cities=frozenset({shape.city})))
            assert sum(counts.values()) == shape.servers
            tenants_here = {d.code for d in mine if d.city == shape.city}
            assert set(counts) == {shape.city, *tenants_here}
            for code in tenants_here:
                assert 1 <= counts[code] <= quota[code] * 2 // 3, (scale, code)
            assert counts[shape.city] >= shape.servers // 2


@pytest.mark.slow
def test_every_city_tenant_quota_covers_the_cities_seed_usage(tmp_path: Path) -> None:
    """Applying tenants/cities/ to the ``cities``-scale city clouds is never refused: each
    department's or branch's seeded usage in its city's site is within its quotas (only the
    two clouds that hold them are built, as they are at that scale)."""
    mine = {d.code: d for d in _shipped_city_tenants(tmp_path / "tenants")}
    clouds = seed.build_clouds(scale="cities", seed=42, base_url="http://127.0.0.1:9",
                               build_delay=0, only=("guangzhou", "shenzhen"))
    assert set(clouds) == {"guangzhou", "shenzhen"}
    checked = set()
    for cloud in clouds.values():
        names = {pid: p.name for pid, p in cloud.projects.items()}
        for region in cloud.regions.values():
            ports: dict[str, int] = {}
            for port in region.ports.values():
                ports[port.project_id] = ports.get(port.project_id, 0) + 1
            for pid, used in region.usage.items():
                d = mine.get(names[pid])
                if d is None:
                    continue
                quota = d.quota(region.name)
                assert used.instances > 0, d.code
                assert used.cores <= quota.cores, (d.code, used.cores, quota.cores)
                assert used.ram <= quota.ram_mb, (d.code, used.ram, quota.ram_mb)
                assert used.instances <= quota.instances, d.code
                assert ports.get(pid, 0) <= quota.ports, d.code
                checked.add(d.code)
    assert checked == set(mine)
