"""One ``govcloud serve`` per SQLite database.

SQLite is the embedded, single-process default: its file has one writer at a time, and the
background workers must run once. So ``govcloud serve`` holds an exclusive lock
(``flock``) on ``<database>.serve.lock`` beside the file while it runs, with its pid and host
written in it; a second ``govcloud serve`` of the same file is refused, naming the first. The
kernel lets the lock go when the process ends however it ends (kill -9 too), so a stale file
never blocks a restart. Several replicas need PostgreSQL (docs/high-availability.md)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from govcloud.domain.text import printable
from govcloud.errors import PermanentError
from govcloud.store.engine import normalise_url

MAX_HOLDER = 200


class ServeLock:
    """The lock of one SQLite database, held until ``release`` (or the process ends)."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".serve.lock")


def _sqlite_file(url: str) -> str | None:
    """The SQLite database file of ``url`` (None: not one, e.g. PostgreSQL or in memory)."""
    parsed = normalise_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" \
            or database.startswith("file:"):
        return None
    return database


def inherit_sqlite_lock(url: str, fd: int | None) -> ServeLock | None:
    """The worker process of a ``govcloud serve``: the lock its parent holds, on the
    descriptor ``fd`` it inherited (the same open file, so ``flock`` sees the same holder and
    a second ``govcloud serve`` is still refused). Without ``fd`` it locks the database as a
    server does (``hold_sqlite_database``: refused while a server holds it)."""
    database = _sqlite_file(url)
    if database is None:
        return None
    if fd is None:
        return hold_sqlite_database(url)
    path = lock_path(Path(database).expanduser())
    try:
        same = os.path.samestat(os.fstat(fd), os.stat(path))
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours already: this cannot wait
    except OSError:
        same = False
    if not same:
        raise PermanentError(f"the lock handed to this worker process is not the lock of "
                             f"{printable(database)}",
                             hint="the worker process is started by `govcloud serve` only")
    return ServeLock(fd, path)


def hold_sqlite_database(url: str) -> ServeLock | None:
    """Lock the SQLite database of ``url`` for this process (None: not a SQLite file, e.g.
    PostgreSQL or an in-memory database). A second server of the same file is refused with
    ``PermanentError`` naming the one that holds it."""
    database = _sqlite_file(url)
    if database is None:
        return None
    path = lock_path(Path(database).expanduser())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, MAX_HOLDER, 0).decode("utf-8", "replace").strip() or "unknown"
        os.close(fd)
        raise PermanentError(
            f"another govcloud serve ({printable(holder)}) already serves the SQLite database "
            f"{printable(database)}",
            hint="SQLite is for one process: stop that server first, or run several replicas "
                 "on PostgreSQL (docs/high-availability.md)") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()[:100]}\n".encode(), 0)
    return ServeLock(fd, path)
