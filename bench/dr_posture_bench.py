"""DR posture benchmark (issue 19): the whole province's posture from a seeded store, printed
(not written to bench/results.md).

    python bench/dr_posture_bench.py [--systems 5000] [--members 3] [--history 10] [--pg URL]

Seeds a freshly migrated SQLite file and (when reachable) a fresh PostgreSQL schema with
``systems`` provisioned systems of ``members`` servers each, in 80 departments over 21 cities:
40 % at DR level 5 (copies in DR-LOCAL and DR-REMOTE), 30 % at level 4 (DR-REMOTE), 30 % at
level 1 (none) — about 31,500 servers at the defaults — every copy server with ``history``
protection cycles (one in ten failed) and every protected system with two drills. Then times
``services.dr_posture.dr_posture`` over everything (five runs, after one to warm up).

Target (issue 19, through the API, later): p99 < 200 ms for the province.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sync_bench import pg_schema

from govcloud.domain.protection import Compliance
from govcloud.domain.protection_config import DEFAULT_PROTECTION
from govcloud.domain.sites import default_sites
from govcloud.services.dr_posture import dr_posture
from govcloud.store.engine import make_engine, write_begin
from govcloud.store.inventory import table
from govcloud.store.migrate import upgrade_engine

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SINCE = datetime(2026, 1, 5, tzinfo=UTC)
DIGEST = "sha256:" + "0f" * 32
LEVEL_SITES = {5: ("DR-LOCAL", "DR-REMOTE"), 4: ("DR-REMOTE",), 1: ()}
READY = {"PROD": "ACTIVE", "DR-LOCAL": "ACTIVE", "DR-REMOTE": "SHELVED_OFFLOADED"}
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def _level(i: int) -> int:
    return 5 if i % 10 < 4 else 4 if i % 10 < 7 else 1


def rows(systems: int, members: int, history: int) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows for the seeded province."""
    out: dict[str, list[dict[str, Any]]] = {"department_site": [], "provision_request": [],
                                            "server": [], "recovery_point": [], "dr_drill": []}
    for d in range(80):
        out["department_site"].append({"department": f"dept-{d:02d}", "site": "PROD",
                                       "project_id": f"p-{d:02d}", "project_name": f"d{d}",
                                       "city": f"city-{d % 21:02d}" if d % 4 else None})
    for i in range(systems):
        dept, system, level = f"dept-{i % 80:02d}", f"sys-{i:05d}", _level(i)
        spec = {"department": dept, "system": system, "justification": "bench",
                "servers": [{"name_prefix": "vm", "flavor": "gc.c4m8", "image": "cirros",
                             "count": members, "network": "net"}]}
        targets = [{"site": "PROD", "kind": "primary"}] + [
            {"site": s, "kind": "standby" if s == "DR-LOCAL" else "cold"}
            for s in LEVEL_SITES[level]]
        out["provision_request"].append({
            "department": dept, "system": system, "dr_level": level, "state": "done",
            "requester": "bench", "requester_person": "bench", "spec_json": json.dumps(spec),
            "placement_json": json.dumps({"targets": targets}), "created_at": SINCE,
            "updated_at": SINCE})
        for n in range(1, members + 1):
            for site in ("PROD", *LEVEL_SITES[level]):
                sid = f"{site}-{i}-{n}"
                out["server"].append({
                    "site": site, "id": sid, "name": f"{system}-vm-{n}", "project_id": "p",
                    "department": dept, "status": READY[site], "flavor_name": "gc.c4m8",
                    "vcpus": 4, "ram_mb": 8192, "disk_gb": 40, "ephemeral_gb": 0, "swap_mb": 0,
                    "boot_from_volume": False, "created": SINCE, "updated": SINCE,
                    "deleted_at": None})
                if site != "PROD":
                    out["recovery_point"].extend(_history(dept, system, site, sid, history, i))
        if LEVEL_SITES[level]:
            out["dr_drill"].extend(
                {"department": dept, "system": system, "site": LEVEL_SITES[level][0],
                 "at": NOW - timedelta(days=days), "result": "passed", "rto_s": 3600.0}
                for days in (60 + i % 200, 300 + i % 200))
    return out


def _history(dept: str, system: str, site: str, sid: str, history: int,
             i: int) -> list[dict[str, Any]]:
    return [{"department": dept, "system": system, "site": site, "server_id": sid,
             "taken_at": NOW - timedelta(minutes=15 * k + i % 30), "kind": "file-sync",
             "size_bytes": 2**30, "manifest_digest": None if k % 10 == 1 else DIGEST,
             "status": "failed" if k % 10 == 1 else "ok", "error": None}
            for k in range(history)]


def seed(url: str, data: dict[str, list[dict[str, Any]]]) -> float:
    engine = make_engine(url)
    start = time.perf_counter()
    try:
        upgrade_engine(engine)
        with write_begin(engine) as conn:
            for name, values in data.items():
                for k in range(0, len(values), 5000):
                    conn.execute(table(name).insert(), values[k:k + 5000])
            # the latest good point of each copy server, as add_recovery_point keeps it
            conn.exec_driver_sql(
                "INSERT INTO recovery_point_latest (site, server_id, department, system, "
                "point_id, taken_at) SELECT p.site, p.server_id, p.department, p.system, "
                "p.id, p.taken_at FROM recovery_point p WHERE p.status = 'ok' AND p.id = "
                "(SELECT q.id FROM recovery_point q WHERE q.site = p.site AND q.server_id = "
                "p.server_id AND q.status = 'ok' ORDER BY q.taken_at DESC, q.id DESC LIMIT 1)")
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return time.perf_counter() - start


def measure(url: str, runs: int = 5) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        sites = default_sites()
        posture = dr_posture(engine, DEFAULT_PROTECTION, sites, NOW)  # warm up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            posture = dr_posture(engine, DEFAULT_PROTECTION, sites, NOW)
            times.append(time.perf_counter() - start)
        one = dr_posture(engine, DEFAULT_PROTECTION, sites, NOW, departments=["dept-07"])
    finally:
        engine.dispose()
    verdicts = {c.value: 0 for c in Compliance}
    for row in posture.systems:
        verdicts[row.verdict.status.value] += 1
    return {"systems": len(posture.systems), "verdicts": verdicts,
            "province_ms": {"median": round(statistics.median(times) * 1000, 1),
                            "max": round(max(times) * 1000, 1)},
            "one_department_systems": len(one.systems)}


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--systems", type=int, default=5000)
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--history", type=int, default=10)
    p.add_argument("--pg", default=os.environ.get("GOVCLOUD_TEST_DATABASE_URL", DEFAULT_PG),
                   help="PostgreSQL URL (a fresh schema is made and dropped); '' to skip")
    args = p.parse_args()
    data = rows(args.systems, args.members, args.history)
    work = Path(tempfile.mkdtemp(prefix="govcloud-drbench-"))
    targets: list[tuple[str, str, Callable[[], None] | None]] = [
        ("SQLite", f"sqlite:///{work / 'govcloud.db'}", None)]
    made = pg_schema(args.pg) if args.pg else None
    if made is not None:
        targets.append(("PostgreSQL", made[0], made[1]))
    results: dict[str, Any] = {"servers": len(data["server"]),
                               "recovery_points": len(data["recovery_point"]),
                               "load_avg": round(os.getloadavg()[0], 2)}
    try:
        for label, url, _ in targets:
            seeded = seed(url, data)
            results[label] = {"seed_s": round(seeded, 1), **measure(url)}
    finally:
        for _, _, drop in targets:
            if drop is not None:
                drop()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
