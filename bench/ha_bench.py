"""High-availability benchmark (issue 22): worker takeover time after kill -9 of the replica
holding the workers, database switch time as the clients see it, and approvals lost across
the switch (must be 0); printed and appended to bench/results.md (``--no-write``: print
only).

    python bench/ha_bench.py [--ttl 15] [--renew 5] [--requests 24] [--promote-after 0]
                             [--no-write]

On loopback, as tests/integration/ha does: a PostgreSQL primary and its synchronous streaming
standby of the benchmark's own (``tests/integration/ha/cluster.py``: initdb, pg_basebackup
-R, free ports, removed afterwards), a small simulator and two ``govcloud serve`` replicas on
the multi-host URL, with the documented lease timing unless told otherwise.

1. **Worker takeover**: the replica holding the provisioning worker is killed (SIGKILL); the
   time until the other holds every worker, read from ``/status/replicas`` every 0.1 s
   (documented bound: ``lease_ttl_s + lease_renew_s``, 20 s by default).
2. **Database switch**: the killed replica is started again; a client reads ``/whoami``
   through each replica every 20 ms while approvals pour in; the primary is stopped as in a
   crash (``pg_ctl stop -m immediate``) and the standby promoted ``--promote-after`` seconds
   later (0: as an automatic failover manager would). Switch time as seen by clients: from
   the first failed read to the first good one after it, per replica (the worst reported).
   **Approvals lost**: approvals answered OK whose request is not approved after the switch.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/ (as realcloud_bench.py does)

from sim_bench import machine  # noqa: E402

from govcloud.client import ApiClient  # noqa: E402
from govcloud.errors import DatabaseUnavailable  # noqa: E402
from tests.integration.ha.cluster import Cluster, find_pg_bin  # noqa: E402
from tests.integration.ha.replicas import Replicas, request_spec  # noqa: E402
from tests.served import ServedPlane  # noqa: E402

DEPARTMENTS = ("gd-edu", "gd-agri", "shantou")


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.1) -> float:
    """Poll ``condition()`` until true; the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - start


def takeover(replicas: Replicas, bound: float) -> dict[str, Any]:
    """Kill -9 the holder of the provisioning worker; the seconds until the other replica
    holds every worker."""
    ids = {replicas.status(m)["replica"]: m for m in replicas.members}

    def holders(member: ServedPlane) -> set[str | None]:
        return {w["holder"] for w in replicas.status(member)["workers"] if w["state"] != "off"}

    wait_for(lambda: None not in holders(replicas.members[0]), 60, "every worker to be held")
    holder_id = replicas.holders(replicas.members[0])["provision"]
    assert holder_id is not None
    holder = ids[holder_id]
    survivor = next(m for m in replicas.members if m is not holder)
    survivor_id = next(i for i, m in ids.items() if m is survivor)
    assert holder.proc is not None
    holder.proc.kill()
    killed = time.monotonic()
    holder.wait_exit()
    wait_for(lambda: holders(survivor) == {survivor_id}, bound * 3, "the takeover")
    seconds = time.monotonic() - killed
    holder.serve()  # back for the database switch
    return {"takeover_s": round(seconds, 2), "bound_s": bound}


class Reader:
    """Reads ``/whoami`` through one replica every 20 ms; the outage it saw."""

    def __init__(self, member: ServedPlane, token: str) -> None:
        self.member, self.token = member, token
        self.first_bad: float | None = None
        self.back: float | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(timeout=30) as http:
            while not self.stop.wait(0.02):
                ok = http.get(f"{self.member.url}/api/v1/whoami",
                              headers=headers).status_code == 200
                now = time.monotonic()
                if not ok and self.first_bad is None:
                    self.first_bad = now
                elif ok and self.first_bad is not None and self.back is None:
                    self.back = now

    def outage_s(self) -> float | None:
        if self.first_bad is None or self.back is None:
            return None
        return self.back - self.first_bad


def approve_all(replicas: Replicas, ids: list[int], outcomes: dict[int, str]) -> None:
    """Approve ``ids`` from 4 threads over both replicas, never retrying."""
    queue = list(ids)
    lock = threading.Lock()

    def run(index: int) -> None:
        member = replicas.members[index % len(replicas.members)]
        with ApiClient(member.url, replicas.admin, retries=0, timeout=60) as api:
            while True:
                with lock:
                    if not queue:
                        return
                    rid = queue.pop(0)
                try:
                    api.decide_request(rid, "approve")
                    outcome = "ok"
                except DatabaseUnavailable:
                    outcome = "temporary"
                except Exception as exc:  # noqa: BLE001 - reported as it came
                    outcome = type(exc).__name__
                with lock:
                    outcomes[rid] = outcome
                time.sleep(0.1)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)


