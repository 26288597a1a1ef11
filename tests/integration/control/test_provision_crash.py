"""kill -9 of `govcloud serve` after the cloud created a server and before the database recorded
it: on restart the request completes with no duplicate server (the worker adopts what it finds
by idempotency tag). Real processes, real SIGKILL, the simulator over HTTP, both databases."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from govcloud.cloud.connect import connect
from govcloud.domain.sites import default_sites
from govcloud.sim.server import start
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from govcloud.store.provisioning import servers as recorded_servers
from govcloud.workers.provision import FAULT_KILL_AFTER_CREATE

from .conftest import small_catalogue

pytestmark = pytest.mark.slow
TIMEOUT = 90
NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.tmp = tmp_path
        self.db = database_url
        self.clouds_yaml = tmp_path / "clouds.yaml"
        self.sim = start(scale="small", seed=42, clouds_yaml=self.clouds_yaml,
                         build_delay=0.5)
        self.catalogue = small_catalogue(tmp_path / "tenants")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        engine = make_engine(database_url)
        upgrade_engine(engine)
        self.engine = engine

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
        env.update({"XDG_CONFIG_HOME": str(self.tmp / "config"),
                    "XDG_STATE_HOME": str(self.tmp / "state"),
                    "GOVCLOUD_CLOUDS_YAML": str(self.clouds_yaml),
                    "GOVCLOUD_PROVISION_POLL_S": "0.2",
                    "GOVCLOUD_PROVISION_CONCURRENCY": "1",
                    "GOVCLOUD_SYNC_INTERVAL_S": "3600",
                    "GOVCLOUD_FULL_SYNC_INTERVAL_S": "3600", **extra})
        return env

    def serve(self, **extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "govcloud.cli", "serve", "--port", str(self.port),
             "--database-url", self.db, "--catalogue", str(self.catalogue)],
            env=self.env(**extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        with httpx.Client(transport=httpx.HTTPTransport(retries=12)) as http:
            assert http.get(f"{self.url}/api/v1/health", timeout=TIMEOUT).status_code == 200

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()

    def close(self) -> None:
        self.stop()
        self.sim.stop()
        self.engine.dispose()


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    s = Served(tmp_path, database_url)
    try:
        yield s
    finally:
        s.close()


def _api(url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    r = httpx.request(method, f"{url}/api/v1{path}", json=body, timeout=TIMEOUT,
                      headers={"Authorization": f"Bearer {token}"})
    assert r.status_code < 300, r.text
    return r.json()


def _tagged(served: Served, rid: int) -> dict[str, list[str]]:
    """Idempotency key → ids of the servers carrying it, over every region."""
    out: dict[str, list[str]] = {}
    for site in default_sites():
        conn = connect(site, clouds_yaml=served.clouds_yaml)
        for s in conn.compute.servers(all_projects=True):
            for tag in s.tags or []:
                if tag.startswith(f"govcloud-req-{rid}-"):
                    out.setdefault(tag, []).append(s.id)
        conn.close()
    return out


def test_kill_9_between_create_and_record_then_restart_adopts(served: Served) -> None:
    boot = subprocess.run([sys.executable, "-m", "govcloud.cli", "admin", "bootstrap",
                           "--database-url", served.db], env=served.env(), text=True,
                          capture_output=True, timeout=TIMEOUT, check=True)
    admin = boot.stdout.strip()
    served.serve(**{FAULT_KILL_AFTER_CREATE: "1"})
    operator = _api(served.url, admin, "POST", "/principals",
                    {"name": "ops-wu", "role": "operator"})["token"]
    assert _api(served.url, admin, "POST", "/sync", {"full": True})["ok"]
    rid = _api(served.url, operator, "POST", "/requests", {
        "department": "gd-psd", "system": "crash", "justification": "kill -9 test",
        "servers": [{"name_prefix": "app", "flavor": "gc.c2m4", "count": 1,
                     "image": "cirros-0.6.2-x86_64-disk", "network": NETWORKS}]})["id"]
    _api(served.url, admin, "POST", f"/requests/{rid}/approve")
    assert served.proc is not None
    assert served.proc.wait(timeout=TIMEOUT) == -signal.SIGKILL
    # the cloud has the server, the database does not know its id
    created = _tagged(served, rid)
    assert sum(len(v) for v in created.values()) == 1
    with Session(served.engine) as session:
        assert not [r for r in recorded_servers(session, rid) if r.server_id]

    served.serve()  # no fault this time: the worker resumes the request
    deadline = time.monotonic() + TIMEOUT
    while True:
        shown = _api(served.url, admin, "GET", f"/requests/{rid}")
        if shown["state"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert shown["state"] == "done", shown
    after = _tagged(served, rid)
    assert len(after) == 3 and all(len(ids) == 1 for ids in after.values()), after
    (key, (first_id,)), = created.items()
    assert after[key] == [first_id]  # adopted, not created again
    kinds = [e["kind"] for e in shown["events"]]
    assert "resumed" in kinds and "adopted" in kinds
    assert sorted(s["server_id"] for s in shown["servers"]) == sorted(
        i for ids in after.values() for i in ids)
