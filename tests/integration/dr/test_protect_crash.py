"""A protection cycle killed mid-transfer (issue 19, "Reliability tests"), for real:
``govcloud serve`` runs as a process with its protection worker on; it protects a system's hot
and cold copies, then an on-demand cycle of the cold copy — unshelved for it — is held inside
its rsync by a gate and the server is killed with -9. The cold copy's last good recovery point
is still its latest (the dead cycle recorded nothing); the copy was left running, so on
restart the worker takes it up at once, syncs it and shelves it again."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from govcloud.client import ApiClient
from govcloud.demo.sandbox import Sandbox, write_files
from govcloud.store.engine import make_engine
from tests.integration.dr.protect_helpers import (
    DATA,
    data,
    history,
    latest,
    provision,
    sim_servers,
    wait_done,
)
from tests.integration.served_crash import TIMEOUT, Gate, Served
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def served_env() -> dict[str, str]:
    return {"GOVCLOUD_DR_PROTECT_WORKER": "true", "GOVCLOUD_DR_PROTECT_TICK_S": "0.5",
            "GOVCLOUD_DR_PROTECT_PATHS": json.dumps(["/srv"]),
            "GOVCLOUD_PROVISION_POLL_S": "0.2", "GOVCLOUD_PROVISION_ACTIVE_TIMEOUT_S": "30",
            "GOVCLOUD_AUTO_APPROVE": json.dumps({"gd-psd": {"max_vcpu": 64,
                                                            "per_month": 100}})}


@pytest.fixture
def engine(served: Served) -> Iterator[Engine]:
    made = make_engine(served.db)
    yield made
    made.dispose()


def test_a_cycle_killed_mid_transfer_keeps_the_last_good_point_and_the_copy_is_reshelved(
        served: Served, engine: Engine, tmp_path: Path,
        sandboxes_for: Callable[[str], Sandbox], monkeypatch: pytest.MonkeyPatch) -> None:
    assert served.sim is not None and served.sim.clouds_yaml is not None
    clouds_yaml = served.sim.clouds_yaml
    admin = ApiClient(served.url, served.token)
    admin.post("/tenants/apply")
    assert admin.post("/sync", {"full": True})["ok"]
    boxes = provision(served.sim.base_url, clouds_yaml,
                      lambda body: int(admin.post("/requests", body)["id"]),
                      lambda rid: None,  # auto-approved
                      lambda rid: wait_done(admin, rid), sandboxes_for, "ledger")
    rid = int(next(r["id"] for r in admin.get("/requests")["requests"]
                   if r["system"] == "ledger"))
    # the worker protects both copies on its own (never protected: due at once)
    wait_until(lambda: set(latest(engine, "ledger")) == {"DR-LOCAL", "DR-REMOTE"}, TIMEOUT,
               "the worker's first cycles")
    good = latest(engine, "ledger")["DR-REMOTE"]
    first = data(boxes["PROD"])
    assert data(boxes["DR-REMOTE"]) == first
    wait_until(lambda: sim_servers(clouds_yaml, rid)["DR-REMOTE"].status
               == "SHELVED_OFFLOADED", TIMEOUT, "the cold copy shelved after its cycle")

    # new data; the cold copy's next sync is held inside rsync, and the server killed there
    write_files(boxes["PROD"].root, DATA, {"ledger.db": b"N" * 80_000, "new.txt": b"new\n"})
    gate = Gate(tmp_path / "gate")
    (tmp_path / "rsync-gate.sh").write_text(
        gate.hold('{ case "$*" in *DR-REMOTE*) true;; *) false;; esac; }') + "\n")
    run = admin.post("/dr/protect", {"system": "ledger"})
    assert run["copies"] == 2
    wait_until(gate.reached.exists, TIMEOUT, "the cold copy's rsync to reach the gate")
    assert sim_servers(clouds_yaml, rid)["DR-REMOTE"].status == "ACTIVE"  # unshelved for it
    served.kill9()
    gate.release()
    admin.close()

    # the dead cycle recorded nothing: the last good point is still the latest
    assert latest(engine, "ledger")["DR-REMOTE"] == good
    assert history(engine, "DR-REMOTE", good.server_id)[0].id == good.id
    assert sim_servers(clouds_yaml, rid)["DR-REMOTE"].status == "ACTIVE"  # left running

    # restarted, the worker takes the running cold copy up at once and shelves it again
    (tmp_path / "rsync-gate.sh").unlink()
    served.start()
    monkeypatch.setenv("GOVCLOUD_SERVER", served.url)
    wait_until(lambda: latest(engine, "ledger")["DR-REMOTE"].taken_at > good.taken_at,
               TIMEOUT, "a new good point of the cold copy")
    wait_until(lambda: sim_servers(clouds_yaml, rid)["DR-REMOTE"].status
               == "SHELVED_OFFLOADED", TIMEOUT, "the cold copy shelved again")
    assert data(boxes["DR-REMOTE"]) == data(boxes["PROD"]) != first
