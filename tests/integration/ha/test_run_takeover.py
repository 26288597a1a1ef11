"""Long runs across replicas: two ``govcloud serve`` replicas on one PostgreSQL (real
processes, a real primary of the test's own), the first holding every worker and running a
migration wave — or a DR drill — it was asked to run; kill -9 of that replica (with the
playbook jobs it started, as a lost host takes them) in the middle of the run → the other
takes the ``migration`` (``drills``) worker over within the lease's bound, finds the run's
heartbeat stale and resumes it where it stopped, to the end: the wave done with equal data on
both sides, or the drill passed with nothing left in any region; each step run again at most
once, the takeover audited once, the record consistent (docs/high-availability.md, "Long
runs")."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcloud.cli import main
from govcloud.demo.sandbox import Sandbox, make_key, write_files
from govcloud.store.engine import make_engine
from tests.integration.control.provisioning_plane import request
from tests.integration.dr.drills import DATA as DRILL_DATA
from tests.integration.dr.drills import DEPARTMENT, SITE, SYSTEM, leftovers, record_point
from tests.integration.ha.cluster import Cluster
from tests.integration.ha.replicas import RENEW_S, TTL_S, Replicas
from tests.integration.migrate.waves import DATA, make_hosts, ready_wave, tree
from tests.integration.served_crash import Gate
from tests.served import ServedPlane
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.ha]
STALE_S = 2.0  # GOVCLOUD_MIGRATE_STALE_AFTER_S: a dead run's heartbeat is stale this soon
# lease moved, heartbeat stale, the worker's next look (1 s), a loaded machine
TAKEOVER_BOUND_S = TTL_S + RENEW_S + STALE_S + 1.0 + 10.0
FILES = {"ledger.db": b"L" * 5000}


def _rsync_gate(root: Path) -> dict[str, str]:
    """rsync on the replicas' PATH behind a wrapper that ``root/rsync-gate.sh`` may gate."""
    rsync, bin_dir = shutil.which("rsync"), root / "bin"
    assert rsync is not None
    bin_dir.mkdir(parents=True, exist_ok=True)
    gate_sh = shlex.quote(str(root / "rsync-gate.sh"))
    wrapper = bin_dir / "rsync"
    wrapper.write_text(f"#!/bin/sh\nif [ -e {gate_sh} ]; then . {gate_sh}; fi\n"
                       f"exec {shlex.quote(rsync)} \"$@\"\n")
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.fixture
def replicas(tmp_path: Path, primary: Cluster, monkeypatch: pytest.MonkeyPatch,
             request: pytest.FixtureRequest) -> Iterator[Replicas]:
    """Two replicas sharing the migration state (known_hosts: docs/high-availability.md,
    step 4), the first up holding every worker; the CLI pointed at the first."""
    key = make_key(tmp_path / "keys" / "id_ed25519")
    env = {"GOVCLOUD_MIGRATE_DIR": str(tmp_path / "migrate"), "GOVCLOUD_SSH_KEY": str(key),
           "GOVCLOUD_MIGRATE_PYTHON": "/usr/bin/python3",
           "GOVCLOUD_MIGRATE_STALE_AFTER_S": str(STALE_S),
           "GOVCLOUD_PROVISION_ACTIVE_TIMEOUT_S": "60", **_rsync_gate(tmp_path)}
    build_delay = getattr(request, "param", 0.2)
    made = Replicas(tmp_path, primary.url, count=2, env=env, build_delay=build_delay)
    try:
        made.bootstrap()
        made.members[0].serve()  # the first up takes every lease
        made.members[1].serve()
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
        monkeypatch.setenv("GOVCLOUD_SERVER", made.members[0].url)
        monkeypatch.setenv("GOVCLOUD_TOKEN", made.admin)
        yield made
    finally:
        made.close()


@pytest.fixture
def boxes(tmp_path: Path) -> Iterator[list[Sandbox]]:
    started: list[Sandbox] = []
    yield started
    for box in started:
        box.stop()


def _sandboxes(tmp_path: Path, started: list[Sandbox]) -> Any:
    def make(name: str) -> Sandbox:
        box = Sandbox(name, tmp_path / "hosts" / name,
                      tmp_path / "keys" / "id_ed25519.pub").start()
        started.append(box)
        return box
    return make


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (ansible-runner puts its jobs in sessions of their own,
    so a process group does not reach them)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill_host(member: ServedPlane) -> float:
    """kill -9 of the replica and everything it started, as a lost host; when."""
    assert member.proc is not None
    under = _descendants(member.proc.pid)
    member.proc.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    for pid in under:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    member.wait_exit()
    return killed


def _taken_over(replicas: Replicas, worker: str, action: str) -> tuple[str, dict[str, Any]]:
    """The second replica holds ``worker`` and has taken one run over (audited ``action``,
    once): its id and the audit entry's ``after``."""
    second = replicas.members[1]
    second_id = replicas.status(second)["replica"]
    assert replicas.holders(second)[worker] == second_id
    entries = replicas.get(second, "/audit", action=action)["entries"]
    assert len(entries) == 1, entries
    assert entries[0]["actor"] == "control-plane"
    assert entries[0]["after"]["replica"] == second_id
    after: dict[str, Any] = entries[0]["after"]
    return second_id, after


