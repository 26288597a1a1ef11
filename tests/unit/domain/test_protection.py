"""Protection plans and verdicts (govcloud.domain.protection): the GB/T 20988 bounds, plans
derived from the policy (tighten only), current RPO, drill schedules and the verdict of a
system at every boundary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from govcloud.domain.protection import (
    GBT_20988,
    READY_STATUSES,
    Compliance,
    CopyRule,
    CopyState,
    Drill,
    DrillState,
    LevelPolicy,
    Member,
    ObservedServer,
    ProtectionPlan,
    ProtectionPolicy,
    RecoveryPoint,
    Replication,
    ReplicationCheck,
    StandbyKind,
    Verdict,
    add_months,
    current_rpo,
    drill_status,
    format_duration,
    judge,
    latest_recovery_point,
)
from govcloud.domain.protection_config import DEFAULT_PROTECTION
from govcloud.domain.sites import Site, SiteRole, default_sites
from govcloud.errors import InvalidInput

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
MEMBERS = (Member("case-web-1", "gc.c4m8"), Member("case-web-2", "gc.c4m8"),
           Member("case-db-1", "gc.c8m16"))
PASSED = Drill(NOW - timedelta(days=40), passed=True, rto=timedelta(hours=1))


def plan(level: int = 5, **tighten: timedelta) -> ProtectionPlan:
    return DEFAULT_PROTECTION.plan("gd-psd", "case", level, default_sites(), **tighten)


def healthy(p: ProtectionPlan, members: Sequence[Member] = MEMBERS) -> list[ObservedServer]:
    """Every member in every planned site, in the status its copy's kind asks for."""
    return [ObservedServer(c.site, m.name, READY_STATUSES[c.kind][0], m.flavor)
            for c in p.copies for m in members]


def fresh(p: ProtectionPlan, age: timedelta = timedelta(minutes=5)) -> list[RecoveryPoint]:
    return [RecoveryPoint(c.site, NOW - age) for c in p.copies]


def replace(servers: list[ObservedServer], site: str, name: str,
            **changes: str | None) -> list[ObservedServer]:
    """``servers`` with the one at site/name changed (status, flavor)."""
    out = []
    for s in servers:
        if (s.site, s.name) == (site, name):
            s = ObservedServer(s.site, s.name, changes.get("status", s.status),
                               changes.get("flavor", s.flavor))
        out.append(s)
    return out


def verdict_of(p: ProtectionPlan, servers: list[ObservedServer],
               points: list[RecoveryPoint] | None = None,
               last: Drill | None = PASSED) -> Verdict:
    return judge(p, MEMBERS, servers, fresh(p) if points is None else points, last, NOW)


def copy_state(v: Verdict, site: str) -> CopyState:
    return next(c.state for c in v.copies if c.site == site)


# --- the standard and the policy rows -------------------------------------------------------------

def test_gbt_20988_ceilings_are_the_loosest_end_of_each_range() -> None:
    assert {n: (r.max_rpo, r.max_rto) for n, r in GBT_20988.items()} == {
        1: (timedelta(days=7), None), 2: (timedelta(days=7), None), 3: (timedelta(days=1), None),
        4: (timedelta(days=1), timedelta(days=2)), 5: (timedelta(minutes=30), timedelta(days=2)),
        6: (timedelta(0), timedelta(minutes=30))}
    assert (GBT_20988[5].rpo_range, GBT_20988[5].rto_range) == ("0-30 minutes",
                                                                "minutes to 2 days")


@pytest.mark.parametrize(("value", "text"), [
    (timedelta(0), "0s"), (timedelta(seconds=-5), "0s"), (timedelta(minutes=30), "30m"),
    (timedelta(hours=1, minutes=30), "1h30m"), (timedelta(days=7), "7d"),
    (timedelta(days=1, seconds=1.9), "1d1s")])
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@pytest.mark.parametrize(("level", "rpo", "rto"), [
    (5, timedelta(minutes=30, seconds=1), timedelta(days=1)),
    (6, timedelta(seconds=1), timedelta(minutes=1)),
    (4, timedelta(hours=1), timedelta(days=2, seconds=1)),
    (6, timedelta(0), timedelta(minutes=31)),
])
def test_a_level_row_may_not_be_looser_than_the_standard(level: int, rpo: timedelta,
                                                         rto: timedelta) -> None:
    with pytest.raises(InvalidInput, match="looser than the level allows") as info:
        LevelPolicy(level, rpo, rto, 6, ())
    assert "never loosened" in (info.value.hint or "")


