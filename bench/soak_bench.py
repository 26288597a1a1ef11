"""Soak benchmark, long form (issue 23): the short form of ``tests/integration/test_soak.py``
run longer and bigger, printed (not written to bench/results.md: paste the figures there).

    python bench/soak_bench.py [--scale tenth] [--cycles 600] [--cycle-s 1] [--pg URL]
                               [--no-console] [--json]

A real ``govcloud serve`` on the simulator (a tenth of the province: 3,000 servers, every
department), syncing every 5 s (a full sync every 25 s), probing every second, scraped every
cycle, a request submitted and decided every 20 cycles, a changes listing every cycle, and a
real console in tmux switching views and refreshing its server list; on SQLite, then on
PostgreSQL when ``--pg`` (or GOVCLOUD_TEST_DATABASE_URL) is given. Each cycle samples the
server's RSS, open descriptors, threads, database connections and database size, and the
console's RSS. Printed: first, last, most and the least-squares slope over the second half
per 100 cycles of each. A plateau: slopes near zero for RSS, and descriptors, threads and
connections that end where the second quarter's floor was.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.soak

from tests.databases import fresh_database
from tests.soak import Sample, run_soak


def one(kind: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    def progress(s: Sample) -> None:
        if s.cycle % 50 == 0 and not args.json:
            print(f"  {kind} cycle {s.cycle}: rss {s.rss_mb} MB, fds {s.fds}, threads "
                  f"{s.threads}, db conns {s.db_connections}, db {s.db_mb} MB, console "
                  f"{s.console_rss_mb} MB", flush=True)

    with fresh_database(kind, work) as url:
        result = run_soak(work / "soak", url, cycles=args.cycles, cycle_s=args.cycle_s,
                          scale=args.scale, console=args.console and kind == "sqlite",
                          request_every=20, sync_s=5.0, on_sample=progress)
    return {"database": kind, **result.summary()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", default="tenth", choices=("tenth", "small", "province"))
    p.add_argument("--cycles", type=int, default=600)
    p.add_argument("--cycle-s", type=float, default=1.0)
    p.add_argument("--pg", default=os.environ.get("GOVCLOUD_TEST_DATABASE_URL"))
    p.add_argument("--no-console", dest="console", action="store_false")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.console and shutil.which("tmux") is None:
        raise SystemExit("tmux is not installed (or pass --no-console)")
    if args.pg:
        os.environ["GOVCLOUD_TEST_DATABASE_URL"] = args.pg
    out = []
    for kind in ("sqlite", "postgresql") if args.pg else ("sqlite",):
        with tempfile.TemporaryDirectory(prefix="govcloud-soak-") as tmp:
            out.append(one(kind, args, Path(tmp)))
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    for r in out:
        print(f"\n{r['database']}: {r['cycles']} cycles in {r['seconds']} s, "
              f"{r['requests']} requests, {r['scrapes']} scrapes (slowest "
              f"{r['scrape_ms_max']} ms)")
        for name in ("rss_mb", "console_rss_mb", "fds", "threads", "db_connections", "db_mb"):
            if name in r:
                f = r[name]
                print(f"  {name:<16} first {f['first']:>8}  last {f['last']:>8}  max "
                      f"{f['max']:>8}  slope/100 cycles {f['slope_per_100']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
