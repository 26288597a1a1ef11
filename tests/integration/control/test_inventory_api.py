"""Inventory over the API and the CLI (real server thread, small simulator, SQLite and
PostgreSQL): sync, sync status, capacity (flavor fit, what-if), servers paged and scoped by
RBAC, status; every read as a principal of another department and of another city."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import openstack
import openstack.config
import openstack.connection
import pytest

from govcloud.cli import main
from govcloud.client import ApiClient
from govcloud.domain.capacity import site_capacity
from govcloud.domain.text import safe_json
from govcloud.errors import Forbidden, NotFound
from govcloud.sim.clouds import ADMIN_CLOUD
from govcloud.store.inventory import hosts

from .conftest import Plane

pytestmark = pytest.mark.slow

SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")


def department_servers(plane: Plane) -> Counter[str]:
    """Live servers per department code in the simulator (all sites)."""
    cloud = plane.sim.sim.cloud
    code_of = {p.id: p.name for p in cloud.projects.values() if "department" in p.extra}
    return Counter(code_of.get(s.project_id, "") for r in cloud.regions.values()
                   for s in r.servers.values())


@pytest.fixture(scope="module")
def synced(plane: Plane) -> Plane:
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    assert [s["site"] for s in report["sites"]] == list(SITES)
    return plane


def all_servers(api: ApiClient, **filters: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get("/servers", limit=37, cursor=cursor, **filters)
        out += page["servers"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def test_status_counts_each_sites_volumes(synced: Plane) -> None:
    cloud = synced.sim.cloud
    config = openstack.config.OpenStackConfig(config_files=[str(synced.sim.clouds_yaml)])
    conn = openstack.connection.Connection(
        config=config.get_one(cloud=ADMIN_CLOUD, region_name="DR-REMOTE"))
    for size in (3, 4):
        conn.block_storage.wait_for_status(conn.block_storage.create_volume(size=size),
                                           "available", wait=30)
    conn.close()
    synced.admin.post("/sync", {"full": True})
    status = synced.admin.get("/status")
    assert [e["volumes"]["count"] >= 2 for e in status["sites"]] == [False, False, True]
    for entry in status["sites"]:
        region = cloud.regions[entry["site"]]
        assert entry["volumes"] == {"count": len(region.volumes),
                                    "gb": sum(v.size for v in region.volumes.values())}


def test_sync_status_and_capacity_equal_the_simulator(synced: Plane) -> None:
    status = synced.admin.get("/sync/status")
    assert [s["site"] for s in status["sites"]] == list(SITES)
    assert all(not s["stale"] and s["last_success"] and s["error"] is None
               for s in status["sites"])

    answer = synced.admin.get("/capacity")
    with synced.engine.connect() as conn:
        expected = {s: site_capacity(s, hosts(conn, s)) for s in SITES}
    for site in answer["sites"]:
        cap = expected[site["site"]]
        region = synced.sim.sim.cloud.regions[site["site"]]
        assert site["hypervisors"] == len(region.hypervisors) == cap.hosts
        assert site["physical_cores"] == sum(
            h.provider.inventories["VCPU"].total for h in region.hypervisors.values())
        assert site["vcpus"]["capacity"] == sum(
            h.provider.inventories["VCPU"].capacity() for h in region.hypervisors.values())
        assert site["vcpus"]["allocated"] == sum(
            h.provider.used.get("VCPU", 0) for h in region.hypervisors.values())
        assert site["ram_mb"]["free"] == cap.ram_mb.free
        assert set(site) >= {"site", "role", "hypervisors", "physical_cores", "vcpus",
                             "ram_mb", "disk_gb", "data_as_of", "stale"}
        assert site["data_as_of"] and not site["stale"]
        # per availability zone (the simulator's computes are all in "nova"): zones add up
        assert [z["zone"] for z in site["zones"]] == ["nova"]
        for key in ("vcpus", "ram_mb", "disk_gb"):
            for figure in ("capacity", "allocated"):
                assert sum(z[key][figure] for z in site["zones"]) == site[key][figure]
        assert sum(z["hypervisors"] for z in site["zones"]) == site["hypervisors"]

    one = synced.admin.get("/capacity", site="DR-LOCAL", flavor="gc.c2m4",
                           what_if_lose="PROD")
    assert [s["site"] for s in one["sites"]] == ["DR-LOCAL"]
    (fit,) = one["flavor_fit"]
    assert fit["flavor"] == "gc.c2m4" and fit["count"] > 0
    assert fit["request"] == {"vcpu": 2, "ram_mb": 4096, "disk_gb": fit["request"]["disk_gb"]}
    what_if = one["what_if"]
    assert what_if["lost_site"] == "PROD" and isinstance(what_if["fits"], bool)
    moved = {m["department"]: m["target"] for m in what_if["moves"]}
    assert moved["gd-psd"] == "DR-LOCAL"  # DR level 6: same-city DR
    with pytest.raises(NotFound, match="no flavor named 'nope' in any site"):
        synced.admin.get("/capacity", flavor="nope")
    # A flavor no server uses is known from the synced flavor list, with Nova's size.
    cloud = synced.sim.cloud
    unused = {f.name for f in cloud.regions["PROD"].flavors.values()} - {
        s.flavor.name for r in cloud.regions.values() for s in r.servers.values()}
    name = sorted(unused)[0]
    nova = next(f for f in cloud.regions["PROD"].flavors.values() if f.name == name)
    (fit,) = synced.admin.get("/capacity", site="PROD", flavor=name)["flavor_fit"]
    assert fit["request"]["vcpu"] == nova.vcpus and fit["request"]["ram_mb"] == nova.ram
    with pytest.raises(NotFound, match="no site named 'MARS'"):
        synced.admin.get("/capacity", what_if_lose="MARS")


def test_capacity_used_fits_and_services_down_follow_each_sync(synced: Plane) -> None:
    def used(site: str) -> dict[str, int]:
        region = synced.sim.sim.cloud.regions[site]
        active = [s for s in region.servers.values() if s.status == "ACTIVE"]
        return {"vcpus": sum(s.flavor.vcpus for s in active),
                "ram_mb": sum(s.flavor.ram for s in active)}

    answer = synced.admin.get("/capacity", what_if_lose="PROD",
                              fit=["gc.c2m4", "nope", "gc.c4m8"])
    down = synced.admin.get("/hypervisors", hosts=False)["services_down"]
    for site in answer["sites"]:
        want = used(site["site"])
        assert site["vcpus"]["used"] == want["vcpus"] <= site["vcpus"]["allocated"]
        assert site["ram_mb"]["used"] == want["ram_mb"]
        assert site["services_down"] == down[site["site"]]
    assert list(answer["flavor_fits"]) == ["gc.c2m4", "gc.c4m8"]  # "nope" left out
    assert answer["flavor_fits"]["gc.c2m4"] == synced.admin.get(
        "/capacity", flavor="gc.c2m4")["flavor_fit"]
    # the figures are kept between requests and follow the next sync
    region = synced.sim.sim.cloud.regions["PROD"]
    victim = next(s for s in region.servers.values() if s.status == "ACTIVE")
    victim.status = "SHUTOFF"
    try:
        assert synced.admin.get("/capacity")["sites"][0]["vcpus"]["used"] == \
            answer["sites"][0]["vcpus"]["used"]  # not synced yet
        assert synced.admin.post("/sync", {"sites": ["PROD"], "full": True})["ok"]
        again = synced.admin.get("/capacity", what_if_lose="PROD")
        assert again["sites"][0]["vcpus"]["used"] == \
            answer["sites"][0]["vcpus"]["used"] - victim.flavor.vcpus
    finally:
        victim.status = "ACTIVE"
        assert synced.admin.post("/sync", {"sites": ["PROD"], "full": True})["ok"]


def test_servers_are_paged_without_duplicates_and_filtered(synced: Plane) -> None:
    everything = all_servers(synced.admin)
    ids = [(s["site"], s["id"]) for s in everything]
    assert len(ids) == len(set(ids))
    cloud = synced.sim.sim.cloud
    assert set(ids) == {(site, sid) for site, r in cloud.regions.items() for sid in r.servers}

    psd_prod = all_servers(synced.admin, department="gd-psd", site="PROD", status="active")
    assert psd_prod and all(s["department"] == "gd-psd" and s["site"] == "PROD"
                            and s["status"] == "ACTIVE" for s in psd_prod)
    want = sum(1 for s in cloud.regions["PROD"].servers.values()
               if s.status == "ACTIVE" and cloud.projects[s.project_id].name == "gd-psd")
    assert len(psd_prod) == want
    page = synced.admin.get("/servers", department="gd-psd", limit=5)
    assert len(page["servers"]) == 5 and page["next_cursor"]
    assert set(page["data_as_of"]) == set(SITES)


def test_a_department_viewer_sees_only_its_department(synced: Plane) -> None:
    _, viewer = synced.principal("department-viewer", department="gd-psd")
    mine = all_servers(viewer)
    assert mine and {s["department"] for s in mine} == {"gd-psd"}
    assert len(mine) == department_servers(synced)["gd-psd"]
    assert all_servers(viewer, department="gd-psd") == mine
    with pytest.raises(NotFound, match="no department 'gd-tax'"):
        viewer.get("/servers", department="gd-tax")
    with pytest.raises(Forbidden):
        viewer.get("/capacity")
    with pytest.raises(Forbidden):
        viewer.post("/sync", {"full": False})
    status = viewer.get("/status")
    assert status["totals"]["servers"] == len(mine)
    assert "vcpus" not in status["totals"]
    assert all("vcpus" not in s and "hypervisors" not in s and "volumes" not in s
               for s in status["sites"])
    assert "gd-tax" not in json.dumps(status)


def test_a_city_operator_sees_only_its_city(synced: Plane) -> None:
    _, operator = synced.principal("city-operator", city="shenzhen")
    mine = all_servers(operator)
    assert mine and {s["department"] for s in mine} == {"shenzhen"}
    with pytest.raises(NotFound):
        operator.get("/servers", department="guangzhou")
    with pytest.raises(NotFound):
        operator.get("/servers", department="gd-psd")  # provincial: no city's
    with pytest.raises(Forbidden):
        operator.post("/sync", {})  # sync is of whole sites: not a city's to run
    assert operator.get("/status")["totals"]["servers"] == len(mine)


def test_sync_roles(synced: Plane) -> None:
    _, auditor = synced.principal("bureau-auditor")
    with pytest.raises(Forbidden, match="never changes anything"):
        auditor.post("/sync", {})
    assert auditor.get("/capacity")["sites"]
    _, operator = synced.principal("operator")
    report = operator.post("/sync", {"sites": ["DR-REMOTE"]})
    assert report["ok"] and [s["site"] for s in report["sites"]] == ["DR-REMOTE"]
    assert report["sites"][0]["full"] is False  # incremental after the first full sync
    with pytest.raises(NotFound, match="no site named 'MARS'"):
        operator.post("/sync", {"sites": ["MARS"]})
    with pytest.raises(Exception, match="API token"):
        synced.client(None).get("/servers")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_the_cli_is_a_client_of_these_endpoints(synced: Plane, cli_env: Plane,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sync", "--site", "PROD", "--json")
    assert code == 0 and json.loads(out)["sites"][0]["site"] == "PROD"
    code, out, _ = run(capsys, "sync", "--full")
    assert code == 0 and "DR-REMOTE" in out and "full" in out
    code, out, _ = run(capsys, "capacity", "--json", "--flavor", "gc.c2m4")
    data = json.loads(out)
    assert code == 0 and [s["site"] for s in data["sites"]] == list(SITES)
    assert len(data["flavor_fit"]) == 3
    code, out, _ = run(capsys, "capacity", "--what-if-lose", "PROD")
    assert code == 0 and "If PROD is lost" in out and "DR-LOCAL" in out
    assert "VCPU USED" in out and "RAM GIB USED" in out
    code, out, _ = run(capsys, "status")
    assert code == 0 and "HEALTH" in out and "ok" in out
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0 and json.loads(out)["totals"]["servers"] == sum(
        department_servers(cli_env).values())
    code, out, _ = run(capsys, "servers", "list", "--department", "shantou", "--json")
    listed = json.loads(out)["servers"]
    assert code == 0 and len(listed) == department_servers(cli_env)["shantou"]
    code, out, _ = run(capsys, "servers", "list", "--site", "DR-REMOTE", "--limit", "3")
    assert code == 0 and out.count("DR-REMOTE") >= 3 and "more" in out
    code, _, err = run(capsys, "servers", "list", "--department", "nope")
    assert code == NotFound.exit_code and "no department 'nope'" in err


def test_capacity_shows_quota_commitments_beside_capacity(synced: Plane, cli_env: Plane,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    """Σ the departments' cores and RAM quotas per site, against the site's capacity, in the
    API and the CLI table; the CLI's headroom beside its free figures (issue 17)."""
    usage = synced.admin.get("/usage")["departments"]
    answer = synced.admin.get("/capacity")
    seen = 0
    for s in answer["sites"]:
        limits = [e["quotas"][res]["limit"] for e in (d.get(s["site"]) for d in usage.values())
                  if e for res in ("cores",) if res in e.get("quotas", {})]
        ram = [e["quotas"]["ram"]["limit"] for e in (d.get(s["site"]) for d in usage.values())
               if e and "ram" in e.get("quotas", {})]
        q = s["quota_commitment"]
        assert q["committed"]["vcpu"] == sum(x for x in limits if x >= 0)
        assert q["committed"]["ram_mb"] == sum(x for x in ram if x >= 0)
        assert q["capacity"]["vcpu"] == s["vcpus"]["capacity"]
        assert q["ratio"]["vcpu"] == round(q["committed"]["vcpu"] / s["vcpus"]["capacity"], 4)
        seen += q["committed"]["vcpu"] > 0
    assert seen  # the seed gives departments quotas
    code, out, _ = run(capsys, "capacity")
    assert code == 0
    header, *lines = out.splitlines()
    for column in ("VCPU FREE", "VCPU HEADROOM", "VCPU QUOTA/CAP", "RAM GIB QUOTA/CAP",
                   "RAM GIB HEADROOM"):
        assert column in header
    prod = next(x for x in lines if x.startswith("PROD"))
    q = answer["sites"][0]["quota_commitment"]
    assert f"{q['committed']['vcpu']:,} {q['ratio']['vcpu']:.0%}" in prod
    assert f"{answer['sites'][0]['vcpus']['headroom']:,}" in prod


