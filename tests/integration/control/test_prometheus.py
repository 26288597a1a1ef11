"""A real Prometheus server (Debian's package) scrapes a running control plane on loopback,
with a configuration derived from monitors/prometheus.yml (its bearer token credential) and its
rules: the site capacities it stores equal `govcloud capacity --json`, every rule group loads
and evaluates, and with a region down the metrics keep being scraped, the site shows stale and
the stale alert goes pending."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from govcloud.children import tied_to_parent
from govcloud.cli import main

from .conftest import Plane
from .metrics_util import METRICS_TOKEN

pytestmark = pytest.mark.slow

MONITORS = Path(__file__).resolve().parents[3] / "monitors"
SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)

    def query(self, promql: str) -> list[dict[str, Any]]:
        resp = self.http.get("/api/v1/query", params={"query": promql})
        resp.raise_for_status()
        body = resp.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def by_site(self, promql: str) -> dict[str, float]:
        return {r["metric"]["site"]: float(r["value"][1]) for r in self.query(promql)}

    def wait(self, what: str, check: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"Prometheus: {what} not seen in {timeout} s"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def prometheus(plane: Plane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    exe = shutil.which("prometheus")
    assert exe, "prometheus is missing (make test installs the Debian package)"
    assert plane.admin.post("/sync", {"full": True})["ok"]
    plane.admin.post("/health/probes")
    root = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((MONITORS / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(MONITORS / "rules" / "*.yml")]
    (job,) = config["scrape_configs"]
    # the example's credential (a bearer token file), holding the test plane's token
    token = root / "govcloud-metrics.token"
    token.write_text(METRICS_TOKEN + "\n")
    token.chmod(0o600)
    assert job["authorization"]["type"] == "Bearer"
    job["authorization"]["credentials_file"] = str(token)
    job.update(scrape_interval="1s", scrape_timeout="1s",
               static_configs=[{"targets": [plane.url.removeprefix("http://")],
                                "labels": {"datacentre": "PROD"}}])
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        tied_to_parent([exe, f"--config.file={root / 'prometheus.yml'}",
                        f"--storage.tsdb.path={root / 'data'}",
                        f"--web.listen-address=127.0.0.1:{port}"]),
        stdout=log, stderr=subprocess.STDOUT)
    prom = Prometheus(f"http://127.0.0.1:{port}")
    try:
        def ready() -> bool:
            assert proc.poll() is None, (root / "prometheus.log").read_text()
            try:
                return prom.http.get("/-/ready").status_code == 200
            except httpx.HTTPError:
                return False

        prom.wait("readiness", ready)
        prom.wait("a scrape of govcloud", lambda: len(prom.by_site(
            'govcloud_site_vcpu_capacity{job="govcloud"}')) == len(SITES))
        yield prom
    finally:
        prom.http.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_site_capacities_equal_govcloud_capacity(prometheus: Prometheus, cli_env: Plane,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capacity", "--json"]) == 0
    capacity = {s["site"]: s for s in json.loads(capsys.readouterr().out)["sites"]}
    assert set(capacity) == set(SITES)
    for metric, key, scale in (("govcloud_site_vcpu_capacity", "vcpus", 1),
                               ("govcloud_site_memory_capacity_bytes", "ram_mb", 1024 ** 2),
                               ("govcloud_site_disk_capacity_bytes", "disk_gb", 1024 ** 3),
                               ("govcloud_site_vcpu_allocated", "vcpus", 1)):
        got = prometheus.by_site(metric)
        field = "allocated" if metric.endswith("allocated") else "capacity"
        assert got == {s: float(c[key][field] * scale) for s, c in capacity.items()}, metric
    assert prometheus.by_site("govcloud_site_physical_cores") == \
        {s: float(c["physical_cores"]) for s, c in capacity.items()}
    up = prometheus.query('up{job="govcloud"}')
    assert [r["value"][1] for r in up] == ["1"]
    assert up[0]["metric"]["datacentre"] == "PROD"


def test_every_rule_group_loads_and_evaluates(prometheus: Prometheus) -> None:
    files = sorted(p.name for p in (MONITORS / "rules").glob("*.yml"))

    def groups() -> list[dict[str, Any]]:
        body = prometheus.http.get("/api/v1/rules").json()
        found: list[dict[str, Any]] = body["data"]["groups"]
        return found

    prometheus.wait("every rule evaluated", lambda: all(
        r.get("lastEvaluation", "").startswith("20") and r["health"] == "ok"
        for g in groups() for r in g["rules"]) and len(groups()) == len(files))
    loaded = groups()
    assert sorted(Path(g["file"]).name for g in loaded) == files
    rules = [r for g in loaded for r in g["rules"]]
    assert len(rules) >= 15 and all(r["type"] == "alerting" for r in rules)
    assert all(r["annotations"]["summary"] and r["annotations"]["runbook"] for r in rules)
    # nothing is wrong in a freshly synced, probed control plane
    firing = prometheus.query('ALERTS{alertstate="firing"}')
    assert firing == [], firing


def _region(plane: Plane, name: str, state: str) -> None:
    req = urllib.request.Request(f"{plane.sim.base_url}/_sim/regions/{name}/{state}",
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10):
        pass


def test_a_region_down_keeps_metrics_scraped_and_goes_stale(prometheus: Prometheus,
                                                            plane: Plane) -> None:
    _region(plane, "DR-REMOTE", "down")
    try:
        assert not plane.admin.post("/sync", {"full": False})["ok"]
        plane.admin.post("/health/probes")
        prometheus.wait("DR-REMOTE stale", lambda: prometheus.by_site(
            "govcloud_site_stale") == {"PROD": 0.0, "DR-LOCAL": 0.0, "DR-REMOTE": 1.0})
        assert [r["value"][1] for r in prometheus.query('up{job="govcloud"}')] == ["1"]
        prometheus.wait("the stale alert pending", lambda: [
            r["metric"]["site"] for r in prometheus.query(
                'ALERTS{alertname="GovcloudSiteDataStale"}')] == ["DR-REMOTE"])
        prometheus.wait("the probe-down alert pending", lambda: {
            r["metric"]["site"] for r in prometheus.query(
                'ALERTS{alertname="GovcloudApiProbeDown"}')} == {"DR-REMOTE"})
        # the last good figures of the site are still there
        assert prometheus.by_site("govcloud_site_vcpu_capacity")["DR-REMOTE"] > 0
    finally:
        _region(plane, "DR-REMOTE", "up")
    assert plane.admin.post("/sync", {"full": False})["ok"]
    prometheus.wait("DR-REMOTE fresh again", lambda: prometheus.by_site(
        "govcloud_site_stale")["DR-REMOTE"] == 0.0)
