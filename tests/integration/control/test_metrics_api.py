"""``/metrics`` and the health probes over real HTTP (server thread, small simulator, SQLite
and PostgreSQL): the figures equal what the API reports and the store holds, promtool finds
nothing to lint, probes reach every service, and with a region down the metrics are still
served and show the site stale and its probes down."""

from __future__ import annotations

import time
import urllib.request
from collections import defaultdict

import pytest
from sqlalchemy import func, select

from govcloud import __version__
from govcloud.store.inventory import table

from .conftest import Plane
from .metrics_util import parse, promtool_check, scrape, value
from .metrics_util import select as pick

pytestmark = pytest.mark.slow

SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")
SERVICES = ("identity", "compute", "placement", "image", "network", "volume")


@pytest.fixture(scope="module")
def synced(plane: Plane) -> Plane:
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    return plane


def test_site_figures_equal_the_capacity_api(synced: Plane) -> None:
    series = parse(scrape(synced.url))
    answer = synced.admin.get("/capacity")
    for site in answer["sites"]:
        name = site["site"]
        for res, key, scale in (("vcpu", "vcpus", 1), ("memory", "ram_mb", 1024 ** 2),
                                ("disk", "disk_gb", 1024 ** 3)):
            unit = "" if res == "vcpu" else "_bytes"
            for fig in ("capacity", "allocated", "free", "headroom"):
                got = value(series, f"govcloud_site_{res}_{fig}{unit}", site=name)
                assert got == site[key][fig] * scale, (name, res, fig)
        assert value(series, "govcloud_site_physical_cores", site=name) == \
            site["physical_cores"]
        hyp = pick(series, "govcloud_site_hypervisors", site=name)
        assert sum(v for _, v in hyp) == site["hypervisors"]
        assert sum(v for k, v in hyp if k["state"] == "up") == site["hypervisors_up"]
        assert value(series, "govcloud_site_stale", site=name) == 0
        assert value(series, "govcloud_site_info", site=name, role=site["role"]) == 1
        assert 0 <= value(series, "govcloud_site_data_age_seconds", site=name) < 600
        assert sum(v for _, v in pick(series, "govcloud_sync_failing", site=name)) == 0
        fits = pick(series, "govcloud_site_flavor_headroom", site=name)
        assert 1 <= len(fits) <= 5
    flavor = pick(series, "govcloud_site_flavor_headroom", site="PROD")[0][0]["flavor"]
    fit = synced.admin.get("/capacity", site="PROD", flavor=flavor)["flavor_fit"][0]
    assert value(series, "govcloud_site_flavor_headroom", site="PROD", flavor=flavor) == \
        fit["count"]
    what_if = synced.admin.get("/capacity", what_if_lose="PROD")["what_if"]
    assert value(series, "govcloud_whatif_lose_site_fits", lost_site="PROD") == \
        (1 if what_if["fits"] else 0)
    for r in what_if["receiving"]:
        assert value(series, "govcloud_whatif_shortfall_vcpu", lost_site="PROD",
                     site=r["site"]) == r["shortfall"]["vcpu"]


def test_department_figures_equal_the_store(synced: Plane) -> None:
    series = parse(scrape(synced.url))
    srv = table("server")
    quota = table("quota_usage")
    with synced.engine.connect() as conn:
        counts = {(d, s, st): n for d, s, st, n in conn.execute(
            select(srv.c.department, srv.c.site, srv.c.status, func.count())
            .where(srv.c.deleted_at.is_(None), srv.c.department.is_not(None))
            .group_by(srv.c.department, srv.c.site, srv.c.status))}
        in_use: dict[tuple[str, str, str], int] = defaultdict(int)
        for d, s, res, n in conn.execute(
                select(quota.c.department, quota.c.site, quota.c.resource, quota.c.in_use)
                .where(quota.c.department.is_not(None))):
            in_use[(d, s, res)] += n
    got = {(k["department"], k["site"], k["status"]): v
           for k, v in pick(series, "govcloud_department_servers")}
    assert got == counts and counts
    assert value(series, "govcloud_department_quota_in_use", department="gd-psd",
                 site="PROD", resource="cores") == in_use[("gd-psd", "PROD", "cores")] > 0
    assert value(series, "govcloud_department_quota_in_use", department="gd-psd",
                 site="PROD", resource="ram_bytes") == \
        in_use[("gd-psd", "PROD", "ram")] * 1024 ** 2
    for resource in ("cores", "ram_bytes", "instances", "volumes", "volume_bytes"):
        assert pick(series, "govcloud_department_quota_limit", department="gd-psd",
                    site="PROD", resource=resource), resource


