"""The soak: a real ``govcloud serve`` (and, optionally, a real console in tmux) run for a fixed
number of cycles while its resources are sampled each cycle, so that growth shows as a slope.
Shared by the short form in the test suite (``tests/integration/test_soak.py``) and the long
form (``bench/soak_bench.py``).

The plane: the simulator in a process of its own (``small`` or ``tenth`` scale), ``govcloud
serve`` on SQLite or a PostgreSQL schema of its own, syncing every ``sync_s`` (a full sync every
five), probing every ``probe_s``, compacting every minute. Each cycle scrapes ``/metrics``,
lists the servers changed since the last cycle (as a console would), and every
``request_every`` cycles an operator submits a request that an admin approves (the worker
builds it in the simulator) or rejects, alternately. Sampled each cycle from ``/proc`` and the
database: the server's RSS, open descriptors, threads, database connections (its sockets to
PostgreSQL's port, or its handles on the SQLite files) and the database's size. A console: the
real ``govcloud tui`` in a tmux pane, switching views and refreshing the server list each
cycle; its RSS sampled likewise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from govcloud.children import tied_to_parent
from govcloud.store.engine import make_engine
from tests.served import ServedPlane

ROOT = Path(__file__).resolve().parents[1]
TENANTS = ROOT / "tenants"
SMALL = ("gd-psd", "gd-tax", "gd-hrss", "gd-edu", "gd-agri", "gd-data", "guangzhou",
         "shenzhen", "shantou")
METRICS = ("soak", "soak-scrape-secret")
NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}
VIEWS = ("servers", "overview", "departments", "servers", "sites", "audit")


@dataclass
class Sample:
    cycle: int
    rss_mb: float
    fds: int
    threads: int
    db_connections: int
    db_mb: float
    console_rss_mb: float | None = None


@dataclass
class SoakResult:
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    requests: int = 0
    scrapes: int = 0
    scrape_ms_max: float = 0.0

    def series(self, name: str) -> list[float]:
        return [float(getattr(s, name)) for s in self.samples
                if getattr(s, name) is not None]

    def slope(self, name: str) -> float:
        """Least-squares slope of ``name`` over the second half, per 100 cycles."""
        return slope_per_100(self.series(name)[len(self.samples) // 2:])

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"cycles": len(self.samples), "seconds": round(self.seconds, 1),
                               "requests": self.requests, "scrapes": self.scrapes,
                               "scrape_ms_max": round(self.scrape_ms_max, 1)}
        for name in ("rss_mb", "fds", "threads", "db_connections", "db_mb", "console_rss_mb"):
            values = self.series(name)
            if values:
                out[name] = {"first": values[0], "last": values[-1], "max": max(values),
                             "slope_per_100": round(self.slope(name), 3)}
        return out


def slope_per_100(values: Sequence[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return 100 * num / den


# --- what is sampled -------------------------------------------------------------------------

def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fd_targets(pid: int) -> list[str]:
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            out.append(os.readlink(fd))
    return out


def threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def _socket_inodes_to(port: int) -> set[str]:
    """Inodes of this host's TCP sockets connected to ``port`` (IPv4 and IPv6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if int(cols[2].rsplit(":", 1)[1], 16) == port:
                    found.add(cols[9])
    return found


def db_connections(pid: int, database_url: str) -> int:
    """The server's connections to its database: sockets to PostgreSQL's port, or handles on
    the SQLite file and its side files."""
    targets = fd_targets(pid)
    if database_url.startswith("postgresql"):
        port = httpx.URL(database_url.replace("postgresql", "http", 1)).port or 5432
        inodes = _socket_inodes_to(port)
        return sum(1 for t in targets if t.startswith("socket:[") and t[8:-1] in inodes)
    path = database_url.split("///", 1)[1]
    return sum(1 for t in targets if t.startswith(path))


