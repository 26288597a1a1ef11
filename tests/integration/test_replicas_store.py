"""The replicas' rows and the workers' leases in the store (govcloud.store.replicas_repo), on
SQLite and PostgreSQL: a lease is taken only when free or expired, renewed only by its holder,
given up at once; of replicas racing for an expired lease exactly one gets it; the
database's own state on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, update

from govcloud.domain.replicas import Replica
from govcloud.store import replicas_repo as repo
from govcloud.store.engine import write_begin
from govcloud.store.inventory import table
from govcloud.store.tables import utcnow

TTL = dt.timedelta(seconds=30)


def _replica(rid: str) -> Replica:
    now = utcnow()
    return Replica(rid, "host", 1, f"http://{rid}:8780", "1.0", now, now)


def _expire(engine: Engine, worker: str) -> None:
    lease = table("worker_lease")
    with write_begin(engine) as conn:
        conn.execute(update(lease).where(lease.c.worker == worker).values(
            expires_at=utcnow() - dt.timedelta(seconds=1)))


def test_a_lease_is_taken_when_free_renewed_by_its_holder_and_given_up(engine: Engine) -> None:
    with write_begin(engine) as conn:
        repo.register(conn, _replica("a"))
        repo.register(conn, _replica("b"))
        assert repo.acquire(conn, "sync", "a", TTL) == (True, None)
        assert repo.acquire(conn, "sync", "a", TTL) == (True, None)  # its own: still its own
        assert repo.acquire(conn, "sync", "b", TTL) == (False, None)
        assert repo.beat(conn, "a", {"sync"}, TTL) == (True, {"sync"})
        assert repo.beat(conn, "b", {"sync"}, TTL) == (True, set())  # not b's to renew
        assert repo.beat(conn, "ghost", set(), TTL) == (False, set())
    _expire(engine, "sync")
    with write_begin(engine) as conn:
        assert repo.acquire(conn, "sync", "b", TTL) == (True, "a")  # expired: taken over
        assert repo.beat(conn, "a", {"sync"}, TTL) == (True, set())  # a lost it
        (lease,) = repo.list_leases(conn)
        assert (lease.holder, lease.takeovers) == ("b", 1)
        assert repo.release(conn, "a", {"sync"}) == 0  # not a's to give up
        assert repo.release(conn, "b", {"sync"}) == 1
        assert repo.acquire(conn, "sync", "a", TTL) == (True, "b")  # given up: free at once
        repo.stopped(conn, "b")
        states = {r.id: r.stopped_at is not None for r in repo.list_replicas(conn)}
    assert states == {"a": False, "b": True}


def test_replicas_silent_for_a_week_are_forgotten(engine: Engine) -> None:
    rep = table("replica")
    with write_begin(engine) as conn:
        repo.register(conn, _replica("old"))
        conn.execute(update(rep).values(last_seen=utcnow() - dt.timedelta(days=8)))
        repo.register(conn, _replica("new"))
        assert [r.id for r in repo.list_replicas(conn)] == ["new"]


def test_of_replicas_racing_for_an_expired_lease_one_gets_it(engine: Engine) -> None:
    with write_begin(engine) as conn:
        assert repo.acquire(conn, "provision", "dead", TTL)[0]
    _expire(engine, "provision")
    got: list[str] = []
    start = threading.Barrier(6)

    def race(rid: str) -> None:
        start.wait()
        with write_begin(engine) as conn:
            if repo.acquire(conn, "provision", rid, TTL) == (True, "dead"):
                got.append(rid)

    threads = [threading.Thread(target=race, args=(f"r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 1, got
    with engine.connect() as conn:
        (lease,) = repo.list_leases(conn)
    assert lease.holder == got[0] and lease.takeovers == 1


@pytest.mark.postgres
def test_postgresql_says_its_role_and_its_standbys(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the database's own state is PostgreSQL's")
    with engine.connect() as conn:
        state = repo.database_state(conn)
        now = repo.database_now(conn)
    assert list(state) == ["backend", "role", "server", "version",
                           "synchronous_standby_names", "standbys", "replay_delay_s"]
    assert state["backend"] == "postgresql" and state["role"] == "primary"
    assert " " not in state["version"] and "/" not in state["server"]
    assert state["version"] and state["server"].rsplit(":", 1)[1].isdigit()
    assert isinstance(state["standbys"], list) and state["replay_delay_s"] is None
    assert abs((now - utcnow()).total_seconds()) < 60
