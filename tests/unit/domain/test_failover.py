"""DR failover, pure: the confirmation, the target site, what an unplanned run skips, the
data-loss window, and the site plan (by DR level, in waves, refused when a receiving site is
short)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from govcloud.domain.failover import (
    FailoverAsk,
    FailoverKind,
    FailoverStep,
    SiteSystem,
    check_confirm,
    check_target,
    data_loss_s,
    site_plan,
    skipped,
)
from govcloud.domain.sites import default_sites
from govcloud.domain.steps import StepStatus, first_unfinished
from govcloud.errors import ConflictError, InvalidInput

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_a_failover_is_confirmed_by_naming_the_system() -> None:
    check_confirm("ledger", "ledger")
    for wrong in (None, "", "Ledger", "other"):
        with pytest.raises(InvalidInput, match="confirm") as caught:
            check_confirm("ledger", wrong)
        assert caught.value.hint == "add `--confirm ledger`"


def test_the_target_is_a_dr_site_and_a_failback_goes_to_production() -> None:
    sites = default_sites()
    assert check_target("DR-LOCAL", sites, kind=FailoverKind.PLANNED).name == "DR-LOCAL"
    assert check_target("DR-REMOTE", sites, kind=FailoverKind.UNPLANNED).name == "DR-REMOTE"
    with pytest.raises(InvalidInput, match="DR site, not 'PROD'") as caught:
        check_target("PROD", sites, kind=FailoverKind.PLANNED)
    assert "DR-LOCAL" in (caught.value.hint or "")
    assert check_target("anything", sites, kind=FailoverKind.FAILBACK).name == "PROD"


def test_an_ask_refuses_the_site_it_runs_in_and_bad_names() -> None:
    with pytest.raises(InvalidInput, match="already runs in DR-LOCAL"):
        FailoverAsk("gd-psd", "case", "DR-LOCAL", "DR-LOCAL", FailoverKind.PLANNED)
    with pytest.raises(InvalidInput):
        FailoverAsk("gd-psd", "bad name;", "PROD", "DR-LOCAL", FailoverKind.PLANNED)


def test_an_unplanned_failover_skips_what_needs_the_primary_and_resumes_past_it() -> None:
    why = skipped(FailoverKind.UNPLANNED)
    assert list(why) == [FailoverStep.FREEZE, FailoverStep.FINAL_CYCLE,
                         FailoverStep.STOP_PRIMARY]
    assert skipped(FailoverKind.PLANNED) == {} == skipped(FailoverKind.FAILBACK)
    order = tuple(FailoverStep)
    done = dict.fromkeys(why, StepStatus.SKIPPED) | {FailoverStep.PROMOTE: StepStatus.SUCCEEDED}
    assert first_unfinished(order, done) is FailoverStep.MOVE_ENDPOINT
    assert first_unfinished(order, {**done, FailoverStep.MOVE_ENDPOINT: StepStatus.FAILED}) \
        is FailoverStep.MOVE_ENDPOINT


def test_the_data_loss_window_is_the_points_age_at_the_loss() -> None:
    assert data_loss_s(NOW, NOW - timedelta(minutes=7)) == 420.0
    assert data_loss_s(NOW, NOW + timedelta(seconds=5)) == 0.0  # clock skew counts as none
    assert data_loss_s(NOW, None) is None


def _s(dept: str, system: str, level: int, target: str | None = "DR-LOCAL") -> SiteSystem:
    return SiteSystem(dept, system, level, 2, target)


def test_the_site_plan_orders_by_level_in_waves() -> None:
    systems = [_s("gd-a", "x", 3, "DR-REMOTE"), _s("gd-b", "y", 6), _s("gd-a", "z", 5),
               _s("gd-c", "w", 5), _s("gd-d", "v", 1, None), _s("gd-e", "u", 5)]
    plan = site_plan("PROD", systems, [{"site": "DR-LOCAL", "fits": True}], wave_size=2)
    assert [[(s.department, s.system) for s in w] for w in plan.waves] == [
        [("gd-b", "y")], [("gd-a", "z"), ("gd-c", "w")], [("gd-e", "u")], [("gd-a", "x")]]
    assert [s.system for s in plan.not_protected] == ["v"]
    answer = plan.as_json()
    assert [(w["wave"], w["level"]) for w in answer["waves"]] == [(1, 6), (2, 5), (3, 5),
                                                                  (4, 3)]


def test_the_site_plan_refuses_what_cannot_fit_saying_what_is_short() -> None:
    receiving = [{"site": "DR-LOCAL", "fits": False,
                  "shortfall": {"vcpu": 12, "ram_mb": 2048, "disk_gb": 0}},
                 {"site": "DR-REMOTE", "fits": True, "shortfall": {}}]
    with pytest.raises(ConflictError) as caught:
        site_plan("PROD", [_s("gd-a", "x", 5)], receiving)
    assert caught.value.message == "losing PROD: DR-LOCAL is short of 12 vCPUs, 2,048 MiB RAM"
    assert "--what-if-lose PROD" in (caught.value.hint or "")
