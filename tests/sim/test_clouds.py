"""Several clouds at once (issue 22): the province's cloud and city clouds, each with its own
Keystone, on one port — driven with unmodified openstacksdk from the written clouds.yaml."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import openstack
import openstack.config
import pytest
import yaml

from govcloud.sim.seed import SCALES, build_clouds
from govcloud.sim.server import RunningSimulator, start

CITY_CLOUDS = {"govcloud-sim.guangzhou": ["GUANGZHOU"], "govcloud-sim.shenzhen": ["SHENZHEN"],
               "govcloud-sim.cities": ["SHANTOU", "ZHUHAI"]}
# each city site's tenants: the city's own entry and its departments and branches
CITY_TENANTS = {"GUANGZHOU": {"guangzhou", "gz-psb", "gz-hrss", "gz-data", "gz-tax"},
                "SHENZHEN": {"shenzhen", "sz-psb", "sz-data", "sz-samr", "sz-tax"},
                "SHANTOU": {"shantou"}, "ZHUHAI": {"zhuhai"}}


@pytest.fixture
def cities(tmp_path: Path) -> Iterator[tuple[RunningSimulator, Path]]:
    clouds_yaml = tmp_path / "clouds.yaml"
    running = start(scale="cities-small", seed=42, clouds_yaml=clouds_yaml, build_delay=0.2,
                    ready_file=tmp_path / "ready.json")
    try:
        yield running, clouds_yaml
    finally:
        running.stop()


def _connect(clouds_yaml: Path, cloud: str, region: str) -> openstack.connection.Connection:
    config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)])
    return openstack.connection.Connection(config=config.get_one(cloud=cloud,
                                                                 region_name=region))


def _get(url: str, token: str) -> int:
    req = urllib.request.Request(url, headers={"X-Auth-Token": token})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_each_cloud_has_its_own_keystone_catalog_and_servers(cities) -> None:
    running, clouds_yaml = cities
    doc = yaml.safe_load(clouds_yaml.read_text(encoding="utf-8"))["clouds"]
    assert doc["govcloud-sim"]["regions"] == ["PROD", "DR-LOCAL", "DR-REMOTE"]
    for cloud, regions in CITY_CLOUDS.items():
        assert doc[cloud]["regions"] == regions
        assert doc[cloud]["auth"]["auth_url"].startswith(running.base_url + "/clouds/")
        for region in regions:
            conn = _connect(clouds_yaml, cloud, region)
            try:
                # the catalog names only this cloud's regions, each under its own prefix
                endpoint = conn.compute.get_endpoint()
                assert endpoint.startswith(f"{doc[cloud]['auth']['auth_url'][:-9]}/{region}/")
                servers = list(conn.compute.servers(all_projects=True))
                assert servers and all(s.metadata["site"] == region for s in servers)
                projects = {p.name: p.id for p in conn.identity.projects()}
                assert CITY_TENANTS[region] <= set(projects)
                # a city cloud's Keystone holds its cities' tenants, not the province's
                assert "gd-psd" not in projects
                # every tenant of the city has servers there (its departments and
                # branches too), each server labelled with its tenant
                assert {s.project_id for s in servers} == {
                    projects[code] for code in CITY_TENANTS[region]}
                assert {s.metadata["department"] for s in servers} == CITY_TENANTS[region]
            finally:
                conn.close()
    province = _connect(clouds_yaml, "govcloud-sim", "PROD")
    try:
        names = {p.name for p in province.identity.projects()}
        # the city departments and branches have no project in the province's Keystone
        assert "gd-psd" in names and not names & (CITY_TENANTS["GUANGZHOU"] - {"guangzhou"})
    finally:
        province.close()


def test_a_token_of_one_cloud_is_refused_by_the_others(cities) -> None:
    running, clouds_yaml = cities
    gz = _connect(clouds_yaml, "govcloud-sim.guangzhou", "GUANGZHOU")
    sz = _connect(clouds_yaml, "govcloud-sim.shenzhen", "SHENZHEN")
    try:
        token = gz.session.get_token()
        gz_servers = gz.compute.get_endpoint() + "/servers"
        sz_servers = sz.compute.get_endpoint() + "/servers"
        assert _get(gz_servers, token) == 200
        assert _get(sz_servers, token) == 401
        assert _get(f"{running.base_url}/PROD/compute/v2.1/servers", token) == 401
        assert _get(f"{running.base_url}/clouds/shenzhen/identity/v3/auth/catalog",
                    token) == 401
        assert _get(sz_servers, sz.session.get_token()) == 200
    finally:
        gz.close()
        sz.close()


def test_the_ready_file_lists_every_cloud_and_site(cities, tmp_path: Path) -> None:
    running, _ = cities
    info = json.loads((tmp_path / "ready.json").read_text(encoding="utf-8"))
    assert set(info["clouds"]) == {"govcloud-sim", *CITY_CLOUDS}
    sites = {s["name"]: s for s in info["sites"]}
    assert len(sites) == 7
    assert sites["GUANGZHOU"] == {"name": "GUANGZHOU", "cloud": "govcloud-sim.guangzhou",
                                  "region": "GUANGZHOU", "role": "city", "city": "guangzhou",
                                  "servers": 8}
    assert sites["ZHUHAI"]["cloud"] == "govcloud-sim.cities"
    assert sites["PROD"] == {"name": "PROD", "cloud": "govcloud-sim", "region": "PROD",
                             "role": "production", "servers": 40}


def test_a_region_down_in_one_cloud_leaves_the_others_up(cities) -> None:
    running, clouds_yaml = cities
    running.sims["guangzhou"].faults.down.add("GUANGZHOU")
    sz = _connect(clouds_yaml, "govcloud-sim.shenzhen", "SHENZHEN")
    try:
        assert list(sz.compute.servers(all_projects=True))
    finally:
        sz.close()


def test_the_cities_scale_has_24_sites_and_60000_servers() -> None:
    shapes = SCALES["cities"]
    assert len(shapes) >= 24
    assert sum(s.servers for s in shapes) == 60_000
    assert sorted({s.cloud for s in shapes}) == ["", "cities", "guangzhou", "shenzhen"]
    assert all(s.city for s in shapes if s.role == "city")


def test_city_clouds_are_deterministic_and_hold_their_cities_tenants() -> None:
    a = build_clouds(scale="cities-small", seed=5, base_url="http://x")
    b = build_clouds(scale="cities-small", seed=5, base_url="http://x")
    assert [s.id for s in a["guangzhou"].regions["GUANGZHOU"].servers.values()] == \
        [s.id for s in b["guangzhou"].regions["GUANGZHOU"].servers.values()]
    shared = a["cities"]
    assert {p.name for p in shared.projects.values() if "department" in p.extra} == \
        {"shantou", "zhuhai"}
    # Guangzhou's cloud: the city and its departments and branches, each with servers in
    # GUANGZHOU — one each in miniature, the city the rest of the site's eight
    gz = a["guangzhou"]
    names = {p.id: p.name for p in gz.projects.values() if "department" in p.extra}
    assert set(names.values()) == CITY_TENANTS["GUANGZHOU"]
    kinds = {p.name: p.extra["kind"] for p in gz.projects.values() if "kind" in p.extra}
    assert kinds["gz-psb"] == "city-department" and kinds["gz-tax"] == "city-branch"
    seeded = Counter(names[s.project_id] for s in gz.regions["GUANGZHOU"].servers.values())
    assert seeded == {"guangzhou": 4, "gz-psb": 1, "gz-hrss": 1, "gz-data": 1, "gz-tax": 1}
    # in a shared city cloud the other city's tenant has no allocation in a city's region
    zhuhai = shared.project_by_name("zhuhai")
    assert zhuhai is not None
    assert shared.regions["SHANTOU"].compute_quotas[zhuhai.id]["cores"] == 0
    assert shared.regions["ZHUHAI"].compute_quotas[zhuhai.id]["cores"] > 0
