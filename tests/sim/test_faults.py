"""Realism knobs: latency, random 5xx, a region taken down and brought back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import openstack.exceptions
import pytest
from keystoneauth1 import exceptions as ks_exc


def _control(sim, path: str, body: dict | None = None, method: str = "POST"):
    req = urllib.request.Request(sim.base_url + "/_sim" + path, method=method,
                                 data=json.dumps(body or {}).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())


def test_region_down_drops_connections_and_comes_back(sim):
    prod = sim.connect(region="PROD")
    dr = sim.connect(region="DR-LOCAL")
    prod.compute.get_endpoint()
    before = sum(1 for _ in dr.compute.servers(all_projects=True))
    state = _control(sim, "/regions/DR-LOCAL/down")
    assert state["down"] == ["DR-LOCAL"]
    with pytest.raises((ks_exc.ConnectFailure, openstack.exceptions.SDKException,
                        ks_exc.ConnectionError)):
        list(dr.compute.servers(all_projects=True))
    # other regions keep answering
    assert sum(1 for _ in prod.compute.flavors()) > 0
    _control(sim, "/regions/DR-LOCAL/up")
    after = sum(1 for _ in sim.connect(region="DR-LOCAL").compute.servers(all_projects=True))
    assert after == before  # nothing was lost while it was down


def test_latency_knob_slows_requests(sim):
    conn = sim.connect()
    conn.compute.get_endpoint()
    t0 = time.perf_counter()
    list(conn.compute.flavors())
    fast = time.perf_counter() - t0
    _control(sim, "/faults", {"latency_ms": 200}, method="PUT")
    t0 = time.perf_counter()
    list(conn.compute.flavors())
    slow = time.perf_counter() - t0
    assert slow >= 0.2 > fast


def test_error_rate_one_gives_503_with_nova_body(sim):
    conn = sim.connect()
    conn.compute.get_endpoint()
    token = conn.session.get_token()
    _control(sim, "/faults", {"error_rate": 1.0}, method="PUT")
    req = urllib.request.Request(sim.base_url + "/PROD/compute/v2.1/flavors",
                                 headers={"X-Auth-Token": token})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=10)
    assert exc.value.code == 503
    assert "serviceUnavailable" in json.loads(exc.value.read())
    _control(sim, "/faults", {"error_rate": 0}, method="PUT")
    assert urllib.request.urlopen(req, timeout=10).status == 200


def test_bad_fault_input_changes_nothing(sim):
    _control(sim, "/faults", {"latency_ms": 5}, method="PUT")
    for bad in ({"latency_ms": "fast"}, {"error_rate": 2}, {"down": ["NOWHERE"]},
                {"latency_ms": 1, "bogus": 1}):
        with pytest.raises(urllib.error.HTTPError) as exc:
            _control(sim, "/faults", bad, method="PUT")
        assert exc.value.code == 400
    state = _control(sim, "/faults", method="GET") if False else json.loads(
        urllib.request.urlopen(sim.base_url + "/_sim/faults", timeout=10).read())
    assert state == {"latency_ms": 5.0, "jitter_ms": 0.0, "error_rate": 0.0, "down": []}


def test_unknown_region_control_is_404(sim):
    with pytest.raises(urllib.error.HTTPError) as exc:
        _control(sim, "/regions/MARS/down")
    assert exc.value.code == 404


def test_cli_region_down_and_faults(sim):
    out = subprocess.run([sys.executable, "-m", "govcloud.sim", "region-down", "DR-REMOTE",
                          "--url", sim.base_url, "--json"], capture_output=True, text=True,
                         timeout=60, check=True)
    assert json.loads(out.stdout)["down"] == ["DR-REMOTE"]
    out = subprocess.run([sys.executable, "-m", "govcloud.sim", "faults", "--url",
                          sim.base_url, "--latency-ms", "10", "--json"], capture_output=True,
                         text=True, timeout=60, check=True)
    assert json.loads(out.stdout)["latency_ms"] == 10.0
    bad = subprocess.run([sys.executable, "-m", "govcloud.sim", "faults", "--url",
                          "http://127.0.0.1:9", "--json"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0
    assert "hint:" in bad.stderr and "Traceback" not in bad.stderr
