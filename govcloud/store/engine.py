"""Engines for SQLite (the embedded default) and PostgreSQL (production), built on request.

PostgreSQL may be given several hosts, libpq's way (``postgresql://h1:5432,h2:5432/db?
target_session_attrs=read-write``): the driver tries them in turn and keeps the one that
takes writes, so after a standby is promoted the next connection finds it. A connection lost
in the middle of a statement (the primary went away) is ``DatabaseUnavailable``
(``_disconnects_are_temporary``): the transaction is rolled back, the API answers 503 and the
client may retry (docs/high-availability.md)."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import create_engine

from govcloud.errors import DatabaseUnavailable, InvalidInput

# SQLite has one writer; its busy handler polls, so with many writers (the provisioning worker's
# threads) one can wait several seconds for its turn: 5 s failed requests under load.
SQLITE_BUSY_TIMEOUT_MS = 30000


# libpq's multi-host form: scheme://[userinfo@]host1[:port1],host2[:port2][/db][?query]
_MULTI_HOST = re.compile(r"^(?P<scheme>[A-Za-z0-9+]+)://(?:(?P<auth>[^@/?]*)@)?"
                         r"(?P<hosts>[^/?@]*,[^/?@]*)(?P<rest>[/?].*)?$", re.DOTALL)
MAX_HOSTS = 8
CONNECT_TIMEOUT_S = 5  # per host, unless the URL says otherwise


def _multi_host(url: str) -> str:
    """``url`` with libpq's comma-separated hosts moved into ``host=`` query parameters, the
    form SQLAlchemy passes to psycopg as one multi-host connection string."""
    m = _MULTI_HOST.match(url)
    if m is None:
        return url
    hosts = m["hosts"].split(",")
    if not 1 < len(hosts) <= MAX_HOSTS or not all(hosts):
        raise InvalidInput(f"a database URL names 2 to {MAX_HOSTS} hosts, separated by commas",
                           hint="e.g. postgresql://USER@h1:5432,h2:5432/DB?"
                                "target_session_attrs=read-write")
    rest = m["rest"] or "/"
    path, _, query = rest.partition("?")
    extra = "&".join(f"host={h}" for h in hosts)
    auth = f"{m['auth']}@" if m["auth"] is not None else ""
    return f"{m['scheme']}://{auth}{path or '/'}?{extra}{'&' + query if query else ''}"


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL; plain ``postgresql://`` (and ``postgres://``) use psycopg 3.
    Several PostgreSQL hosts (``h1:p1,h2:p2``) are kept as ``host`` query parameters."""
    try:
        parsed = make_url(_multi_host(url) if isinstance(url, str) else url)
    except ArgumentError as exc:
        raise InvalidInput(f"invalid database URL: {exc}",
                           hint="use sqlite:///PATH or postgresql://USER@HOST:PORT/DB") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInput(f"unsupported database {backend!r}",
                           hint="govcloud runs on SQLite or PostgreSQL")
    return parsed


def display_url(url: str | URL) -> str:
    """The URL with any password hidden, for messages and logs."""
    return normalise_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself so transactions behave (pysqlite's default defers it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # execution_options(sqlite_begin="IMMEDIATE") takes the write lock up front, so a writer
    # waits on busy_timeout instead of failing when it upgrades a read lock.
    mode = conn.get_execution_options().get("sqlite_begin", "")
    if mode not in ("", "DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
        raise ValueError(f"bad sqlite_begin mode {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def write_begin(engine: Engine) -> Any:
    """``engine.begin()`` for a transaction that writes: on SQLite it starts with ``BEGIN
    IMMEDIATE``, so it waits its turn (busy timeout) for the file's write lock before it reads
    anything. A deferred transaction that reads first and writes later fails at once with
    "database is locked" when another writer committed in between (its snapshot is stale; the
    busy handler cannot help). Every writer uses this, or ``store.audit.write_session``."""
    return engine.execution_options(sqlite_begin="IMMEDIATE").begin()


def snapshot_reads(engine: Engine) -> Engine:
    """``engine`` for transactions that read one snapshot throughout: on PostgreSQL they run
    REPEATABLE READ (its default, READ COMMITTED, gives each statement a snapshot of its own,
    so two reads can straddle another transaction's commit); a SQLite transaction reads one
    snapshot already. A read-only REPEATABLE READ transaction never fails to serialise."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    return engine


def autocommit_reads(engine: Engine) -> Engine:
    """``engine`` for reads that need no transaction of their own: on PostgreSQL each
    statement runs alone (AUTOCOMMIT), with the snapshot of its own that READ COMMITTED gives
    it anyway, and without the ``BEGIN`` and ``ROLLBACK`` round trips a transaction adds (two
    of a short read's five; under a sync that loads the cores each round trip waits for the
    backend to be scheduled). Not for reads that must see one snapshot (``snapshot_reads``),
    nor for writes. SQLite (one process, no round trips) is unchanged."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def private_sqlite_file(path: Path) -> None:
    """Make the SQLite database ``path`` readable by its owner only: its directory is created
    0700 when missing, the file 0600 (an empty file is an empty database), and SQLite gives
    its ``-wal``/``-shm`` files the database file's mode. A file (or side file) of ours that
    others may read — as govcloud made them before — is tightened to 0600. The store holds
    principals, the audit log and every department's inventory."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        try:
            st = side.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            side.chmod(0o600)


def _disconnects_are_temporary(context: ExceptionContext) -> None:
    """PostgreSQL only: a lost or refused connection (the primary stopped, a standby not yet
    promoted, the network) becomes ``DatabaseUnavailable`` (a ``TemporaryError``); raised
    from here it replaces the driver's error, and the API answers 503 with a hint to retry.
    A transaction cut off before its commit is rolled back by the server, whole; one cut off
    while its COMMIT was under way may have committed (then a retry meets its effect, e.g.
    "is approved and cannot become approved", and applies nothing twice)."""
    if context.is_pre_ping:  # a pooled connection found dead: the pool replaces it
        return
    error = context.original_exception
    refused = _refused(error)
    if not (context.is_disconnect or refused):
        return
    where = context.engine.url.render_as_string(hide_password=True) \
        if context.engine is not None else "PostgreSQL"
    detail = " ".join(str(error).split())[:300]
    what = "cannot reach the database" if refused else "lost the connection to the database"
    raise DatabaseUnavailable(f"{what} {where}: {detail}",
                              hint="check that the database is running and the URL names "
                                   "its hosts; while it fails over to a standby, retry in a "
                                   "few seconds (docs/high-availability.md)"
                              ) from context.sqlalchemy_exception


def _refused(error: BaseException) -> bool:
    """A connection attempt that failed: psycopg's ``OperationalError`` when every host of
    the URL refused, or none takes writes (a standby not yet promoted)."""
    return type(error).__module__.startswith("psycopg") and \
        type(error).__name__ == "OperationalError" and \
        str(error).startswith("connection failed")


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """A new engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout, and
    are the owner's alone (``private_sqlite_file``). PostgreSQL connections are checked
    before use (``pool_pre_ping``: a connection to a primary that went away is replaced),
    give up on a host after ``CONNECT_TIMEOUT_S`` unless the URL says otherwise, and a lost
    connection is ``DatabaseUnavailable`` (``_disconnects_are_temporary``)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_sqlite_file(Path(database).expanduser())
        engine = create_engine(parsed, echo=echo, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    args = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT_S}
    engine = create_engine(parsed, echo=echo, pool_pre_ping=True, connect_args=args)
    event.listen(engine, "handle_error", _disconnects_are_temporary)
    return engine