def test_a_wave_whose_replica_dies_in_the_final_sync_is_resumed_by_the_other(
        replicas: Replicas, tmp_path: Path, boxes: list[Sandbox],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = replicas.members
    inv, hosts = make_hosts(_sandboxes(tmp_path, boxes), tmp_path, "gd-psd",
                            ["psd-a", "psd-b"], files=20, size=200_000)
    # rsync is held once the freeze stopped the legacy service: in the final sync
    gate = Gate(tmp_path / "gate")
    marker = shlex.quote(str(hosts["psd-a"][0].root / "run" / "psd-a.running"))
    (tmp_path / "rsync-gate.sh").write_text(gate.hold(f"[ ! -e {marker} ]") + "\n")
    wave = ready_wave(capsys, inv, "gd-psd", hosts)
    code, out, err = _cli(capsys, "migrate", "run", wave, "--json")
    assert code == 0, out + err
    dead_run = json.loads(out)["run_id"]
    wait_until(gate.reached.exists, 120, "the final sync to reach its gate")
    shown = replicas.get(first, f"/migrate/waves/{wave}")
    assert any(h["steps"]["final_sync"]["status"] == "running" for h in shown["hosts"])
    killed = _kill_host(first)
    gate.release()
    monkeypatch.setenv("GOVCLOUD_SERVER", second.url)
    deadline = killed + TAKEOVER_BOUND_S + 120  # the takeover, then the rest of the wave
    while (shown := replicas.get(second, f"/migrate/waves/{wave}"))["status"] != "done":
        assert time.monotonic() < deadline, json.dumps(shown, indent=1)
        assert shown["status"] in ("running", "interrupted"), json.dumps(shown, indent=1)
        time.sleep(0.5)
    second_id, after = _taken_over(replicas, "migration", "migrate.takeover")
    assert (after["wave"], after["action"], after["dead_run"]) == (wave, "run", dead_run)
    for legacy, target in hosts.values():  # no data lost, none left behind
        assert tree(legacy.root / DATA.lstrip("/")) == tree(target.root / DATA.lstrip("/"))
    for h in shown["hosts"]:
        assert h["steps"]["precheck"]["attempts"] == 1  # resumed, not restarted
        assert h["steps"]["final_sync"]["attempts"] == 2
        assert h["steps"]["cutover"]["attempts"] == 1  # nothing after it ran twice
        assert h["live"] == "target"
    runs = replicas.get(second, "/audit", action="migrate.run")["entries"]
    assert sorted(e["after"]["run"] for e in runs) == sorted([dead_run, after["run"]])
    assert len({e["actor"] for e in runs}) == 1  # resumed as the person who ran it


@pytest.mark.parametrize("replicas", [3.0], indirect=True)  # servers take 3 s to build
def test_a_drill_whose_replica_dies_while_booting_is_resumed_by_the_other(
        replicas: Replicas, tmp_path: Path, boxes: list[Sandbox],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = replicas.members
    admin = replicas.admin
    operator = first.principal(admin, "ops-drill", "operator")
    first.api(admin, "POST", "/tenants/apply")
    assert first.api(admin, "POST", "/sync", {"full": True})["ok"]
    rid = first.api(operator, "POST", "/requests",
                    request(SYSTEM, count=1, department=DEPARTMENT))["id"]
    first.api(admin, "POST", f"/requests/{rid}/approve")
    done = replicas.wait_for_requests(first, [rid])[rid]
    assert done["state"] == "done", done
    assert first.api(admin, "POST", "/sync", {"full": True})["ok"]
    copy = next(s["server_id"] for s in done["servers"] if s["site"] == SITE)
    engine = make_engine(first.db)
    try:
        record_point(engine, replicas.clouds_yaml, copy, FILES, age=timedelta(minutes=5))
    finally:
        engine.dispose()
    box = Sandbox("drilled", tmp_path / "hosts" / "drilled",
                  tmp_path / "keys" / "id_ed25519.pub").start()
    boxes.append(box)
    write_files(box.root, DRILL_DATA, FILES)
    httpx.post(f"{replicas.sim.base_url}/_sim/sandboxes",
               json={"sandboxes": [box.endpoint()]}, timeout=10).raise_for_status()
    drill = first.api(operator, "POST", "/dr/drills",
                      {"department": DEPARTMENT, "system": SYSTEM, "site": SITE})["id"]
    approver: str = first._approver  # the second bureau-admin principal() added
    assert first.api(approver, "POST", f"/dr/drills/{drill}/approve")["state"] == "approved"
    dead_run = first.api(operator, "POST", f"/dr/drills/{drill}/run", {})["run_id"]
    wait_until(lambda: any(" server " in x for x in leftovers(replicas.clouds_yaml, drill)),
               60, "the drill to boot its server")
    killed = _kill_host(first)
    deadline = killed + TAKEOVER_BOUND_S + 120
    while (shown := replicas.get(second, f"/dr/drills/{drill}"))["state"] == "running":
        assert time.monotonic() < deadline, json.dumps(shown["steps"], indent=1)
        time.sleep(0.5)
    assert shown["state"] == "passed", json.dumps(shown["steps"], indent=1)
    assert shown["evidence_sha256"] and not shown["running"]
    assert leftovers(replicas.clouds_yaml, drill) == []  # nothing left in any region
    _, after = _taken_over(replicas, "drills", "dr.drill.takeover")
    assert (after["drill"], after["dead_run"]) == (drill, dead_run)
    sealed = replicas.get(second, "/audit", action="dr.drill.evidence")["entries"]
    assert [e["after"]["drill"] for e in sealed] == [drill]  # recorded once
