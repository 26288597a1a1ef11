"""`govcloud demo` end to end: a real simulator process, read back through openstacksdk,
stopped cleanly by Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from govcloud.client import ApiClient
from tests.processes import read_lines

pytestmark = pytest.mark.slow

READY_TIMEOUT = 120
# tenants/cities/: each city department and branch, and its city's site
CITY_TENANTS = {"gz-psb": "GUANGZHOU", "gz-hrss": "GUANGZHOU", "gz-data": "GUANGZHOU",
                "gz-tax": "GUANGZHOU", "sz-psb": "SHENZHEN", "sz-data": "SHENZHEN",
                "sz-samr": "SHENZHEN", "sz-tax": "SHENZHEN"}


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_demo_prints_every_site_and_stops_on_ctrl_c(tmp_path: Path, stop: int) -> None:
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    proc = subprocess.Popen(
        [sys.executable, "-m", "govcloud.cli", "demo", "--scale", "small", "--no-tui",
         "--state-dir", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # as in a non-interactive shell's background job: SIGINT starts out ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    out: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=read_lines, args=(proc.stdout, out), daemon=True).start()
    lines: list[str] = []
    try:
        while not any(line.lstrip().startswith("export OS_CLIENT_CONFIG_FILE") for line in lines):
            line = out.get(timeout=READY_TIMEOUT)
            assert line is not None, f"demo exited early: {proc.wait()} {proc.stderr.read()}"  # type: ignore[union-attr]
            lines.append(line)
        sim_pid = json.loads((state / "sim.ready").read_text())["pid"]
        os.kill(sim_pid, 0)  # the simulator is still serving
        proc.send_signal(stop)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    table = [line.rstrip("\n") for line in lines]
    header = table[0]
    assert header.split()[:3] == ["SITE", "ROLE", "HYPERVISORS"]
    rows = {line.split()[0]: line for line in table[1:4]}
    assert list(rows) == ["PROD", "DR-LOCAL", "DR-REMOTE"]
    for row in rows.values():
        assert "error:" not in row
    assert f"OS_CLIENT_CONFIG_FILE={state / 'clouds.yaml'} OS_CLOUD=govcloud-sim" in table[-1]
    with pytest.raises(ProcessLookupError):
        os.kill(sim_pid, 0)  # stopped with the demo
    assert not (state / "sim.ready").exists()


def test_demo_at_cities_scale_shows_every_city_site(tmp_path: Path) -> None:
    """`govcloud demo --scale cities-small`: the province's three centres and the city
    clouds' sites (role city) in one control plane (issue 22, docs/city-clouds.md)."""
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    proc = subprocess.Popen(
        [sys.executable, "-m", "govcloud.cli", "demo", "--scale", "cities-small", "--json",
         "--state-dir", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=read_lines, args=(proc.stdout, out), daemon=True).start()
    lines: list[str] = []
    try:
        while not lines or lines[-1].rstrip("\n") != "}":
            line = out.get(timeout=READY_TIMEOUT)
            assert line is not None, f"demo exited early: {proc.wait()} {proc.stderr.read()}"  # type: ignore[union-attr]
            lines.append(line)
        answer = json.loads("".join(lines))
        # after the demo's sync, the city departments and branches have their seeded servers
        with ApiClient(answer["server"], answer["token"]) as api:
            listed = {code: api.get("/servers", department=code)["servers"]
                      for code in CITY_TENANTS}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for code, site in CITY_TENANTS.items():
        assert listed[code], code
        assert {(s["department"], s["site"]) for s in listed[code]} == {(code, site)}
    sites = {s["site"]: s for s in answer["sites"]}
    assert list(sites) == ["PROD", "DR-LOCAL", "DR-REMOTE", "GUANGZHOU", "SHANTOU", "SHENZHEN",
                           "ZHUHAI"]
    assert {sites[n]["role"] for n in ("GUANGZHOU", "SHANTOU", "SHENZHEN", "ZHUHAI")} == {"city"}
    assert all(s.get("error") is None and s["servers"]["total"] > 0 for s in sites.values())
