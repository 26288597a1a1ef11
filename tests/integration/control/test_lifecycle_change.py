"""Lifecycle requests under change control when they run (docs/lifecycle.md, "The change
gate"; docs/changes.md): a request approved before its change's window waits for it and the
change-window worker starts it when the window opens; a resize stops between two members when
a freeze begins and goes on when it is lifted; the request is a link of its change and its
end closes the change; a retirement cancelled in its grace period gives the system back; a
stuck change is closed by hand. The server's clock is moved, never slept on; the simulator
over HTTP with unmodified openstacksdk, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from govcloud.cli import main
from govcloud.errors import GovCloudError
from govcloud.services import provisioning as svc
from govcloud.store.tables import utcnow
from govcloud.workers.change_windows import start_change_window_worker
from govcloud.workers.provision import start_provision_worker

from .changes_plane import in_force, next_saturday, server_time
from .changes_plane import submit as submit_change
from .conftest import Plane
from .lifecycle_plane import provision, servers, submit, wait_phase
from .provisioning_plane import ProvPlane, request, wait_final

DEPARTMENT = "gd-agri"  # DR level 3: production and a cold copy, one approval
W = next_saturday()  # 01:00 +08:00, a Saturday at least two days ahead
HOUR = dt.timedelta(hours=1)
FREEZE = f"""  - name: audit-day
    from: {W.date().isoformat()}
    until: {W.date().isoformat()}
    reason: provincial audit
"""


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    return {"change_control": "enforce", "provision_retries": 2, "provision_backoff_s": 0.05,
            "provision_poll_s": 0.2, "provision_active_timeout_s": 20,
            "change_window_poll_s": 0.2, "resize_soak_s": 1.0}


@pytest.fixture(scope="module")
def plane_workers() -> Callable[[Any], Callable[[], None]]:
    def start(plane: Any) -> Callable[[], None]:
        stops = [start_provision_worker(plane), start_change_window_worker(plane)]
        return lambda: [stop() for stop in reversed(stops)] and None
    return start


@pytest.fixture(scope="module")
def prov(plane: Plane) -> Iterator[ProvPlane]:
    token = plane.add_principal("ops-lc-change", "operator")
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    assert plane.sim.clouds_yaml is not None
    in_force(plane, "lc.1")
    yield ProvPlane(plane.url, plane.engine, plane.sim, plane.admin,
                    plane.client(token), plane.sim.clouds_yaml, token)
    plane.clock.offset = dt.timedelta(0)


_DECLARED: dict[str, dt.datetime] = {}  # each plane's latest calendar approval


def _declare(plane: Plane, version: str, extra: str = "") -> None:
    """Put calendar ``version`` in force: the version approved last (by the server's clock,
    which the tests move) is in force, so the clock is moved on past the latest approval
    first when a test before this one left one later."""
    latest = _DECLARED.get(plane.url)
    if latest is not None and plane.clock() <= latest:
        plane.clock.offset += latest - plane.clock() + dt.timedelta(seconds=1)
    in_force(plane, version, extra)
    _DECLARED[plane.url] = plane.clock()


def _change(plane: Plane, prov: ProvPlane, title: str) -> int:
    """An approved lifecycle change of the department for Saturday's window."""
    change = submit_change(prov.operator, [DEPARTMENT], W + 10 * dt.timedelta(minutes=1),
                           W + 3 * HOUR, kind="lifecycle", title=title)
    plane.admin.post(f"/changes/{change['id']}/approve")
    assert plane.admin.get(f"/changes/{change['id']}")["state"] == "approved"
    return int(change["id"])


def _link(plane: Plane, cid: int, rid: int) -> dict[str, Any]:
    links = [x for x in plane.admin.get(f"/changes/{cid}")["links"]
             if x["ref"] == f"lifecycle {rid}"]
    assert len(links) == 1, links
    assert links[0]["kind"] == "lifecycle"
    return links[0]


def _flavors(prov: ProvPlane, system: str) -> dict[str, dict[str, str]]:
    return {r: {s.name: s.flavor.original_name for s in v}
            for r, v in servers(prov, system).items() if v}


