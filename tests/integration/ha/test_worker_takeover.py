"""Two ``govcloud serve`` replicas on one PostgreSQL (real processes, a real primary of the
test's own): each background worker runs in exactly one of them; kill -9 of the one holding
the workers in the middle of a provisioning batch → the other takes the workers over within
the documented bound (lease ttl + renew), the batch completes, and the cloud holds exactly
one server per idempotency key (none duplicated, none lost). Then the CLI, given both URLs
with the dead one first, works and says which one it used."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.ha.cluster import Cluster
from tests.integration.ha.replicas import RENEW_S, TTL_S, Replicas, request_spec, run_cli
from tests.served import TIMEOUT

pytestmark = [pytest.mark.slow, pytest.mark.ha]
WORKERS = {"sync", "provision", "probe", "change-windows", "compaction", "migration",
           "drills"}  # protection is off
# in tests/served.py's env, the notifier has nothing configured
SLACK_S = 3.0  # the test's polling and a loaded machine, over the documented bound


@pytest.fixture
def replicas(tmp_path: Path, primary: Cluster) -> Iterator[Replicas]:
    made = Replicas(tmp_path, primary.url, count=2)
    try:
        made.bootstrap()
        yield made
    finally:
        made.close()


def _running(replicas: Replicas) -> dict[str, set[str]]:
    """Replica id → the workers running in that process now (its own word)."""
    out = {}
    for member in replicas.members:
        if member.proc is not None and member.proc.poll() is None:
            status = replicas.status(member)
            out[status["replica"]] = set(status["running_here"])
    return out


def _once_each(replicas: Replicas) -> dict[str, str]:
    """Every worker held by exactly one replica, and running there alone; worker → holder."""
    running = _running(replicas)
    holders = replicas.holders(replicas.members[-1])
    assert {w for w, h in holders.items() if h} == WORKERS, holders
    for worker in WORKERS:
        runs = [rid for rid, names in running.items() if worker in names]
        assert runs == [holders[worker]], (worker, running, holders)
    return {w: h for w, h in holders.items() if h}


def test_a_killed_holder_is_replaced_and_its_batch_completes(
        replicas: Replicas, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    first, second = replicas.members
    first.serve()  # the first up takes every lease
    second.serve()
    held = _once_each(replicas)
    first_id = replicas.status(first)["replica"]
    assert set(held.values()) == {first_id}
    admin = replicas.admin
    operator = first.principal(admin, "ops-wu", "operator")
    assert first.api(admin, "POST", "/sync", {"full": True})["ok"]
    ids = [first.api(operator, "POST", "/requests", request_spec(f"ha{i}", count=2))["id"]
           for i in range(3)]
    for rid in ids:
        first.api(admin, "POST", f"/requests/{rid}/approve")
    deadline = time.monotonic() + TIMEOUT  # kill it once the batch is under way
    while not any(s["server_id"] for rid in ids
                  for s in replicas.get(first, f"/requests/{rid}")["servers"]):
        assert time.monotonic() < deadline, "provisioning never started"
        time.sleep(0.05)
    assert first.proc is not None
    first.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    first.wait_exit()
    second_id = replicas.status(second)["replica"]
    while replicas.holders(second)["provision"] != second_id:
        assert time.monotonic() - killed < TTL_S + RENEW_S + SLACK_S, \
            replicas.status(second)
        time.sleep(0.1)
    takeover = time.monotonic() - killed
    # every worker taken over within the same bound (the keeper takes them one after another,
    # and its worker process tells the API process which run there within RUNNING_S)
    while True:
        try:
            assert set(_once_each(replicas).values()) == {second_id}
            break
        except AssertionError:
            if time.monotonic() - killed > TTL_S + RENEW_S + SLACK_S:
                raise
            time.sleep(0.1)
    shown = replicas.wait_for_requests(second, ids)
    assert {rid: s["state"] for rid, s in shown.items()} == dict.fromkeys(ids, "done")
    for rid in ids:
        servers = shown[rid]["servers"]
        tagged = replicas.tagged(rid)
        assert all(len(found) == 1 for found in tagged.values()), tagged  # no duplicate
        assert len(tagged) == len(servers) == 6  # 2 servers × 3 sites: none lost
        assert sorted(s["server_id"] for s in servers) == sorted(
            found[0] for found in tagged.values())
    states = {r["id"]: r["state"] for r in replicas.status(second)["replicas"]}
    assert states[second_id] == "up" and states[first_id] == "lost", states
    audited = replicas.get(second, "/audit", action="worker.takeover")["entries"]
    assert sorted((e["target"], e["before"]["holder"], e["after"]["holder"])
                  for e in audited) == [(f"worker:{w}", first_id, second_id)
                                        for w in sorted(WORKERS)]
    print(f"worker takeover after kill -9: {takeover:.1f} s "
          f"(bound {TTL_S + RENEW_S:g} s)")
    # the CLI given the dead replica's URL first: answers from the other, and says so
    dead, alive = first, second
    code, out, err = run_cli(monkeypatch, capsys, {
        "GOVCLOUD_SERVER": f"{dead.url},{alive.url}", "GOVCLOUD_TOKEN": replicas.admin},
        "status", "--json")
    assert code == 0, err
    assert f"note: {dead.url} did not answer; using {alive.url}" in err
    plane = json.loads(out)["control_plane"]
    assert plane["server"] == alive.url and plane["servers"] == [dead.url, alive.url]
    assert plane["replica"] == second_id and plane["mode"] == "replicated"
    assert plane["database"]["role"] == "primary"
    code, out, err = run_cli(monkeypatch, capsys, {
        "GOVCLOUD_SERVER": alive.url, "GOVCLOUD_TOKEN": replicas.admin}, "status")
    assert code == 0, err
    lines = out.splitlines()
    assert f"control plane: replicated, 2 replica(s); this client is on {alive.url}, " \
           f"replica {second_id}" in lines
    rows = {line.split()[0]: line.split() for line in lines if line.split()}
    assert rows[first_id][3] == "lost" and rows[second_id][3] == "up"
    assert rows["provision"][:3] == ["provision", "held", second_id]
    assert any(line.startswith("database: PostgreSQL ") and " primary at 127.0.0.1:" in line
               for line in lines), out
    assert "  no standby streams from it: a lost primary cannot fail over" in lines
