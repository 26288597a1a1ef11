"""RBAC: every role × every action × every kind of target, against a table written by hand."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from govcloud.domain.rbac import (
    GLOBAL,
    Action,
    Kind,
    Principal,
    Role,
    Target,
    can,
    may_approve,
    may_approve_principal,
    person_name,
    reach,
    require,
    same_person,
    visible_departments,
)
from govcloud.errors import Forbidden, InvalidInput

# The principals under test: the city-operator works for guangzhou, the department-viewer
# for gd-psd (a provincial department whose city is guangzhou).
PRINCIPALS = {
    Role.BUREAU_ADMIN: Principal("admin", Role.BUREAU_ADMIN),
    Role.BUREAU_AUDITOR: Principal("auditor", Role.BUREAU_AUDITOR),
    Role.OPERATOR: Principal("ops", Role.OPERATOR),
    Role.CITY_OPERATOR: Principal("gz-ops", Role.CITY_OPERATOR, city="guangzhou"),
    Role.DEPARTMENT_VIEWER: Principal("psd-viewer", Role.DEPARTMENT_VIEWER, department="gd-psd"),
    Role.CI: Principal("ci-pipeline", Role.CI),
}

# Columns of the table below: which targets each role may act on.
TARGETS = {
    "G": GLOBAL,                                   # the whole cloud
    "C": Target(city="guangzhou"),                 # every tenant of guangzhou
    "O": Target.of("gd-psd", "guangzhou"),         # the viewer's own department
    "D": Target.of("gd-tax", "guangzhou"),         # another department, same city
    "X": Target.of("shenzhen", "shenzhen"),        # a tenant of another city
    "N": Target.of("gd-edu", None),                # a department that belongs to no city
    "Y": Target.of("gd-psd", "shenzhen"),          # the viewer's code, claimed in another city
}

ALL = "GCODXNY"
CITY = "COD"          # guangzhou's tenants
OWN = "OY"            # the department gd-psd, whatever city it is filed under
NONE = ""

# action               bureau-admin bureau-auditor operator city-operator dept-viewer  ci
EXPECTED: dict[Action, tuple[str, str, str, str, str, str]] = {
    Action.VIEW_DEPARTMENT:    (ALL, ALL, ALL, CITY, OWN, ALL),
    Action.VIEW_SERVERS:       (ALL, ALL, ALL, CITY, OWN, ALL),
    Action.VIEW_CAPACITY:      (ALL, ALL, ALL, CITY, OWN, ALL),
    Action.TENANCY_PLAN:       (ALL, ALL, ALL, CITY, OWN, ALL),
    Action.VIEW_AUDIT:         (ALL, ALL, ALL, CITY, NONE, NONE),
    Action.EXPORT:             (ALL, ALL, ALL, CITY, NONE, NONE),
    Action.TENANCY_APPLY:      (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.SYNC_RUN:           (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.PROVISION:          (ALL, NONE, ALL, CITY, NONE, ALL),
    Action.MIGRATION_RUN:      (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.MIGRATION_OVERRIDE: (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.DRILL_RUN:          (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.DR_PROTECT:         (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.FAILOVER_RUN:       (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.REQUEST_SUBMIT:     (ALL, NONE, ALL, CITY, NONE, ALL),
    Action.REQUEST_CANCEL:     (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.REQUEST_APPROVE:    (ALL, NONE, NONE, NONE, NONE, NONE),
    Action.REQUEST_REJECT:     (ALL, NONE, NONE, NONE, NONE, NONE),
    Action.PRINCIPAL_MANAGE:   (ALL, NONE, NONE, NONE, NONE, NONE),
    Action.PRICES_VIEW:        (ALL, ALL, ALL, CITY, OWN, ALL),
    Action.PRICES_PROPOSE:     (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.PRICES_APPROVE:     (ALL, NONE, NONE, NONE, NONE, NONE),
    Action.STATEMENT_VIEW:     (ALL, ALL, ALL, CITY, OWN, ALL),
    Action.STATEMENT_CLOSE:    (ALL, NONE, NONE, NONE, NONE, NONE),
    Action.NOTIFICATION_VIEW:  (ALL, ALL, ALL, CITY, OWN, ALL),
    Action.NOTIFICATION_RETRY: (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.HOST_MAINTAIN:      (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.CHANGE_VIEW:        (ALL, ALL, ALL, CITY, OWN, ALL),
    Action.CHANGE_SUBMIT:      (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.CHANGE_CANCEL:      (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.CHANGE_CLOSE:       (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.CHANGE_APPROVE:     (ALL, NONE, NONE, NONE, NONE, NONE),
    Action.CHANGE_REJECT:      (ALL, NONE, NONE, NONE, NONE, NONE),
    Action.CALENDAR_VIEW:      (ALL, ALL, ALL, CITY, OWN, ALL),
    Action.CALENDAR_PROPOSE:   (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.CALENDAR_APPROVE:   (ALL, NONE, NONE, NONE, NONE, NONE),
    Action.METERING_BACKFILL:  (ALL, NONE, NONE, NONE, NONE, NONE),
    Action.SYSTEM_SCALE:       (ALL, NONE, ALL, CITY, NONE, ALL),
    Action.SYSTEM_RESIZE:      (ALL, NONE, ALL, CITY, NONE, ALL),
    Action.SYSTEM_RETIRE:      (ALL, NONE, ALL, CITY, NONE, NONE),
    Action.RECLAIM_VIEW:       (ALL, ALL, ALL, CITY, OWN, ALL),
    Action.PLANE_VIEW:         (ALL, ALL, ALL, NONE, NONE, ALL),
    Action.ALERT_RECORD:       (ALL, NONE, ALL, NONE, NONE, NONE),
}

ROLES = list(Role)
CASES = [(role, action, column)
         for action in Action for role in ROLES for column in TARGETS]


def test_the_table_covers_every_action_and_role() -> None:
    assert set(EXPECTED) == set(Action)
    assert [r.value for r in ROLES] == ["bureau-admin", "bureau-auditor", "operator",
                                        "city-operator", "department-viewer", "ci"]


@pytest.mark.parametrize(("role", "action", "column"), CASES,
                         ids=[f"{r}-{a}-{c}" for r, a, c in CASES])
def test_can_matches_the_table(role: Role, action: Action, column: str) -> None:
    allowed_columns = EXPECTED[action][ROLES.index(role)]
    decision = can(PRINCIPALS[role], action, TARGETS[column])
    assert decision.allowed is (column in allowed_columns)
    assert bool(decision) is decision.allowed
    assert decision.reason  # always says why
    assert PRINCIPALS[role].name in decision.reason


def test_the_auditor_never_writes_and_reads_everything() -> None:
    auditor = PRINCIPALS[Role.BUREAU_AUDITOR]
    for action in Action:
        for target in TARGETS.values():
            assert can(auditor, action, target).allowed is (not action.writes)


def test_only_the_bureau_admin_decides_or_manages_principals() -> None:
    for action in (Action.REQUEST_APPROVE, Action.REQUEST_REJECT, Action.PRINCIPAL_MANAGE,
                   Action.CHANGE_APPROVE, Action.CHANGE_REJECT, Action.CALENDAR_APPROVE):
        allowed = {r for r in Role if can(PRINCIPALS[r], action, GLOBAL)}
        assert allowed == {Role.BUREAU_ADMIN}


def test_reads_and_writes_are_classified() -> None:
    reads = {a for a in Action if not a.writes}
    assert reads == {Action.VIEW_DEPARTMENT, Action.VIEW_SERVERS, Action.VIEW_CAPACITY,
                     Action.VIEW_AUDIT, Action.EXPORT, Action.TENANCY_PLAN,
                     Action.PRICES_VIEW, Action.STATEMENT_VIEW, Action.NOTIFICATION_VIEW,
                     Action.CHANGE_VIEW, Action.CALENDAR_VIEW, Action.RECLAIM_VIEW,
                     Action.PLANE_VIEW}
    assert Action.TENANCY_APPLY.kind is Kind.OPERATE
    assert Action.CHANGE_APPROVE.kind is Kind.DECIDE
    assert Action.PRICES_APPROVE.kind is Kind.DECIDE
    assert Action.REQUEST_APPROVE.kind is Kind.DECIDE


def test_refusals_say_what_is_missing() -> None:
    gz = PRINCIPALS[Role.CITY_OPERATOR]
    scoped = can(gz, Action.PROVISION, TARGETS["X"])
    assert not scoped
    assert "city guangzhou" in scoped.reason and "shenzhen" in scoped.reason
    role = can(PRINCIPALS[Role.OPERATOR], Action.REQUEST_APPROVE, TARGETS["O"])
    assert "bureau" in role.reason


def test_require_raises_forbidden_with_reason_and_hint() -> None:
    require(PRINCIPALS[Role.OPERATOR], Action.TENANCY_APPLY, GLOBAL)
    with pytest.raises(Forbidden) as info:
        require(PRINCIPALS[Role.CI], Action.REQUEST_APPROVE, GLOBAL)
    assert "ci-pipeline" in info.value.message
    assert info.value.hint


# --- requester ≠ approver --------------------------------------------------------------------

@pytest.mark.parametrize("requester", ["admin", "ADMIN", " admin "])
def test_nobody_approves_their_own_request(requester: str) -> None:
    decision = may_approve(PRINCIPALS[Role.BUREAU_ADMIN], requester)
    assert not decision
    assert "requester and approver must differ" in decision.reason


def test_another_requester_may_be_approved() -> None:
    decision = may_approve(PRINCIPALS[Role.BUREAU_ADMIN], "ci-pipeline")
    assert decision
    assert "ci-pipeline" in decision.reason


# --- visible departments ---------------------------------------------------------------------

@dataclass(frozen=True)
class Dept:
    code: str
    city: str | None


DEPARTMENTS = [Dept("gd-psd", "guangzhou"), Dept("gd-tax", "guangzhou"), Dept("gd-edu", None),
               Dept("guangzhou", "guangzhou"), Dept("shenzhen", "shenzhen"),
               Dept("shantou", "shantou")]


@pytest.mark.parametrize(("role", "action", "expected"), [
    (Role.BUREAU_ADMIN, Action.VIEW_SERVERS, [d.code for d in DEPARTMENTS]),
    (Role.BUREAU_AUDITOR, Action.EXPORT, [d.code for d in DEPARTMENTS]),
    (Role.OPERATOR, Action.VIEW_DEPARTMENT, [d.code for d in DEPARTMENTS]),
    (Role.CI, Action.VIEW_SERVERS, [d.code for d in DEPARTMENTS]),
    (Role.CITY_OPERATOR, Action.VIEW_SERVERS, ["gd-psd", "gd-tax", "guangzhou"]),
    (Role.CITY_OPERATOR, Action.EXPORT, ["gd-psd", "gd-tax", "guangzhou"]),
    (Role.DEPARTMENT_VIEWER, Action.VIEW_SERVERS, ["gd-psd"]),
    (Role.DEPARTMENT_VIEWER, Action.EXPORT, []),
    (Role.CI, Action.EXPORT, []),
    (Role.BUREAU_AUDITOR, Action.TENANCY_APPLY, []),
])
def test_visible_departments(role: Role, action: Action, expected: list[str]) -> None:
    visible = visible_departments(PRINCIPALS[role], DEPARTMENTS, action)
    assert [d.code for d in visible] == expected
    assert all(isinstance(d, Dept) for d in visible)  # the caller's own objects come back


def test_visible_departments_defaults_to_viewing_and_keeps_order() -> None:
    viewer = PRINCIPALS[Role.DEPARTMENT_VIEWER]
    assert visible_departments(viewer, reversed(DEPARTMENTS)) == [Dept("gd-psd", "guangzhou")]
    assert visible_departments(viewer, []) == []


# --- principals ------------------------------------------------------------------------------

def test_roles_parse_from_strings() -> None:
    p = Principal("x", "city-operator", city="foshan")  # type: ignore[arg-type]
    assert p.role is Role.CITY_OPERATOR
    assert p.scope == "city foshan"
    assert Principal("v", Role.DEPARTMENT_VIEWER, department="gd-tax").scope == \
        "department gd-tax"
    assert Principal("a", Role.OPERATOR).scope == "all"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "x", "role": "root"}, "unknown role"),
    ({"name": "Alice", "role": Role.OPERATOR}, "invalid principal name"),
    ({"name": "", "role": Role.OPERATOR}, "invalid principal name"),
    ({"name": "a b", "role": Role.OPERATOR}, "invalid principal name"),
    ({"name": "x" * 65, "role": Role.OPERATOR}, "invalid principal name"),
    # a regex's $ also matches before a final newline: the whole value must match
    ({"name": "admin2\n", "role": Role.OPERATOR}, "invalid principal name"),
    ({"name": "x", "role": Role.DEPARTMENT_VIEWER, "department": "gd-psd\n"},
     "department code"),
    ({"name": "x", "role": Role.CITY_OPERATOR, "city": "guangzhou\n"}, "city code"),
    ({"name": "x", "role": Role.CITY_OPERATOR}, "city"),
    ({"name": "x", "role": Role.OPERATOR, "city": "guangzhou"}, "city"),
    ({"name": "x", "role": Role.DEPARTMENT_VIEWER}, "department"),
    ({"name": "x", "role": Role.CI, "department": "gd-psd"}, "department"),
    ({"name": "x", "role": Role.DEPARTMENT_VIEWER, "department": "GD PSD"}, "department code"),
    ({"name": "x", "role": Role.CITY_OPERATOR, "city": "广州"}, "city code"),
])
def test_invalid_principals_are_refused(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(InvalidInput, match=match) as info:
        Principal(**kwargs)  # type: ignore[arg-type]
    assert info.value.hint


def test_targets_describe_themselves() -> None:
    assert GLOBAL.is_global and str(GLOBAL) == "the whole cloud"
    assert str(Target.of("gd-psd", "guangzhou")) == "department gd-psd (city guangzhou)"
    assert str(Target.of("gd-edu", None)) == "department gd-edu (no city)"
    assert str(Target(city="foshan")) == "the tenants of city foshan"
    assert not Target(city="foshan").is_global


def test_reach_summarises_each_cell() -> None:
    assert reach(Role.BUREAU_ADMIN, Action.PRINCIPAL_MANAGE) == "all"
    assert reach(Role.CITY_OPERATOR, Action.TENANCY_APPLY) == "own city"
    assert reach(Role.DEPARTMENT_VIEWER, Action.VIEW_SERVERS) == "own department"
    assert reach(Role.CI, Action.REQUEST_APPROVE) == "—"


# --- persons (issue 17, item 2) --------------------------------------------------------------

def test_a_principal_is_its_own_person_unless_told() -> None:
    assert Principal("li.wei", Role.OPERATOR).person == "li.wei"
    assert Principal("li.wei", Role.OPERATOR, person="  Li   Wei ").person == "Li Wei"
    assert Principal("ci-x", Role.CI, person="Nguye\u0302\u0303n").person == "Nguyễn"  # NFC


@pytest.mark.parametrize("person", ["   ", "a\x1bb", "x\u202ey", "<b>", "x" * 129])
def test_a_person_is_a_plain_name(person: str) -> None:
    with pytest.raises(InvalidInput, match="invalid person name"):
        Principal("li.wei", Role.OPERATOR, person=person)
    with pytest.raises(InvalidInput, match="invalid person name"):
        person_name(person)


def test_same_person_ignores_case_spacing_and_composition() -> None:
    assert same_person("Li Wei", " li  WEI")
    assert same_person("Nguyễn", "Nguye\u0302\u0303n")
    assert not same_person("Li Wei", "Li Wen")


def test_approval_compares_persons_not_principals() -> None:
    laptop = Principal("boss-laptop", Role.BUREAU_ADMIN, person="Boss")
    assert not may_approve(laptop, "boss")
    assert may_approve(laptop, "Deputy")
    assert not may_approve_principal(laptop, " BOSS")
    assert "issuer and approver must differ" in may_approve_principal(laptop, "boss").reason
    assert may_approve_principal(laptop, "Deputy")
    assert may_approve_principal(laptop, None)  # issued with direct database access
    decision = may_approve_principal(Principal("ops", Role.OPERATOR, person="Deputy"), "Boss")
    assert not decision and "only a bureau-admin" in decision.reason


def test_privileged_roles() -> None:
    assert {r for r in Role if r.privileged} == {Role.BUREAU_ADMIN, Role.OPERATOR, Role.CI}