def test_metrics_pass_promtool_and_stay_bounded(synced: Plane) -> None:
    text = scrape(synced.url)
    checked = promtool_check(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == "", checked
    series = parse(text)
    assert value(series, "govcloud_audit_chain_verified") == 1
    with synced.engine.connect() as conn:
        entries = conn.execute(select(func.count()).select_from(table("audit_entry"))).scalar()
    assert value(series, "govcloud_audit_entries_total") == entries
    assert [k["version"] for k, _ in pick(series, "govcloud_build_info")] == [__version__]
    assert not any(k in ("server", "server_id", "host", "hypervisor") for _, lbls in series
                   for k, _v in lbls)


def test_a_change_in_the_store_reaches_the_next_scrapes(synced: Plane) -> None:
    before = value(parse(scrape(synced.url)), "govcloud_audit_entries_total")
    synced.principal("bureau-auditor")  # audited
    deadline = time.monotonic() + 30
    while value(parse(scrape(synced.url)), "govcloud_audit_entries_total") == before:
        assert time.monotonic() < deadline, "the snapshot was never refreshed"
        time.sleep(0.05)
    assert value(parse(scrape(synced.url)), "govcloud_audit_entries_total") == before + 1


def test_probes_reach_every_service(synced: Plane) -> None:
    answer = synced.admin.post("/health/probes")
    assert [s["site"] for s in answer["sites"]] == list(SITES)
    for site in answer["sites"]:
        assert site["state"] == "up", site
        assert [p["service"] for p in site["services"]] == list(SERVICES)
        assert all(p["up"] and p["status_code"] == 200 and p["latency_s"] > 0
                   for p in site["services"])
    series = parse(scrape(synced.url))
    up = pick(series, "govcloud_probe_up")
    assert len(up) == len(SITES) * len(SERVICES) and all(v == 1 for _, v in up)
    assert all(v > 0 for _, v in pick(series, "govcloud_probe_latency_seconds"))
    status = synced.admin.get("/status")
    assert {s["site"]: s["probes"] for s in status["sites"]} == dict.fromkeys(SITES, "up")


def _region(plane: Plane, name: str, state: str) -> None:
    req = urllib.request.Request(f"{plane.sim.base_url}/_sim/regions/{name}/{state}",
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10):
        pass


def test_a_region_down_is_stale_and_its_probes_down(synced: Plane) -> None:
    _region(synced, "DR-REMOTE", "down")
    try:
        report = synced.admin.post("/sync", {"full": False})
        assert not report["ok"]
        health = synced.admin.post("/health/probes")
        by_site = {s["site"]: s for s in health["sites"]}
        assert by_site["DR-REMOTE"]["state"] == "down"
        assert by_site["PROD"]["state"] == "up"
        down = [p for p in by_site["DR-REMOTE"]["services"] if not p["up"]]
        assert {p["service"] for p in down} >= {"compute", "placement", "network", "volume"}
        assert all(p["error"] and p["reason"] and p["failures"] >= 1 for p in down)

        series = parse(scrape(synced.url))  # served although a region is down
        assert value(series, "govcloud_site_stale", site="DR-REMOTE") == 1
        assert value(series, "govcloud_site_stale", site="PROD") == 0
        failing = pick(series, "govcloud_sync_failing", site="DR-REMOTE")
        assert sum(v for _, v in failing) == 1, failing
        assert value(series, "govcloud_probe_up", site="DR-REMOTE", service="compute") == 0
        assert value(series, "govcloud_probe_up", site="PROD", service="compute") == 1
        # the site's last good figures are still exported
        assert value(series, "govcloud_site_vcpu_capacity", site="DR-REMOTE") > 0
        status = synced.admin.get("/status")
        remote = next(s for s in status["sites"] if s["site"] == "DR-REMOTE")
        assert remote["probes"] == "down" and remote["stale"]
        assert any("DR-REMOTE" in a["message"] and "API" in a["message"]
                   for a in status["alerts"])
    finally:
        _region(synced, "DR-REMOTE", "up")
    assert synced.admin.post("/sync", {"full": False})["ok"]
    assert synced.admin.post("/health/probes")["sites"][2]["state"] == "up"
    series = parse(scrape(synced.url))
    assert value(series, "govcloud_site_stale", site="DR-REMOTE") == 0
