"""Change governance over HTTP (issue 21), change control enforced: tenancy apply refuses
to run without an approved change in its window, naming what is missing, and changes
nothing; a level-6 department's change needs two persons of the bureau, never its
requester; a freeze refuses a change at submission and at the gate; an emergency change runs
at once and is flagged until approved after the fact; a standard change stays within its
policy. Every step is audited under the departments it affects. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from govcloud.errors import ChangeRefused, ConflictError, Forbidden, InvalidInput, NotFound

from .changes_plane import (
    audited,
    calendar_text,
    catalogue_quota,
    in_force,
    next_saturday,
    pending,
    server_time,
    submit,
)
from .conftest import Plane
from .openapi_answers import Answers

W = next_saturday()
HOUR = dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    return {"change_control": "enforce"}


@pytest.fixture(scope="module")
def calendar(plane: Plane) -> Plane:
    in_force(plane, "t.1")
    return plane


def test_without_a_change_tenancy_apply_is_refused_and_changes_nothing(calendar: Plane) -> None:
    before = pending(calendar, "gd-edu")
    with pytest.raises(ChangeRefused, match="tenancy-apply needs an approved change, and "
                                            "none was given") as caught:
        calendar.admin.tenancy_apply(departments=["gd-edu"])
    assert "govcloud change submit --kind tenancy-apply" in (caught.value.hint or "")
    assert before > 0 and pending(calendar, "gd-edu") == before
    assert not [a for a in audited(calendar, "gd-edu") if a.startswith("tenancy.")]


def test_four_eyes_and_the_window_then_apply_inside_it(calendar: Plane) -> None:
    plane = calendar
    _, operator = plane.principal("operator")
    change = submit(operator, ["gd-tax"], W + dt.timedelta(minutes=10), W + 3 * HOUR)
    cid = change["id"]
    assert (change["state"], change["approvals_needed"]) == ("submitted", 2)  # DR level 6
    with pytest.raises(Forbidden, match="may not change.approve"):
        operator.post(f"/changes/{cid}/approve")
    assert len(plane.admin.post(f"/changes/{cid}/approve")["approvals"]) == 1
    with pytest.raises(Forbidden, match="already approved change"):
        plane.admin.post(f"/changes/{cid}/approve")
    with pytest.raises(ChangeRefused, match=r"not approved yet \(1 of 2 approvals\)"):
        plane.admin.tenancy_apply(change=cid)
    approved = plane.approver.post(f"/changes/{cid}/approve")
    assert approved["state"] == "approved"
    assert [a["by"] for a in approved["approvals"]] == ["admin", "second-admin"]
    before = pending(plane, "gd-tax")
    with pytest.raises(ChangeRefused, match=f"change {cid}'s window .* has not opened yet"):
        plane.admin.tenancy_apply(change=cid)
    assert before > 0 and pending(plane, "gd-tax") == before  # nothing changed
    with server_time(plane, W + dt.timedelta(minutes=30)):
        with pytest.raises(ChangeRefused, match=r"does not cover department\(s\) gd-psd"):
            plane.admin.tenancy_apply(departments=["gd-tax", "gd-psd"], change=cid)
        applied = plane.admin.tenancy_apply(change=cid)  # the change's departments
        assert applied.change == cid and applied.changed
        assert {c.department for c in applied.changes} == {"gd-tax"}
        with pytest.raises(ChangeRefused, match=f"change {cid} is done"):
            plane.admin.tenancy_apply(change=cid)
    assert pending(plane, "gd-tax") == 0
    done = plane.admin.get(f"/changes/{cid}")
    assert done["state"] == "done"
    assert [(k["kind"], k["state"], k["actor"]) for k in done["links"]] == [
        ("tenancy-apply", "done", "admin")]
    assert done["links"][0]["detail"].startswith("applied:")
    actions = audited(plane, "gd-tax")
    for action in ("change.submit", "change.approve", "change.start", "change.done"):
        assert action in actions
    assert any(a.startswith("tenancy.") for a in actions)
    assert actions.count("change.approve") == 2


def test_the_requester_never_approves_their_own_change(calendar: Plane) -> None:
    change = submit(calendar.admin, ["gd-edu"], W + HOUR, W + 2 * HOUR)
    assert change["approvals_needed"] == 1  # DR level 3
    with pytest.raises(Forbidden, match="requester and approver must differ"):
        calendar.admin.post(f"/changes/{change['id']}/approve")
    assert calendar.admin.get(f"/changes/{change['id']}")["state"] == "submitted"
    rejected = calendar.approver.post(f"/changes/{change['id']}/reject",
                                      {"reason": "not this weekend"})
    assert (rejected["state"], rejected["reason"]) == ("rejected", "not this weekend")
    with pytest.raises(ChangeRefused, match="is rejected"):
        calendar.admin.tenancy_apply(change=change["id"])


def test_a_normal_change_is_only_submitted_inside_a_window(calendar: Plane) -> None:
    tuesday = W + dt.timedelta(days=3)
    with pytest.raises(ChangeRefused, match="not inside a maintenance window of gd-edu"):
        submit(calendar.admin, ["gd-edu"], tuesday, tuesday + HOUR)
    with pytest.raises(InvalidInput, match="not in the catalogue"):
        submit(calendar.admin, ["gd-nope"], W, W + HOUR)
    with pytest.raises(InvalidInput, match="title"):
        calendar.admin.post("/changes", {"kind": "tenancy-apply", "title": "",
                                         "departments": ["gd-edu"], "start": W.isoformat(),
                                         "end": (W + HOUR).isoformat(), "rollback_plan": "x"})


def test_a_freeze_refuses_the_change_at_submission_and_at_the_gate(calendar: Plane) -> None:
    plane = calendar
    change = submit(plane.admin, ["gd-agri"], W + dt.timedelta(minutes=10), W + 2 * HOUR)
    plane.approver.post(f"/changes/{change['id']}/approve")
    day = W.date().isoformat()
    in_force(plane, "t.2", f"  - name: audit-week\n    from: {day}\n    until: {day}\n"
                           "    reason: provincial audit\n    departments: [gd-agri]\n")
    before = pending(plane, "gd-agri")
    with (server_time(plane, W + dt.timedelta(minutes=30)),
          pytest.raises(ChangeRefused, match="would run during freeze audit-week")):
        plane.admin.tenancy_apply(change=change["id"])
    assert pending(plane, "gd-agri") == before
    with pytest.raises(ChangeRefused, match="overlaps freeze audit-week"):
        submit(plane.admin, ["gd-agri"], W + HOUR, W + 2 * HOUR)
    submit(plane.admin, ["gd-edu"], W + HOUR, W + 2 * HOUR)  # others are not frozen
    month = plane.admin.get("/calendar", month=W.strftime("%Y-%m"), department="gd-agri")
    assert month["version"] == "t.2"
    assert "audit-week" in [f["name"] for f in month["freezes"]]
    assert change["id"] in [c["id"] for c in month["changes"]]


def test_an_emergency_runs_at_once_and_is_flagged_until_approved(calendar: Plane) -> None:
    plane = calendar
    now = plane.clock()
    _, operator = plane.principal("operator")
    change = submit(operator, ["shantou"], now, now + 2 * HOUR, type_="emergency")
    cid = change["id"]
    assert (change["state"], change["flags"]) == ("flagged", ["awaiting-review"])
    review_by = dt.datetime.fromisoformat(change["review_by"])
    assert abs(review_by - (now + dt.timedelta(hours=72))) < dt.timedelta(minutes=1)
    applied = operator.tenancy_apply(change=cid)
    assert applied.change == cid and pending(plane, "shantou") == 0
    flagged = [c["id"] for c in plane.admin.get("/changes", flagged=True)["changes"]]
    assert cid in flagged
    after = plane.admin.post(f"/changes/{cid}/approve")  # after the fact
    assert (after["state"], after["flags"]) == ("done", [])
    assert cid not in [c["id"] for c in plane.admin.get("/changes", flagged=True)["changes"]]


def test_a_standard_change_stays_within_its_policy(calendar: Plane) -> None:
    plane = calendar
    now = plane.clock()
    first = submit(plane.admin, ["gd-psd"], now, now + HOUR, type_="emergency")
    plane.admin.tenancy_apply(change=first["id"])  # the projects exist now
    cores = catalogue_quota(plane.catalogue, "gd-psd", "PROD", "cores")
    catalogue_quota(plane.catalogue, "gd-psd", "PROD", "cores", cores + cores // 10)
    std = submit(plane.admin, ["gd-psd"], now, now + HOUR, type_="standard")
    assert (std["state"], std["policy"], std["approvals_needed"]) == (
        "approved", "quota-raise-10pct", 0)
    raised = plane.admin.tenancy_apply(change=std["id"])
    assert [c.after for c in raised.changes if c.action == "tenancy.quota.set"] == [
        {"project_id": raised.changes[0].after["project_id"], "cores": cores + cores // 10}]
    catalogue_quota(plane.catalogue, "gd-psd", "PROD", "cores", cores * 2)
    beyond = submit(plane.admin, ["gd-psd"], now, now + HOUR, type_="standard")
    with pytest.raises(ChangeRefused, match=r"is a standard change .* cores in PROD: "
                                            r"\d+ -> \d+ \(\+8\d.\d%, more than 10%\)"):
        plane.admin.tenancy_apply(change=beyond["id"])
    assert plane.admin.get(f"/changes/{beyond['id']}")["state"] == "approved"  # nothing ran
    plan = plane.admin.get("/tenants/plan", department=["gd-psd"])
    assert [q["desired"] for s in plan["sites"] for q in s["quota_changes"]] == [cores * 2]


def test_who_sees_and_decides_on_changes(calendar: Plane) -> None:
    plane = calendar
    tax = submit(plane.admin, ["gd-tax"], W + HOUR, W + 2 * HOUR)
    _, viewer = plane.principal("department-viewer", department="gd-psd")
    with pytest.raises(NotFound, match=f"no change {tax['id']}"):
        viewer.get(f"/changes/{tax['id']}")
    assert tax["id"] not in [c["id"] for c in viewer.get("/changes")["changes"]]
    _, sz = plane.principal("city-operator", city="shenzhen")
    with pytest.raises(NotFound, match="no department"):
        submit(sz, ["gd-tax"], W + HOUR, W + 2 * HOUR)
    _, auditor = plane.principal("bureau-auditor")
    assert tax["id"] in [c["id"] for c in auditor.get("/changes")["changes"]]
    with pytest.raises(Forbidden, match="may not change.cancel"):
        auditor.post(f"/changes/{tax['id']}/cancel")
    cancelled = plane.approver.post(f"/changes/{tax['id']}/cancel", {"reason": "moved"})
    assert cancelled["state"] == "cancelled"
    with pytest.raises(ConflictError, match="only a change that has not run is cancelled"):
        plane.approver.post(f"/changes/{tax['id']}/cancel")


def test_the_calendar_is_approved_by_another_person(calendar: Plane) -> None:
    plane = calendar
    plane.admin.post("/calendar", {"document": calendar_text("t.9")})
    with pytest.raises(Forbidden, match="proposer and approver must differ"):
        plane.admin.post("/calendar/t.9/approve")
    with pytest.raises(InvalidInput, match=r"the calendar:5: windows\[0\].days\[0\]"):
        plane.admin.post("/calendar", {"document": calendar_text("t.10").replace(
            "[sat]", "[caturday]")})
    with pytest.raises(ConflictError, match="already exists"):
        plane.admin.post("/calendar", {"document": calendar_text("t.9")})
    month = plane.admin.get("/calendar", month=W.strftime("%Y-%m"))
    assert month["timezone"] == "+08:00" and month["version"] != "t.9"
    states = {v["version"]: v["state"] for v in month["versions"]}
    assert states["t.9"] == "proposed" and states["t.1"] == "approved"
    opens = [dt.datetime.fromisoformat(o["start"]) for o in month["openings"]]
    assert 4 <= len(opens) <= 5 and W in opens
    assert all((o.weekday(), o.hour, o.utcoffset()) == (5, 1, dt.timedelta(hours=8))
               for o in opens)
    entries = plane.admin.get("/audit", target="calendar:t.1")["entries"]
    assert [e["action"] for e in entries] == ["calendar.propose", "calendar.approve"]


def test_an_emergency_during_a_freeze_waits_for_a_bureau_admin(calendar: Plane) -> None:
    plane = calendar
    now = plane.clock()
    today = now.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    in_force(plane, "t.3", f"  - name: hrss-audit\n    from: {today - dt.timedelta(days=1)}\n"
                           f"    until: {today + dt.timedelta(days=1)}\n    reason: audit\n"
                           "    departments: [gd-hrss]\n")
    _, operator = plane.principal("operator")
    change = submit(operator, ["gd-hrss"], now, now + 2 * HOUR, type_="emergency")
    cid = change["id"]
    assert (change["state"], change["in_freeze"], change["approvals_needed"]) == (
        "submitted", True, 2)  # DR level 5: two persons, one of them before it runs
    with pytest.raises(ChangeRefused, match=r"not approved yet \(0 of 2") as caught:
        operator.tenancy_apply(change=cid)
    assert "a bureau-admin" in (caught.value.hint or "")
    first = plane.admin.post(f"/changes/{cid}/approve")
    assert (first["state"], first["flags"]) == ("flagged", ["awaiting-review", "in-freeze"])
    applied = operator.tenancy_apply(change=cid)  # through the freeze
    assert applied.change == cid and pending(plane, "gd-hrss") == 0
    start = plane.admin.get("/audit", department="gd-hrss", action="change.start")["entries"]
    assert start[-1]["after"]["freezes"] == ["hrss-audit"]
    after = plane.approver.post(f"/changes/{cid}/approve")
    assert (after["state"], after["flags"]) == ("done", ["in-freeze"])


def test_the_models_keep_every_key_the_services_return(calendar: Plane,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    answers = Answers()
    answers.watch(monkeypatch)
    plane = calendar
    change = submit(plane.admin, ["gd-edu"], W + HOUR, W + 2 * HOUR)
    plane.admin.get(f"/changes/{change['id']}")
    plane.admin.get("/changes", limit=5)
    plane.admin.get("/calendar", month=W.strftime("%Y-%m"))
    plane.admin.get("/calendar", month="2001-01")
    plane.approver.post(f"/changes/{change['id']}/cancel")
    assert not answers.changed, answers.changed
    assert len(answers.seen) == 5, answers.seen
