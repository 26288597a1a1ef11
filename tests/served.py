"""The control plane as a real process: ``govcloud serve`` on a free loopback port, its database
bootstrapped with ``govcloud admin bootstrap``, driven over HTTP — so a test can SIGKILL it
(fault injection) and start it again on the same database. Shared by the simulator's crash test
(tests/integration/control/test_provision_crash.py) and the real-cloud suite
(tests/realcloud/test_provision_crash.py); only the cloud behind ``clouds_yaml`` differs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from govcloud.children import tied_to_parent

TIMEOUT = 90


def tagged_servers(clouds_yaml: Path, rid: int) -> dict[str, list[str]]:
    """Idempotency key of request ``rid`` → ids of the servers carrying it, over every region
    of the default sites (what the cloud holds, whatever the database says)."""
    from govcloud.cloud.connect import connect
    from govcloud.domain.sites import default_sites

    out: dict[str, list[str]] = {}
    for site in default_sites():
        conn = connect(site, clouds_yaml=clouds_yaml)
        for s in conn.compute.servers(all_projects=True):
            for tag in s.tags or []:
                if tag.startswith(f"govcloud-req-{rid}-"):
                    out.setdefault(tag, []).append(s.id)
        conn.close()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServedPlane:
    """``govcloud serve`` for ``database_url`` with the catalogue in ``catalogue`` and the
    clouds of ``clouds_yaml``; ``env`` adds GOVCLOUD_* settings (e.g. GOVCLOUD_SITES). The
    caller's own GOVCLOUD_* variables are not passed on."""

    def __init__(self, tmp: Path, *, database_url: str, catalogue: Path, clouds_yaml: Path,
                 env: Mapping[str, str] | None = None) -> None:
        self.tmp = tmp
        self.db = database_url
        self.catalogue = catalogue
        self.clouds_yaml = clouds_yaml
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        self.log = tmp / "serve.log"  # the server's stderr, every run appended

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
        env.update({"XDG_CONFIG_HOME": str(self.tmp / "config"),
                    "XDG_STATE_HOME": str(self.tmp / "state"),
                    "GOVCLOUD_CLOUDS_YAML": str(self.clouds_yaml),
                    "GOVCLOUD_PROVISION_POLL_S": "0.2",
                    "GOVCLOUD_PROVISION_CONCURRENCY": "1",
                    "GOVCLOUD_SYNC_INTERVAL_S": "3600",
                    "GOVCLOUD_FULL_SYNC_INTERVAL_S": "3600",
                    # tenancy applies without a change, where a test does not turn it on
                    "GOVCLOUD_CHANGE_CONTROL": "off",
                    # protection cycles only where a test turns them on
                    "GOVCLOUD_DR_PROTECT_WORKER": "false", **self.extra_env, **extra})
        return env

    def bootstrap(self) -> str:
        """``govcloud admin bootstrap`` on the database (migrating it): the admin's token."""
        boot = subprocess.run([sys.executable, "-m", "govcloud.cli", "admin", "bootstrap",
                               "--database-url", self.db], env=self.env(), text=True,
                              capture_output=True, timeout=TIMEOUT, check=True)
        return boot.stdout.strip()

    def serve(self, **extra: str) -> None:
        """Start the server (``extra``: more environment, e.g. a fault) and wait for health."""
        self.launch(**extra)
        self.wait_healthy()

    def launch(self, **extra: str) -> None:
        """Start the server without waiting (from the thread that outlives it: the child is
        tied to the thread that started it)."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                tied_to_parent([sys.executable, "-m", "govcloud.cli", "serve", "--port",
                                str(self.port), "--database-url", self.db,
                                "--catalogue", str(self.catalogue)]),
                env=self.env(**extra), stdout=subprocess.DEVNULL, stderr=log, text=True)

    def wait_healthy(self, timeout: float = TIMEOUT) -> None:
        """Until the server answers its health check (200), polled every 0.1 s: a retry with
        backoff (httpx's doubles its wait, 32 then 64 s) answered up to its last wait after
        the server was up, on each of the crash tests' restarts. Fails at once if the
        process has ended."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=TIMEOUT) as http:
            while True:
                try:
                    answer = http.get(f"{self.url}/api/v1/health")
                except httpx.TransportError:
                    ended = self.proc.poll() if self.proc is not None else None
                    assert ended is None, f"the server ended with {ended}: see {self.log}"
                    assert time.monotonic() < deadline, f"{self.url}: no answer in {timeout} s"
                    time.sleep(0.1)
                    continue
                assert answer.status_code == 200, answer.text
                return

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()

    def api(self, token: str, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(method, f"{self.url}/api/v1{path}", json=body, timeout=TIMEOUT,
                          headers={"Authorization": f"Bearer {token}"})
        assert r.status_code < 300, r.text
        return r.json()

    def cli(self, *args: str) -> str:
        """``govcloud ARGS`` against this plane's database (direct access); its stdout."""
        run = subprocess.run([sys.executable, "-m", "govcloud.cli", *args, "--database-url",
                              self.db], env=self.env(), text=True, capture_output=True,
                             timeout=TIMEOUT, check=True)
        return run.stdout

    def principal(self, admin: str, name: str, role: str, **scope: str) -> str:
        """Add a principal as ``admin`` (the bootstrapped one) and return its working token: a
        privileged one is approved by a second bureau-admin, another person, who is added
        the first time through the documented way in — the API, then ``govcloud admin
        approve`` (direct database access, while no other person holds bureau-admin)."""
        answer = self.api(admin, "POST", "/principals",
                          {"name": name, "role": role, "person": f"person {name}", **scope})
        if answer["pending"]:
            approver = getattr(self, "_approver", None)
            if approver is None:
                approver = self.api(admin, "POST", "/principals", {
                    "name": "second-admin", "role": "bureau-admin",
                    "person": "Second Admin"})["token"]
                self.cli("admin", "approve", "second-admin")
                self._approver = approver
            self.api(approver, "POST", f"/principals/{name}/approve")
        token: str = answer["token"]
        return token
