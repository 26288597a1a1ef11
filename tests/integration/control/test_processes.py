"""`govcloud serve` and `govcloud demo --no-tui` as real processes, used by the CLI."""

from __future__ import annotations

import json
import queue
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from govcloud.children import tied_to_parent
from govcloud.sim.server import start
from tests.processes import TIMEOUT, process_env, read_lines, run_cli
from tests.served import free_port

from .conftest import small_catalogue

pytestmark = pytest.mark.slow

@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    clouds_yaml = tmp_path / "clouds.yaml"
    sim = start(scale="small", seed=42, clouds_yaml=clouds_yaml, build_delay=0.2)
    env = process_env(tmp_path)
    env["GOVCLOUD_CLOUDS_YAML"] = str(clouds_yaml)
    db = f"sqlite:///{tmp_path / 'govcloud.db'}"
    port = free_port()
    proc = subprocess.Popen(
        tied_to_parent([sys.executable, "-m", "govcloud.cli", "serve", "--port", str(port),
                        "--database-url", db,
                        "--catalogue", str(small_catalogue(tmp_path / "tenants"))]),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        # the transport retries refused connections (with backoff) until the server listens
        with httpx.Client(transport=httpx.HTTPTransport(retries=12)) as http:
            assert http.get(f"{url}/api/v1/health", timeout=TIMEOUT).json()["status"] == "ok"
        token = run_cli(env, "admin", "bootstrap", "--database-url", db).stdout.strip()
        env["GOVCLOUD_SERVER"], env["GOVCLOUD_TOKEN"] = url, token
        yield url, env
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        sim.stop()


def test_serve_and_the_cli(served: tuple[str, dict[str, str]]) -> None:
    _, env = served
    assert json.loads(run_cli(env, "tenants", "plan", "--json").stdout)["departments"] == 9
    applied = run_cli(env, "tenants", "apply")
    assert applied.returncode == 0, applied.stderr
    again = run_cli(env, "tenants", "apply")
    assert "no changes" in again.stdout
    verify = run_cli(env, "audit", "verify")
    assert verify.returncode == 0 and "audit chain intact" in verify.stdout
    denied = run_cli(env, "departments", "list", "--token", "gct_wrong")
    assert denied.returncode == 5 and "Traceback" not in denied.stderr
    assert denied.stderr.startswith("error: the API token is unknown")
    assert "\nhint: " in denied.stderr


def test_demo_serves_and_selects_its_context(tmp_path: Path) -> None:
    env = process_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "govcloud.cli", "demo", "--scale", "small", "--no-tui",
         "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=read_lines, args=(proc.stdout, out), daemon=True).start()
    lines: list[str] = []
    try:
        while not any(line.startswith("context: demo") for line in lines):
            line = out.get(timeout=TIMEOUT)
            assert line is not None, f"demo exited: {proc.wait()} {proc.stderr.read()}"  # type: ignore[union-attr]
            lines.append(line)
        server = next(ln.split()[1] for ln in lines if ln.startswith("server: "))
        token = next(ln.split()[2] for ln in lines if ln.startswith("admin token: "))
        assert (tmp_path / "state" / "govcloud.db").is_file()
        # the state directory holds the database, clouds.yaml and keys: its owner's alone
        assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
        for name in ("govcloud.db", "clouds.yaml"):
            assert stat.S_IMODE((tmp_path / "state" / name).stat().st_mode) == 0o600, name
        listed = run_cli(env, "departments", "list", "--json")  # no flags: the demo context
        assert listed.returncode == 0, listed.stderr
        assert len(json.loads(listed.stdout)) == 9
        plan = run_cli(env, "tenants", "plan")
        assert "no changes: 9 departments" in plan.stdout  # the demo applied the catalogue
        contexts = json.loads(run_cli(env, "context", "list", "--json").stdout)
        assert contexts["current"] == "demo"
        assert contexts["contexts"] == [{"name": "demo", "server": server, "current": True,
                                         "has_token": True}]
        assert token.startswith("gct_")
        # /metrics asks for the bearer token the demo keeps in its state dir
        token_file = tmp_path / "state" / "metrics.token"
        assert next(ln for ln in lines if ln.startswith("metrics: ")).strip() == \
            f"metrics: {server}/metrics (bearer token in {token_file})"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert httpx.get(f"{server}/metrics", timeout=TIMEOUT).status_code == 401
        scraped = httpx.get(f"{server}/metrics", timeout=TIMEOUT, headers={
            "Authorization": f"Bearer {token_file.read_text().strip()}"})
        assert scraped.status_code == 200 and "govcloud_site_info" in scraped.text
        sync = httpx.get(f"{server}/api/v1/sync/status",
                         headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)
        if sync.status_code != 404:  # the demo ran a full sync of every site
            assert [s["last_full"] is not None for s in sync.json()["sites"]] == [True] * 3
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
