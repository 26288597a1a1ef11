"""Console refresh cost benchmark (issue 23), printed (not written to bench/results.md: paste
the figure there).

    python bench/console_refresh_bench.py [--scale province] [--consoles 20]
                                          [--refresh-s 60] [--window-s 180] [--compare-full]

A real ``govcloud serve`` (SQLite) on the simulator in a process of its own (province scale:
30,000 servers), synced fully once and then left alone (no periodic sync during the windows).
First the idle control plane's CPU (user + system time of its process, ``/proc/PID/stat``)
over ``--window-s``; then ``--consoles`` consoles' refresh loops, each what an open console on
the server list does — the console's own server cache (``tui.cache.ServerCache``) refreshed
every ``--refresh-s`` (the console's default: 60 s) and the header's ``GET /status`` every
10 s — started staggered after each console's first full load (not measured), over the same
window. Printed: the CPU the consoles added over idle, as a percentage of one core (target:
< 10 %), and per refresh. ``--compare-full`` measures the same consoles refetching every
server on each refresh (the behaviour before changes-since) for comparison.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository

from govcloud.api.models import Server
from govcloud.client import ApiClient
from tests.served import ServedPlane
from tests.soak import catalogue, simulator
from tui.cache import ServerCache

TARGET_PCT = 10.0
STATUS_S = 10.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FullCache(ServerCache):
    """The console's cache as it was: every refresh reads every server again."""

    def get(self, api: ApiClient, *, force: bool = False) -> list[Server]:
        self._sites.clear()
        return super().get(api, force=force)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", default="province", choices=("province", "tenth", "small"))
    p.add_argument("--consoles", type=int, default=20)
    p.add_argument("--refresh-s", type=float, default=60.0)
    p.add_argument("--window-s", type=float, default=180.0)
    p.add_argument("--compare-full", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="govcloud-refresh-") as tmp:
        work = Path(tmp)
        with simulator(work, args.scale) as clouds:
            plane = ServedPlane(work / "plane", database_url=f"sqlite:///{work / 'gc.db'}",
                                catalogue=catalogue(work / "tenants", args.scale),
                                clouds_yaml=clouds)
            token = plane.bootstrap()
            plane.serve()
            try:
                plane.api(token, "POST", "/tenants/apply")
                plane.api(token, "POST", "/sync", {"full": True})
                assert plane.proc is not None
                pid = plane.proc.pid
                time.sleep(5)  # let the sync's aftermath settle
                before = cpu_s(pid)
                time.sleep(args.window_s)
                idle = cpu_s(pid) - before
                print(f"idle control plane: {idle:.2f} s CPU in {args.window_s:.0f} s "
                      f"({100 * idle / args.window_s:.2f} % of a core)", flush=True)
                for full in [False, True] if args.compare_full else [False]:
                    busy, refreshes, statuses = console_window(pid, plane.url, token, args,
                                                               full)
                    added = 100 * (busy - idle) / args.window_s
                    what = "full refetch (before)" if full else "changes-since"
                    print(f"{args.consoles} consoles, {what}: {busy:.2f} s CPU in "
                          f"{args.window_s:.0f} s, {refreshes} refreshes and {statuses} "
                          f"header statuses; added over idle "
                          f"{added:.2f} % of a core (target < {TARGET_PCT:.0f} %); "
                          f"{1000 * (busy - idle) / max(1, refreshes):.1f} ms CPU per "
                          "refresh, header statuses included", flush=True)
            finally:
                plane.stop()
    return 0


def console_window(pid: int, url: str, token: str, args: argparse.Namespace,
                   full: bool) -> tuple[float, int, int]:
    """The server's CPU seconds over the consoles' window (their first loads left out), and
    how many refreshes and header statuses they made in it."""
    apis = [ApiClient(url, token, timeout=120) for _ in range(args.consoles)]
    caches = [(FullCache if full else ServerCache)(max_age_s=args.refresh_s)
              for _ in range(args.consoles)]
    for api, cache in zip(apis, caches, strict=True):
        cache.get(api)  # the first load: every server (not measured)
    stop = threading.Event()
    refreshes = [0] * args.consoles
    statuses = [0] * args.consoles

    def loop(i: int) -> None:
        api, cache = apis[i], caches[i]
        now = time.monotonic()
        next_refresh = now + args.refresh_s * (i + 1) / args.consoles  # staggered
        next_status = now + STATUS_S * (i + 1) / args.consoles
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_refresh:
                cache.get(api, force=True)
                refreshes[i] += 1
                next_refresh += args.refresh_s
            if now >= next_status:
                api.status()
                statuses[i] += 1
                next_status += STATUS_S
            stop.wait(max(0.01, min(next_refresh, next_status) - time.monotonic()))

    threads = [threading.Thread(target=loop, args=(i,), daemon=True)
               for i in range(args.consoles)]
    before = cpu_s(pid)
    for t in threads:
        t.start()
    stop.wait(args.window_s)
    stop.set()
    for t in threads:
        t.join(120)
    used = cpu_s(pid) - before
    for api in apis:
        api.close()
    return used, sum(refreshes), sum(statuses)


if __name__ == "__main__":
    sys.exit(main())
