"""The replicas and their workers' leases (``replica``, ``worker_lease``), and what the
database says of itself (its role, its standbys and their lag). Every time is the database's
clock (``database_now``), so the replicas' own clocks never decide who holds a lease.

A lease is taken with one ``INSERT ... ON CONFLICT (worker) DO UPDATE ... WHERE`` the lease
has expired (or is the caller's already): on PostgreSQL the conflicting row is locked and the
``WHERE`` judged on its newest version, so of two replicas racing for an expired lease exactly
one gets it. The caller commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, case, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from govcloud.domain.replicas import Lease, Replica
from govcloud.store.inventory import aware, table
from govcloud.store.tables import utcnow
from govcloud.store.tables_replicas import (  # noqa: F401  (registers the tables)
    ReplicaRow,
    WorkerLeaseRow,
)

FORGET_AFTER = dt.timedelta(days=7)  # a replica silent this long leaves the list
MAX_LISTED = 200


def database_now(conn: Connection) -> dt.datetime:
    """The database's time (PostgreSQL: ``clock_timestamp()``); SQLite, one process: ours."""
    if conn.dialect.name == "postgresql":
        value = conn.execute(select(func.clock_timestamp())).scalar_one()
        return aware(value) or utcnow()
    return utcnow()


def _insert(conn: Connection, name: str) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table(name))


def register(conn: Connection, replica: Replica) -> dt.datetime:
    """Record ``replica`` (again: after a failover lost its row) as seen now; forget
    replicas silent for ``FORGET_AFTER``. Returns the database's time."""
    now = database_now(conn)
    tbl = table("replica")
    values = {"id": replica.id, "host": replica.host, "pid": replica.pid, "url": replica.url,
              "version": replica.version, "started_at": replica.started_at,
              "last_seen": now, "stopped_at": None}
    stmt = _insert(conn, "replica")
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["id"], set_={"last_seen": now, "stopped_at": None, "url": replica.url}),
        values)
    conn.execute(delete(tbl).where(tbl.c.last_seen < now - FORGET_AFTER))
    return now


def beat(conn: Connection, replica_id: str, held: Collection[str],
         ttl: dt.timedelta) -> tuple[bool, set[str]]:
    """The replica's heartbeat: its ``last_seen`` and the leases of ``held`` renewed for
    ``ttl``. Returns whether its row was there (False: register it again) and which of
    ``held`` it still holds (a lease another replica took is not renewed)."""
    now = database_now(conn)
    rep, lease = table("replica"), table("worker_lease")
    found = conn.execute(update(rep).where(rep.c.id == replica_id).values(
        last_seen=now, stopped_at=None)).rowcount > 0
    if not held:
        return found, set()
    conn.execute(update(lease).where(lease.c.holder == replica_id,
                                     lease.c.worker.in_(sorted(held))).values(
        renewed_at=now, expires_at=now + ttl))
    kept = conn.execute(select(lease.c.worker).where(
        lease.c.holder == replica_id, lease.c.worker.in_(sorted(held)),
        lease.c.expires_at > now)).scalars()
    return found, set(kept)


def acquire(conn: Connection, worker: str, replica_id: str,
            ttl: dt.timedelta) -> tuple[bool, str | None]:
    """Take the lease of ``worker`` for ``ttl`` if nobody holds it (it expired, or was never
    taken) or the caller does. Returns whether the caller holds it now and, when it took it
    from another replica, that replica's id."""
    now = database_now(conn)
    lease = table("worker_lease")
    before = conn.execute(select(lease.c.holder).where(lease.c.worker == worker)).scalar()
    stmt = _insert(conn, "worker_lease")
    mine = lease.c.holder == replica_id  # taken again by its holder: not a takeover
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["worker"],
        set_={"holder": replica_id, "renewed_at": now, "expires_at": now + ttl,
              "acquired_at": case((mine, lease.c.acquired_at), else_=now),
              "takeovers": case((mine, lease.c.takeovers), else_=lease.c.takeovers + 1)},
        where=or_(lease.c.expires_at <= now, lease.c.holder == replica_id)),
        {"worker": worker, "holder": replica_id, "acquired_at": now, "renewed_at": now,
         "expires_at": now + ttl, "takeovers": 0})
    holder = conn.execute(select(lease.c.holder, lease.c.expires_at).where(
        lease.c.worker == worker)).one()
    held = bool(holder.holder == replica_id and (aware(holder.expires_at) or now) > now)
    return held, (before if held and before not in (None, replica_id) else None)


