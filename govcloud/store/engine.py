"""Engines for SQLite (the embedded default) and PostgreSQL (production), built on request."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import create_engine

from govcloud.errors import InvalidInput

# SQLite has one writer; its busy handler polls, so with many writers (the provisioning worker's
# threads) one can wait several seconds for its turn: 5 s failed requests under load.
SQLITE_BUSY_TIMEOUT_MS = 30000


def normalise_url(url: str | URL) -> URL:
    """Parse a database URL; plain ``postgresql://`` (and ``postgres://``) use psycopg 3."""
    try:
        parsed = make_url(url)
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


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """A new engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout, and
    are the owner's alone (``private_sqlite_file``)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_sqlite_file(Path(database).expanduser())
        engine = create_engine(parsed, echo=echo, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(parsed, echo=echo, pool_pre_ping=True)
