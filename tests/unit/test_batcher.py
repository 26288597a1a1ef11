"""The Batcher under approvals (store/group_commit.py), with real threads: callers that
queue while a batch runs share the next one, in arrival order; a piece's error is its own; a
handler that raises fails every piece it left unanswered; under load a new leader gathers.

No fixed sleeps as synchronisation: a test waits until the batcher holds the callers it needs
queued (``wait_queued``), and every wall-clock bound is far from the behaviour it tells apart
(``gather_s`` of 60 s against a bound of 30 s), so a loaded machine cannot decide a result."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from govcloud.store.group_commit import Batcher, Piece
from tests.waiting import wait_until


class Recorder:
    """A handler that records its batches; item "boom" fails alone, "crash" fails the batch."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.inside = threading.Event()

    def __call__(self, batch: list[Piece]) -> None:
        self.batches.append([p.item for p in batch])
        self.inside.set()
        assert self.gate.wait(30)
        if any(p.item == "crash" for p in batch):
            batch[0].result = "answered before the crash"
            raise RuntimeError("the commit failed")
        for p in batch:
            if p.item == "boom":
                p.error = ValueError("boom refused")
            else:
                p.result = f"done {p.item}"


def call_all(batcher: Batcher, items: list[Any], results: dict[Any, Any]) -> list[threading.Thread]:
    def call(item: Any) -> None:
        try:
            results[item] = batcher.run(item)
        except Exception as exc:  # noqa: BLE001 - recorded for the assertions
            results[item] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in items]
    for t in threads:
        t.start()
    return threads


def wait_queued(batcher: Batcher, n: int) -> None:
    wait_until(lambda: batcher.queued >= n, 30, f"{n} callers queued")


def test_callers_queued_during_a_batch_share_the_next_one_and_fail_alone() -> None:
    handler = Recorder()
    batcher = Batcher(handler)
    results: dict[Any, Any] = {}
    handler.gate.clear()
    first = call_all(batcher, ["first"], results)
    assert handler.inside.wait(30)  # the first batch runs: the others queue behind it
    items = [f"p{i}" for i in range(10)] + ["boom"]
    threads = call_all(batcher, items, results)
    wait_queued(batcher, len(items))
    handler.gate.set()
    for t in first + threads:
        t.join(30)
    assert handler.batches[0] == ["first"]
    assert len(handler.batches) == 2 and sorted(handler.batches[1]) == sorted(items)
    assert batcher.batches == 2
    assert isinstance(results["boom"], ValueError) and "boom refused" in str(results["boom"])
    assert all(results[i] == f"done {i}" for i in ["first", *items] if i != "boom")


def test_a_handler_that_raises_fails_every_piece_of_its_batch_and_the_next_works() -> None:
    handler = Recorder()
    batcher = Batcher(handler)
    with pytest.raises(RuntimeError, match="the commit failed"):
        batcher.run("crash")
    results: dict[Any, Any] = {}
    handler.gate.clear()
    threads = call_all(batcher, ["a"], results)
    assert handler.inside.wait(30)
    threads += call_all(batcher, ["b", "crash"], results)
    wait_queued(batcher, 2)
    handler.gate.set()
    for t in threads:
        t.join(30)
    assert results["a"] == "done a"
    # "b" was answered by the handler before it raised: it fails with the batch all the same
    assert all(isinstance(results[i], RuntimeError) for i in ("b", "crash"))
    assert batcher.run("after") == "done after"


def test_under_load_a_new_leader_gathers_as_many_as_the_last_batch() -> None:
    handler = Recorder()
    batcher = Batcher(handler, gather_s=60.0)
    results: dict[Any, Any] = {}
    handler.gate.clear()
    threads = call_all(batcher, ["x"], results)
    assert handler.inside.wait(30)
    threads += call_all(batcher, ["a", "b", "c"], results)
    wait_queued(batcher, 3)
    handler.gate.set()
    for t in threads:
        t.join(30)
    assert handler.batches[-1] and sorted(handler.batches[-1]) == ["a", "b", "c"]
    # the last batch held three: the next leader waits for three callers, not for gather_s
    batches = len(handler.batches)
    t0 = time.monotonic()
    threads = call_all(batcher, ["d"], results)
    wait_queued(batcher, 1)  # "d" leads and gathers (it would be answered alone otherwise)
    threads += call_all(batcher, ["e", "f"], results)
    for t in threads:
        t.join(30)
    assert time.monotonic() - t0 < 30.0  # three came: it did not wait out gather_s (60 s)
    assert len(handler.batches) == batches + 1  # "d" did not go alone
    assert sorted(handler.batches[-1]) == ["d", "e", "f"]
    # after a batch of three, one caller alone waits at most gather_s, then goes alone
    short = Batcher(handler, gather_s=0.3)
    short._last = 3
    t0 = time.monotonic()
    assert short.run("g") == "done g"
    assert 0.25 <= time.monotonic() - t0 < 20.0
    assert handler.batches[-1] == ["g"]
    # and with one caller at a time (last batch of one) nobody waits, however long gather_s
    single = Batcher(handler, gather_s=60.0)
    single._last = 1
    t0 = time.monotonic()
    assert single.run("h") == "done h"
    assert time.monotonic() - t0 < 30.0
    assert handler.batches[-1] == ["h"]


def test_a_gathering_leader_stops_when_callers_stop_coming_not_while_they_trickle_in() -> None:
    """``idle_s``: with a last batch of five, callers queuing 1 s apart keep the leader
    gathering past ``idle_s`` (3 s) until all five are there; a caller alone goes after
    ``idle_s``, long before ``gather_s`` (60 s). The gaps leave 2 s of slack for a loaded
    machine (with 0.3 s against 1 s, a slow thread start let the leader go early)."""
    handler = Recorder()
    batcher = Batcher(handler, gather_s=60.0, idle_s=3.0)
    batcher._last = 5
    results: dict[Any, Any] = {}
    t0 = time.monotonic()
    threads = []
    for n, name in enumerate(("a", "b", "c", "d", "e"), 1):
        threads += call_all(batcher, [name], results)
        if n < 5:  # the fifth completes the batch: the leader may take it before a look
            wait_queued(batcher, n)
            time.sleep(1.0)  # the trickle itself (the test's input), well inside idle_s
    for t in threads:
        t.join(30)
    assert sorted(handler.batches[-1]) == ["a", "b", "c", "d", "e"]  # one batch, 4 s+
    assert time.monotonic() - t0 < 30.0
    t0 = time.monotonic()
    assert batcher.run("alone") == "done alone"
    assert 2.9 <= time.monotonic() - t0 < 30.0
    assert handler.batches[-1] == ["alone"]


def test_with_idle_s_a_burst_after_a_batch_of_one_is_one_batch_and_a_lone_caller_waits_idle_s(
        ) -> None:
    handler = Recorder()
    batcher = Batcher(handler, gather_s=60.0, idle_s=3.0)  # 3 s: slack for a loaded machine
    assert batcher.run("first") == "done first"  # last batch: one
    results: dict[Any, Any] = {}
    threads = []
    for n, name in enumerate(("a", "b", "c"), 1):  # a burst: the first waits for the others
        threads += call_all(batcher, [name], results)
        wait_queued(batcher, n)
    for t in threads:
        t.join(30)
    assert sorted(handler.batches[-1]) == ["a", "b", "c"]
    for name in ("x", "y"):  # one at a time again: each alone, after idle_s, not gather_s
        t0 = time.monotonic()
        assert batcher.run(name) == f"done {name}"
        assert 2.9 <= time.monotonic() - t0 < 30.0
        assert handler.batches[-1] == [name]
