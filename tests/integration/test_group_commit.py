"""Group commit on both databases: callers that arrive while a batch runs share the next one;
each piece sees what the pieces before it wrote (the outcome of running them one after
another); a piece that raises is rolled back alone and gets its own error; one commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.services.group_commit import GroupCommit
from govcloud.store.audit import AuditLog
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    eng = make_engine(database_url)
    try:
        yield eng
    finally:
        eng.dispose()


def _append(name: str, *, fail: bool = False) -> Any:
    def fn(session: Session) -> int:
        entry = AuditLog(session=session).append(actor="t", action=name, target="test")
        if fail:
            raise ValueError(f"{name} refused")
        return entry.seq
    return fn


def test_queued_callers_share_one_batch_and_a_failure_fails_alone(engine: Engine) -> None:
    committer = GroupCommit(engine)
    gate, inside = threading.Event(), threading.Event()

    def first(session: Session) -> int:
        seq = _append("first")(session)
        inside.set()
        assert gate.wait(30)
        return int(seq)

    results: dict[str, Any] = {}

    def call(name: str, fn: Any) -> None:
        try:
            results[name] = committer.run(fn)
        except ValueError as exc:
            results[name] = exc

    leader = threading.Thread(target=call, args=("first", first))
    leader.start()
    assert inside.wait(30)  # the first batch is running: the others queue behind it
    names = [f"p{i}" for i in range(10)]
    threads = [threading.Thread(target=call, args=(n, _append(n, fail=n == "p3")))
               for n in names]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while committer.batcher.queued < len(names):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    gate.set()
    for t in [leader, *threads]:
        t.join(30)

    assert committer.batcher.batches == 2  # the leader's, then everyone else's in one
    assert isinstance(results["p3"], ValueError) and "p3 refused" in str(results["p3"])
    ok = {n: v for n, v in results.items() if n != "p3"}
    assert ok["first"] == 1
    # one after another: each piece chained to the one committed before it, no gap for p3
    assert sorted(ok.values()) == list(range(1, len(ok) + 1))
    with Session(engine) as session:
        log = AuditLog(session=session)
        entries = log.list_entries(limit=100)
        assert [e.action for e in entries] == sorted(ok, key=lambda n: ok[n])
        assert log.verify().ok


def test_many_concurrent_callers_all_commit_in_one_chain(engine: Engine) -> None:
    committer = GroupCommit(engine)
    seqs: list[int] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        seq = committer.run(_append(f"c{i}"))
        with lock:
            seqs.append(seq)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(seqs) == list(range(1, 41))  # none lost, none twice
    with Session(engine) as session:
        assert AuditLog(session=session).verify().ok
