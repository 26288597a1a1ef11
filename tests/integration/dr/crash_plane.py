"""The control plane of the crash tests: ``govcloud serve`` as a process on a simulator of its
own. For the kill -9 tests (test_drill_crash.py, test_failover_crash.py) a plane whose servers
are slow to build; for the step-by-step ones (test_drill_crash_steps.py,
test_failover_crash_steps.py, test_failover_site_crash.py, ...) a plane armed with the step
machine's fault point (``GOVCLOUD_FAULT_KILL_AT``: the process dies by SIGKILL right after it
records the named step status), and the moves of one crash: arm, wait for the death, serve
again, take the dead run over.

Which steps a test kills at: all of them with ``GOVCLOUD_TEST_EVERY_STEP=1``, as ``make
test-dr-crash`` (CI) sets it; a representative few otherwise (docs/dr.md, "Crashes")."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from govcloud.cloud.connect import connect
from govcloud.demo.sandbox import Sandbox, make_key, write_files
from govcloud.domain.sites import default_sites
from govcloud.sim.server import RunningSimulator, start
from tests.integration.control.conftest import small_catalogue
from tests.integration.control.provisioning_plane import request
from tests.served import ServedPlane

EVERY_STEP = os.environ.get("GOVCLOUD_TEST_EVERY_STEP") == "1"
WAIT_S = 180


def steps_to_kill(every: Sequence[str], few: Sequence[str]) -> list[str]:
    """Every step with GOVCLOUD_TEST_EVERY_STEP=1, else the representative ``few``."""
    return list(every) if EVERY_STEP else [s for s in every if s in few]


class Served(ServedPlane):
    """A served control plane, its admin's and an operator's tokens and the SSH client key
    its servers' sandboxes take."""

    sim: RunningSimulator
    admin: str
    operator: str
    key: Path

    def provision(self, department: str, system: str, *, wait_s: float = WAIT_S
                  ) -> dict[str, str]:
        """``system`` built by provisioning: site → server id."""
        rid = self.api(self.operator, "POST", "/requests",
                       request(system, count=1, department=department))["id"]
        self.api(self.admin, "POST", f"/requests/{rid}/approve")
        deadline = time.monotonic() + wait_s
        while self.api(self.admin, "GET", f"/requests/{rid}")["state"] != "done":
            assert time.monotonic() < deadline, self.api(self.admin, "GET", f"/requests/{rid}")
            time.sleep(0.3)
        assert self.api(self.admin, "POST", "/sync", {"full": True})["ok"]
        return {s["site"]: s["server_id"]
                for s in self.api(self.admin, "GET", f"/requests/{rid}")["servers"]}


