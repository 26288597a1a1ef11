"""`govcloud serve --metrics-port` as a real process with its background workers: the sync
worker's first sync and the probe worker's rounds reach /metrics on both ports without anyone
asking, and `govcloud status` shows the APIs up. /metrics asks for the bearer token serve made
in its state dir on first start (nothing configured: the default)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from govcloud.children import tied_to_parent
from govcloud.sim.server import start
from tests.processes import TIMEOUT, process_env, run_cli
from tests.served import free_port

from .conftest import small_catalogue
from .metrics_util import parse, select, value

pytestmark = pytest.mark.slow
SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")


def test_serve_exports_what_its_workers_find(tmp_path: Path) -> None:
    clouds_yaml = tmp_path / "clouds.yaml"
    sim = start(scale="small", seed=42, clouds_yaml=clouds_yaml, build_delay=0.2)
    env = process_env(tmp_path)
    env.update(GOVCLOUD_CLOUDS_YAML=str(clouds_yaml), GOVCLOUD_PROBE_INTERVAL_S="0.5",
               XDG_STATE_HOME=str(tmp_path / "state"))
    token_file = tmp_path / "state" / "govcloud" / "metrics.token"
    db = f"sqlite:///{tmp_path / 'govcloud.db'}"
    port, metrics_port = free_port(), free_port()
    proc = subprocess.Popen(
        tied_to_parent([sys.executable, "-m", "govcloud.cli", "serve", "--port", str(port),
                        "--database-url", db,
                        "--catalogue", str(small_catalogue(tmp_path / "tenants")),
                        "--metrics-port", str(metrics_port)]),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(transport=httpx.HTTPTransport(retries=12), timeout=TIMEOUT) as http:
            assert http.get(f"{url}/api/v1/health").json()["status"] == "ok"
            assert token_file.stat().st_mode & 0o777 == 0o600
            auth = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
            for where in (url, f"http://127.0.0.1:{metrics_port}"):
                assert http.get(f"{where}/metrics").status_code == 401
            deadline = time.monotonic() + TIMEOUT
            while True:  # the workers' first sync and probes, then the snapshot refresh
                series = parse(http.get(f"http://127.0.0.1:{metrics_port}/metrics",
                                        headers=auth).text)
                up = select(series, "govcloud_probe_up")
                stale = [value(series, "govcloud_site_stale", site=s) for s in SITES]
                if len(up) == 18 and all(v == 1 for _, v in up) and stale == [0, 0, 0]:
                    break
                assert time.monotonic() < deadline, (up, stale)
                time.sleep(0.2)
            same = parse(http.get(f"{url}/metrics", headers=auth).text)
            assert value(same, "govcloud_site_vcpu_capacity", site="PROD") == \
                value(series, "govcloud_site_vcpu_capacity", site="PROD") > 0
        env["GOVCLOUD_SERVER"] = url
        env["GOVCLOUD_TOKEN"] = run_cli(env, "admin", "bootstrap", "--database-url",
                                        db).stdout.strip()
        status = run_cli(env, "status")
        assert status.returncode == 0, status.stderr
        assert "APIS" in status.stdout
        rows = [ln.split() for ln in status.stdout.splitlines() if ln.split()[:1] in
                (["PROD"], ["DR-LOCAL"], ["DR-REMOTE"])]
        assert len(rows) == 3 and all(r[-1] == "up" for r in rows), status.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        sim.stop()
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, err
    assert f"/metrics asks for the bearer token in {token_file}" in err