def test_a_level_row_at_the_standards_ceiling_or_without_one_is_accepted() -> None:
    assert LevelPolicy(5, timedelta(minutes=30), timedelta(days=2), 6, ()).rpo == \
        timedelta(minutes=30)
    assert LevelPolicy(1, timedelta(days=7), timedelta(days=300), None, ()).rto == \
        timedelta(days=300)


@pytest.mark.parametrize(("args", "message"), [
    ((0, timedelta(0), timedelta(0), None, ()), "unknown DR level 0"),
    ((7, timedelta(0), timedelta(0), None, ()), "unknown DR level 7"),
    ((3, timedelta(seconds=-1), timedelta(0), None, ()), "negative"),
    ((3, timedelta(0), timedelta(0), 0, ()), "0 months is out of range"),
    ((3, timedelta(0), timedelta(0), 121, ()), "121 months is out of range"),
    ((3, timedelta(0), timedelta(0), 12,
      (CopyRule(SiteRole.REMOTE_DR, StandbyKind.COLD),
       CopyRule(SiteRole.REMOTE_DR, StandbyKind.HOT))), "a site role holds two copies"),
])
def test_bad_level_rows_are_refused(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        LevelPolicy(*args)  # type: ignore[arg-type]


def test_a_policy_has_exactly_one_row_per_level() -> None:
    rows = DEFAULT_PROTECTION.levels
    with pytest.raises(InvalidInput, match="exactly one row per DR level"):
        ProtectionPolicy(rows[:5])
    with pytest.raises(InvalidInput, match="exactly one row per DR level"):
        ProtectionPolicy((*rows, rows[0]))
    with pytest.raises(InvalidInput, match="rpo_warning"):
        ProtectionPolicy(rows, rpo_warning=0)
    with pytest.raises(InvalidInput, match="drill_warning"):
        ProtectionPolicy(rows, drill_warning=timedelta(days=-1))
    with pytest.raises(InvalidInput, match="unknown DR level 9"):
        DEFAULT_PROTECTION.for_level(9)


# --- plans ------------------------------------------------------------------------------------

def test_a_plan_resolves_the_levels_copies_to_site_names() -> None:
    p = plan(5)
    assert (p.department, p.system, p.level) == ("gd-psd", "case", 5)
    assert [(c.site, c.role, c.kind) for c in p.copies] == [
        ("DR-LOCAL", SiteRole.SAME_CITY_DR, StandbyKind.HOT),
        ("DR-REMOTE", SiteRole.REMOTE_DR, StandbyKind.COLD)]
    assert (p.rpo, p.rto, p.drill_every_months) == (timedelta(minutes=30), timedelta(days=2), 6)
    assert [c.site for c in plan(3).copies] == ["DR-REMOTE"]
    assert plan(1).copies == ()


def test_a_plan_follows_whatever_the_sites_are_named() -> None:
    sites = (Site("GZ-1", "gd", "gz-1", SiteRole.PRODUCTION),
             Site("GZ-2", "gd", "gz-2", SiteRole.SAME_CITY_DR),
             Site("SG", "gd", "sg", SiteRole.REMOTE_DR))
    p = DEFAULT_PROTECTION.plan("gd-psd", "case", 6, sites)
    assert [c.site for c in p.copies] == ["GZ-2", "SG"]


def test_a_plan_needs_a_site_of_every_role_its_level_uses() -> None:
    prod_only = default_sites()[:1]
    with pytest.raises(InvalidInput, match="same-city-dr site, and no such site") as info:
        DEFAULT_PROTECTION.plan("gd-psd", "case", 5, prod_only)
    assert "dr_policy" in (info.value.hint or "")
    assert DEFAULT_PROTECTION.plan("gd-psd", "case", 2, prod_only).copies == ()


def test_a_system_may_tighten_its_targets() -> None:
    p = plan(5, rpo=timedelta(minutes=5), rto=timedelta(hours=1))
    assert (p.rpo, p.rto) == (timedelta(minutes=5), timedelta(hours=1))
    assert plan(5, rpo=timedelta(minutes=30)).rpo == timedelta(minutes=30)  # equal is not looser
    assert plan(6, rpo=timedelta(0)).rpo == timedelta(0)


@pytest.mark.parametrize(("level", "what", "value", "level_value"), [
    (5, "rpo", timedelta(minutes=30, seconds=1), "30m"),
    (6, "rpo", timedelta(seconds=1), "0s"),
    (4, "rto", timedelta(days=3), "2d"),
    (1, "rto", timedelta(days=8), "7d"),
])
def test_a_system_may_never_loosen_its_targets(level: int, what: str, value: timedelta,
                                               level_value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        plan(level, **{what: value})
    assert info.value.message == (f"gd-psd/case: {what.upper()} {format_duration(value)} is "
                                  f"looser than DR level {level}'s {level_value}")
    assert f"may only tighten its {what.upper()}" in (info.value.hint or "")


def test_a_negative_target_or_a_bad_name_is_refused() -> None:
    with pytest.raises(InvalidInput, match="negative"):
        plan(5, rto=timedelta(seconds=-1))
    with pytest.raises(InvalidInput, match="not a valid system"):
        DEFAULT_PROTECTION.plan("gd-psd", "../case", 5, default_sites())
    with pytest.raises(InvalidInput, match="not a valid department"):
        DEFAULT_PROTECTION.plan("x" * 129, "case", 5, default_sites())


# --- RPO and drills ---------------------------------------------------------------------------

def test_current_rpo_is_now_minus_the_latest_recovery_point() -> None:
    points = [RecoveryPoint("DR-LOCAL", NOW - timedelta(minutes=20)),
              RecoveryPoint("DR-LOCAL", NOW - timedelta(minutes=3)),
              RecoveryPoint("DR-REMOTE", NOW - timedelta(minutes=1))]
    latest = latest_recovery_point(points, "DR-LOCAL")
    assert latest == NOW - timedelta(minutes=3)
    assert current_rpo(latest, NOW) == timedelta(minutes=3)
    assert latest_recovery_point(points, "SZ-CITY") is None
    assert current_rpo(None, NOW) is None
    assert current_rpo(NOW + timedelta(seconds=5), NOW) == timedelta(0)  # clock skew


@pytest.mark.parametrize(("start", "months", "due"), [
    (datetime(2026, 3, 15, 9, tzinfo=UTC), 6, datetime(2026, 9, 15, 9, tzinfo=UTC)),
    (datetime(2026, 8, 31, tzinfo=UTC), 6, datetime(2027, 2, 28, tzinfo=UTC)),
    (datetime(2027, 8, 31, tzinfo=UTC), 6, datetime(2028, 2, 29, tzinfo=UTC)),
    (datetime(2026, 12, 7, tzinfo=UTC), 12, datetime(2027, 12, 7, tzinfo=UTC)),
    (datetime(2026, 11, 30, tzinfo=UTC), 3, datetime(2027, 2, 28, tzinfo=UTC)),
    (datetime(2026, 1, 31, tzinfo=UTC), 24, datetime(2028, 1, 31, tzinfo=UTC)),
])
def test_add_months_keeps_the_day_or_takes_the_months_last(start: datetime, months: int,
                                                           due: datetime) -> None:
    assert add_months(start, months) == due


DUE = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
LAST = datetime(2026, 6, 7, 6, 0, tzinfo=UTC)  # six months before DUE


@pytest.mark.parametrize(("now", "state"), [
    (DUE - timedelta(days=30, seconds=1), DrillState.OK),
    (DUE - timedelta(days=30), DrillState.DUE_SOON),
    (DUE, DrillState.DUE_SOON),
    (DUE + timedelta(seconds=1), DrillState.OVERDUE),
])
def test_drill_due_and_overdue_at_the_boundaries(now: datetime, state: DrillState) -> None:
    status = drill_status(6, LAST, now)
    assert (status.state, status.due_at) == (state, DUE)


def test_drill_schedule_without_a_drill() -> None:
    assert drill_status(None, None, NOW).state is DrillState.NOT_REQUIRED
    assert drill_status(None, None, NOW).due_at is None
    never = drill_status(6, None, NOW)
    assert (never.state, never.due_at) == (DrillState.OVERDUE, None)
    new = drill_status(6, None, NOW, since=NOW - timedelta(days=10))
    assert (new.state, new.due_at) == (DrillState.OK, add_months(NOW - timedelta(days=10), 6))
    # the last drill counts from its own date, not from since
    assert drill_status(6, LAST, DUE + timedelta(seconds=1), since=DUE).state is \
        DrillState.OVERDUE
    assert drill_status(6, LAST, DUE, warning=timedelta(0)).state is DrillState.DUE_SOON
    assert drill_status(6, LAST, DUE - timedelta(seconds=1),
                        warning=timedelta(0)).state is DrillState.OK


# --- verdicts: copies and RPO -----------------------------------------------------------------

def test_a_fully_protected_system_is_compliant_and_says_why() -> None:
    p = plan(5)
    v = verdict_of(p, healthy(p))
    assert v.status is Compliance.COMPLIANT
    assert v.reasons == ("2 copies within RPO 30m; last drill 2026-10-28 passed",)
    assert [(c.site, c.kind, c.state, c.rpo) for c in v.copies] == [
        ("DR-LOCAL", StandbyKind.HOT, CopyState.PRESENT, timedelta(minutes=5)),
        ("DR-REMOTE", StandbyKind.COLD, CopyState.PRESENT, timedelta(minutes=5))]
    assert v.drill.state is DrillState.OK


def test_exactly_at_the_target_rpo_is_met_but_at_risk() -> None:
    p = plan(5)
    v = verdict_of(p, healthy(p), fresh(p, timedelta(minutes=30)))
    assert v.status is Compliance.AT_RISK
    assert v.reasons[0] == ("DR-LOCAL (hot copy): RPO 30m against a target of 30m (last "
                            "recovery point 2026-12-07T05:30:00+00:00): over 80% of the target")


def test_one_second_over_the_target_rpo_is_non_compliant() -> None:
    p = plan(5)
    points = [RecoveryPoint("DR-LOCAL", NOW - timedelta(minutes=30, seconds=1)),
              RecoveryPoint("DR-REMOTE", NOW - timedelta(minutes=1))]
    v = verdict_of(p, healthy(p), points)
    assert v.status is Compliance.NON_COMPLIANT
    assert v.reasons == ("DR-LOCAL (hot copy): RPO 30m1s against a target of 30m (last "
                         "recovery point 2026-12-07T05:29:59+00:00): breached",)
    assert [c.rpo for c in v.copies] == [timedelta(minutes=30, seconds=1), timedelta(minutes=1)]


def test_the_rpo_warning_share_is_the_at_risk_boundary() -> None:
    p = plan(5)  # 80% of 30m is 24m
    assert verdict_of(p, healthy(p), fresh(p, timedelta(minutes=24))).status is \
        Compliance.COMPLIANT
    assert verdict_of(p, healthy(p), fresh(p, timedelta(minutes=24, seconds=1))).status is \
        Compliance.AT_RISK


def test_level_6_rpo_zero_is_met_only_by_synchronous_replication() -> None:
    """Periodic recovery points never meet RPO 0, even one taken now: a level-6 copy is
    judged by the last replication check of its volumes."""
    p = plan(6)
    assert {c.replication for c in p.copies} == {Replication.SYNCHRONOUS}
    assert {c.replication for c in plan(5).copies} == {Replication.CYCLES}
    # a level-5 system tightened to RPO 0 needs synchronous replication as well
    assert {c.replication for c in plan(5, rpo=timedelta(0)).copies} == \
        {Replication.SYNCHRONOUS}
    quick = Drill(NOW - timedelta(days=40), passed=True, rto=timedelta(minutes=10))
    v = verdict_of(p, healthy(p), fresh(p, timedelta(0)), quick)
    assert v.status is Compliance.NON_COMPLIANT
    assert v.reasons == ("DR-LOCAL (hot copy): synchronous replication not checked yet",
                         "DR-REMOTE (cold copy): synchronous replication not checked yet")
    checks = {c.site: ReplicationCheck(c.site, True, NOW - timedelta(minutes=3))
              for c in p.copies}
    v = judge(p, MEMBERS, healthy(p), [], quick, NOW, replication=checks)
    assert v.status is Compliance.COMPLIANT, v.reasons
    assert [(c.rpo, c.recovery_point) for c in v.copies] == \
        [(timedelta(0), NOW - timedelta(minutes=3))] * 2
    checks["DR-REMOTE"] = ReplicationCheck("DR-REMOTE", False, NOW,
                                           "volume v1 is of type 'standard'")
    v = judge(p, MEMBERS, healthy(p), [], quick, NOW, replication=checks)
    assert v.status is Compliance.NON_COMPLIANT
    assert v.reasons == ("DR-REMOTE (cold copy): not replicated synchronously: volume v1 is "
                         "of type 'standard'",)


def test_a_copy_without_a_recovery_point_is_non_compliant() -> None:
    p = plan(5)
    v = verdict_of(p, healthy(p), [RecoveryPoint("DR-LOCAL", NOW)])
    assert v.status is Compliance.NON_COMPLIANT
    assert v.reasons == ("DR-REMOTE (cold copy): no recovery point yet",)
    assert [(c.recovery_point, c.rpo) for c in v.copies] == [(NOW, timedelta(0)), (None, None)]
    # a recovery point of another site does not count
    assert "no recovery point yet" in verdict_of(
        p, healthy(p), [RecoveryPoint("SZ-CITY", NOW)]).reasons[0]


def test_a_missing_copy_is_non_compliant() -> None:
    p = plan(5)
    servers = [s for s in healthy(p) if s.site != "DR-REMOTE"]
    v = verdict_of(p, servers)
    assert v.status is Compliance.NON_COMPLIANT
    assert copy_state(v, "DR-REMOTE") is CopyState.MISSING
    assert copy_state(v, "DR-LOCAL") is CopyState.PRESENT
    assert v.reasons == ("DR-REMOTE (cold copy): 3 of 3 servers missing (case-web-1; "
                         "case-web-2; case-db-1)",)


@pytest.mark.parametrize("status", ["DELETED", "SOFT_DELETED"])
def test_a_deleted_server_is_missing(status: str) -> None:
    p = plan(5)
    v = verdict_of(p, replace(healthy(p), "DR-LOCAL", "case-web-2", status=status))
    assert copy_state(v, "DR-LOCAL") is CopyState.MISSING
    assert v.reasons == ("DR-LOCAL (hot copy): 1 of 3 servers missing (case-web-2)",)


@pytest.mark.parametrize("status", ["ERROR", "UNKNOWN"])
def test_a_copy_in_error_is_non_compliant(status: str) -> None:
    p = plan(5)
    v = verdict_of(p, replace(healthy(p), "DR-REMOTE", "case-db-1", status=status))
    assert v.status is Compliance.NON_COMPLIANT
    assert copy_state(v, "DR-REMOTE") is CopyState.ERROR
    assert v.reasons == (f"DR-REMOTE (cold copy): 1 of 3 servers in error (case-db-1 is "
                         f"{status})",)


def test_a_copy_of_the_wrong_flavor_is_non_compliant() -> None:
    p = plan(5)
    v = verdict_of(p, replace(healthy(p), "DR-LOCAL", "case-db-1", flavor="gc.c2m4"))
    assert v.status is Compliance.NON_COMPLIANT
    assert copy_state(v, "DR-LOCAL") is CopyState.WRONG_FLAVOR
    assert v.reasons == ("DR-LOCAL (hot copy): 1 of 3 servers of the wrong flavor (case-db-1 "
                         "is gc.c2m4, not gc.c8m16)",)
    unknown = verdict_of(p, replace(healthy(p), "DR-LOCAL", "case-db-1", flavor=None))
    assert copy_state(unknown, "DR-LOCAL") is CopyState.WRONG_FLAVOR


@pytest.mark.parametrize("status", ["ACTIVE", "SHUTOFF", "SHELVED", "PAUSED", "SUSPENDED"])
def test_a_cold_copy_not_shelved_and_offloaded_holds_capacity(status: str) -> None:
    p = plan(5)
    v = verdict_of(p, replace(healthy(p), "DR-REMOTE", "case-web-1", status=status))
    assert v.status is Compliance.AT_RISK
    assert copy_state(v, "DR-REMOTE") is CopyState.HOLDS_CAPACITY
    assert v.reasons == ("DR-REMOTE (cold copy): 1 of 3 servers holding compute capacity: a "
                         f"cold copy must be SHELVED_OFFLOADED (case-web-1 is {status})",)


@pytest.mark.parametrize("status", ["SHUTOFF", "SHELVED_OFFLOADED", "SHELVED", "PAUSED"])
def test_a_hot_standby_that_is_not_running_is_not_ready(status: str) -> None:
    p = plan(5)
    v = verdict_of(p, replace(healthy(p), "DR-LOCAL", "case-web-1", status=status))
    assert v.status is Compliance.NON_COMPLIANT
    assert copy_state(v, "DR-LOCAL") is CopyState.NOT_READY
    assert v.reasons == ("DR-LOCAL (hot copy): 1 of 3 servers not ready (case-web-1 is "
                         f"{status}; a hot standby must be ACTIVE)",)


def warm_plan() -> ProtectionPlan:
    rows = tuple(
        LevelPolicy(r.level, r.rpo, r.rto, r.drill_every_months,
                    tuple(CopyRule(c.role, StandbyKind.WARM if c.kind is StandbyKind.HOT
                                   else c.kind) for c in r.copies))
        for r in DEFAULT_PROTECTION.levels)
    return ProtectionPolicy(rows).plan("gd-psd", "case", 5, default_sites())


@pytest.mark.parametrize(("status", "state"), [
    ("SHUTOFF", CopyState.PRESENT), ("ACTIVE", CopyState.PRESENT),
    ("SHELVED_OFFLOADED", CopyState.NOT_READY), ("SUSPENDED", CopyState.NOT_READY),
    ("MIGRATING", CopyState.CHANGING)])
def test_a_warm_standby_is_stopped_or_running_on_a_host(status: str, state: CopyState) -> None:
    p = warm_plan()
    assert p.copies[0].kind is StandbyKind.WARM
    v = verdict_of(p, replace(healthy(p), "DR-LOCAL", "case-web-1", status=status))
    assert copy_state(v, "DR-LOCAL") is state
    assert v.status is state.severity


@pytest.mark.parametrize("status", ["BUILD", "RESIZE", "VERIFY_RESIZE", "REBOOT", "MIGRATING"])
def test_a_copy_changing_state_is_at_risk(status: str) -> None:
    p = plan(5)
    v = verdict_of(p, replace(healthy(p), "DR-LOCAL", "case-web-1", status=status))
    assert v.status is Compliance.AT_RISK
    assert copy_state(v, "DR-LOCAL") is CopyState.CHANGING
    assert v.reasons == (f"DR-LOCAL (hot copy): 1 of 3 servers changing state (case-web-1 is "
                         f"{status})",)


def test_a_copy_takes_its_worst_servers_state_and_reasons_come_worst_first() -> None:
    p = plan(5)
    servers = replace(healthy(p), "DR-REMOTE", "case-web-1", status="ACTIVE")
    servers = replace(servers, "DR-REMOTE", "case-web-2", status="ERROR")
    servers = [s for s in servers if (s.site, s.name) != ("DR-REMOTE", "case-db-1")]
    v = verdict_of(p, servers, [RecoveryPoint("DR-LOCAL", NOW - timedelta(minutes=29))])
    assert v.status is Compliance.NON_COMPLIANT
    assert copy_state(v, "DR-REMOTE") is CopyState.MISSING
    assert v.reasons == (
        "DR-REMOTE (cold copy): 1 of 3 servers missing (case-db-1)",
        "DR-REMOTE (cold copy): 1 of 3 servers in error (case-web-2 is ERROR)",
        "DR-REMOTE (cold copy): no recovery point yet",
        "DR-LOCAL (hot copy): RPO 29m against a target of 30m (last recovery point "
        "2026-12-07T05:31:00+00:00): over 80% of the target",
        "DR-REMOTE (cold copy): 1 of 3 servers holding compute capacity: a cold copy must be "
        "SHELVED_OFFLOADED (case-web-1 is ACTIVE)",
    )


def test_of_two_servers_with_one_name_the_better_counts_and_strangers_are_ignored() -> None:
    p = plan(5)
    servers = [*healthy(p), ObservedServer("DR-LOCAL", "case-web-1", "ERROR", "gc.c4m8"),
               ObservedServer("DR-LOCAL", "other-system-1", "ERROR", "gc.c4m8"),
               ObservedServer("PROD", "case-web-1", "ERROR", "gc.c4m8")]
    assert verdict_of(p, servers).status is Compliance.COMPLIANT


def test_a_reason_names_three_servers_and_counts_the_rest() -> None:
    p = plan(3)
    members = tuple(Member(f"case-web-{n}", "gc.c4m8") for n in range(1, 8))
    v = judge(p, members, [], fresh(p), PASSED, NOW)
    assert v.reasons[0] == ("DR-REMOTE (cold copy): 7 of 7 servers missing (case-web-1; "
                            "case-web-2; case-web-3; and 4 more)")


def test_a_system_with_copies_but_no_known_servers_is_at_risk() -> None:
    p = plan(5)
    v = judge(p, (), [], fresh(p), PASSED, NOW)
    assert v.status is Compliance.AT_RISK
    assert v.reasons == ("no servers of the system are known in production: its copies "
                         "cannot be checked",)


def test_a_level_without_copies_or_drills_is_compliant() -> None:
    p = plan(1)
    v = judge(p, MEMBERS, [], [], None, NOW)
    assert v.status is Compliance.COMPLIANT
    assert v.reasons == ("DR level 1 keeps no copy outside production; no drill required",)
    assert v.copies == ()
    assert v.drill.state is DrillState.NOT_REQUIRED


# --- verdicts: drills -------------------------------------------------------------------------

def test_a_system_never_drilled_is_non_compliant_unless_its_first_drill_is_not_due() -> None:
    p = plan(5)
    v = verdict_of(p, healthy(p), last=None)
    assert v.status is Compliance.NON_COMPLIANT
    assert v.reasons == ("drill overdue: never drilled (every 6 months)",)
    new = judge(p, MEMBERS, healthy(p), fresh(p), None, NOW, since=NOW - timedelta(days=1))
    assert new.status is Compliance.COMPLIANT
    assert new.reasons == ("2 copies within RPO 30m; first drill not yet due",)


def test_an_overdue_or_nearly_due_drill() -> None:
    p = plan(5)
    overdue = Drill(NOW - timedelta(days=200), passed=True, rto=timedelta(hours=1))
    v = verdict_of(p, healthy(p), last=overdue)
    assert v.status is Compliance.NON_COMPLIANT
    assert v.reasons == ("drill overdue: a drill was due on 2026-11-21 (every 6 months)",)
    soon = Drill(NOW - timedelta(days=170), passed=True, rto=timedelta(hours=1))
    v = verdict_of(p, healthy(p), last=soon)
    assert v.status is Compliance.AT_RISK
    assert v.reasons == ("drill due on 2026-12-20",)


def test_a_failed_drill_or_one_over_the_target_rto_is_non_compliant() -> None:
    p = plan(5, rto=timedelta(hours=2))
    failed = Drill(NOW - timedelta(days=3), passed=False)
    assert verdict_of(p, healthy(p), last=failed).reasons == (
        "the last drill (2026-12-04) failed",)
    slow = Drill(NOW - timedelta(days=3), passed=True, rto=timedelta(hours=2, seconds=1))
    v = verdict_of(p, healthy(p), last=slow)
    assert v.status is Compliance.NON_COMPLIANT
    assert v.reasons == ("the last drill (2026-12-04) recovered in 2h1s, over the target RTO "
                         "of 2h",)
    on_time = Drill(NOW - timedelta(days=3), passed=True, rto=timedelta(hours=2))
    assert verdict_of(p, healthy(p), last=on_time).status is Compliance.COMPLIANT