def switch(replicas: Replicas, cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    """Approvals and reads through both replicas while the database fails over."""
    first = replicas.members[0]
    operator = first.principal(replicas.admin, "ops-bench", "operator")
    assert first.api(replicas.admin, "POST", "/sync", {"full": True})["ok"]
    ids = [first.api(operator, "POST", "/requests",
                     request_spec(f"bench{i}", department=DEPARTMENTS[i % 3]))["id"]
           for i in range(args.requests)]
    readers = [Reader(m, replicas.admin) for m in replicas.members]
    outcomes: dict[int, str] = {}
    approving = threading.Thread(target=approve_all, args=(replicas, ids, outcomes))
    approving.start()
    wait_for(lambda: len(outcomes) >= args.requests // 4, 120, "the first approvals", 0.01)
    cluster.primary.stop("immediate")
    time.sleep(args.promote_after)
    assert cluster.standby is not None
    cluster.standby.promote()
    approving.join(600)
    wait_for(lambda: all(r.back is not None or r.first_bad is None for r in readers), 120,
             "the readers to be answered again")
    for r in readers:
        r.stop.set()
    states = {rid: replicas.get(first, f"/requests/{rid}")["state"] for rid in ids}
    outages = [o for o in (r.outage_s() for r in readers) if o is not None]
    return {"switch_s": round(max(outages), 2) if outages else 0.0,
            "approvals_ok": sum(1 for o in outcomes.values() if o == "ok"),
            "approvals_temporary": sum(1 for o in outcomes.values() if o == "temporary"),
            "approvals_other": sum(1 for o in outcomes.values() if o not in ("ok", "temporary")),
            "approvals_lost": sum(1 for rid, o in outcomes.items()
                                  if o == "ok" and states[rid] == "submitted")}


def run(args: argparse.Namespace) -> dict[str, Any]:
    pg_bin = find_pg_bin()
    if pg_bin is None:
        raise SystemExit("no PostgreSQL server binaries: `make apt` installs them")
    cluster = Cluster(pg_bin)
    root = Path(tempfile.mkdtemp(prefix="govcloud-ha-bench-"))
    replicas: Replicas | None = None
    try:
        cluster.start_primary()
        cluster.start_standby(synchronous=True)
        replicas = Replicas(root, cluster.url, count=2, build_delay=0.1,
                            env={"GOVCLOUD_LEASE_TTL_S": str(args.ttl),
                                 "GOVCLOUD_LEASE_RENEW_S": str(args.renew)})
        replicas.bootstrap()
        replicas.serve_all()
        return {**takeover(replicas, args.ttl + args.renew), **switch(replicas, cluster, args)}
    finally:
        if replicas is not None:
            replicas.close()
        cluster.close()
        shutil.rmtree(root, ignore_errors=True)


def report(figures: dict[str, Any], args: argparse.Namespace) -> str:
    return "\n".join([
        f"### High availability — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}",
        "",
        f"Two `govcloud serve` replicas on a PostgreSQL primary with a synchronous standby "
        f"(loopback); lease ttl {args.ttl:g} s, renew {args.renew:g} s; {args.requests} "
        f"approvals across the switch, standby promoted {args.promote_after:g} s after the "
        "primary was stopped (immediate).",
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        f"| worker takeover after kill -9 | {figures['takeover_s']:.1f} s | "
        f"≤ {figures['bound_s']:g} s (ttl + renew) |",
        f"| database switch as seen by clients | {figures['switch_s']:.1f} s | — |",
        f"| approvals answered OK / temporary error (503) / other | "
        f"{figures['approvals_ok']} / {figures['approvals_temporary']} / "
        f"{figures['approvals_other']} | other: 0 |",
        f"| approvals lost | {figures['approvals_lost']} | 0 |",
        ""])


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--ttl", type=float, default=15.0, help="lease_ttl_s (default 15)")
    p.add_argument("--renew", type=float, default=5.0, help="lease_renew_s (default 5)")
    p.add_argument("--requests", type=int, default=24, help="approvals across the switch")
    p.add_argument("--promote-after", type=float, default=0.0,
                   help="seconds between stopping the primary and promoting the standby")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args()
    text = report(run(args), args)
    print(text)
    if not args.no_write:
        with (HERE / "results.md").open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
        print(f"appended to {HERE / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
