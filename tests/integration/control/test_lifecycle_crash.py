"""kill -9 of `govcloud serve` in the middle of a system's resize, scale-out and retirement:
on restart the worker resumes the request where it stopped — no server lost or duplicated,
none resized twice, the reservations released and the ledger equal to the sum of what is
held. Real processes, real SIGKILL, the simulator over HTTP, both databases."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govcloud.cloud.connect import connect
from govcloud.domain.sites import default_sites
from govcloud.services.lifecycle_resize_run import FAULT_KILL_AFTER_RESIZE
from govcloud.services.lifecycle_steps import FAULT_KILL_AFTER_DELETE
from govcloud.services.provisioning import ledger_check
from govcloud.sim.server import start
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from govcloud.workers.provision import FAULT_KILL_AFTER_CREATE
from tests.served import TIMEOUT, ServedPlane

from .conftest import small_catalogue

pytestmark = pytest.mark.slow
NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}
DEPARTMENT = "gd-data"  # DR level 5: PROD, DR-LOCAL (standby), DR-REMOTE (cold)


class Served(ServedPlane):
    def __init__(self, tmp_path: Path, database_url: str) -> None:
        clouds_yaml = tmp_path / "clouds.yaml"
        self.sim = start(scale="small", seed=42, clouds_yaml=clouds_yaml, build_delay=0.3)
        super().__init__(tmp_path, database_url=database_url, clouds_yaml=clouds_yaml,
                         catalogue=small_catalogue(tmp_path / "tenants"),
                         env={"GOVCLOUD_PROVISION_ACTIVE_TIMEOUT_S": "30"})
        self.engine = make_engine(database_url)
        upgrade_engine(self.engine)

    def close(self) -> None:
        self.stop()
        self.sim.stop()
        self.engine.dispose()

    def wait(self, token: str, rid: int, until: tuple[str, ...] = ("done", "failed"),
             phase: str | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            shown: dict[str, Any] = self.api(token, "GET", f"/requests/{rid}")
            if shown["state"] in until or (phase and shown.get("phase") == phase) or \
                    time.monotonic() > deadline:
                return shown
            time.sleep(0.2)

    def servers(self, system: str) -> dict[str, list[Any]]:
        out = {}
        for site in default_sites():
            conn = connect(site, clouds_yaml=self.clouds_yaml)
            try:
                out[site.name] = sorted((s for s in conn.compute.servers(all_projects=True)
                                         if s.name.startswith(f"{system}-")),
                                        key=lambda s: s.name)
            finally:
                conn.close()
        return out


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    s = Served(tmp_path, database_url)
    try:
        yield s
    finally:
        s.close()


def _system(served: Served, system: str, count: int = 2) -> tuple[str, str]:
    """A provisioned DR-5 system; the admin's and the operator's tokens."""
    admin = served.bootstrap()
    served.serve()
    operator = served.principal(admin, "ops-crash", "operator")
    assert served.api(admin, "POST", "/sync", {"full": True})["ok"]
    rid = served.api(operator, "POST", "/requests", {
        "department": DEPARTMENT, "system": system, "justification": "kill -9 test",
        "servers": [{"name_prefix": "app", "flavor": "gc.c2m4", "count": count,
                     "image": "cirros-0.6.2-x86_64-disk", "network": NETWORKS}]})["id"]
    served.api(admin, "POST", f"/requests/{rid}/approve")
    assert served.wait(admin, rid)["state"] == "done"
    served.stop()
    return admin, operator


def _killed(served: Served, admin: str, operator: str, system: str, verb: str,
            body: dict[str, Any], fault: str) -> int:
    """Serve with ``fault``, submit and approve; the server dies (SIGKILL) mid-way."""
    served.serve(**{fault: "1"})
    rid: int = served.api(operator, "POST", f"/systems/{DEPARTMENT}/{system}/{verb}",
                          body)["id"]
    served.api(admin, "POST", f"/requests/{rid}/approve")
    assert served.wait_exit() == -signal.SIGKILL
    return rid


def test_kill_9_mid_resize_resumes_and_resizes_each_server_once(served: Served) -> None:
    admin, operator = _system(served, "crashr")
    before = {r: [s.id for s in v] for r, v in served.servers("crashr").items()}
    rid = _killed(served, admin, operator, "crashr", "resize", {"flavor": "gc.c4m8"},
                  FAULT_KILL_AFTER_RESIZE)
    first = next(s for s in served.servers("crashr")["PROD"] if s.name == "crashr-app-1")
    assert first.status in ("RESIZE", "VERIFY_RESIZE"), first.status  # left mid-resize

    served.serve()  # no fault: the worker resumes the resize
    shown = served.wait(admin, rid)
    assert shown["state"] == "done", shown
    assert "resumed" in [e["kind"] for e in shown["events"]]
    after = served.servers("crashr")
    assert {r: [s.id for s in v] for r, v in after.items()} == before  # none lost or added
    assert {r: {s.flavor.original_name for s in v} for r, v in after.items()} == {
        r: {"gc.c4m8"} for r in after}
    conn = connect(default_sites()[0], clouds_yaml=served.clouds_yaml)
    try:
        migrations = conn.compute.get(f"/os-migrations?instance_uuid={first.id}",
                                      microversion="2.23").json()["migrations"]
    finally:
        conn.close()
    assert [m["status"] for m in migrations if m["migration_type"] == "resize"] == [
        "confirmed"], "resized twice"
    assert ledger_check(served.engine)["matches"]


def test_kill_9_mid_scale_out_adopts_what_the_cloud_made(served: Served) -> None:
    admin, operator = _system(served, "crashs", count=1)
    rid = _killed(served, admin, operator, "crashs", "scale", {"servers": 2},
                  FAULT_KILL_AFTER_CREATE)
    served.serve()
    shown = served.wait(admin, rid)
    assert shown["state"] == "done", shown
    assert "adopted" in [e["kind"] for e in shown["events"]]
    after = served.servers("crashs")
    assert {r: [s.name for s in v] for r, v in after.items()} == {
        r: ["crashs-app-1", "crashs-app-2"] for r in after}, "a server duplicated or lost"
    assert ledger_check(served.engine)["matches"]


def test_kill_9_mid_retirement_deletes_the_rest_once(served: Served) -> None:
    admin, operator = _system(served, "crasht")
    rid = _killed(served, admin, operator, "crasht", "retire",
                  {"grace_days": 0, "keep_days": 30}, FAULT_KILL_AFTER_DELETE)
    left = served.servers("crasht")
    assert 0 < sum(len(v) for v in left.values()) < 6  # one deleted, the rest not yet
    served.serve()
    shown = served.wait(admin, rid, phase="keeping-snapshots")
    assert shown.get("phase") == "keeping-snapshots", shown
    assert all(not v for v in served.servers("crasht").values())
    snapshots = [e for e in shown["events"] if e["kind"] == "snapshot"]
    assert len(snapshots) == 2, snapshots  # one per primary member, none taken twice
    assert ledger_check(served.engine)["matches"]
