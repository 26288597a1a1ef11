"""kill -9 of the control plane at each step of a drill, for real: ``govcloud serve`` runs as a
process that kills itself (SIGKILL) right after recording the step as running (and, for the
record, right after the drill's result is committed); it is served again and the same drill
is run again. Each time the new run takes the dead one over and the drill ends passed, the
way it would have without the crash: every step succeeded, one server booted and deleted,
its isolated network and everything else it made gone from every region, production
unchanged, the evidence sealed once. A representative few steps by default; every step with
GOVCLOUD_TEST_EVERY_STEP=1 (tests/integration/dr/crash_plane.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from govcloud.domain.drills import DRILL_STEPS
from govcloud.store.engine import make_engine

from .crash_plane import CrashPlane, crash_plane, steps_to_kill
from .drills import DATA, DEPARTMENT, SITE, SYSTEM, leftovers, record_point

# minutes each (a server restarted, playbooks run again): `make test-dr-crash`, a CI stage
# of its own, runs them, not `make test`
pytestmark = [pytest.mark.slow, pytest.mark.dr_crash_steps]
FILES = {"ledger.db": b"L" * 5000}
POINTS = [f"{s.value}:running" for s in DRILL_STEPS] + ["record:succeeded"]
FEW = ("isolated_network:running", "health_check:running", "record:succeeded")
ENDED = ("passed", "failed", "interrupted", "waiting-window")


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashPlane]:
    """gd-agri/ledger built by provisioning, its cold copy's recovery point recorded."""
    with crash_plane(tmp_path_factory.mktemp("drill-crash")) as p:
        made = p.provision(DEPARTMENT, SYSTEM)
        engine = make_engine(p.db)
        try:
            record_point(engine, p.clouds_yaml, made[SITE], FILES, age=timedelta(minutes=5))
        finally:
            engine.dispose()
        yield p


def _approved(plane: CrashPlane) -> int:
    drill = plane.api(plane.operator, "POST", "/dr/drills",
                      {"department": DEPARTMENT, "system": SYSTEM, "site": SITE})
    drill_id = int(drill["id"])
    assert plane.api(plane.approver, "POST", f"/dr/drills/{drill_id}/approve")["state"] == \
        "approved"
    return drill_id


@pytest.mark.parametrize("point", steps_to_kill(POINTS, FEW))
def test_kill_9_at_a_drill_step_then_the_drill_resumes_to_a_clean_pass(
        plane: CrashPlane, point: str) -> None:
    plane.sandbox(f"drill-{point.split(':')[0]}", DATA, FILES)
    prod_before = plane.servers("PROD", f"{SYSTEM}-app-1")
    drill_id = _approved(plane)
    plane.kill_at(f"drill/{drill_id}:{point}")
    plane.api(plane.operator, "POST", f"/dr/drills/{drill_id}/run")
    plane.died()
    step, status = point.split(":")
    shown = plane.api(plane.admin, "GET", f"/dr/drills/{drill_id}")
    at = {s["step"]: s["status"] for s in shown["steps"]}
    # as the dead process left it (the record is one transaction: it died before it)
    assert at.get(step) == ("pending" if point == "record:running" else status)
    if shown["state"] != "passed":  # killed once its result was committed: nothing to do
        assert shown["state"] == "running"
        plane.retry("POST", f"/dr/drills/{drill_id}/run")
    shown = plane.until(f"/dr/drills/{drill_id}", lambda d: d["state"] in ENDED
                        and not d.get("running"))
    steps = {s["step"]: s for s in shown["steps"]}
    assert shown["state"] == "passed", steps
    assert all(s["status"] == "succeeded" for s in steps.values()), steps
    assert shown["evidence_sha256"]
    # one server booted, whatever step the crash hit; nothing of the drill left anywhere
    assert steps["teardown"]["output"].count("deleted server ") == 1, steps["teardown"]
    assert "deleted network " in steps["teardown"]["output"]
    assert leftovers(plane.clouds_yaml, drill_id) == []
    assert plane.servers("PROD", f"{SYSTEM}-app-1") == prod_before
