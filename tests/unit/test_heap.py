"""govcloud.heap.settle: what is alive leaves the collector's passes; cyclic garbage made of
frozen objects is still reclaimed at the next settle. govcloud.heap.bulk_allocations: the
collector's thresholds are raised while any block runs, and put back after the last."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from govcloud.heap import BULK_THRESHOLDS, bulk_allocations, settle


@pytest.fixture(autouse=True)
def _thaw() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the suite runs with the usual collector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def _tracked(obj: object) -> bool:
    """Whether the collector's generations (not the frozen ones) hold ``obj``."""
    return any(o is obj for o in gc.get_objects())


def test_settle_freezes_what_is_alive() -> None:
    kept = Node()
    assert _tracked(kept)
    assert settle() >= 0
    assert gc.get_freeze_count() > 0
    assert not _tracked(kept)  # frozen: no pass walks it until the next settle
    fresh = Node()
    assert _tracked(fresh)


def test_a_frozen_cycle_that_became_garbage_is_reclaimed_at_the_next_settle() -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    settle()
    del a, b
    gc.collect()  # an ordinary full collection does not see frozen objects
    assert ref() is not None
    settle()
    assert ref() is None


@pytest.fixture
def _thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_bulk_allocations_raise_the_thresholds_and_put_them_back(
        _thresholds: tuple[int, int, int]) -> None:
    with bulk_allocations():
        assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.isenabled()
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        del a, b
        gc.collect()  # cycles are still collected, only less often
        assert ref() is None
    assert gc.get_threshold() == _thresholds


def test_a_higher_threshold_is_kept(_thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(50_000, 5, 100)
    with bulk_allocations():
        assert gc.get_threshold() == (50_000, BULK_THRESHOLDS[1], 100)
    assert gc.get_threshold() == (50_000, 5, 100)


def test_overlapping_blocks_keep_them_raised_until_the_last_ends(
        _thresholds: tuple[int, int, int]) -> None:
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with bulk_allocations():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    with bulk_allocations():
        thread.start()
        assert entered.wait(10)
    assert gc.get_threshold() == BULK_THRESHOLDS  # the other thread's block still runs
    release.set()
    thread.join(10)
    assert gc.get_threshold() == _thresholds


def test_the_thresholds_come_back_when_the_block_fails(
        _thresholds: tuple[int, int, int]) -> None:
    with pytest.raises(RuntimeError), bulk_allocations():
        raise RuntimeError("a sync failed")
    assert gc.get_threshold() == _thresholds
