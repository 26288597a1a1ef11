"""The protection schedule (pure): due times per copy kind, backoff from the failed cycles
since the last good one, retention that never drops the latest good point, the manifest read
from checksums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from govcloud.domain.protection import StandbyKind
from govcloud.domain.protection_schedule import (
    CycleHistory,
    HistoryEntry,
    ProtectionSchedule,
    backoff_delay,
    failures_since_ok,
    is_due,
    manifest_differences,
    next_due,
    parse_sums,
    points_to_prune,
)
from govcloud.domain.recovery import PointStatus
from govcloud.errors import InvalidInput

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
OK, FAILED, PARTIAL = PointStatus.OK, PointStatus.FAILED, PointStatus.PARTIAL
HOT, WARM, COLD = StandbyKind.HOT, StandbyKind.WARM, StandbyKind.COLD
H = "a" * 64


def test_the_default_intervals_are_5_minutes_1_hour_and_a_day() -> None:
    s = ProtectionSchedule()
    assert (s.interval(HOT), s.interval(WARM), s.interval(COLD)) == (
        timedelta(minutes=5), timedelta(hours=1), timedelta(days=1))


def test_a_copy_never_protected_is_due_at_once() -> None:
    s = ProtectionSchedule()
    assert next_due(COLD, CycleHistory(), s) is None
    assert is_due(COLD, CycleHistory(), s, T0)


def test_after_a_good_cycle_the_next_is_due_one_interval_later() -> None:
    s = ProtectionSchedule()
    good = CycleHistory(last_at=T0, last_ok_at=T0, failures=0)
    assert next_due(HOT, good, s) == T0 + timedelta(minutes=5)
    assert not is_due(HOT, good, s, T0 + timedelta(minutes=4, seconds=59))
    assert is_due(HOT, good, s, T0 + timedelta(minutes=5))
    assert next_due(COLD, good, s) == T0 + timedelta(days=1)


def test_failures_back_off_exponentially_capped_by_the_interval_and_the_maximum() -> None:
    s = ProtectionSchedule(backoff=timedelta(minutes=1), backoff_max=timedelta(hours=6))
    assert [backoff_delay(n, s, COLD).total_seconds() / 60 for n in range(1, 7)] == \
        [1, 2, 4, 8, 16, 32]
    assert backoff_delay(12, s, COLD) == timedelta(hours=6)       # the maximum
    assert backoff_delay(12, s, HOT) == timedelta(minutes=5)      # never over the interval
    assert backoff_delay(10_000, s, WARM) == timedelta(hours=1)   # no overflow
    failing = CycleHistory(last_at=T0, last_ok_at=T0 - timedelta(hours=1), failures=3)
    assert next_due(COLD, failing, s) == T0 + timedelta(minutes=4)


def test_consecutive_failures_count_only_since_the_last_good_cycle() -> None:
    assert failures_since_ok([]) == 0
    assert failures_since_ok([OK, FAILED, FAILED]) == 0
    assert failures_since_ok([FAILED, PARTIAL, OK, FAILED]) == 2
    assert failures_since_ok([FAILED, FAILED]) == 2


def _entries(*statuses: PointStatus) -> list[HistoryEntry]:
    """Newest first: id n is n minutes before T0."""
    return [HistoryEntry(i + 1, T0 - timedelta(minutes=i), s) for i, s in enumerate(statuses)]


def test_retention_keeps_the_newest_n_and_never_the_latest_good_point() -> None:
    history = _entries(FAILED, FAILED, FAILED, OK, FAILED, OK)
    # keep 2: the two newest failures stay, and so does the latest good point (id 4)
    assert points_to_prune(history, 2, latest_ok=4) == [3, 5, 6]
    # the latest good point per the store is spared even when the history says otherwise
    assert points_to_prune(history, 1, latest_ok=6) == [2, 3, 5]
    assert 4 not in points_to_prune(history, 1, latest_ok=6)  # the newest ok one too
    assert points_to_prune(history, 10, latest_ok=4) == []


def test_retention_orders_by_time_not_by_the_order_given() -> None:
    history = list(reversed(_entries(OK, OK, OK)))
    assert points_to_prune(history, 1, latest_ok=1) == [2, 3]


def test_the_manifest_is_read_from_checksum_output() -> None:
    output = "\n".join([
        "a profile script's warning", "== /srv", f"{H}  ./a.txt", f"{'b' * 64}  ./d/b.bin",
        f"\\{'c' * 64}  ./odd\\nname", "== /var/lib/app", f"{'d' * 64}  ./db"])
    assert parse_sums(output) == (
        ("/srv/a.txt", "sha256:" + H), ("/srv/d/b.bin", "sha256:" + "b" * 64),
        ("/var/lib/app/db", "sha256:" + "d" * 64))


def test_the_manifest_is_bounded() -> None:
    output = "== /srv\n" + "\n".join(f"{H}  ./f{i}" for i in range(11))
    assert len(parse_sums(output, max_files=11)) == 11
    with pytest.raises(InvalidInput, match="more than 10 files"):
        parse_sums(output, max_files=10)


def test_manifest_differences_in_words() -> None:
    a = [("/srv/a", "sha256:" + H), ("/srv/b", "sha256:" + H)]
    b = [("/srv/a", "sha256:" + "f" * 64), ("/srv/c", "sha256:" + H)]
    assert manifest_differences(a, b) == ["missing /srv/b", "differs /srv/a", "extra /srv/c"]
    assert manifest_differences(a, a) == []
    many = [(f"/srv/{i}", "sha256:" + H) for i in range(9)]
    assert manifest_differences(many, [], most=3)[-1] == "and 6 more"


def test_a_bad_schedule_is_refused() -> None:
    with pytest.raises(InvalidInput):
        ProtectionSchedule(every={HOT: timedelta(0)})
    with pytest.raises(InvalidInput):
        ProtectionSchedule(backoff=timedelta(hours=2), backoff_max=timedelta(hours=1))
    with pytest.raises(InvalidInput):
        ProtectionSchedule(keep=0)
