"""The retention policy's checks and cut-offs, and which capacity samples thinning keeps."""

from __future__ import annotations

import datetime as dt

import pytest

from govcloud.domain.retention import RetentionPolicy, thinned
from govcloud.errors import InvalidInput

T = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


def test_thinning_keeps_the_earliest_of_each_sites_hour() -> None:
    samples = [(1, "PROD", at(50)), (2, "PROD", at(5)), (3, "DR", at(5)), (4, "PROD", at(65)),
               (5, "PROD", at(70)), (6, "DR", at(59))]
    assert thinned(samples) == [1, 5, 6]  # kept: 2 (08:05), 3 (DR 08:05), 4 (09:05)
    assert thinned([]) == []


def test_an_hour_kept_by_an_earlier_batch_keeps_no_second_sample() -> None:
    assert thinned([(7, "PROD", at(10)), (8, "PROD", at(75))],
                   kept={("PROD", T)}) == [7]


def test_cutoffs_are_the_days_before_now() -> None:
    cut = RetentionPolicy(events_days=90, samples_days=30).cutoffs(T)
    assert cut.events == T - dt.timedelta(days=90)
    assert cut.samples == T - dt.timedelta(days=30)
    assert cut.sample_hours == T - dt.timedelta(days=400)


@pytest.mark.parametrize("kwargs", [{"events_days": 0.5}, {"notifications_days": 40000},
                                    {"samples_days": 100, "sample_hours_days": 50}])
def test_a_policy_that_keeps_nothing_or_less_hourly_than_raw_is_refused(
        kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        RetentionPolicy(**kwargs)
