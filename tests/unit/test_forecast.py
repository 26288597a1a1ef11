from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from govcloud.domain.forecast import ForecastStatus, Sample, days_to_full, linear_fit
from govcloud.errors import InvalidInput

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def test_linear_growth_gives_the_day_it_reaches_capacity() -> None:
    samples = [Sample(day(d), 1000 + 10 * d) for d in range(30)]
    f = days_to_full(samples, capacity=2000)
    assert f.status is ForecastStatus.FILLS
    assert f.growth_per_day == pytest.approx(10)
    assert f.days == pytest.approx(100 - 29)  # from the newest sample
    assert f.full_at == day(100)
    assert "71.0 days" in f.message
    assert f.to_dict()["status"] == "fills"


def test_now_moves_the_count() -> None:
    samples = [Sample(day(0), 0), Sample(day(10), 100)]
    assert days_to_full(samples, 200, now=day(5)).days == pytest.approx(15)


def test_noisy_history_uses_the_least_squares_trend() -> None:
    samples = [Sample(day(0), 10), Sample(day(1), 14), Sample(day(2), 10), Sample(day(3), 14)]
    a, b = linear_fit(((s.at - T0).days, s.allocated) for s in samples) or (0, 0)
    assert b == pytest.approx(0.8) and a == pytest.approx(10.8)
    assert days_to_full(samples, 50).days == pytest.approx((50 - 10.8) / 0.8 - 3)


@pytest.mark.parametrize("values", [[5, 5, 5], [9, 7, 3]])
def test_flat_or_shrinking_use_never_fills(values: list[int]) -> None:
    f = days_to_full([Sample(day(i), v) for i, v in enumerate(values)], 10)
    assert f.status is ForecastStatus.NOT_GROWING
    assert f.days is None and f.full_at is None
    assert "not growing" in f.message


@pytest.mark.parametrize("samples", [[], [Sample(T0, 5)], [Sample(T0, 5), Sample(T0, 9)]])
def test_not_enough_history(samples: list[Sample]) -> None:
    f = days_to_full(samples, 10)
    assert f.status is ForecastStatus.NOT_ENOUGH_HISTORY
    assert f.days is None
    assert f.message.startswith("not enough history")


def test_already_past_capacity_is_full_now() -> None:
    f = days_to_full([Sample(day(0), 50), Sample(day(1), 120)], 100)
    assert f.status is ForecastStatus.FULL and f.days == 0.0


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InvalidInput):
        days_to_full([Sample(dt.datetime(2026, 1, 1), 1), Sample(day(1), 2)], 10)


def test_a_tiny_slope_far_away_has_no_calendar_date() -> None:
    f = days_to_full([Sample(day(0), 0), Sample(day(1), 1e-3)], 1e12)
    assert f.status is ForecastStatus.FILLS
    assert f.full_at is None and f.days is not None and f.days > 1e12


@given(intercept=st.floats(0, 1e6), slope=st.floats(0.01, 1e4),
       gap=st.floats(1, 1e6), times=st.lists(st.floats(0, 3650), min_size=2, max_size=40,
                                             unique=True))
def test_an_exact_line_forecasts_its_root(intercept: float, slope: float, gap: float,
                                          times: list[float]) -> None:
    assume(max(times) - min(times) > 1e-3)
    samples = [Sample(day(t), intercept + slope * t) for t in times]
    capacity = intercept + slope * max(times) + gap  # above the newest sample
    f = days_to_full(samples, capacity, now=T0)
    root = (capacity - intercept) / slope
    assert f.status is ForecastStatus.FILLS
    assert f.growth_per_day == pytest.approx(slope, rel=1e-6)
    assert f.days == pytest.approx(root, rel=1e-6, abs=1e-6)
