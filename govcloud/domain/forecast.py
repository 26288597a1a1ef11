"""Days-to-full: when will a resource run out at the current rate of growth?

The allocated amount is fitted against time by ordinary least squares,
``allocated ≈ a + b·t`` (t in days), and the forecast is where that line reaches capacity:
``t_full = (capacity − a) / b``. Flat or shrinking use (b ≤ 0) never fills up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from govcloud.errors import InvalidInput

DAY = 86_400.0
# growth below this fraction of the allocated amount per day is rounding noise, not growth
FLAT = 1e-9


class ForecastStatus(StrEnum):
    FILLS = "fills"  # growing; ``days`` says when it is full
    FULL = "full"  # the trend line is at or past capacity already
    NOT_GROWING = "not-growing"  # flat or shrinking: no date
    NOT_ENOUGH_HISTORY = "not-enough-history"  # fewer than two distinct sample times


@dataclass(frozen=True, slots=True)
class Sample:
    """The amount allocated at one moment (an aware datetime)."""

    at: dt.datetime
    allocated: float


@dataclass(frozen=True, slots=True)
class Forecast:
    status: ForecastStatus
    capacity: float
    samples: int
    days: float | None = None  # from ``now`` to full; None unless FILLS or FULL
    full_at: dt.datetime | None = None
    growth_per_day: float | None = None  # the fitted slope b; None without enough history

    @property
    def message(self) -> str:
        if self.status is ForecastStatus.NOT_ENOUGH_HISTORY:
            return (f"not enough history: {self.samples} sample(s); a trend needs at least two "
                    "at different times")
        if self.status is ForecastStatus.NOT_GROWING:
            return f"not growing ({self.growth_per_day or 0.0:+.2f}/day): no date to full"
        if self.status is ForecastStatus.FULL:
            return "full now at the current trend"
        return f"full in {self.days:.1f} days at {self.growth_per_day:+.2f}/day"

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "capacity": self.capacity,
                "samples": self.samples,
                "days": None if self.days is None else round(self.days, 2),
                "full_at": None if self.full_at is None else self.full_at.isoformat(),
                "growth_per_day": self.growth_per_day, "message": self.message}


def linear_fit(points: Iterable[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares ``(a, b)`` of ``y ≈ a + b·x``; None with fewer than two distinct x."""
    pts = list(points)
    n = len(pts)
    if n < 2:
        return None
    mean_x = sum(x for x, _ in pts) / n
    mean_y = sum(y for _, y in pts) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in pts)
    if sxx == 0.0:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in pts)
    b = sxy / sxx
    return mean_y - b * mean_x, b


def days_to_full(samples: Iterable[Sample], capacity: float, *,
                 now: dt.datetime | None = None) -> Forecast:
    """Forecast when allocation reaches ``capacity``, counted in days from ``now``.

    ``now`` defaults to the newest sample's time. Samples need not be sorted.
    """
    history = list(samples)
    if any(s.at.tzinfo is None for s in history):
        raise InvalidInput("forecast samples need time zones (aware datetimes)")
    history.sort(key=lambda s: s.at)
    if now is not None and now.tzinfo is None:
        raise InvalidInput("now needs a time zone (an aware datetime)")
    origin = history[0].at if history else None
    fit = None if origin is None else linear_fit(
        ((s.at - origin).total_seconds() / DAY, float(s.allocated)) for s in history)
    if fit is None or origin is None:
        return Forecast(ForecastStatus.NOT_ENOUGH_HISTORY, capacity, len(history))
    a, b = fit
    if b <= FLAT * max(1.0, max(abs(float(s.allocated)) for s in history)):
        return Forecast(ForecastStatus.NOT_GROWING, capacity, len(history), growth_per_day=b)
    reference = now if now is not None else history[-1].at
    t_full = (capacity - a) / b
    try:
        full_at: dt.datetime | None = origin + dt.timedelta(days=t_full)
    except OverflowError:  # centuries away: no calendar date worth showing
        full_at = None
    days = t_full - (reference - origin).total_seconds() / DAY
    if days <= 0.0:
        return Forecast(ForecastStatus.FULL, capacity, len(history), days=0.0,
                        full_at=full_at, growth_per_day=b)
    return Forecast(ForecastStatus.FILLS, capacity, len(history), days=days, full_at=full_at,
                    growth_per_day=b)
