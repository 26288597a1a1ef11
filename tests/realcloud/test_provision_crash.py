"""Provisioning adopts on retry, against the real cloud: `govcloud serve` (a real process,
tests/served.py) runs with ``GOVCLOUD_FAULT_KILL_AFTER_CREATE=1`` and SIGKILLs itself right
after Nova accepted the request's first server and before the database recorded it. Started
again without the fault, the worker resumes the request, finds that server by its idempotency
tag and metadata and adopts it: the request completes with the same server id and one server
per site — as `openstack server list --all-projects` shows. The simulator's version of the
same test is tests/integration/control/test_provision_crash.py."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from govcloud.client import ApiClient
from govcloud.domain.provisioning import idempotency_key
from govcloud.store.engine import make_engine
from govcloud.store.installation import get_installation
from govcloud.store.provisioning import servers as recorded_servers
from govcloud.workers.provision import FAULT_KILL_AFTER_CREATE
from tests.served import ServedPlane

from .conftest import SITES, RealCloud, delete_system, department_catalogue, request, wait_final

DEPARTMENT = "gd-psd"  # not test_provisioning's gd-data: its request ids are ours too (below)
SYSTEM = "crash"


@pytest.fixture
def served(real: RealCloud, tmp_path: Path) -> Iterator[ServedPlane]:
    plane = ServedPlane(
        tmp_path, database_url=f"sqlite:///{tmp_path / 'govcloud.db'}",
        catalogue=department_catalogue(tmp_path / "tenants"), clouds_yaml=real.clouds_yaml,
        env={"GOVCLOUD_SITES": json.dumps(real.sites), "GOVCLOUD_PROVISION_RETRIES": "1",
             "GOVCLOUD_PROVISION_BACKOFF_S": "0.5", "GOVCLOUD_PROVISION_ACTIVE_TIMEOUT_S": "120",
             "GOVCLOUD_PROVISION_RUNNER_DIR": str(tmp_path / "runner")})
    try:
        yield plane
    finally:
        plane.stop()
        delete_system(real, DEPARTMENT, SYSTEM)  # leave the department's project as it was


def listed(real: RealCloud) -> dict[str, list[dict[str, Any]]]:
    """The system's servers per region, by `openstack server list --all-projects`."""
    return {site: list(real.osc(site, "server", "list", "--all-projects", "--name",
                                       f"^{SYSTEM}-", "-f", "json"))
            for site in SITES}


def test_kill_9_between_create_and_record_then_restart_adopts(
        real: RealCloud, served: ServedPlane) -> None:
    delete_system(real, DEPARTMENT, SYSTEM)
    admin = served.bootstrap()
    served.serve(**{FAULT_KILL_AFTER_CREATE: "1"})
    operator = served.principal(admin, "ops-crash", "operator")
    served.api(admin, "POST", "/tenants/apply", {})
    assert served.api(admin, "POST", "/sync", {"full": True})["ok"]
    rid = served.api(operator, "POST", "/requests",
                     request(SYSTEM, count=1, department=DEPARTMENT))["id"]
    served.api(admin, "POST", f"/requests/{rid}/approve")
    assert served.wait_exit(timeout=240) == -signal.SIGKILL

    # Nova has the server; the database does not know its id
    created = listed(real)
    assert sum(len(v) for v in created.values()) == 1, created
    (site, (first,)), = ((s, v) for s, v in created.items() if v)
    shown = real.osc(site, "--os-compute-api-version", "2.26", "server", "show", first["ID"],
                     "-f", "json")
    engine = make_engine(served.db)
    try:
        key = idempotency_key(rid, site, 1, installation=get_installation(engine))
        assert key in shown["tags"], shown["tags"]
        with Session(engine) as session:
            assert not [r for r in recorded_servers(session, rid) if r.server_id]
    finally:
        engine.dispose()

    served.serve()  # no fault this time: the worker resumes the request
    done = wait_final(ApiClient(served.url, admin), rid)
    assert done["state"] == "done", done
    after = listed(real)
    assert {s: len(v) for s, v in after.items()} == dict.fromkeys(SITES, 1), after
    assert after[site][0]["ID"] == first["ID"]  # adopted, not created again
    # the cold copy (DR-REMOTE) shelved and offloaded, as provisioning leaves it (issue 19)
    assert {site: [s["Status"] for s in v] for site, v in after.items()} == {
        name: ["SHELVED_OFFLOADED" if name == "DR-REMOTE" else "ACTIVE"] for name in SITES}
    kinds = [e["kind"] for e in done["events"]]
    assert "resumed" in kinds and "adopted" in kinds
    adopted = [e["message"] for e in done["events"] if e["kind"] == "adopted"]
    assert len(adopted) == 1 and first["ID"] in adopted[0], adopted
    assert sorted(s["server_id"] for s in done["servers"]) == sorted(
        v[0]["ID"] for v in after.values())
