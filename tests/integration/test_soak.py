"""The soak, short form (issue 23): a real ``govcloud serve`` on the small simulator syncing
every 2 s (a full sync every 10 s), probing every second, scraped every cycle, a request
submitted and decided every 10 cycles, and (SQLite) a real console in tmux switching views and
refreshing its server list every cycle — 60 cycles of half a second, under a minute each.
After warm-up nothing may keep growing: the floor of open descriptors, of threads and of
database connections (transient sync and request threads and pooled connections come and go;
a leak raises the floor) is no higher in the last quarter than in the second, give or take
two (the work in flight); connections stay within the pool's bound; and the server's and the
console's RSS grow by less than a leak of 150 kB a cycle would. The long form, at a tenth of
the province and for hundreds of cycles, is ``bench/soak_bench.py``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.databases import fresh_database
from tests.soak import SoakResult, run_soak

pytestmark = pytest.mark.slow

CYCLES = 60
POOL = 15  # the engine's pool: 5 connections and 10 more under load (SQLAlchemy's default)
RSS_SLOPE_MB = 15.0  # per 100 cycles, over the second half
CONSOLE_RSS_SLOPE_MB = 15.0
SLACK = 2  # descriptors, threads, connections: a leak of one a request or more fails


def floor(result: SoakResult, name: str, start: float, end: float) -> float:
    values = result.series(name)
    return min(values[int(start * len(values)):int(end * len(values))])


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.postgres)])
def test_the_plane_and_the_console_plateau(kind: str, tmp_path: Path) -> None:
    console = kind == "sqlite" and shutil.which("tmux") is not None  # one console is enough
    with fresh_database(kind, tmp_path) as url:
        result = run_soak(tmp_path / "soak", url, cycles=CYCLES, cycle_s=0.5, console=console)
    summary = result.summary()
    print(json.dumps(summary))  # the figures, for the log
    assert len(result.samples) == CYCLES and result.requests == CYCLES // 10
    for name in ("fds", "threads"):  # a request in flight holds a thread or two
        assert floor(result, name, 0.75, 1.0) <= floor(result, name, 0.25, 0.5) + SLACK, \
            summary
    assert floor(result, "db_connections", 0.75, 1.0) \
        <= floor(result, "db_connections", 0.25, 0.5) + SLACK, summary
    files = 1 if kind == "postgresql" else 3  # SQLite: the file, its -wal and -shm
    assert max(result.series("db_connections")) <= POOL * files, summary
    assert result.slope("rss_mb") < RSS_SLOPE_MB, summary
    if console:
        assert result.slope("console_rss_mb") < CONSOLE_RSS_SLOPE_MB, summary