def release(conn: Connection, replica_id: str, workers: Collection[str]) -> int:
    """Give up the caller's leases of ``workers`` now (they expire at once), so another
    replica takes them at its next look rather than a time to live later."""
    if not workers:
        return 0
    now = database_now(conn)
    lease = table("worker_lease")
    return int(conn.execute(update(lease).where(
        lease.c.holder == replica_id, lease.c.worker.in_(sorted(workers))).values(
        expires_at=now)).rowcount)


def stopped(conn: Connection, replica_id: str) -> None:
    """The replica stopped cleanly (after releasing its leases)."""
    rep = table("replica")
    now = database_now(conn)
    conn.execute(update(rep).where(rep.c.id == replica_id).values(stopped_at=now,
                                                                   last_seen=now))


def _replica(r: Any) -> Replica:
    return Replica(id=r.id, host=r.host, pid=r.pid, url=r.url, version=r.version,
                   started_at=aware(r.started_at) or utcnow(),
                   last_seen=aware(r.last_seen) or utcnow(),
                   stopped_at=aware(r.stopped_at))


def _lease(r: Any) -> Lease:
    return Lease(worker=r.worker, holder=r.holder,
                 acquired_at=aware(r.acquired_at) or utcnow(),
                 renewed_at=aware(r.renewed_at) or utcnow(),
                 expires_at=aware(r.expires_at) or utcnow(), takeovers=r.takeovers)


def list_replicas(conn: Connection) -> list[Replica]:
    rep = table("replica")
    rows = conn.execute(select(rep).order_by(rep.c.last_seen.desc()).limit(MAX_LISTED))
    return [_replica(r) for r in rows]


def list_leases(conn: Connection) -> list[Lease]:
    lease = table("worker_lease")
    return [_lease(r) for r in conn.execute(select(lease).order_by(lease.c.worker))]


# --- the database's own state (PostgreSQL) ----------------------------------------------------

_SERVER = text("SELECT pg_is_in_recovery() AS standby, host(inet_server_addr()) AS addr, "
               "inet_server_port() AS port, current_setting('server_version') AS version, "
               "current_setting('synchronous_standby_names') AS sync_names")
# lag in bytes needs pg_monitor (or superuser): without it the LSNs read as NULL
_STANDBYS = text(
    "SELECT application_name AS name, host(client_addr) AS address, state, sync_state, "
    "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes, "
    "EXTRACT(EPOCH FROM replay_lag)::float8 AS replay_lag_s "
    "FROM pg_stat_replication ORDER BY application_name LIMIT 32")
_REPLAY_DELAY = text("SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
                     "::float8")


def database_state(conn: Connection) -> dict[str, Any]:
    """PostgreSQL's role (``primary`` or ``standby``, from ``pg_is_in_recovery()``), the
    server this connection reached, its version and, on a primary, its standbys and their
    replication lag (``pg_stat_replication``); on a standby how far its replay is behind."""
    s = conn.execute(_SERVER).one()
    out: dict[str, Any] = {
        "backend": "postgresql", "role": "standby" if s.standby else "primary",
        "server": f"{s.addr or 'local socket'}:{s.port}" if s.port else "local socket",
        "version": str(s.version).split(" ", 1)[0][:32],  # "15.8", not the distribution's
        "synchronous_standby_names": str(s.sync_names)[:255],
        "standbys": [], "replay_delay_s": None}
    if s.standby:
        out["replay_delay_s"] = conn.execute(_REPLAY_DELAY).scalar()
        return out
    out["standbys"] = [
        {"name": str(r.name)[:64], "address": r.address, "state": r.state,
         "sync_state": r.sync_state,
         "lag_bytes": None if r.lag_bytes is None else int(r.lag_bytes),
         "replay_lag_s": None if r.replay_lag_s is None else float(r.replay_lag_s)}
        for r in conn.execute(_STANDBYS)]
    return out
