"""The backup series of a volume protection cycle: chains, incremental or full, and what
retention deletes (govcloud/domain/volume_backups.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from govcloud.domain.volume_backups import (
    BackupEntry,
    backup_name,
    chains,
    needs,
    series,
    to_delete,
    want_incremental,
)

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
VOL = "3f1c0e52-0000-4000-8000-000000000001"


def _series(kinds: str, statuses: str = "") -> list[BackupEntry]:
    """One backup per letter: F full, I incremental; statuses a (available), e (error)."""
    out = []
    for i, k in enumerate(kinds):
        status = {"a": "available", "e": "error", "c": "creating"}[(statuses or "a" * 99)[i]]
        out.append(BackupEntry(f"b{i}", backup_name(VOL, T0 + timedelta(minutes=i)),
                               k == "I", status))
    return out


def test_names_sort_in_time_order_and_the_series_is_one_volumes() -> None:
    entries = _series("FII")
    other = BackupEntry("x", backup_name("other-volume", T0), False, "available")
    foreign = BackupEntry("y", "nightly", False, "available")
    assert series([entries[2], other, entries[0], foreign, entries[1]], VOL) == entries
    assert backup_name(VOL, T0 + timedelta(microseconds=5)) > backup_name(VOL, T0)


def test_chains_start_at_each_full_backup_and_skip_failed_ones() -> None:
    entries = _series("FIIFI", "aaeaa")
    assert [[e.id for e in c] for c in chains(entries)] == [["b0", "b1"], ["b3", "b4"]]
    assert needs(entries, "b4") == ["b3", "b4"] and needs(entries, "b1") == ["b0", "b1"]
    assert needs(entries, "b2") == ["b2"]


def test_the_next_backup_is_full_first_and_when_the_chain_is_keep_long() -> None:
    assert not want_incremental([], 3)
    assert not want_incremental(_series("F", "e"), 3)  # nothing available to build on
    assert want_incremental(_series("FI"), 3)
    assert not want_incremental(_series("FII"), 3)
    assert want_incremental(_series("FIIF"), 3)


def test_retention_keeps_the_newest_the_protected_and_what_they_need() -> None:
    entries = _series("FIIFIIFI")
    # newest 3: b5 (needs b3, b4), b6, b7
    assert to_delete(entries, 3, ()) == ["b2", "b1", "b0"]
    # b1 named by a latest good point: b0 stays with it, b2 goes
    assert to_delete(entries, 3, {"b1"}) == ["b2"]
    assert to_delete(entries, 100, ()) == []
    # a failed backup goes; one being made stays, with the one it builds on
    assert to_delete(_series("FIFI", "aeac"), 1, ()) == ["b1", "b0"]
