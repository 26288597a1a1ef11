"""kill -9 of the control plane in the middle of a host drain, for real: ``govcloud serve``
runs as a process and is killed while a server is live-migrating (its move recorded as
``moving``, Nova still at it). Nova finishes on its own; on restart ``govcloud host drain``
again resumes the drain, adopts the move the dead run asked for (no second migration of that
server) and moves the rest: the same set of servers, each once, none left on the host."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govcloud.cli import main
from govcloud.sim.server import RunningSimulator, start
from tests.integration.control.conftest import small_catalogue
from tests.served import ServedPlane
from tests.waiting import wait_until

from .host_helpers import placement_of

pytestmark = pytest.mark.slow
SITE, HOST = "PROD", "prod-cmp-0001"


class Served(ServedPlane):
    sim: RunningSimulator
    admin: str
    operator: str


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    clouds_yaml = tmp_path / "clouds.yaml"
    # a move takes 1.5 s: the kill lands while one is under way
    sim = start(scale="small", seed=42, clouds_yaml=clouds_yaml, build_delay=1.5)
    s = Served(tmp_path, database_url=f"sqlite:///{tmp_path / 'govcloud.db'}",
               catalogue=small_catalogue(tmp_path / "tenants"), clouds_yaml=clouds_yaml,
               env={"GOVCLOUD_MIGRATE_STALE_AFTER_S": "2",
                    "GOVCLOUD_PROVISION_ACTIVE_TIMEOUT_S": "60"})
    s.sim = sim
    try:
        s.admin = s.bootstrap()
        s.serve()
        s.operator = s.principal(s.admin, "ops-hosts", "operator")
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
        monkeypatch.setenv("GOVCLOUD_SERVER", s.url)
        monkeypatch.setenv("GOVCLOUD_TOKEN", s.operator)
        yield s
    finally:
        s.stop()
        sim.stop()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _mid_move(served: Served, drain_id: int) -> dict[str, Any] | None:
    """The drain once a server has moved and the next one's move is under way."""
    d: dict[str, Any] = served.api(served.admin, "GET", f"/hosts/drains/{drain_id}")
    kinds = [e["kind"] for e in d["events"]]
    return d if "moved" in kinds and kinds[-1] == "moving" else None


def test_kill_9_mid_drain_then_the_drain_resumes_with_the_same_servers(
        served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    assert served.api(served.admin, "POST", "/sync", {"full": True})["ok"]
    region = served.sim.sim.cloud.regions[SITE]
    on_host, every = set(region.hv_by_host[HOST].servers), set(region.servers)
    assert len(on_host) >= 3
    code, out, err = _cli(capsys, "host", "drain", SITE, HOST, "--no-wait", "--json")
    assert code == 0, out + err
    drain_id = int(json.loads(out)["drain"])
    shown = wait_until(lambda: _mid_move(served, drain_id), timeout=60, interval=0.05,
                       what="a move under way after a server moved")
    (inflight,) = [s["id"] for s in shown["servers"] if s["status"] == "moving"]
    assert served.proc is not None
    served.proc.kill()  # SIGKILL: no release, the heartbeat stops, the move is Nova's now
    served.proc.wait(10)
    assert region.servers[inflight].status == "MIGRATING"
    served.serve()
    dead = wait_until(lambda: (d := served.api(served.admin, "GET", f"/hosts/drains/"
                                                                    f"{drain_id}"))
                      ["running"] is False and d, timeout=30, interval=0.2,
                      what="the dead run's heartbeat to go stale")
    assert dead["state"] == "running"  # as the dead process left it

    code, out, err = _cli(capsys, "host", "drain", SITE, HOST, "--json")
    assert code == 0, out + err
    drain = json.loads(out)
    assert drain["id"] == drain_id and drain["state"] == "done"
    assert [s["id"] for s in drain["servers"]].count(inflight) == 1
    assert {s["id"] for s in drain["servers"]} == on_host
    assert all(s["status"] == "moved" for s in drain["servers"])
    kinds = [e["kind"] for e in drain["events"]]
    assert kinds.count("start") == 1 and kinds.count("resume") == 1
    assert any(e["kind"] == "moved" and inflight in e["message"] and "had moved" in
               e["message"] for e in drain["events"])
    # none lost, none doubled: the same servers, off the host, each held once in Placement
    assert set(region.servers) == every
    assert not region.hv_by_host[HOST].servers
    for sid in on_host:
        server = region.servers[sid]
        assert server.host != HOST and server.status == "ACTIVE"
        assert list(placement_of(region, sid)) == [region.hv_by_host[server.host].provider.uuid]
    moves = Counter(m.instance_uuid for m in region.migrations.values())
    assert moves[inflight] == 1  # the dead run's move was adopted, not asked again
    assert all(m.status == "completed" for m in region.migrations.values())
    entries = served.api(served.admin, "GET", f"/audit?target=host:{SITE}/{HOST}")["entries"]
    assert [e["action"] for e in entries] == ["host.drain", "host.drain", "host.drain.end"]