def db_mb(database_url: str, engine: Any) -> float:
    if database_url.startswith("postgresql"):
        with engine.connect() as conn:
            size = conn.execute(text(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'")).scalar_one()
        return int(size) / 2**20
    path = Path(database_url.split("///", 1)[1])
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20


# --- the plane -------------------------------------------------------------------------------

def catalogue(directory: Path, scale: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(TENANTS / "schema.json", directory / "schema.json")
    for path in TENANTS.glob("*.yaml"):
        if scale != "small" or path.stem in SMALL:
            shutil.copy(path, directory / path.name)
    return directory


@contextlib.contextmanager
def simulator(work: Path, scale: str) -> Iterator[Path]:
    """The simulator in a process of its own; its clouds.yaml."""
    ready, clouds = work / "sim-ready.json", work / "clouds.yaml"
    with (work / "sim.log").open("wb") as log:
        proc = subprocess.Popen(tied_to_parent(
            [sys.executable, "-m", "govcloud.sim", "serve", "--scale", scale, "--port", "0",
             "--clouds-yaml", str(clouds), "--ready-file", str(ready)]),
            stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, (work / "sim.log").read_text()
            assert time.monotonic() < deadline, "the simulator did not start in 120 s"
            time.sleep(0.05)
        json.loads(ready.read_text())
        yield clouds
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass
class Soak:
    """One soak run's plane and clients (``start`` it, ``cycle`` it, ``stop`` it)."""

    work: Path
    database_url: str
    scale: str = "small"
    sync_s: float = 2.0
    probe_s: float = 1.0
    request_every: int = 10
    plane: ServedPlane | None = None
    admin: str = ""
    operator: str = ""
    since: str | None = None
    result: SoakResult = field(default_factory=SoakResult)

    def start(self, clouds: Path) -> None:
        self.plane = ServedPlane(self.work / "plane", database_url=self.database_url,
                                 catalogue=catalogue(self.work / "tenants", self.scale),
                                 clouds_yaml=clouds, env={
                                     "GOVCLOUD_SYNC_INTERVAL_S": str(self.sync_s),
                                     "GOVCLOUD_FULL_SYNC_INTERVAL_S": str(5 * self.sync_s),
                                     "GOVCLOUD_PROBE_INTERVAL_S": str(self.probe_s),
                                     "GOVCLOUD_COMPACT_INTERVAL_S": "60",
                                     "GOVCLOUD_METRICS_USER": METRICS[0],
                                     "GOVCLOUD_METRICS_PASSWORD": METRICS[1]})
        self.admin = self.plane.bootstrap()
        self.plane.serve()
        self.operator = self.plane.principal(self.admin, "soak-operator", "operator")
        self.plane.api(self.admin, "POST", "/tenants/apply")
        self.plane.api(self.admin, "POST", "/sync", {"full": True})

    def stop(self) -> None:
        if self.plane is not None:
            self.plane.stop()

    @property
    def pid(self) -> int:
        assert self.plane is not None and self.plane.proc is not None
        return self.plane.proc.pid

    def _request(self, n: int) -> None:
        """An operator's request; approved (the worker builds it) or rejected, in turn."""
        assert self.plane is not None
        body = {"department": "gd-psd", "system": f"soak{n}", "justification": "soak",
                "servers": [{"name_prefix": "soak", "flavor": "gc.c1m2", "count": 1,
                             "image": "cirros-0.6.2-x86_64-disk", "network": NETWORKS}]}
        rid = self.plane.api(self.operator, "POST", "/requests", body)["id"]
        decision = "approve" if n % 2 == 0 else "reject"
        self.plane.api(self.admin, "POST", f"/requests/{rid}/{decision}",
                       None if decision == "approve" else {"reason": "soak"})
        self.result.requests += 1

    def cycle(self, n: int, http: httpx.Client) -> None:
        """One cycle's traffic: a scrape, a changes listing, now and then a request."""
        assert self.plane is not None
        t0 = time.perf_counter()
        scraped = http.get(f"{self.plane.url}/metrics", auth=METRICS)
        assert scraped.status_code == 200, scraped.text[:300]
        self.result.scrape_ms_max = max(self.result.scrape_ms_max,
                                        1000 * (time.perf_counter() - t0))
        self.result.scrapes += 1
        page = http.get(f"{self.plane.url}/api/v1/servers", params={
            "limit": 1000, **({"changed_since": self.since} if self.since else {})},
            headers={"Authorization": f"Bearer {self.admin}"}).json()
        self.since = page["changes_cursor"]
        if self.request_every and n % self.request_every == self.request_every - 1:
            self._request(n // self.request_every)

    def sample(self, n: int, engine: Any, console: Callable[[], float | None]) -> Sample:
        pid = self.pid
        return Sample(cycle=n, rss_mb=round(rss_mb(pid), 1), fds=len(fd_targets(pid)),
                      threads=threads(pid),
                      db_connections=db_connections(pid, self.database_url),
                      db_mb=round(db_mb(self.database_url, engine), 2),
                      console_rss_mb=console())


class Console:
    """The real console (``govcloud tui``) in a tmux pane on the soak's plane."""

    def __init__(self, work: Path, server: str, token: str) -> None:
        self.socket = f"govcloud-soak-{uuid.uuid4().hex[:8]}"
        govcloud = Path(sys.executable).parent / "govcloud"
        env = {"XDG_CONFIG_HOME": str(work / "console-config"),
               "XDG_STATE_HOME": str(work / "console-state")}
        command = ("env -u COLUMNS -u LINES "
                   + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
                   + f" {shlex.quote(str(govcloud))} tui --server {shlex.quote(server)}"
                   f" --token {shlex.quote(token)} --view servers --refresh 2")
        config = work / "tmux.conf"  # a console that ends leaves its last screen to read
        config.write_text("set -g remain-on-exit on\n")
        self.log = work / "console-state" / "govcloud" / "console.log"
        self.run("-f", str(config), "new-session", "-d", "-s", "soak", "-x", "160", "-y",
                 "45", "exec " + command)
        self.pid = int(self.run("display", "-p", "-t", "soak", "#{pane_pid}").strip())
        self.views = 0

    def check_alive(self) -> None:
        if self.run("display", "-p", "-t", "soak", "#{pane_dead}").strip() == "1":
            log = self.log.read_text()[-3000:] if self.log.exists() else "(no log)"
            raise AssertionError(f"the console ended; its screen:\n{self.screen()}\n"
                                 f"its log:\n{log}")

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "soak")

    def wait(self, condition: Callable[[str], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self.screen()):
            assert time.monotonic() < deadline, f"console: timed out waiting for {what}"
            time.sleep(0.1)

    def cycle(self, n: int) -> None:
        """Every other cycle the next view (``:`` and its name), else refresh (ctrl+r)."""
        self.check_alive()
        if n % 2:
            self.run("send-keys", "-t", "soak", "C-r")
            return
        view = VIEWS[self.views % len(VIEWS)]
        self.views += 1
        self.run("send-keys", "-t", "soak", ":")
        self.run("send-keys", "-t", "soak", "-l", view)
        self.run("send-keys", "-t", "soak", "Enter")

    def rss(self) -> float:
        return round(rss_mb(self.pid), 1)

    def stop(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10)


def run_soak(work: Path, database_url: str, *, cycles: int, cycle_s: float,
             scale: str = "small", console: bool = False, request_every: int = 10,
             sync_s: float = 2.0, on_sample: Callable[[Sample], None] | None = None
             ) -> SoakResult:
    """Run the soak and return its samples (one per cycle, after the plane is up)."""
    work.mkdir(parents=True, exist_ok=True)
    soak = Soak(work, database_url, scale=scale, request_every=request_every, sync_s=sync_s)
    engine = make_engine(database_url)
    tui: Console | None = None
    with simulator(work, scale) as clouds:
        try:
            soak.start(clouds)
            assert soak.plane is not None
            if console:
                tui = Console(work, soak.plane.url, soak.admin)
                tui.wait(lambda s: "servers" in s.lower() and "loading" not in s.lower(),
                         "the server list")
            started = time.monotonic()
            with httpx.Client(timeout=60) as http:
                for n in range(cycles):
                    due = started + n * cycle_s
                    time.sleep(max(0.0, due - time.monotonic()))
                    soak.cycle(n, http)
                    if tui is not None:
                        tui.cycle(n)
                    sample = soak.sample(n, engine, tui.rss if tui is not None else
                                         (lambda: None))
                    soak.result.samples.append(sample)
                    if on_sample is not None:
                        on_sample(sample)
            soak.result.seconds = time.monotonic() - started
        finally:
            if tui is not None:
                tui.stop()
            soak.stop()
            engine.dispose()
    return soak.result
