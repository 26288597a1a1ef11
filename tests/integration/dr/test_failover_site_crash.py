"""kill -9 of the control plane in the middle of a whole site's failover, for real: production
is down, ``govcloud serve`` runs ``dr failover --site PROD --unplanned`` in waves and kills
itself (SIGKILL) once the first wave is done (gd-hrss/payroll, DR level 5, serves from
DR-LOCAL) and the second wave's failover (gd-agri/ledger, level 3) has started promoting its
copy. Served again, the site failover asked for again leaves payroll as it is (it serves
elsewhere: out of the plan, no second failover) and resumes ledger's failover where it died,
to done."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from .crash_plane import CrashPlane, crash_plane

# minutes each (a server restarted, playbooks run again): `make test-dr-crash`, a CI stage
# of its own, runs them, not `make test`
pytestmark = [pytest.mark.slow, pytest.mark.dr_crash_steps]
ASK = {"site": "PROD", "confirm": "PROD", "unplanned": True}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashPlane]:
    with crash_plane(tmp_path_factory.mktemp("site-crash")) as p:
        yield p


def _system(plane: CrashPlane, department: str, system: str, copies: int) -> dict[str, str]:
    for n in range(copies + 1):
        plane.sandbox(f"{system}-{n}", "/srv/app", {"app.db": b"A" * 4000})
    return plane.provision(department, system)


def _failovers(plane: CrashPlane, department: str) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = plane.api(plane.admin, "GET",
                                                f"/dr/failovers?department={department}"
                                                )["failovers"]
    return listed


def test_kill_9_mid_site_failover_then_the_rest_continues(plane: CrashPlane) -> None:
    assert set(_system(plane, "gd-hrss", "payroll", copies=2)) == {"PROD", "DR-LOCAL",
                                                                    "DR-REMOTE"}
    assert set(_system(plane, "gd-agri", "ledger", copies=1)) == {"PROD", "DR-REMOTE"}
    plan = plane.api(plane.admin, "GET", "/dr/failover-plan?site=PROD")
    assert [[s["system"] for s in w["systems"]] for w in plan["waves"]] == [["payroll"],
                                                                            ["ledger"]]
    assert httpx.post(f"{plane.sim.base_url}/_sim/regions/PROD/down", timeout=10).is_success
    try:
        # the failovers are numbered in wave order: payroll's is 1, ledger's 2
        plane.kill_at("failover/2:promote:running")
        started = plane.api(plane.admin, "POST", "/dr/failover-site", ASK)
        assert started["after"] == 0
        plane.died()
        (payroll,) = _failovers(plane, "gd-hrss")
        (ledger,) = _failovers(plane, "gd-agri")
        assert (payroll["id"], payroll["state"]) == (1, "done")
        assert (ledger["id"], ledger["state"]) == (2, "running")  # as the dead one left it
        time.sleep(2.5)  # the dead run's heartbeat is stale (GOVCLOUD_MIGRATE_STALE_AFTER_S=2)
        again = plane.api(plane.admin, "POST", "/dr/failover-site", ASK)
        assert [[s["system"] for s in w["systems"]] for w in again["waves"]] == [["ledger"]]
        done = plane.until("/dr/failovers/2", lambda f: f["state"] != "running"
                           and not f["running"])
    finally:
        httpx.post(f"{plane.sim.base_url}/_sim/regions/PROD/up", timeout=10)
    assert done["state"] == "done", done["steps"]
    assert (done["role"]["primary"], done["role"]["state"]) == ("DR-REMOTE", "failed-over")
    promote = next(s for s in done["steps"] if s["step"] == "promote")
    assert "unshelve" in str(promote["output"])
    # payroll stayed failed over, by its one failover; one server of each system a site
    assert [(f["id"], f["state"]) for f in _failovers(plane, "gd-hrss")] == [(1, "done")]
    assert [(f["id"], f["state"]) for f in _failovers(plane, "gd-agri")] == [(2, "done")]
    assert [s for _, s in plane.servers("DR-LOCAL", "payroll-app-1")] == ["ACTIVE"]
    assert [s for _, s in plane.servers("DR-REMOTE", "ledger-app-1")] == ["ACTIVE"]
    assert len(plane.servers("DR-REMOTE", "payroll-app-1")) == 1