class CrashPlane(Served):
    approver: str
    fault: Path
    boxes: list[Sandbox]

    def kill_at(self, spec: str) -> None:
        """Arm the fault point: the process dies right after recording ``spec``
        (``KIND[/ID]:STEP:STATUS``)."""
        self.fault.write_text(spec)

    def died(self) -> None:
        """Wait for the armed process to die by SIGKILL, then serve again."""
        code = self.wait_exit(WAIT_S)
        assert code == -9, f"the server ended with {code}, not by SIGKILL at the fault"
        assert not self.fault.exists()
        self.serve()

    def retry(self, method: str, path: str, body: Any = None) -> Any:
        """``method path`` as the operator, again while a dead run's heartbeat is fresh (409
        "is being run": the dead run is taken over once it is stale)."""
        deadline = time.monotonic() + 30
        while True:
            r = httpx.request(method, f"{self.url}/api/v1{path}", json=body, timeout=90,
                              headers={"Authorization": f"Bearer {self.operator}"})
            if r.status_code == 409 and "is being run" in r.text and \
                    time.monotonic() < deadline:
                time.sleep(0.3)
                continue
            assert r.status_code < 300, r.text
            return r.json()

    def sandbox(self, name: str, data: str, files: dict[str, bytes]) -> Sandbox:
        """A sshd sandbox holding ``files`` under ``data``, backing the next new server."""
        box = Sandbox(name, self.tmp / "hosts" / name, Path(str(self.key) + ".pub")).start()
        self.boxes.append(box)
        write_files(box.root, data, files)
        httpx.post(f"{self.sim.base_url}/_sim/sandboxes", json={"sandboxes": [box.endpoint()]},
                   timeout=10).raise_for_status()
        return box

    def until(self, path: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """GET ``path`` until ``done`` holds of the answer."""
        deadline = time.monotonic() + WAIT_S
        while True:
            shown: dict[str, Any] = self.api(self.admin, "GET", path)
            if done(shown):
                return shown
            assert time.monotonic() < deadline, shown
            time.sleep(0.3)

    def ssh_port(self, region: str, name: str) -> str:
        """The port of the sshd sandbox behind the one server called ``name`` in ``region``."""
        site = next(x for x in default_sites() if x.name == region)
        conn = connect(site, clouds_yaml=self.clouds_yaml)
        try:
            (server,) = [s for s in conn.compute.servers(all_projects=True) if s.name == name]
            return str(server.metadata["sim:ssh"]).rpartition(":")[2]
        finally:
            conn.close()

    def servers(self, region: str, name: str) -> list[tuple[str, str]]:
        """(id, status) of every server called ``name`` in ``region``."""
        site = next(x for x in default_sites() if x.name == region)
        conn = connect(site, clouds_yaml=self.clouds_yaml)
        try:
            return [(s.id, str(s.status)) for s in conn.compute.servers(all_projects=True)
                    if s.name == name]
        finally:
            conn.close()


S = TypeVar("S", bound=Served)


@contextmanager
def _serving(kind: type[S], tmp: Path, operator: str, *, build_delay: float,
             **env: str) -> Iterator[S]:
    """``govcloud serve`` (a ``kind``) on SQLite and a simulator of its own whose servers take
    ``build_delay`` s to build, bootstrapped, with an operator called ``operator``; ``env``
    adds GOVCLOUD_* settings."""
    clouds_yaml = tmp / "clouds.yaml"
    sim = start(scale="small", seed=42, clouds_yaml=clouds_yaml, build_delay=build_delay)
    key = make_key(tmp / "keys" / "id_ed25519")
    plane = kind(tmp, database_url=f"sqlite:///{tmp / 'govcloud.db'}",
                 catalogue=small_catalogue(tmp / "tenants"), clouds_yaml=clouds_yaml,
                 env={"GOVCLOUD_MIGRATE_DIR": str(tmp / "state"),
                      "GOVCLOUD_SSH_KEY": str(key),
                      "GOVCLOUD_MIGRATE_PYTHON": "/usr/bin/python3",
                      "GOVCLOUD_MIGRATE_STALE_AFTER_S": "2",
                      "GOVCLOUD_PROVISION_ACTIVE_TIMEOUT_S": "60", **env})
    plane.sim, plane.key = sim, key
    try:
        plane.admin = plane.bootstrap()
        plane.serve()
        plane.operator = plane.principal(plane.admin, operator, "operator")
        yield plane
    finally:
        plane.stop()
        sim.stop()


@contextmanager
def served_plane(tmp: Path, monkeypatch: pytest.MonkeyPatch, operator: str
                 ) -> Iterator[Served]:
    """A served control plane for a kill -9 test: its servers take 3 s to build or unshelve,
    so the kill lands while a run waits for one; the CLI talks to it as the operator called
    ``operator``."""
    with _serving(Served, tmp, operator, build_delay=3.0) as served:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp / "config"))
        monkeypatch.setenv("GOVCLOUD_SERVER", served.url)
        monkeypatch.setenv("GOVCLOUD_TOKEN", served.operator)
        yield served


@contextmanager
def crash_plane(tmp: Path) -> Iterator[CrashPlane]:
    """A served control plane for a module's crash tests, its tenancy applied and synced."""
    with _serving(CrashPlane, tmp, "ops-crash", build_delay=0.3,
                  GOVCLOUD_FAULT_KILL_AT=str(tmp / "fault")) as plane:
        plane.fault, plane.boxes = tmp / "fault", []
        try:
            plane.approver = plane._approver  # the second bureau-admin principal() added
            plane.api(plane.admin, "POST", "/tenants/apply")
            assert plane.api(plane.admin, "POST", "/sync", {"full": True})["ok"]
            yield plane
        finally:
            for box in plane.boxes:
                box.stop()
