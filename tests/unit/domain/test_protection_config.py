"""The protection policy from configuration (govcloud.domain.protection_config and the
``dr_protection`` setting): the built-in table, overrides field by field, and every refusal
with its hint."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from govcloud.domain.protection import CopyRule, StandbyKind
from govcloud.domain.protection_config import (
    DEFAULT_PROTECTION,
    DEFAULT_TARGETS,
    parse_duration,
    placement_copies,
    protection_from_config,
    protection_to_config,
)
from govcloud.domain.provisioning import DEFAULT_POLICY, CopyKind, DrPolicy, PolicyRule
from govcloud.domain.sites import SiteRole
from govcloud.errors import InvalidInput
from govcloud.settings import load_settings

HOT_LOCAL = CopyRule(SiteRole.SAME_CITY_DR, StandbyKind.HOT)
COLD_REMOTE = CopyRule(SiteRole.REMOTE_DR, StandbyKind.COLD)


def levels(**rows: dict[str, Any]) -> dict[str, Any]:
    """``levels(l5={...})`` → ``{"levels": {5: {...}}}``."""
    return {"levels": {int(k[1:]): v for k, v in rows.items()}}


@pytest.mark.parametrize(("value", "seconds"), [
    (1800, 1800), (0, 0), (2.5, 2.5), ("1800", 1800), ("0", 0), ("0s", 0), ("30m", 1800),
    ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("1h30m", 5400), (" 30M ", 1800),
    ("366d", 366 * 86400)])
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value, "x") == timedelta(seconds=seconds)


@pytest.mark.parametrize("value", [
    -1, "-5", "1.5h", "30 m", "abc", "", "m", "30x", True, None, [30], float("nan"),
    float("inf"), "367d", 366 * 86400 + 1, "1" * 40])
def test_bad_durations_are_refused_with_a_hint(value: object) -> None:
    with pytest.raises(InvalidInput, match=r"^where\.rpo: .* is not a duration$") as info:
        parse_duration(value, "where.rpo")
    assert "30m, 12h, 7d" in (info.value.hint or "")


# --- the built-in table -----------------------------------------------------------------------

@pytest.mark.parametrize(("level", "rpo", "rto", "months", "copies"), [
    (1, timedelta(days=7), timedelta(days=7), None, ()),
    (2, timedelta(days=7), timedelta(days=3), None, ()),
    (3, timedelta(days=1), timedelta(days=2), 12, (COLD_REMOTE,)),
    (4, timedelta(days=1), timedelta(days=2), 12, (COLD_REMOTE,)),
    (5, timedelta(minutes=30), timedelta(days=2), 6, (HOT_LOCAL, COLD_REMOTE)),
    (6, timedelta(0), timedelta(minutes=30), 6, (HOT_LOCAL, COLD_REMOTE)),
])
def test_the_built_in_table(level: int, rpo: timedelta, rto: timedelta, months: int | None,
                            copies: tuple[CopyRule, ...]) -> None:
    row = DEFAULT_PROTECTION.for_level(level)
    assert (row.rpo, row.rto, row.drill_every_months, row.copies) == (rpo, rto, months, copies)
    assert DEFAULT_TARGETS[level] == (rpo, rto, months)
    assert (DEFAULT_PROTECTION.rpo_warning, DEFAULT_PROTECTION.drill_warning) == \
        (0.8, timedelta(days=30))


def test_the_table_round_trips_through_its_config_shape() -> None:
    config = protection_to_config(DEFAULT_PROTECTION)
    assert config["levels"][5] == {"rpo": "30m", "rto": "2d", "drill_every_months": 6,
                                   "copies": [{"site_role": "same-city-dr", "kind": "hot"},
                                              {"site_role": "remote-dr", "kind": "cold"}]}
    assert protection_from_config(config) == DEFAULT_PROTECTION
    # the environment gives JSON, whose keys are strings
    assert protection_from_config(json.loads(json.dumps(config))) == DEFAULT_PROTECTION
    assert protection_from_config({}) == protection_from_config(None) == DEFAULT_PROTECTION


# --- overrides --------------------------------------------------------------------------------

def test_an_override_replaces_only_the_fields_it_gives() -> None:
    policy = protection_from_config(levels(l5={"rpo": "15m", "drill_every_months": 3},
                                           l1={"drill_every_months": 24}))
    five = policy.for_level(5)
    assert (five.rpo, five.rto, five.drill_every_months, five.copies) == (
        timedelta(minutes=15), timedelta(days=2), 3, (HOT_LOCAL, COLD_REMOTE))
    assert policy.for_level(1).drill_every_months == 24
    assert [policy.for_level(n) for n in (2, 3, 4, 6)] == \
        [DEFAULT_PROTECTION.for_level(n) for n in (2, 3, 4, 6)]
    assert protection_from_config(levels(l3={"drill_every_months": None})).for_level(3) \
        .drill_every_months is None


def test_warning_thresholds_can_be_set() -> None:
    policy = protection_from_config({"rpo_warning": 0.5, "drill_warning_days": 0})
    assert (policy.rpo_warning, policy.drill_warning) == (0.5, timedelta(0))
    assert protection_from_config({"rpo_warning": 1}).rpo_warning == 1.0


def test_a_standby_may_be_kept_warm() -> None:
    policy = protection_from_config(levels(l5={"copies": [
        {"site_role": "remote-dr", "kind": "cold"},
        {"site_role": "same-city-dr", "kind": "warm"}]}))
    assert policy.for_level(5).copies == (COLD_REMOTE,
                                          CopyRule(SiteRole.SAME_CITY_DR, StandbyKind.WARM))


def test_copies_follow_the_placement_table_in_force() -> None:
    placement = DrPolicy((
        PolicyRule(3, 6, ((SiteRole.PRODUCTION, CopyKind.PRIMARY),
                          (SiteRole.SAME_CITY_DR, CopyKind.STANDBY))),
        PolicyRule(1, 2, ((SiteRole.PRODUCTION, CopyKind.PRIMARY),
                          (SiteRole.REMOTE_DR, CopyKind.COLD))),
    ))
    assert placement_copies(placement, 4) == (HOT_LOCAL,)
    policy = protection_from_config(None, placement)
    assert policy.for_level(1).copies == (COLD_REMOTE,)
    assert policy.for_level(6).copies == (HOT_LOCAL,)
    assert placement_copies(DEFAULT_POLICY, 2) == ()


# --- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("key", [0, 7, "7", "five", -1, True, "1.5"])
def test_an_unknown_level_is_refused(key: object) -> None:
    with pytest.raises(InvalidInput, match="dr_protection.levels: unknown DR level") as info:
        protection_from_config({"levels": {key: {"rpo": "1h"}}})
    assert info.value.hint == "DR levels are 1–6 (GB/T 20988)"


def test_a_level_given_twice_is_refused() -> None:
    with pytest.raises(InvalidInput, match="level 5 is given twice"):
        protection_from_config({"levels": {5: {"rpo": "1m"}, "5": {"rpo": "2m"}}})


@pytest.mark.parametrize(("row", "message"), [
    ({"rpo": "31m"}, "dr_protection.levels.5: DR level 5's RPO 31m is looser than the level "
                     "allows: at most 30m"),
    ({"rto": "3d"}, "DR level 5's RTO 3d is looser than the level allows: at most 2d"),
])
def test_loosening_a_level_beyond_the_standard_is_refused(row: dict[str, Any],
                                                          message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        protection_from_config(levels(l5=row))
    assert "GB/T 20988: RPO 0-30 minutes, RTO minutes to 2 days" in info.value.message
    assert "never loosened" in (info.value.hint or "")


def test_level_6_allows_no_data_loss_and_levels_1_to_3_no_rto_bound() -> None:
    with pytest.raises(InvalidInput, match="DR level 6's RPO 1s is looser"):
        protection_from_config(levels(l6={"rpo": 1}))
    assert protection_from_config(levels(l3={"rto": "30d"})).for_level(3).rto == \
        timedelta(days=30)


@pytest.mark.parametrize(("raw", "message", "hint"), [
    (levels(l5={"rpo": "soon"}), "dr_protection.levels.5.rpo: 'soon' is not a duration",
     "30m, 12h"),
    (levels(l4={"rto": -3}), "dr_protection.levels.4.rto: -3 is not a duration", "30m, 12h"),
    (levels(l5={"rpo": "1h", "rpoo": "1h"}), "dr_protection.levels.5: unknown field 'rpoo'",
     "rpo, rto, drill_every_months, copies"),
    ({"level": {}}, "dr_protection: unknown field 'level'", "levels, rpo_warning"),
    ({"levels": [5]}, "dr_protection.levels must map DR levels", "levels: {5:"),
    (levels(l5="15m"), "dr_protection.levels.5 must be a mapping", "rpo, rto"),
    (levels(l5={"drill_every_months": "6"}), "'6' is not a whole number", "or null"),
    (levels(l5={"drill_every_months": 0}), "a drill every 0 months is out of range", "1–120"),
    (levels(l5={"drill_every_months": True}), "True is not a whole number", "or null"),
    ({"rpo_warning": 0}, "rpo_warning 0.0 is out of range", "above 0 and at most 1"),
    ({"rpo_warning": 1.5}, "rpo_warning 1.5 is out of range", "above 0 and at most 1"),
    ({"rpo_warning": "most"}, "rpo_warning: 'most' is not a number", "0.8"),
    ({"drill_warning_days": -1}, "drill_warning_days: -1 is not 0–366 days", "whole days"),
    ({"drill_warning_days": 2.5}, "drill_warning_days: 2.5 is not 0–366 days", "whole days"),
    (["levels"], "dr_protection must be a mapping", "docs/dr.md"),
])
def test_bad_values_are_refused_with_where_and_a_hint(raw: Any, message: str,
                                                      hint: str) -> None:
    with pytest.raises(InvalidInput) as info:
        protection_from_config(raw)
    assert message in info.value.message
    assert hint in (info.value.hint or "")


@pytest.mark.parametrize(("copies", "message", "hint"), [
    ([{"site_role": "same-city-dr", "kind": "hot"}],
     "keeps copies in same-city-dr, but dr_policy places them in remote-dr, same-city-dr",
     "change both together"),
    ([{"site_role": "same-city-dr", "kind": "hot"}, {"site_role": "remote-dr", "kind": "cold"},
      {"site_role": "city", "kind": "cold"}], "keeps copies in city, remote-dr, same-city-dr",
     "leave copies out"),
    ([{"site_role": "same-city-dr", "kind": "cold"}, {"site_role": "remote-dr", "kind": "cold"}],
     "the same-city-dr copy is cold, but dr_policy provisions it as a standby",
     "kind hot or warm"),
    ([{"site_role": "same-city-dr", "kind": "hot"}, {"site_role": "remote-dr", "kind": "warm"}],
     "the remote-dr copy is warm, but dr_policy provisions it as a cold copy", "kind cold"),
    ([{"site_role": "same-city-dr", "kind": "lukewarm"}], "copies[0]:", "hot|warm|cold"),
    ([{"site_role": "moon", "kind": "hot"}], "copies[0]:", "site_role"),
    ([{"site_role": "remote-dr"}], "copies[0]:", "hot|warm|cold"),
    ([{"site_role": "remote-dr", "kind": "cold", "size": 3}], "unknown field 'size'",
     "site_role, kind"),
    (["remote-dr"], "copies[0] must be a mapping", "hot|warm|cold"),
    ("remote-dr", "copies must be a list", "hot|warm|cold"),
])
def test_copies_that_disagree_with_dr_policy_are_refused(copies: Any, message: str,
                                                        hint: str) -> None:
    with pytest.raises(InvalidInput) as info:
        protection_from_config(levels(l5={"copies": copies}))
    assert message in info.value.message
    assert info.value.message.startswith("dr_protection.levels.5")
    assert hint in (info.value.hint or "")


def test_a_level_whose_dr_policy_places_no_copy_takes_none() -> None:
    assert protection_from_config(levels(l2={"copies": []})).for_level(2).copies == ()
    with pytest.raises(InvalidInput, match="keeps copies in remote-dr, but dr_policy places "
                                           "them in no DR site"):
        protection_from_config(levels(l2={"copies": [{"site_role": "remote-dr",
                                                       "kind": "cold"}]}))


# --- the setting ------------------------------------------------------------------------------

def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "govcloud" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_setting_defaults_to_the_built_in_table() -> None:
    settings = load_settings()
    assert settings.dr_protection is None
    assert settings.protection_policy() == DEFAULT_PROTECTION


def test_the_setting_from_the_config_file(isolated_env: Path) -> None:
    write_config(isolated_env, "dr_protection:\n  levels:\n    5: {rpo: 10m, rto: 4h}\n"
                               "  drill_warning_days: 14\n")
    policy = load_settings().protection_policy()
    assert (policy.for_level(5).rpo, policy.for_level(5).rto) == (timedelta(minutes=10),
                                                                  timedelta(hours=4))
    assert policy.drill_warning == timedelta(days=14)


def test_the_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCLOUD_DR_PROTECTION", json.dumps({"levels": {"6": {"rto": "10m"}}}))
    assert load_settings().protection_policy().for_level(6).rto == timedelta(minutes=10)


def test_a_bad_table_stops_settings_from_loading_and_names_the_file(isolated_env: Path) -> None:
    path = write_config(isolated_env, "dr_protection:\n  levels:\n    5: {rpo: 1h}\n")
    with pytest.raises(InvalidInput) as info:
        load_settings()
    assert "dr_protection" in info.value.message
    assert "DR level 5's RPO 1h is looser than the level allows: at most 30m" in \
        info.value.message
    assert "never loosened" in info.value.message  # the domain's hint is kept
    assert str(path) in (info.value.hint or "")


def test_the_setting_is_checked_against_the_dr_policy_setting(isolated_env: Path) -> None:
    write_config(isolated_env, """
dr_policy:
  - levels: [1, 6]
    copies: [{site_role: production, kind: primary}, {site_role: remote-dr, kind: cold}]
dr_protection:
  levels:
    5: {copies: [{site_role: same-city-dr, kind: hot}]}
""")
    with pytest.raises(InvalidInput, match="keeps copies in same-city-dr, but dr_policy "
                                           "places them in remote-dr"):
        load_settings()
    write_config(isolated_env, """
dr_policy:
  - levels: [1, 6]
    copies: [{site_role: production, kind: primary}, {site_role: remote-dr, kind: cold}]
""")
    policy = load_settings().protection_policy()
    assert all(policy.for_level(n).copies == (COLD_REMOTE,) for n in range(1, 7))
