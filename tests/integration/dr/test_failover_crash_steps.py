"""kill -9 of the control plane at each step of a failover and of a failback, for real:
``govcloud serve`` runs as a process that kills itself (SIGKILL) right after recording the step
as running; it is served again and the same failover (failback) is asked for again. Each time
the new run takes the dead one over (the same failover, resumed) and it ends done, the way it
would have without the crash: production stopped and the copy serving (back: production
serving and the cold copy shelved again), one server of the system in each site, the
endpoint record and the system's roles where they belong. Each case fails over and back, so
the next one starts from production again. A representative pair by default; every step with
GOVCLOUD_TEST_EVERY_STEP=1 (tests/integration/dr/crash_plane.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from govcloud.domain.failover import FAILOVER_STEPS

from .crash_plane import CrashPlane, crash_plane, steps_to_kill

# minutes each (a server restarted, playbooks run again): `make test-dr-crash`, a CI stage
# of its own, runs them, not `make test`
pytestmark = [pytest.mark.slow, pytest.mark.dr_crash_steps]
DEPARTMENT, SYSTEM, SITE = "gd-agri", "ledger", "DR-REMOTE"  # DR level 3: a cold copy
MEMBER = f"{SYSTEM}-app-1"
STEPS = [s.value for s in FAILOVER_STEPS]
# the failover killed at one step, its failback at another (three steps on)
PAIRS = {s: STEPS[(i + 3) % len(STEPS)] for i, s in enumerate(STEPS)}
ASK = {"department": DEPARTMENT, "system": SYSTEM, "confirm": SYSTEM}


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashPlane]:
    """gd-agri/ledger built by provisioning, its two servers backed by sshd sandboxes."""
    with crash_plane(tmp_path_factory.mktemp("failover-crash")) as p:
        for name in ("prod", "copy"):
            p.sandbox(name, "/srv/ledger", {"ledger.db": b"L" * 3000})
        made = p.provision(DEPARTMENT, SYSTEM)
        assert set(made) == {"PROD", SITE}
        yield p


def _serves_from(plane: CrashPlane, done: dict[str, Any], region: str) -> bool:
    """Does the endpoint record point at the system's server in ``region``?"""
    (endpoint,) = done["endpoints"].values()
    return bool(endpoint.rpartition(":")[2] == plane.ssh_port(region, MEMBER))


def _crashed(plane: CrashPlane, path: str, body: dict[str, Any], step: str) -> dict[str, Any]:
    """Ask for the failover (``path``) with the process armed to die at ``step``, serve
    again, ask again: the same failover resumed, to its end."""
    plane.kill_at(f"failover:{step}:running")
    first = plane.api(plane.operator, "POST", path, body)
    failover_id = int(first["failover"])
    plane.died()
    shown = plane.api(plane.admin, "GET", f"/dr/failovers/{failover_id}")
    at = {s["step"]: s["status"] for s in shown["steps"]}
    assert shown["state"] == "running" and at[step] == "running", at  # as the dead one left
    again = plane.retry("POST", path, body)
    assert (int(again["failover"]), again["resumed"]) == (failover_id, True)
    done = plane.until(f"/dr/failovers/{failover_id}",
                       lambda f: f["state"] != "running" and not f["running"])
    statuses = {s["step"]: s["status"] for s in done["steps"]}
    assert done["state"] == "done", done["steps"]
    assert set(statuses.values()) <= {"succeeded", "skipped"}, statuses
    assert statuses["promote"] == statuses["verify"] == "succeeded"
    return done


@pytest.mark.parametrize(("over", "back"), [
    (s, PAIRS[s]) for s in steps_to_kill(STEPS, ("final_cycle",))])
def test_kill_9_at_a_failover_step_and_a_failback_step_both_resume(
        plane: CrashPlane, over: str, back: str) -> None:
    done = _crashed(plane, "/dr/failovers", {**ASK, "to": SITE}, over)
    assert done["kind"] == "planned"
    assert [s for _, s in plane.servers("PROD", MEMBER)] == ["SHUTOFF"]
    assert [s for _, s in plane.servers(SITE, MEMBER)] == ["ACTIVE"]
    assert list(done["endpoints"]) == [MEMBER] and _serves_from(plane, done, SITE)
    assert (done["role"]["primary"], done["role"]["state"]) == (SITE, "failed-over")

    role = plane.api(plane.operator, "POST", "/dr/reprotect", ASK)
    assert role["state"] == "reprotected"
    done = _crashed(plane, "/dr/failback", ASK, back)
    assert (done["kind"], done["target"]) == ("failback", "PROD")
    assert [s for _, s in plane.servers("PROD", MEMBER)] == ["ACTIVE"]
    assert [s for _, s in plane.servers(SITE, MEMBER)] == ["SHELVED_OFFLOADED"]
    assert list(done["endpoints"]) == [MEMBER] and _serves_from(plane, done, "PROD")
    assert (done["role"]["primary"], done["role"]["state"]) == ("PROD", "normal")