def _until(what: Callable[[], bool], message: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def test_a_resize_waits_for_its_window_and_stops_between_members_in_a_freeze(
        prov: ProvPlane, plane: Plane) -> None:
    provision(prov, "lcwin", department=DEPARTMENT, count=2)
    cid = _change(plane, prov, "resize lcwin")
    asked = submit(prov.operator, DEPARTMENT, "lcwin", "resize",
                   {"flavor": "gc.c4m8", "change": str(cid)})
    prov.admin.post(f"/requests/{asked['id']}/approve")
    rid = asked["id"]
    waiting = wait_phase(prov.admin, rid, "waiting-window")
    assert (waiting["state"], waiting["phase"]) == ("provisioning", "waiting-window"), waiting
    assert "has not opened yet" in waiting["events"][-1]["message"]
    assert _link(plane, cid, rid)["state"] == "waiting"
    assert plane.admin.get(f"/changes/{cid}")["state"] == "approved"
    time.sleep(1.0)  # the workers poll: nothing moves before the window
    assert _flavors(prov, "lcwin") == {r: {"lcwin-app-1": "gc.c2m4", "lcwin-app-2": "gc.c2m4"}
                                       for r in ("PROD", "DR-REMOTE")}

    with server_time(plane, W + 20 * dt.timedelta(minutes=1)):
        # the window opens: the change-window worker hands it back to the job worker
        _until(lambda: any(s["status"] == "verify_resize" for s in prov.admin.get(
            f"/requests/{rid}")["servers"]), "the resize never started in its window")
        assert _link(plane, cid, rid)["state"] == "running"
        assert plane.admin.get(f"/changes/{cid}")["state"] == "in-progress"
        _declare(plane, "lc.2", FREEZE)  # a freeze today: it stops after this member
        held = wait_phase(prov.admin, rid, "waiting-window")
        assert held["state"] == "provisioning", held
        assert "stopped at a safe step (2 of 4 servers resized)" in held["events"][-1][
            "message"]
        assert _flavors(prov, "lcwin") == {
            r: {"lcwin-app-1": "gc.c4m8", "lcwin-app-2": "gc.c2m4"} for r in ("PROD",
                                                                             "DR-REMOTE")}
        assert _link(plane, cid, rid)["state"] == "waiting"
        _declare(plane, "lc.3")  # the freeze lifted: it goes on
        done = wait_final(prov.admin, rid)
    assert done["state"] == "done", done
    assert _flavors(prov, "lcwin") == {r: {"lcwin-app-1": "gc.c4m8", "lcwin-app-2": "gc.c4m8"}
                                       for r in ("PROD", "DR-REMOTE")}
    link = _link(plane, cid, rid)
    assert link["state"] == "done" and f"request {rid} done" in link["detail"]
    assert plane.admin.get(f"/changes/{cid}")["state"] == "done"
    assert svc.ledger_check(prov.engine)["matches"]


def test_a_request_whose_window_is_over_fails_and_fails_its_change(
        prov: ProvPlane, plane: Plane) -> None:
    provision(prov, "lclate", department=DEPARTMENT, count=1)
    cid = _change(plane, prov, "scale lclate")
    asked = submit(prov.operator, DEPARTMENT, "lclate", "scale",
                   {"servers": 2, "change": str(cid)})
    with server_time(plane, W + 4 * HOUR):  # approved after its window closed
        prov.admin.post(f"/requests/{asked['id']}/approve")
        failed = wait_final(prov.admin, asked["id"])
    assert failed["state"] == "failed", failed
    assert f"change {cid}" in failed["error"] and "is over" in failed["error"]
    assert len(servers(prov, "lclate")["PROD"]) == 1
    shown = plane.admin.get(f"/changes/{cid}")  # refused as the gate refuses: nothing ran
    assert shown["state"] == "approved" and shown["links"] == [], shown
    assert svc.ledger_check(prov.engine)["matches"]


def test_a_scale_in_a_freeze_waits_for_its_end_inside_the_window(
        prov: ProvPlane, plane: Plane) -> None:
    provision(prov, "lcfrz", department=DEPARTMENT, count=1)
    cid = _change(plane, prov, "scale lcfrz")
    asked = submit(prov.operator, DEPARTMENT, "lcfrz", "scale",
                   {"servers": 2, "change": str(cid)})
    with server_time(plane, W + 20 * dt.timedelta(minutes=1)):
        _declare(plane, "lc.4", FREEZE)  # declared after the change was approved
        prov.admin.post(f"/requests/{asked['id']}/approve")
        waiting = wait_phase(prov.admin, asked["id"], "waiting-window")
        assert "would run during freeze audit-day" in waiting["events"][-1]["message"]
        assert _link(plane, cid, asked["id"])["state"] == "waiting"
        assert len(servers(prov, "lcfrz")["PROD"]) == 1
        _declare(plane, "lc.5")  # lifted: the change-window worker starts it
        done = wait_final(prov.admin, asked["id"])
    assert done["state"] == "done", done
    assert len(servers(prov, "lcfrz")["PROD"]) == 2
    assert plane.admin.get(f"/changes/{cid}")["state"] == "done"
    assert _link(plane, cid, asked["id"])["state"] == "done"


def test_a_request_without_a_change_is_refused_at_submission(
        prov: ProvPlane) -> None:
    provision(prov, "lcnone", department=DEPARTMENT, count=1)
    with pytest.raises(GovCloudError, match="needs an approved change") as err:
        submit(prov.operator, DEPARTMENT, "lcnone", "scale", {"servers": 2})
    assert err.value.http_status == 409


def _provision_with_volume(prov: ProvPlane, system: str) -> int:
    body = request(system, department=DEPARTMENT, count=1)
    body["servers"][0]["volumes"] = [1]
    rid: int = prov.operator.post("/requests", body)["id"]
    prov.admin.post(f"/requests/{rid}/approve")
    assert wait_final(prov.admin, rid)["state"] == "done"
    return rid


def _backups(prov: ProvPlane, rid: int) -> list[Any]:
    conn = prov.cloud("PROD")
    try:
        return [b for b in conn.block_storage.backups(details=True, all_projects=True)
                if (b.name or "").startswith(f"govcloud-retire-{rid}-volume-")]
    finally:
        conn.close()


def _statuses(prov: ProvPlane, system: str) -> dict[str, set[str]]:
    return {r: {s.status for s in v} for r, v in servers(prov, system).items() if v}


def test_a_retirement_cancelled_in_its_grace_period_gives_the_system_back(
        prov: ProvPlane, plane: Plane) -> None:
    provision(prov, "lcback", department=DEPARTMENT, count=2)
    cid = _change(plane, prov, "retire lcback")
    asked = submit(prov.operator, DEPARTMENT, "lcback", "retire",
                   {"grace_days": 2, "keep_days": 3, "change": str(cid)})
    rid = asked["id"]
    with server_time(plane, W + 20 * dt.timedelta(minutes=1)):
        prov.admin.post(f"/requests/{rid}/approve")
        grace = wait_phase(prov.admin, rid, "grace")
        assert grace["state"] == "provisioning", grace
        assert _statuses(prov, "lcback") == {"PROD": {"SHUTOFF"},
                                             "DR-REMOTE": {"SHELVED_OFFLOADED"}}
        link = _link(plane, cid, rid)  # parked: it holds nobody while the servers wait
        assert link["state"] == "waiting" and "grace period" in link["detail"], link
        assert plane.admin.get(f"/changes/{cid}")["state"] == "in-progress"
        _, ci = plane.principal("ci")
        with pytest.raises(GovCloudError) as err:  # ci may not cancel
            ci.post(f"/requests/{rid}/cancel", {"reason": "no"})
        assert err.value.http_status in (403, 404)
        asked_back = prov.operator.post(f"/requests/{rid}/cancel", {"reason": "still needed"})
        assert asked_back["phase"] == "restoring", asked_back
        back = wait_final(prov.admin, rid)
    assert back["state"] == "cancelled", back
    assert "still needed" in back["reason"] and "rolled back" in back["reason"]
    assert _statuses(prov, "lcback") == {"PROD": {"ACTIVE"}, "DR-REMOTE": {"SHELVED_OFFLOADED"}}
    assert {r: len(v) for r, v in servers(prov, "lcback").items() if v} == {"PROD": 2,
                                                                      "DR-REMOTE": 2}
    shown = prov.admin.get(f"/systems/{DEPARTMENT}/lcback")  # still a system
    assert len(shown["members"]) == 4
    link = _link(plane, cid, rid)
    assert link["state"] == "failed" and "cancelled" in link["detail"], link
    assert plane.admin.get(f"/changes/{cid}")["state"] == "failed"
    assert svc.ledger_check(prov.engine)["matches"]
    with pytest.raises(GovCloudError, match="cannot become cancelled"):
        prov.operator.post(f"/requests/{rid}/cancel", {"reason": "again"})


def test_a_retirement_keeps_a_backup_of_each_data_volume_with_its_snapshot(
        prov: ProvPlane, plane: Plane) -> None:
    _provision_with_volume(prov, "lcvol")
    cid = _change(plane, prov, "retire lcvol")
    asked = submit(prov.operator, DEPARTMENT, "lcvol", "retire",
                   {"grace_days": 0, "keep_days": 1, "change": str(cid)})
    rid = asked["id"]
    plane.clock.offset = W + 20 * dt.timedelta(minutes=1) - utcnow()
    try:
        prov.admin.post(f"/requests/{rid}/approve")
        kept = wait_phase(prov.admin, rid, "keeping-snapshots")
        assert kept["state"] == "provisioning", kept
        backups = _backups(prov, rid)
        assert len(backups) == 1, kept["events"]
        assert len(backups) == 1 and backups[0].status == "available", backups
        assert backups[0].size == 1
        link = _link(plane, cid, rid)  # the system is retired: its change is done
        assert link["state"] == "done" and "retired" in link["detail"], link
        assert plane.admin.get(f"/changes/{cid}")["state"] == "done"
        plane.clock.offset += dt.timedelta(days=1, minutes=1)  # the keep time is over
        done = wait_final(prov.admin, rid)
    finally:
        plane.clock.offset = dt.timedelta(0)
    assert done["state"] == "done", done
    assert _backups(prov, rid) == []
    events = [e["message"] for e in done["events"]]
    assert any("final backup of lcvol-app-1's volume" in m for m in events), events
    assert any(m.endswith("final backup " + backups[0].id + " deleted (kept as long as asked)")
               or f"final backup {backups[0].id} deleted" in m for m in events), events


def test_a_stuck_change_is_closed_by_hand_and_its_waiting_request_cancelled(
        prov: ProvPlane, plane: Plane, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    provision(prov, "lcstuck", department=DEPARTMENT, count=1)
    cid = _change(plane, prov, "scale lcstuck")
    asked = submit(prov.operator, DEPARTMENT, "lcstuck", "scale",
                   {"servers": 2, "change": str(cid)})
    rid = asked["id"]
    prov.admin.post(f"/requests/{rid}/approve")
    wait_phase(prov.admin, rid, "waiting-window")  # the work is abandoned: nobody needs it
    _, viewer = plane.principal("bureau-auditor")
    with pytest.raises(GovCloudError) as err:
        viewer.post(f"/changes/{cid}/close", {"reason": "not needed"})
    assert err.value.http_status in (403, 404)
    with pytest.raises(GovCloudError) as err:  # a reason is required
        prov.operator.post(f"/changes/{cid}/close", {})
    assert err.value.http_status == 422
    monkeypatch.setenv("GOVCLOUD_SERVER", prov.url)
    monkeypatch.setenv("GOVCLOUD_TOKEN", prov.operator_token)
    assert main(["change", "close", str(cid), "--reason", "the scale is not needed"]) == 0
    assert f"change {cid} closed: failed" in capsys.readouterr().out
    shown = plane.admin.get(f"/changes/{cid}")
    assert shown["state"] == "failed" and shown["reason"] == "the scale is not needed"
    link = _link(plane, cid, rid)
    assert link["state"] == "failed" and "abandoned" in link["detail"], link
    audit = plane.admin.get("/audit", action="change.close")["entries"]
    assert [e["after"]["change"] for e in audit].count(cid) == 1
    with pytest.raises(GovCloudError, match="only an approved or in-progress") as err:
        prov.operator.post(f"/changes/{cid}/close", {"reason": "again"})
    assert err.value.http_status == 409
    # the request that waited for it is cancelled (it never started: nothing to undo)
    cancelled = prov.operator.post(f"/requests/{rid}/cancel", {"reason": "change closed"})
    assert cancelled["state"] == "cancelled", cancelled
    assert len(servers(prov, "lcstuck")["PROD"]) == 1
    assert svc.ledger_check(prov.engine)["matches"]
