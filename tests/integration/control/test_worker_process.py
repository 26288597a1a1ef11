"""`govcloud serve` as a real process runs its background workers in a worker process of its
own (govcloud/workers/process.py): kill -9 of the worker → started again; kill -9 of serve →
the worker is gone too; a second serve of the same SQLite file is still refused; `govcloud
status` shows the worker process; `--workers inline` runs none."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcloud.children import tied_to_parent
from govcloud.sim.server import start
from tests.processes import alive, children_of, wait_gone
from tests.served import TIMEOUT, ServedPlane

from .conftest import small_catalogue

pytestmark = pytest.mark.slow


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ServedPlane]:
    clouds_yaml = tmp_path / "clouds.yaml"
    sim = start(scale="small", seed=42, clouds_yaml=clouds_yaml)
    served = ServedPlane(tmp_path, database_url=f"sqlite:///{tmp_path / 'govcloud.db'}",
                         catalogue=small_catalogue(tmp_path / "tenants"),
                         clouds_yaml=clouds_yaml)
    try:
        yield served
    finally:
        served.stop()
        sim.stop()


def _is_worker(pid: int) -> bool:
    try:
        return b"\0--worker-child\0" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _workers_of(pid: int) -> list[int]:
    return sorted(p for p in children_of(pid) if alive(p) and _is_worker(p))


def _wait_worker(pid: int, *, other_than: int | None = None) -> int:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        found = [p for p in _workers_of(pid) if p != other_than]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"serve {pid} has no worker process")


def _niceness(pid: int) -> set[int]:
    """The nice values of process ``pid``'s threads (field 19 of /proc/PID/task/TID/stat)."""
    out = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            stat = (task / "stat").read_text()
            out.add(int(stat.rsplit(")", 1)[1].split()[16]))
    return out


def _status(plane: ServedPlane, token: str) -> dict[str, Any]:
    answer: dict[str, Any] = plane.api(token, "GET", "/status/replicas")
    return answer


def _wait_status(plane: ServedPlane, token: str, pid: int) -> dict[str, Any]:
    """The status once it names worker process ``pid`` with its workers running."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        status = _status(plane, token)
        process = status["worker_process"]
        if process["pid"] == pid and "sync" in status["running_here"]:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def test_serve_has_a_worker_process_restarted_and_gone_with_it(plane: ServedPlane) -> None:
    token = plane.bootstrap()
    plane.serve()
    assert plane.proc is not None
    serve = plane.proc.pid
    worker = _wait_worker(serve)
    status = _wait_status(plane, token, worker)
    assert status["worker_process"]["restarts"] == 0
    assert status["worker_process"]["alive"] is True
    # the worker process, every thread of it, runs nicer than the API process (a sync's
    # parsing loses the CPU to an API read: worker_niceness, 10 by default)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert _niceness(serve) == {base}
    assert _niceness(worker) == {min(19, base + 10)}
    assert status["replicas"][0]["pid"] == serve  # the worker works under serve's identity
    out = subprocess.run([sys.executable, "-m", "govcloud.cli", "status"],
                         env={**plane.env(), "GOVCLOUD_SERVER": plane.url,
                              "GOVCLOUD_TOKEN": token},
                         text=True, capture_output=True, timeout=TIMEOUT)
    assert f"worker process: pid {worker}" in out.stdout, out.stdout + out.stderr

    # a second serve of the same SQLite file is refused, as before
    second = ServedPlane(plane.tmp / "second", database_url=plane.db,
                         catalogue=plane.catalogue, clouds_yaml=plane.clouds_yaml)
    second.launch()
    assert second.wait_exit() != 0
    assert "already serves the SQLite database" in second.log.read_text()

    # the metrics the API process serves come from the worker process
    metrics = httpx.get(f"{plane.url}/metrics", timeout=TIMEOUT, headers={
        "Authorization": "Bearer " + (plane.tmp / "state/govcloud/metrics.token")
        .read_text().strip()})
    assert metrics.status_code == 200 and "govcloud_site_info" in metrics.text

    os.kill(worker, signal.SIGKILL)
    wait_gone([worker], "the killed worker process")
    again = _wait_worker(serve, other_than=worker)
    status = _wait_status(plane, token, again)
    assert status["worker_process"]["restarts"] == 1
    assert _niceness(again) == {min(19, base + 10)}  # a restarted one too
    assert status["worker_process"]["last_exit"] == -signal.SIGKILL
    assert plane.proc.poll() is None  # serve itself never noticed but in its log

    plane.proc.send_signal(signal.SIGKILL)
    assert plane.wait_exit() == -signal.SIGKILL
    wait_gone([again], "the worker process of a serve killed with -9")
    # and the database is free again at once: the next serve starts, its worker syncs
    plane.serve()
    assert _wait_worker(plane.proc.pid)
    deadline = time.monotonic() + TIMEOUT
    while not all(s["last_success"] for s in plane.api(token, "GET", "/sync/status")["sites"]):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    answer = plane.api(token, "POST", "/sync", {"full": False})  # asked of the worker
    assert answer["ok"] and not answer["full"] and len(answer["sites"]) == 3


def test_inline_runs_the_workers_in_the_api_process(plane: ServedPlane) -> None:
    token = plane.bootstrap()
    assert plane.proc is None
    plane.tmp.mkdir(parents=True, exist_ok=True)
    with plane.log.open("a") as log:
        plane.proc = subprocess.Popen(
            tied_to_parent([sys.executable, "-m", "govcloud.cli", "serve", "--port",
                            str(plane.port), "--database-url", plane.db, "--catalogue",
                            str(plane.catalogue), "--workers", "inline"]),
            env=plane.env(), stdout=subprocess.DEVNULL, stderr=log)
    plane.wait_healthy()
    deadline = time.monotonic() + TIMEOUT
    while "sync" not in (status := _status(plane, token))["running_here"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["worker_process"] is None
    assert _workers_of(plane.proc.pid) == []
