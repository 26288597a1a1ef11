"""kill -9 of `govcloud serve` after the cloud created a server and before the database recorded
it: on restart the request completes with no duplicate server (the worker adopts what it finds
by idempotency tag). Real processes, real SIGKILL, the simulator over HTTP, both databases."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from govcloud.sim.server import start
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from govcloud.store.provisioning import servers as recorded_servers
from govcloud.workers.provision import FAULT_KILL_AFTER_CREATE
from tests.served import TIMEOUT, ServedPlane, tagged_servers

from .conftest import small_catalogue

pytestmark = pytest.mark.slow
NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}


class Served(ServedPlane):
    """``govcloud serve`` (tests/served.py) in front of a simulator over HTTP."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        clouds_yaml = tmp_path / "clouds.yaml"
        self.sim = start(scale="small", seed=42, clouds_yaml=clouds_yaml, build_delay=0.5)
        super().__init__(tmp_path, database_url=database_url, clouds_yaml=clouds_yaml,
                         catalogue=small_catalogue(tmp_path / "tenants"))
        engine = make_engine(database_url)
        upgrade_engine(engine)
        self.engine = engine

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


def _tagged(served: Served, rid: int) -> dict[str, list[str]]:
    """Idempotency key → ids of the servers carrying it, over every region."""
    return tagged_servers(served.clouds_yaml, rid)


def test_kill_9_between_create_and_record_then_restart_adopts(served: Served) -> None:
    admin = served.bootstrap()
    served.serve(**{FAULT_KILL_AFTER_CREATE: "1"})
    operator = served.principal(admin, "ops-wu", "operator")
    assert served.api(admin, "POST", "/sync", {"full": True})["ok"]
    rid = served.api(operator, "POST", "/requests", {
        "department": "gd-psd", "system": "crash", "justification": "kill -9 test",
        "servers": [{"name_prefix": "app", "flavor": "gc.c2m4", "count": 1,
                     "image": "cirros-0.6.2-x86_64-disk", "network": NETWORKS}]})["id"]
    served.api(admin, "POST", f"/requests/{rid}/approve")
    assert served.wait_exit() == -signal.SIGKILL
    # the cloud has the server, the database does not know its id
    created = _tagged(served, rid)
    assert sum(len(v) for v in created.values()) == 1
    with Session(served.engine) as session:
        assert not [r for r in recorded_servers(session, rid) if r.server_id]

    served.serve()  # no fault this time: the worker resumes the request
    deadline = time.monotonic() + TIMEOUT
    while True:
        shown = served.api(admin, "GET", f"/requests/{rid}")
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
