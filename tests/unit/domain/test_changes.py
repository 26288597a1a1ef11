"""Changes: four eyes (never the requester, two persons for DR level 5/6), the standard
policy, emergency changes and their review deadline, and the gate's refusals, each naming
what is missing."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from govcloud.domain.calendar import Calendar, Freeze, Window
from govcloud.domain.changes import (
    STANDARD_POLICIES,
    Approval,
    Change,
    ChangeState,
    ChangeType,
    Link,
    NewChange,
    OperationKind,
    QuotaDelta,
    approvals_needed,
    check_approver,
    check_cancel,
    check_new,
    check_reject,
    close_outcome,
    initial_state,
    outside_policy,
    require_change,
    state_after_approval,
)
from govcloud.domain.rbac import Principal, Role
from govcloud.errors import ChangeRefused, ConflictError, Forbidden, InvalidInput

CST = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2027, 1, 5, 9, 0, tzinfo=CST)  # a Tuesday
SAT_START = dt.datetime(2027, 1, 9, 1, 0, tzinfo=CST)
SAT_END = dt.datetime(2027, 1, 9, 5, 0, tzinfo=CST)
CAL = Calendar("2027.1", windows=(Window("weekly-saturday", frozenset({5}), dt.time(1),
                                         dt.time(5)),),
               freezes=(Freeze("npc-2027", dt.date(2027, 3, 3), dt.date(2027, 3, 15),
                               "全国两会"),))
LI = Principal("li.wei", Role.OPERATOR, person="Li Wei")
ADMIN = Principal("admin", Role.BUREAU_ADMIN, person="Chen Jing")
ADMIN2 = Principal("admin2", Role.BUREAU_ADMIN, person="Wang Fang")
LI_ADMIN = Principal("li-admin", Role.BUREAU_ADMIN, person="li  wei")  # Li Wei again


def change(**over: object) -> Change:
    base = Change(id=7, kind=OperationKind.TENANCY_APPLY, type=ChangeType.NORMAL,
                  title="raise gd-tax vCPU", departments=("gd-tax",), start=SAT_START,
                  end=SAT_END, rollback_plan="set the quota back", requester="li.wei",
                  requester_person="Li Wei", state=ChangeState.SUBMITTED, created_at=NOW,
                  approvals_needed=2)
    return dataclasses.replace(base, **over)  # type: ignore[arg-type]


def approval(p: Principal) -> Approval:
    return Approval(p.name, p.person, p.role.value, NOW)


def test_two_approvals_for_dr_level_5_or_6_one_otherwise_none_for_standard() -> None:
    assert approvals_needed(ChangeType.NORMAL, [3, 6]) == 2
    assert approvals_needed(ChangeType.NORMAL, [5]) == 2
    assert approvals_needed(ChangeType.NORMAL, [3, 4, None]) == 1
    assert approvals_needed(ChangeType.EMERGENCY, [6]) == 2
    assert approvals_needed(ChangeType.STANDARD, [6]) == 0


def test_the_requester_never_approves_not_even_with_another_principal() -> None:
    with pytest.raises(Forbidden, match="may not decide"):
        check_approver(change(), LI_ADMIN)
    check_approver(change(), ADMIN)  # another person: fine


def test_the_second_approval_is_another_persons() -> None:
    first = change(approvals=(approval(ADMIN),))
    with pytest.raises(Forbidden, match="already approved change 7"):
        check_approver(first, Principal("admin-alt", Role.BUREAU_ADMIN, person="chen jing"))
    assert state_after_approval(change(), CAL, ["PROD"], NOW) is ChangeState.SUBMITTED
    assert state_after_approval(first, CAL, ["PROD"], NOW) is ChangeState.APPROVED
    single = change(approvals_needed=1)
    assert state_after_approval(single, CAL, ["PROD"], NOW) is ChangeState.APPROVED


def test_approval_rechecks_the_calendar_and_the_window() -> None:
    frozen = dataclasses.replace(CAL, freezes=(Freeze("drill", dt.date(2027, 1, 9),
                                                      dt.date(2027, 1, 9), "a late freeze"),))
    with pytest.raises(ChangeRefused, match="freeze drill"):
        state_after_approval(change(), frozen, ["PROD"], NOW)
    with pytest.raises(ChangeRefused, match="window ended"):
        state_after_approval(change(), CAL, ["PROD"], SAT_END)
    with pytest.raises(ChangeRefused, match="no approved change calendar"):
        state_after_approval(change(), None, ["PROD"], NOW)


def test_what_may_not_be_approved_rejected_or_cancelled() -> None:
    with pytest.raises(ConflictError, match="pre-approved by policy"):
        check_approver(change(type=ChangeType.STANDARD, policy="quota-raise-10pct",
                              approvals_needed=0, state=ChangeState.APPROVED), ADMIN)
    with pytest.raises(ConflictError, match="is cancelled"):
        check_approver(change(state=ChangeState.CANCELLED), ADMIN)
    with pytest.raises(Forbidden, match="may not decide"):
        check_reject(change(), LI_ADMIN)
    check_reject(change(), ADMIN)
    with pytest.raises(ConflictError, match="has not run"):
        check_reject(change(state=ChangeState.DONE, approvals=(approval(ADMIN),
                                                               approval(ADMIN2))), ADMIN)
    check_cancel(change(state=ChangeState.APPROVED))
    with pytest.raises(ConflictError, match="in-progress"):
        check_cancel(change(state=ChangeState.IN_PROGRESS))


# --- the standard policy ------------------------------------------------------------------------

def delta(current: int | None, desired: int) -> QuotaDelta:
    return QuotaDelta("gd-tax", "PROD", "cores", current, desired)


@pytest.mark.parametrize(("current", "desired", "covered"), [
    (100, 110, True), (100, 100, True), (100, 111, False), (100, 90, False),
    (None, 10, False), (0, 1, False), (0, 0, True), (-1, 10, False), (7, 7, True),
    (1000, 1100, True), (1000, 1101, False),
])
def test_the_standard_policy_allows_raises_within_ten_percent(
        current: int | None, desired: int, covered: bool) -> None:
    policy = STANDARD_POLICIES[0]
    assert policy.max_raise_pct == 10 and policy.kind is OperationKind.TENANCY_APPLY
    assert (not outside_policy(policy, [delta(current, desired)])) is covered


def new(**over: object) -> NewChange:
    base = NewChange(OperationKind.TENANCY_APPLY, ChangeType.NORMAL, "raise gd-tax vCPU",
                     ("gd-tax",), SAT_START, SAT_END, "set the quota back")
    return dataclasses.replace(base, **over)  # type: ignore[arg-type]


def test_a_standard_change_is_pre_approved_only_where_a_policy_exists() -> None:
    state, policy, frozen = initial_state(new(type=ChangeType.STANDARD,
                                              start=NOW, end=NOW + dt.timedelta(hours=1)),
                                          CAL, ["PROD"], NOW)
    assert (state, policy, frozen) == (ChangeState.APPROVED, "quota-raise-10pct", False)
    with pytest.raises(InvalidInput, match="no standard policy covers dr-drill"):
        initial_state(new(type=ChangeType.STANDARD, kind=OperationKind.DR_DRILL), CAL,
                      ["PROD"], NOW)
    with pytest.raises(ChangeRefused, match="npc-2027"):  # standard changes respect freezes
        initial_state(new(type=ChangeType.STANDARD,
                          start=dt.datetime(2027, 3, 4, 10, tzinfo=CST),
                          end=dt.datetime(2027, 3, 4, 11, tzinfo=CST)), CAL, ["PROD"], NOW)


def test_a_normal_change_is_scheduled_inside_a_window_only() -> None:
    assert initial_state(new(), CAL, ["PROD"], NOW)[0] is ChangeState.SUBMITTED
    with pytest.raises(ChangeRefused, match="not inside a maintenance window") as caught:
        initial_state(new(start=NOW + dt.timedelta(hours=1), end=NOW + dt.timedelta(hours=2)),
                      CAL, ["PROD"], NOW)
    assert "calendar show" in (caught.value.hint or "")


def test_an_emergency_runs_at_once_unless_a_freeze_holds_it() -> None:
    soon = new(type=ChangeType.EMERGENCY, start=NOW, end=NOW + dt.timedelta(hours=2))
    assert initial_state(soon, CAL, ["PROD"], NOW) == (ChangeState.FLAGGED, None, False)
    in_npc = dt.datetime(2027, 3, 5, 10, tzinfo=CST)
    frozen = new(type=ChangeType.EMERGENCY, start=in_npc, end=in_npc + dt.timedelta(hours=1))
    assert initial_state(frozen, CAL, ["PROD"], in_npc) == (ChangeState.SUBMITTED, None, True)


def test_emergency_flags_and_the_review_deadline() -> None:
    em = change(type=ChangeType.EMERGENCY, state=ChangeState.DONE, approvals_needed=1,
                review_by=NOW + dt.timedelta(hours=72))
    assert em.flags(NOW + dt.timedelta(hours=71)) == ["awaiting-review"]
    assert em.flags(NOW + dt.timedelta(hours=73)) == ["review-overdue"]
    # approved after the fact: it stays done, the flag goes
    check_approver(em, ADMIN)
    assert state_after_approval(em, CAL, ["PROD"], NOW) is ChangeState.DONE
    reviewed = dataclasses.replace(em, approvals=(approval(ADMIN),))
    assert reviewed.flags(NOW + dt.timedelta(hours=73)) == []


def test_only_a_bureau_admin_lets_an_emergency_through_a_freeze() -> None:
    held = change(type=ChangeType.EMERGENCY, in_freeze=True, approvals_needed=2)
    with pytest.raises(Forbidden, match="only a bureau-admin"):
        check_approver(held, Principal("ops", Role.OPERATOR, person="Zhao Lei"))
    assert state_after_approval(held, CAL, ["PROD"], NOW) is ChangeState.FLAGGED


@pytest.mark.parametrize(("over", "message"), [
    ({"title": " "}, "title"), ({"rollback_plan": ""}, "rollback plan"),
    ({"departments": ()}, "names the departments"),
    ({"end": SAT_START}, "ends"), ({"end": SAT_START + dt.timedelta(days=15)}, "14 days"),
    ({"start": NOW - dt.timedelta(hours=1)}, "in the past"),
    ({"start": NOW + dt.timedelta(days=401), "end": NOW + dt.timedelta(days=402)}, "ahead"),
])
def test_a_new_change_is_bounded(over: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_new(new(**over), NOW)


# --- the gate -----------------------------------------------------------------------------------

APPROVED = change(state=ChangeState.APPROVED, approvals=(approval(ADMIN), approval(ADMIN2)))
IN_WINDOW = SAT_START + dt.timedelta(minutes=30)


def test_the_gate_lets_an_approved_change_through_in_its_window() -> None:
    assert require_change(APPROVED, "tenancy-apply", ["gd-tax"], IN_WINDOW, calendar=CAL) == ()


@pytest.mark.parametrize(("gated", "kind", "departments", "now", "message"), [
    (None, "tenancy-apply", ["gd-tax"], IN_WINDOW,
     "tenancy-apply needs an approved change, and none was given"),
    (APPROVED, "dr-drill", ["gd-tax"], IN_WINDOW, "change 7 is for tenancy-apply, not dr-drill"),
    (change(approvals=(approval(ADMIN),)), "tenancy-apply", ["gd-tax"], IN_WINDOW,
     r"change 7 is not approved yet \(1 of 2 approvals\)"),
    (change(state=ChangeState.REJECTED), "tenancy-apply", ["gd-tax"], IN_WINDOW,
     "change 7 is rejected"),
    (dataclasses.replace(APPROVED, state=ChangeState.DONE), "tenancy-apply", ["gd-tax"],
     IN_WINDOW, "change 7 is done"),
    (APPROVED, "tenancy-apply", ["gd-tax", "gd-edu"], IN_WINDOW,
     r"does not cover department\(s\) gd-edu"),
    (APPROVED, "tenancy-apply", ["gd-tax"], SAT_START - dt.timedelta(minutes=1),
     "window .* has not opened yet"),
    (APPROVED, "tenancy-apply", ["gd-tax"], SAT_END, "window .* is over"),
])
def test_the_gate_names_what_is_missing(gated: Change | None, kind: str,
                                        departments: list[str], now: dt.datetime,
                                        message: str) -> None:
    with pytest.raises(ChangeRefused, match=message) as caught:
        require_change(gated, kind, departments, now, calendar=CAL)
    assert caught.value.hint
    assert caught.value.exit_code == 7 and caught.value.http_status == 409


def test_the_gate_refuses_a_site_the_change_does_not_cover() -> None:
    on_prod = dataclasses.replace(APPROVED, sites=("PROD",))
    require_change(on_prod, "tenancy-apply", ["gd-tax"], IN_WINDOW, sites=["PROD"])
    with pytest.raises(ChangeRefused, match=r"does not cover site\(s\) DR-LOCAL"):
        require_change(on_prod, "tenancy-apply", ["gd-tax"], IN_WINDOW,
                       sites=["PROD", "DR-LOCAL"])


def test_the_gate_refuses_a_freeze_declared_after_approval() -> None:
    late = dataclasses.replace(CAL, freezes=(Freeze("late", dt.date(2027, 1, 9),
                                                    dt.date(2027, 1, 9), "storm"),))
    with pytest.raises(ChangeRefused, match="during freeze late"):
        require_change(APPROVED, "tenancy-apply", ["gd-tax"], IN_WINDOW, calendar=late)
    em = change(type=ChangeType.EMERGENCY, state=ChangeState.FLAGGED, approvals_needed=2,
                start=NOW, end=SAT_END)
    with pytest.raises(ChangeRefused, match="during freeze late"):
        require_change(em, "tenancy-apply", ["gd-tax"], IN_WINDOW, calendar=late)
    by_admin = dataclasses.replace(em, approvals=(approval(ADMIN),))
    passed = require_change(by_admin, "tenancy-apply", ["gd-tax"], IN_WINDOW, calendar=late)
    assert [f.name for f in passed] == ["late"]


def test_a_flagged_emergency_runs_before_its_approval() -> None:
    em = change(type=ChangeType.EMERGENCY, state=ChangeState.FLAGGED, approvals_needed=2,
                start=NOW, end=NOW + dt.timedelta(hours=4))
    assert require_change(em, "tenancy-apply", ["gd-tax"], NOW + dt.timedelta(hours=1),
                          calendar=CAL) == ()


def test_a_standard_change_is_held_to_its_policy_when_it_runs() -> None:
    std = change(type=ChangeType.STANDARD, policy="quota-raise-10pct", approvals_needed=0,
                 state=ChangeState.APPROVED)
    require_change(std, "tenancy-apply", ["gd-tax"], IN_WINDOW, calendar=CAL,
                   quota_deltas=[delta(100, 110)])
    with pytest.raises(ChangeRefused, match=r"cores in PROD: 100 -> 150 \(\+50.0%"):
        require_change(std, "tenancy-apply", ["gd-tax"], IN_WINDOW, calendar=CAL,
                       quota_deltas=[delta(100, 110), delta(100, 150)])


def _link(state: str, n: int = 1) -> Link:
    return Link(n, "lifecycle", f"lifecycle {n}", "li.wei", NOW, state)


def test_a_stuck_change_closes_done_only_when_all_it_ran_ended_done() -> None:
    in_progress = change(state=ChangeState.IN_PROGRESS)
    assert close_outcome(dataclasses.replace(
        in_progress, links=(_link("done"), _link("done", 2)))) is ChangeState.DONE
    assert close_outcome(dataclasses.replace(
        in_progress, links=(_link("done"), _link("failed", 2)))) is ChangeState.FAILED
    assert close_outcome(dataclasses.replace(  # abandoned while waiting for its window
        in_progress, links=(_link("done"), _link("waiting", 2)))) is ChangeState.FAILED
    assert close_outcome(change(state=ChangeState.APPROVED)) is ChangeState.FAILED  # never ran
    with pytest.raises(ConflictError, match="still runs lifecycle 'lifecycle 2'"):
        close_outcome(dataclasses.replace(in_progress,
                                          links=(_link("done"), _link("running", 2))))
    for state, hint in ((ChangeState.SUBMITTED, "cancel it instead"),
                        (ChangeState.DONE, "closed already"),
                        (ChangeState.CANCELLED, "closed already")):
        with pytest.raises(ConflictError, match="only an approved or in-progress") as err:
            close_outcome(change(state=state))
        assert hint in (err.value.hint or "")
