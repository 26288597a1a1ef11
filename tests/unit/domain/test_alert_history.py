"""The alert history's rules: an episode is known by its labels' fingerprint and its start,
whichever sender told of it; repeats and late "firing" resends change nothing, an end is set
once; Prometheus' alerts are resolved when their endsAt has passed; hostile labels are
refused, a hostile summary kept escaped; durations are clipped to the month (an open episode
up to the month's end, or now); the scorecard's figures per alertname."""

from __future__ import annotations

import datetime as dt

import pytest

from govcloud.domain.alert_history import (
    MAX_LABELS,
    MAX_SUMMARY,
    MAX_VALUE,
    Episode,
    clipped,
    fingerprint,
    fired,
    merged,
    new_end,
    prometheus_episode,
    webhook_episode,
)
from govcloud.domain.metering import Month
from govcloud.domain.scorecard import prometheus_alerts
from govcloud.errors import InvalidInput

UTC = dt.UTC
NOV = Month.parse("2026-11")
T = dt.datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
RECEIVED = dt.datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
UNSET = dt.datetime(1, 1, 1, tzinfo=UTC)  # Alertmanager's "no end known"
LABELS = {"alertname": "GovcloudDrRpoBreached", "department": "gd-psd", "site": "DR-LOCAL",
          "severity": "critical", "system": "portal"}


def hook(status: str = "firing", *, labels: dict[str, str] | None = None,
         starts: dt.datetime = T, ends: dt.datetime | None = UNSET,
         summary: str = "RPO breached") -> Episode:
    return webhook_episode(status=status, labels=labels or LABELS,
                           annotations={"summary": summary}, starts=starts, ends=ends,
                           received=RECEIVED)


def test_a_firing_alert_is_an_open_episode_keyed_by_its_labels_and_start() -> None:
    e = hook()
    assert (e.alertname, e.started, e.ended) == ("GovcloudDrRpoBreached", T, None)
    assert e.fingerprint == fingerprint(LABELS) and len(e.fingerprint) == 16
    assert e.label("department") == "gd-psd" and e.label("site") == "DR-LOCAL"
    assert e.summary == "RPO breached"
    # the order labels come in does not matter; any other label value does
    assert fingerprint(dict(reversed(list(LABELS.items())))) == e.fingerprint
    assert fingerprint({**LABELS, "site": "DR-REMOTE"}) != e.fingerprint


def test_a_resolved_alert_has_its_end() -> None:
    end = T + dt.timedelta(minutes=30)
    assert hook("resolved", ends=end).ended == end


@pytest.mark.parametrize("ends", [UNSET, None, T - dt.timedelta(seconds=1)])
def test_a_resolved_alert_without_a_sensible_end_is_refused(ends: dt.datetime | None) -> None:
    with pytest.raises(InvalidInput, match="alert 1 is resolved but its endsAt"):
        hook("resolved", ends=ends)


