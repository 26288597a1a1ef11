"""PostgreSQL servers of a test's own on loopback: a primary and, when asked, a streaming
standby of it (``pg_basebackup -R``), each on a free port in a temporary folder that is removed
afterwards. The machine's own cluster (127.0.0.1:5432) is never touched.

The binaries come from ``GOVCLOUD_TEST_PG_BIN`` or the newest ``/usr/lib/postgresql/*/bin``
(Debian's ``postgresql`` package, in the Makefile's apt list). PostgreSQL refuses to run as
root, so a test run as root runs them as the ``postgres`` OS user (``runuser``)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.served import free_port

PG_BIN_ENV = "GOVCLOUD_TEST_PG_BIN"
TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
TIMEOUT = 60


def _version(path: Path) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in path.parent.name.split("."))
    except ValueError:
        return (0,)


def find_pg_bin() -> Path | None:
    """The folder holding initdb, pg_ctl, pg_basebackup and postgres (None: none found)."""
    given = os.environ.get(PG_BIN_ENV)
    candidates = [Path(given)] if given else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in TOOLS):
            return folder
    return None


def _owner() -> tuple[list[str], int | None, int | None]:
    """The command prefix that runs a tool as the servers' owner, and that owner's ids."""
    if os.geteuid() != 0:
        return [], None, None
    user = pwd.getpwnam("postgres")
    return ["runuser", "-u", "postgres", "--"], user.pw_uid, user.pw_gid


class Server:
    """One PostgreSQL server: its data folder, port and log."""

    def __init__(self, bin_dir: Path, root: Path, name: str) -> None:
        self.bin = bin_dir
        self.root = root
        self.name = name
        self.data = root / name
        self.port = free_port()
        self.log = root / f"{name}.log"
        self.prefix, _, _ = _owner()

    def tool(self, name: str, *args: str, check: bool = True,
             timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        run = subprocess.run([*self.prefix, str(self.bin / name), *args], cwd=self.root,
                             text=True, capture_output=True, timeout=timeout, check=False)
        if check and run.returncode != 0:
            raise AssertionError(f"{name} {' '.join(args)} failed ({run.returncode}): "
                                 f"{run.stderr.strip()}\n{self.log_tail()}")
        return run

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def configure(self, **settings: str) -> None:
        """Append ``settings`` to postgresql.conf (a later line wins)."""
        with (self.data / "postgresql.conf").open("a") as conf:
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")

    def start(self) -> None:
        self.tool("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "start")

    def stop(self, mode: str = "fast") -> None:
        """``mode``: smart, fast (sessions ended, as a planned switch) or immediate (a crash)."""
        self.tool("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                  check=False)

    def promote(self) -> None:
        self.tool("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "promote")

    @property
    def running(self) -> bool:
        return self.tool("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               dbname=dbname, autocommit=True, connect_timeout=5)

    def query(self, sql: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        with self.connect(dbname) as conn:
            cur = conn.execute(sql.encode())
            return list(cur.fetchall()) if cur.description else []


class Cluster:
    """A primary and optionally a synchronous streaming standby, in ``root`` (removed by
    ``close``). ``url`` names both hosts, the way govcloud is told to find the primary."""

    def __init__(self, bin_dir: Path, *, database: str = "govcloud") -> None:
        self.bin = bin_dir
        self.database = database
        self.root = Path(tempfile.mkdtemp(prefix="govcloud-ha-"))
        _, uid, gid = _owner()
        if uid is not None and gid is not None:
            os.chown(self.root, uid, gid)
        self.primary = Server(bin_dir, self.root, "primary")
        self.standby: Server | None = None

    def start_primary(self) -> Server:
        p = self.primary
        p.tool("initdb", "-D", str(p.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
               "--locale=C", "--no-sync")
        p.configure(listen_addresses="'127.0.0.1'", port=str(p.port),
                    unix_socket_directories=f"'{self.root}'", fsync="off",
                    full_page_writes="off", wal_level="replica", max_wal_senders="4",
                    wal_keep_size="'64MB'", hot_standby="on", shared_buffers="'32MB'",
                    max_connections="80", synchronous_commit="on",
                    wal_sender_timeout="'5s'", wal_receiver_timeout="'5s'")
        p.start()
        p.query(f'CREATE DATABASE "{self.database}"')
        return p

    def start_standby(self, *, synchronous: bool = True) -> Server:
        """A streaming standby of the primary (``pg_basebackup -R``); with ``synchronous``
        the primary waits for it to flush every commit (``synchronous_standby_names``)."""
        s = self.standby = Server(self.bin, self.root, "standby")
        s.tool("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port), "-U",
               "postgres", "-D", str(s.data), "-R", "-X", "stream", "-c", "fast",
               "--no-sync")
        s.configure(port=str(s.port), cluster_name="'standby1'")
        s.start()
        if synchronous:
            self.primary.query("ALTER SYSTEM SET synchronous_standby_names = 'standby1'")
            self.primary.query("SELECT pg_reload_conf()")
        want = "sync" if synchronous else "async"
        deadline = time.monotonic() + TIMEOUT
        while self.primary.query("SELECT sync_state FROM pg_stat_replication "
                                 "WHERE application_name = 'standby1'") != [(want,)]:
            assert time.monotonic() < deadline, "the standby never caught up\n" + s.log_tail()
            time.sleep(0.1)
        return s

    @property
    def url(self) -> str:
        hosts = [f"127.0.0.1:{self.primary.port}"]
        if self.standby is not None:
            hosts.append(f"127.0.0.1:{self.standby.port}")
        return (f"postgresql://postgres@{','.join(hosts)}/{self.database}"
                "?target_session_attrs=read-write")

    def close(self) -> None:
        for server in (self.standby, self.primary):
            if server is not None and server.data.exists():
                server.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
