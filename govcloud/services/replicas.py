"""This replica among the ``govcloud serve`` replicas of one database: its identity, its
heartbeat, the leases of the background workers it runs, and what ``GET /status/replicas``
shows (docs/high-availability.md).

On PostgreSQL every replica serves the API and the workers are shared out by leases
(``govcloud.domain.replicas``; the worker side is ``govcloud.workers.leases``). On SQLite
there is one process (``govcloud serve`` refuses a second one: ``govcloud.store.single``), so
it runs every worker without leases and says ``single process``.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import threading
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Engine

from govcloud import __version__
from govcloud.domain.replicas import (
    MAX_REPLICA_ID,
    SINGLE_PROCESS,
    LeaseTiming,
    Replica,
    replica_id,
    replicas_view,
    single_process_view,
    workers_view,
)
from govcloud.store import replicas_repo as repo
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow

AUDIT_ACTOR = "control-plane"  # who takes a lease over: no principal, the replicas themselves


class Coordinator:
    """This replica's identity and its side of the leases; built once per plane."""

    def __init__(self, *, engine: Engine, timing: LeaseTiming, url: str | None = None,
                 host: str | None = None, pid: int | None = None) -> None:
        self.engine = engine
        self.timing = timing
        self.replicated = engine.dialect.name == "postgresql"
        host = (host or socket.gethostname() or "localhost")[:255]
        pid = os.getpid() if pid is None else pid
        now = utcnow()
        self.replica = Replica(id=replica_id(host, pid, secrets.token_hex(3)), host=host,
                               pid=pid, url=url, version=__version__[:32], started_at=now,
                               last_seen=now)
        self._lock = threading.Lock()
        self.workers: tuple[str, ...] = ()   # every worker this replica knows of
        self.enabled: frozenset[str] = frozenset()  # those its settings turn on
        self._running: set[str] = set()      # those running in this process now
        self._child: set[str] = set()        # and in its worker process

    @property
    def ttl(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.timing.ttl_s)

    def declare(self, workers: Sequence[str], enabled: Collection[str]) -> None:
        """The workers this replica knows of, and those its settings turn on."""
        self.workers = tuple(workers)
        self.enabled = frozenset(enabled)

    def running(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._running | self._child)

    def set_running(self, name: str, running: bool) -> None:
        with self._lock:
            (self._running.add if running else self._running.discard)(name)

    def replace_running(self, names: Collection[str]) -> None:
        """The workers running in this replica's worker process now, all at once (the API
        process learns them from it: ``govcloud.workers.process``); ``running`` adds those
        running beside the API (``govcloud.workers.BESIDE_API``)."""
        with self._lock:
            self._child = set(names)

    def act_for(self, replica: str, pid: int, started_at: str) -> None:
        """Work under the identity of the replica ``replica`` (the worker process of a
        ``govcloud serve`` takes and renews its parent's leases, and takes them back at once
        when started again)."""
        try:
            started = dt.datetime.fromisoformat(started_at)
        except ValueError:
            started = self.replica.started_at
        self.replica = Replica(**{**_fields(self.replica), "id": replica[:MAX_REPLICA_ID],
                                  "pid": pid, "started_at": started})

    # --- the leases (PostgreSQL) -------------------------------------------------------------

    def register(self) -> None:
        with write_begin(self.engine) as conn:
            repo.register(conn, self.replica)

    def beat(self, held: Collection[str]) -> set[str]:
        """Renew this replica's heartbeat and the leases of ``held``; which it still holds."""
        with write_begin(self.engine) as conn:
            found, kept = repo.beat(conn, self.replica.id, held, self.ttl)
            if not found:  # its row was lost (forgotten, or a failover lost it): again
                repo.register(conn, self.replica)
        return kept

    def acquire(self, worker: str) -> bool:
        """Take ``worker``'s lease if it is free; taking it from another replica (which died,
        or was cut off) is audited as ``worker.takeover``, in the same transaction."""
        with write_session(self.engine) as session:
            held, previous = repo.acquire(session.connection(), worker, self.replica.id,
                                          self.ttl)
            if previous is not None:
                AuditLog(session=session).append(
                    actor=AUDIT_ACTOR, action="worker.takeover", target=f"worker:{worker}",
                    before={"holder": previous},
                    after={"holder": self.replica.id, "host": self.replica.host})
            session.commit()
        return held

    def release(self, workers: Collection[str]) -> None:
        with write_begin(self.engine) as conn:
            repo.release(conn, self.replica.id, workers)

    def stopped(self) -> None:
        with write_begin(self.engine) as conn:
            repo.stopped(conn, self.replica.id)

    # --- what status shows --------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The replicas, each worker's holder and the database's role and replication lag;
        on SQLite, this one process."""
        head = {"replica": self.replica.id, "lease": self.timing.as_dict()}
        running = sorted(self.running())
        if not self.replicated:
            me = Replica(**{**_fields(self.replica), "last_seen": utcnow()})
            replicas, workers = single_process_view(me, self.workers, self.enabled)
            return {**head, "mode": SINGLE_PROCESS, "running_here": running,
                    "replicas": replicas, "workers": workers,
                    "database": {"backend": self.engine.dialect.name, "role": SINGLE_PROCESS,
                                 "server": None, "version": None,
                                 "synchronous_standby_names": None, "standbys": [],
                                 "replay_delay_s": None}}
        with self.engine.connect() as conn:
            now = repo.database_now(conn)
            known, leases = repo.list_replicas(conn), repo.list_leases(conn)
            database = repo.database_state(conn)
        return {**head, "mode": "replicated", "running_here": running,
                "replicas": replicas_view(known, leases, now, self.timing),
                "workers": workers_view(self.workers, leases, now, enabled=self.enabled),
                "database": database}


def _fields(replica: Replica) -> dict[str, Any]:
    return {name: getattr(replica, name) for name in Replica.__slots__}