def test_typed_cli_json_is_the_servers_answer_byte_for_byte(
        synced: Plane, cli_env: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI reads answers through typed models (``govcloud.api.models``); its ``--json``
    stays what printing the raw answer printed before, byte for byte."""
    api = synced.admin
    servers: list[Any] = []
    cursor = None
    while True:  # what ``servers list --limit 1500`` printed from the raw pages
        page = api.get("/servers", limit=min(1000, 1500 - len(servers)), cursor=cursor)
        servers += page["servers"]
        cursor = page["next_cursor"]
        if cursor is None or len(servers) >= 1500:
            break
    raw = {"servers": servers, "next_cursor": cursor, "data_as_of": page["data_as_of"]}
    code, out, _ = run(capsys, "servers", "list", "--limit", "1500", "--json")
    assert code == 0 and out == safe_json(raw) + "\n"
    for argv, answer in (
            (("departments", "list"), api.get("/departments")["departments"]),
            (("principals", "list"), api.get("/principals")["principals"]),
            (("request", "list"), api.get("/requests")),
            (("hosts", "list"), api.get("/hosts")["hosts"]),
            (("migrate", "waves"), api.get("/migrate/waves")["waves"])):
        code, out, _ = run(capsys, *argv, "--json")
        assert code == 0 and out == safe_json(answer) + "\n", argv
