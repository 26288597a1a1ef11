"""govcloud.heap.settle: what is alive leaves the collector's passes; cyclic garbage made of
frozen objects is still reclaimed at the next settle."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from govcloud.heap import settle


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