@pytest.mark.parametrize(("labels", "message"), [
    ({"severity": "critical"}, "has no alertname label"),
    ({**LABELS, "bad-name": "x"}, "'bad-name' is not a label name"),
    ({**LABELS, "9lives": "x"}, "is not a label name"),
    ({**LABELS, "system": "portal\x1b[2J"}, r"label system contains control characters \(U\+001B"),
    ({**LABELS, "system": "a\nb"}, "contains control characters"),
    ({**LABELS, "system": "\u202eevil"}, "contains control characters"),
    ({**LABELS, "system": "x" * (MAX_VALUE + 1)}, "longer than"),
    ({f"l{i}": "v" for i in range(MAX_LABELS + 1)}, "more than"),
])
def test_hostile_or_malformed_labels_are_refused(labels: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        hook(labels=labels)


def test_a_hostile_summary_is_kept_escaped_and_cut() -> None:
    e = hook(summary="<script>alert(1)</script>\x1b]0;pwned\x07 " + "y" * 2000)
    assert "\x1b" not in e.summary and "\x07" not in e.summary
    assert e.summary.startswith("<script>alert(1)</script>\\x1b]0;pwned\\x07 ")
    assert len(e.summary) <= MAX_SUMMARY + 10  # the escapes add a few characters
    # markup and other scripts are text: escaped where shown, never removed
    assert hook(labels={**LABELS, "system": "门户<b>"}).label("system") == "门户<b>"


@pytest.mark.parametrize("starts", [dt.datetime(1999, 12, 31, tzinfo=UTC),
                                    RECEIVED + dt.timedelta(days=2),
                                    dt.datetime(2026, 11, 10, 8, 0)])  # no time zone
def test_an_impossible_start_is_refused(starts: dt.datetime) -> None:
    with pytest.raises(InvalidInput, match="alert 1"):
        hook(starts=starts)


def test_a_status_other_than_firing_or_resolved_is_refused() -> None:
    with pytest.raises(InvalidInput, match="neither firing nor resolved"):
        hook("pending")


def test_prometheus_alerts_resolve_when_their_end_has_passed() -> None:
    def prom(ends: dt.datetime | None) -> Episode:
        return prometheus_episode(labels=LABELS, annotations={}, starts=T, ends=ends,
                                  received=RECEIVED)

    # firing: Prometheus sends an endsAt ahead (its resend validity), moved at every resend
    assert prom(RECEIVED + dt.timedelta(minutes=4)).ended is None
    assert prom(None).ended is None
    # resolved: the time it resolved
    assert prom(RECEIVED - dt.timedelta(minutes=1)).ended == RECEIVED - dt.timedelta(minutes=1)
    # the same alert from either sender is the same episode
    assert prom(None).fingerprint == hook().fingerprint
    with pytest.raises(InvalidInput, match="has no startsAt"):
        prometheus_episode(labels=LABELS, annotations={}, starts=None, ends=None,
                           received=RECEIVED)


def test_repeats_in_one_post_are_one_episode_the_ended_one_winning() -> None:
    end = T + dt.timedelta(minutes=5)
    out = merged([hook(), hook("resolved", ends=end), hook(),
                  hook(starts=T + dt.timedelta(hours=1))])
    assert sorted((e.started, e.ended) for e in out) == [(T, end),
                                                        (T + dt.timedelta(hours=1), None)]


def test_an_end_is_set_once_and_never_taken_back() -> None:
    end = T + dt.timedelta(minutes=5)
    assert new_end(None, end) == end          # told the end: set it
    assert new_end(None, None) is None        # a firing repeat: nothing to do
    assert new_end(end, None) is None         # a late firing repeat: not reopened
    assert new_end(end, end) is None          # a resolved repeat: nothing changes
    assert new_end(end, end + dt.timedelta(minutes=1)) is None  # the first end stays


def ep(name: str, start: dt.datetime, end: dt.datetime | None, **labels: str) -> Episode:
    every = {"alertname": name, **labels}
    return Episode(fingerprint(every), start, end, name, every)


def test_durations_are_clipped_to_the_window() -> None:
    oct_30 = dt.datetime(2026, 10, 30, tzinfo=UTC)
    dec_2 = dt.datetime(2026, 12, 2, tzinfo=UTC)
    assert clipped(ep("A", oct_30, dec_2), NOV.start, NOV.end) == NOV.end - NOV.start
    assert clipped(ep("A", oct_30, None), NOV.start, NOV.end) == NOV.end - NOV.start
    assert clipped(ep("A", T, T + dt.timedelta(hours=2)), NOV.start, NOV.end) == \
        dt.timedelta(hours=2)
    assert clipped(ep("A", oct_30, oct_30 + dt.timedelta(hours=1)), NOV.start, NOV.end) == \
        dt.timedelta(0)


def test_fired_groups_by_alertname_counting_overlaps_and_open_ones() -> None:
    oct_31 = dt.datetime(2026, 10, 31, 22, tzinfo=UTC)
    episodes = [
        ep("GovcloudDrRpoBreached", oct_31, NOV.start + dt.timedelta(hours=1),
           department="gd-psd", site="DR-LOCAL"),             # 1 h of it in November
        ep("GovcloudDrRpoBreached", T, T + dt.timedelta(hours=3), department="gd-tax"),
        ep("GovcloudDrRpoBreached", NOV.end - dt.timedelta(hours=2), None, site="PROD"),
        ep("GovcloudSiteDataStale", dt.datetime(2026, 10, 1, tzinfo=UTC),
           dt.datetime(2026, 10, 2, tzinfo=UTC)),              # October only: not shown
        ep("GovcloudApiProbeDown", NOV.end, None),             # December: not shown
    ]
    (rpo,) = fired(episodes, NOV.start, NOV.end)
    assert (rpo.alertname, rpo.episodes, rpo.began, rpo.open_at_end) == \
        ("GovcloudDrRpoBreached", 3, 2, 1)
    assert rpo.total == dt.timedelta(hours=6) and rpo.longest == dt.timedelta(hours=3)
    assert rpo.departments == ("gd-psd", "gd-tax") and rpo.sites == ("DR-LOCAL", "PROD")

    (figure,) = prometheus_alerts(NOV, [rpo], until=NOV.end + dt.timedelta(days=3),
                                  receiving_since=oct_31)
    assert (figure.section, figure.name, figure.value, figure.target, figure.met) == \
        ("alerts", "GovcloudDrRpoBreached fired", "3", "0", False)
    assert figure.detail == ("2 began in the month; total 6 h; longest 3 h; 1 still firing at "
                             "the month's end; departments gd-psd, gd-tax; sites DR-LOCAL, PROD")


def test_the_current_month_clips_open_episodes_at_now() -> None:
    now = T + dt.timedelta(hours=5)
    (f,) = fired([ep("X", T, None)], NOV.start, now)
    assert f.total == dt.timedelta(hours=5)
    (figure,) = prometheus_alerts(NOV, [f], until=now, receiving_since=T)
    assert "1 firing now" in figure.detail and "total 5 h" in figure.detail


def test_no_alert_is_met_only_once_govcloud_is_known_to_be_told() -> None:
    (never,) = prometheus_alerts(NOV, [], until=NOV.end, receiving_since=None)
    assert (never.value, never.met) == ("-", None)
    assert "point Alertmanager at it" in never.detail
    (later,) = prometheus_alerts(NOV, [], until=NOV.end, receiving_since=NOV.end)
    assert later.met is None  # told of alerts only after the month: no judgement of it
    (quiet,) = prometheus_alerts(NOV, [], until=NOV.end,
                                 receiving_since=dt.datetime(2026, 9, 1, tzinfo=UTC))
    assert (quiet.value, quiet.target, quiet.met) == ("0", "0", True)
    assert quiet.detail == "none fired (alerts received since 2026-09-01)"


def test_one_alert_seen_from_several_instances_counts_once() -> None:
    hour = dt.timedelta(hours=1)
    episodes = [ep("GovcloudDrRpoBreached", T, T + 2 * hour, site="DR-LOCAL", instance="a:8780",
                   datacentre="PROD"),
                ep("GovcloudDrRpoBreached", T + hour, T + 3 * hour, site="DR-LOCAL",
                   instance="b:8780", datacentre="DR-LOCAL"),
                ep("GovcloudDrRpoBreached", T + 10 * hour, None, site="DR-LOCAL",
                   instance="a:8780", datacentre="PROD"),             # later: another one
                ep("GovcloudDrRpoBreached", T, T + hour, site="DR-REMOTE", instance="a:8780")]
    (rpo,) = fired(episodes, NOV.start, NOV.end)
    assert rpo.episodes == 3  # DR-LOCAL 08:00-11:00 (two instances), DR-LOCAL later, DR-REMOTE
    assert rpo.longest == NOV.end - (T + 10 * hour)
    assert rpo.total == 3 * hour + hour + (NOV.end - (T + 10 * hour))
    assert rpo.sites == ("DR-LOCAL", "DR-REMOTE")
