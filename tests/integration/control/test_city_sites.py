"""City clouds as sites (issue 22), end to end at the ``cities-small`` scale: the province's
cloud and three city clouds (Guangzhou, Shenzhen, and a shared one with Shantou and Zhuhai),
each with its own Keystone, configured as seven sites; the control plane syncs every cloud,
a city-operator runs its own city's site only and operates its city's departments and
branches (tenants/cities/, whose projects and servers the simulator seeds in their city's
site; tenancy apply adopts the projects, the sync labels the servers with them), and
capacity, the what-if (with ``dr_city_sites``), DR posture, reports and /metrics take the
city sites in their stride — with a department's quota series only in the sites it has
quotas in, so the series stay bounded by departments × their own sites, not departments ×
every site."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import yaml

from govcloud.api.app import make_app
from govcloud.api.server import ServerThread
from govcloud.demo.cities import city_catalogue, ready_sites, site_servers, sites_of
from govcloud.domain.catalogue import CITY_KINDS
from govcloud.domain.health import REASONS, SERVICES
from govcloud.domain.metrics import COMMON_FLAVORS, FAMILIES, QUOTA_RESOURCES
from govcloud.errors import Forbidden, NotFound
from govcloud.services.catalogue import load_catalogue
from govcloud.services.dr_metrics import max_series
from govcloud.settings import load_settings
from govcloud.sim.server import start
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from govcloud.store.principals import PrincipalRepository

from .conftest import SMALL, TENANTS, Clock, Plane
from .metrics_util import METRICS_TOKEN, parse, scrape, value

CITY_SITES = {"GUANGZHOU": "guangzhou", "SHENZHEN": "shenzhen", "SHANTOU": "shantou",
              "ZHUHAI": "zhuhai"}
# the city departments and branches (tenants/cities/) and their DR levels
CITY_TENANTS = {"GUANGZHOU": {"gz-psb": 5, "gz-hrss": 4, "gz-data": 5, "gz-tax": 5},
                "SHENZHEN": {"sz-psb": 5, "sz-data": 5, "sz-samr": 3, "sz-tax": 5}}
CREATED = "zh-psb"  # a city department of the test's catalogue only, with no seeded project


@pytest.fixture(scope="module")
def cities(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    from govcloud.domain.rbac import Principal, Role
    from govcloud.store.audit import write_session

    root = tmp_path_factory.mktemp("cities")
    sim = start(scale="cities-small", seed=42, clouds_yaml=root / "clouds.yaml",
                build_delay=0.2)
    assert sim.clouds_yaml is not None
    raw = {"sites": sim.sites()}
    url = f"sqlite:///{root / 'govcloud.db'}"
    engine = make_engine(url)
    upgrade_engine(engine)
    with write_session(engine) as session:
        repo = PrincipalRepository(session=session)
        admin = repo.bootstrap_admin()
        approver = repo.add(Principal("second-admin", Role.BUREAU_ADMIN, person="Second Admin"))
        session.commit()
    catalogue = city_catalogue(TENANTS, root / "tenants", sites=sites_of(raw),
                               servers=site_servers(raw), keep=(*SMALL, "zhuhai"))
    # a city department the simulator seeds nothing for: apply creates its project
    (catalogue / f"{CREATED}.yaml").write_text(yaml.safe_dump({
        "code": CREATED, "name_zh": "珠海市公安局",
        "name_en": "Zhuhai Municipal Public Security Bureau", "kind": "city-department",
        "city": "zhuhai", "dr_level": 5,
        "quotas": {"ZHUHAI": {"cores": 160, "ram_mb": 327680, "instances": 20, "volumes": 20,
                              "gigabytes": 4000, "ports": 40, "server_groups": 10,
                              "server_group_members": 10}},
        "contacts": [{"name": "梁志伟", "phone": "+86 756 8312 0000",
                      "email": "cloud@zh-psb.zh-gov.example"}]},
        allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert sim.sims["cities"].cloud.project_by_name(CREATED) is None
    clock = Clock()
    settings = load_settings(database_url=url, clouds_yaml=sim.clouds_yaml,
                             sites=ready_sites(raw), dr_city_sites=True,
                             dr_protect_worker=False, change_control="off",
                             metrics_token=METRICS_TOKEN)
    app = make_app(engine=engine, settings=settings, clock=clock, catalogue_dir=catalogue)
    server = ServerThread(app).start()
    plane = Plane(url=server.url, admin_token=admin.token, engine=engine, sim=sim, clock=clock,
                  catalogue=catalogue, approver_token=approver.token)
    try:
        plane.admin.tenancy_apply()
        plane.admin.sync(full=True)
        yield plane
    finally:
        for api in plane.clients:
            api.close()
        server.stop()
        sim.stop()
        engine.dispose()


def test_sync_reads_every_cloud_and_status_lists_each_city_site(cities: Plane) -> None:
    status = cities.admin.get("/status")
    sites = {s["site"]: s for s in status["sites"]}
    assert list(sites) == ["PROD", "DR-LOCAL", "DR-REMOTE", "GUANGZHOU", "SHANTOU",
                           "SHENZHEN", "ZHUHAI"]
    for name in CITY_SITES:
        assert sites[name]["role"] == "city"
        assert sites[name]["health"] == "ok", sites[name]
        assert sites[name]["servers"]["total"] > 0
    # a city site's servers are its city's tenants', read through that city's own Keystone:
    # the city's own entry's and its departments' and branches'
    page = cities.admin.get("/servers", site="GUANGZHOU", limit=500)
    assert page["servers"] and {s["department"] for s in page["servers"]} == {
        "guangzhou", *CITY_TENANTS["GUANGZHOU"]}


def test_sync_maps_the_city_departments_and_branches_servers_to_them(cities: Plane) -> None:
    """The simulator seeds servers in each city department's and branch's project in its
    city's site; the sync labels them with the tenant (department field), so the tenant's
    view, its city-operator and the server listing show them — and nothing of theirs is in
    any other site."""
    seeded: dict[str, int] = {}
    for site, codes in CITY_TENANTS.items():
        for code in codes:
            page = cities.admin.get("/servers", department=code, limit=500)["servers"]
            assert page, code
            assert {(s["department"], s["site"]) for s in page} == {(code, site)}
            assert all(s["name"].startswith(f"{code}-") for s in page)
            seeded[code] = len(page)
            by_site = {s["site"]: s for s in cities.admin.get(f"/departments/{code}")["sites"]}
            assert by_site[site]["servers"]["total"] == len(page), code
            instances = by_site[site]["quotas"]["instances"]
            assert 0 < instances["in_use"] <= instances["limit"], code
            assert all(s["servers"]["total"] == 0 for n, s in by_site.items() if n != site)
    _, gz = cities.principal("city-operator", city="guangzhou")
    for code in CITY_TENANTS["GUANGZHOU"]:
        assert len(gz.get("/servers", department=code, limit=500)["servers"]) == seeded[code]
    # the month's statements meter them as their city's tenants' primary usage in their site
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    statements = {s["department"]: s
                  for s in cities.admin.get(f"/reports/usage/{month}")["statements"]}
    for site, codes in CITY_TENANTS.items():
        for code in codes:
            assert statements[code]["city"] == site.lower(), code
            used = {(u["site"], u["resource"], u["kind"]) for u in statements[code]["usage"]
                    if float(u["quantity"]) > 0}
            assert (site, "servers", "primary") in used, code
            assert {u[0] for u in used} == {site}, code
    # the site keeps its size: the city's own entry runs the rest
    status = {s["site"]: s for s in cities.admin.get("/status")["sites"]}
    for site, city in (("GUANGZHOU", "guangzhou"), ("SHENZHEN", "shenzhen")):
        own = cities.admin.get("/servers", department=city, site=site, limit=500)["servers"]
        assert len(own) + sum(seeded[c] for c in CITY_TENANTS[site]) == \
            status[site]["servers"]["total"]


def test_the_catalogue_gives_each_city_tenant_quotas_in_its_own_site(cities: Plane) -> None:
    dept = cities.admin.get("/departments/zhuhai")
    by_site = {s["site"]: s for s in dept["sites"]}
    assert by_site["ZHUHAI"]["desired"]["cores"] > 0 and by_site["ZHUHAI"]["in_sync"]
    # the shared city cloud's Keystone has Zhuhai's project in Shantou's region too, with no
    # allocation there; Guangzhou's cloud has no Zhuhai project at all
    assert by_site["SHANTOU"]["quotas"]["cores"]["limit"] == 0
    assert by_site["GUANGZHOU"]["project_id"] is None


def test_apply_makes_the_city_departments_and_branches_projects_in_their_city_site(
        cities: Plane) -> None:
    """tenants/cities/: Guangzhou's and Shenzhen's departments and the city branches get a
    project (the simulator's seeded one, adopted) and their quotas in their city's own cloud,
    and nothing in the province's; a city department with no project yet gets one created in
    its city's cloud (the shared one, whose other regions give it no quota)."""
    for code, site, other in (("gz-psb", "GUANGZHOU", "SHENZHEN"),
                              ("gz-tax", "GUANGZHOU", "SHENZHEN"),
                              ("sz-psb", "SHENZHEN", "GUANGZHOU"),
                              ("sz-tax", "SHENZHEN", "GUANGZHOU"),
                              (CREATED, "ZHUHAI", "GUANGZHOU")):
        dept = cities.admin.get(f"/departments/{code}")
        assert dept["kind"] in ("city-department", "city-branch")
        by_site = {s["site"]: s for s in dept["sites"]}
        mine = by_site[site]
        assert mine["project_id"] and mine["in_sync"], (code, mine)
        assert mine["quotas"]["cores"]["limit"] == mine["desired"]["cores"] > 0
        for absent in ("PROD", "DR-LOCAL", "DR-REMOTE", other):
            assert by_site[absent]["project_id"] is None, (code, absent)
    created = {s["site"]: s for s in cities.admin.get(f"/departments/{CREATED}")["sites"]}
    assert created["SHANTOU"]["project_id"] == created["ZHUHAI"]["project_id"]
    assert created["SHANTOU"]["quotas"]["cores"]["limit"] == 0
    assert cities.sim.sims["cities"].cloud.project_by_name(CREATED) is not None
    plan = cities.admin.tenancy_plan(departments=["gz-psb", "sz-tax", CREATED])
    assert plan.empty, plan.summary


def test_a_city_operator_operates_its_city_departments_and_branches(cities: Plane) -> None:
    _, gz = cities.principal("city-operator", city="guangzhou")
    codes = {d["code"]: d["kind"] for d in gz.get("/departments")["departments"]}
    assert {"guangzhou", "gz-psb", "gz-hrss", "gz-data", "gz-tax"} <= set(codes)
    assert not any(c.startswith(("sz-", "gd-")) for c in codes)  # not Shenzhen's, nor the
    assert codes["gz-tax"] == "city-branch"  # province's (filed under guangzhou though)
    assert gz.get("/departments/gz-psb")["code"] == "gz-psb"
    assert gz.tenancy_plan(departments=["gz-psb"]).empty
    _, sz = cities.principal("city-operator", city="shenzhen")
    with pytest.raises(NotFound):
        sz.get("/departments/gz-psb")
    with pytest.raises(NotFound):
        sz.tenancy_plan(departments=["gz-tax"])
    _, viewer = cities.principal("department-viewer", department="gz-psb")
    assert [d["code"] for d in viewer.get("/departments")["departments"]] == ["gz-psb"]
    with pytest.raises(NotFound):
        viewer.get("/departments/gz-tax")


def test_applying_the_catalogue_again_changes_nothing_in_any_cloud(cities: Plane) -> None:
    again = cities.admin.tenancy_apply()
    assert not again.changed, again.summary
    assert set(again.per_site) >= set(CITY_SITES)


def test_a_city_operator_runs_its_own_city_site_only(cities: Plane) -> None:
    _, gz = cities.principal("city-operator", city="guangzhou")
    hosts = gz.get("/hosts/compute")["hosts"]
    assert hosts and {h["site"] for h in hosts} == {"GUANGZHOU"}
    with pytest.raises(Forbidden):
        gz.get("/hosts/compute", site="PROD")
    prod_host = cities.admin.get("/hosts/compute", site="PROD")["hosts"][0]["host"]
    with pytest.raises(Forbidden):
        gz.post(f"/hosts/PROD/{prod_host}/drain")
    with pytest.raises(Forbidden):
        gz.post("/hosts/SHENZHEN/shenzhen-cmp-0001/restore")
    # its own site's host: allowed (restoring an enabled host is a no-op)
    restored = gz.post(f"/hosts/GUANGZHOU/{hosts[0]['host']}/restore")
    assert restored["host"] == hosts[0]["host"]
    capacity = gz.get("/capacity")
    assert [s["site"] for s in capacity["sites"]] == ["GUANGZHOU"]
    with pytest.raises(Forbidden):
        gz.get("/capacity", what_if_lose="PROD")
    status = {s["site"]: s for s in gz.get("/status")["sites"]}
    assert "vcpus" in status["GUANGZHOU"] and "vcpus" not in status["PROD"]
    assert [r.site for r in gz.sync().sites] == ["GUANGZHOU"]
    with pytest.raises(Forbidden):
        gz.sync(sites=["PROD"])
    _, viewer = cities.principal("department-viewer", department="guangzhou")
    with pytest.raises(Forbidden):
        viewer.get("/capacity")


def test_the_what_if_sends_city_tenants_to_their_own_city_site(cities: Plane) -> None:
    what_if = cities.admin.get("/capacity", what_if_lose="PROD")["what_if"]
    targets = {m["department"]: m["target"] for m in what_if["moves"]}
    assert targets["guangzhou"] == "GUANGZHOU"
    assert targets["shenzhen"] == "SHENZHEN"
    assert targets["gd-psd"] == "DR-LOCAL"
    lost_city = cities.admin.get("/capacity", what_if_lose="GUANGZHOU")["what_if"]
    # losing the city's site moves its tenants by DR level: the city and its departments and
    # branches at 5 to the same-city DR site, Guangzhou's HRSS bureau (4) to the remote one
    moved = {m["department"]: m["target"] for m in lost_city["moves"]}
    assert moved == {"guangzhou": "DR-LOCAL", **{
        code: "DR-LOCAL" if level >= 5 else "DR-REMOTE"
        for code, level in CITY_TENANTS["GUANGZHOU"].items()}}


def test_posture_reports_and_metrics_take_city_sites(cities: Plane) -> None:
    posture = cities.admin.get("/dr/posture")
    assert posture["province"] is not None and posture["systems"] == []
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    usage = cities.admin.get(f"/reports/usage/{month}")
    assert usage is not None
    series = parse(scrape(cities.url))
    assert value(series, "govcloud_whatif_lose_site_fits", lost_site="GUANGZHOU") in (0, 1)


def test_metrics_series_stay_bounded_by_each_departments_own_sites(cities: Plane) -> None:
    series = parse(scrape(cities.url))
    province = {"PROD", "DR-LOCAL", "DR-REMOTE"}
    site_of_city = {city: site for site, city in CITY_SITES.items()}
    # a city's own entry, its departments and its branches: the site of the tenant's city
    own = {d.code: site_of_city[d.city] for d in load_catalogue(
               cities.catalogue, sites=[*province, *CITY_SITES])
           if d.kind in CITY_KINDS and d.city in site_of_city}
    quota_sites: dict[str, set[str]] = {}
    for name, labels in series:
        if name in ("govcloud_department_quota_limit", "govcloud_department_quota_in_use"):
            found = dict(labels)
            quota_sites.setdefault(found["department"], set()).add(found["site"])
    # a city tenant's project is in every region of its cloud (Shantou's in Zhuhai's too),
    # with no quota there: only its own city's site has its quota series
    for department, where in quota_sites.items():
        assert where <= province | {own.get(department, "")}, (department, where)
    assert "SHANTOU" in quota_sites["shantou"] and "ZHUHAI" in quota_sites["zhuhai"]
    sites, departments = 7, len(quota_sites)
    statuses = {dict(lbls)["status"] for (name, lbls) in series
                if name == "govcloud_department_servers"}
    others = [f for f in FAMILIES if not f.name.startswith("govcloud_dr_")]
    bound = (len(others) * sites * sites  # per site (and site pairs for the what-if)
             + sites * len(REASONS) + sites * len(SERVICES) * 4 + sites * COMMON_FLAVORS
             + departments * (len(province) + 1) * 2 * len(QUOTA_RESOURCES)
             + departments * sites * len(statuses))
    assert len(series) <= bound + max_series(systems=0, departments=departments, sites=sites)
    assert not any(k in ("server", "server_id", "host", "hypervisor", "instance")
                   for _, lbls in series for k, _v in lbls)
