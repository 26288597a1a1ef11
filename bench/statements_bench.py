"""Metering and monthly statements benchmark (issue 20, "Performance"), printed and appended
to bench/results.md (``--no-write``: print only).

    python bench/statements_bench.py [--servers 30000] [--hours 720] [--reads 100]
                                     [--rounds 5] [--pg URL] [--no-write] [--metering-only]

For SQLite and (when reachable) a fresh PostgreSQL schema, dropped afterwards:

1. Seeds ``servers`` servers straight into a freshly migrated store, over the three sites and
   every department of the catalogue (tenants/), a third of PROD's servers with a volume, and
   times the metering a sync adds to its transaction: ``metering_repo.record_site_hour`` of
   each site, in one write transaction per site as ``services.sync`` runs it (median and max
   of five rounds in one hour: the hour's first reading, which writes every row, and four
   later ones after some servers changed, which write what changed; the hour before is
   metered first, untimed, as a running server has).
2. Seeds November 2026's hourly rollups (``hours`` hours, the whole month by default) as
   metering would have written them — each site's groups as they stand, one row per
   department, site, flavor, copy kind and resource per hour, every hour marked read — in
   bulk inserts, and the approved price sheet tenants/prices/2026.yaml; then times building
   the month's statements for every department and city (``services.statements.statements``
   as a bureau-admin, what the API serves for an open month): the first build and two more.
3. Closes the month (``services.statements.close_month``), serves the API on a loopback port
   and reads the closed statement of one department and of the whole province,
   ``GET /api/v1/reports/statements/2026-11``, ``reads`` times each.

Targets (issue 20): metering adds < 100 ms to a province-scale sync (the three sites' metering
together); a month's statements of the province < 30 s; a closed statement read p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sim_bench import machine
from sync_bench import DEFAULT_PG, pg_schema

from govcloud.api.app import make_app
from govcloud.api.server import ServerThread
from govcloud.domain.catalogue import Department
from govcloud.domain.metering import (
    HOUR,
    HourState,
    Month,
    site_hour_usage,
    stored_quantity,
)
from govcloud.domain.rbac import Principal, Role
from govcloud.domain.sites import default_sites
from govcloud.services import statements as service
from govcloud.services.inventory import CatalogueCache
from govcloud.services.prices import parse_sheet_text
from govcloud.settings import load_settings
from govcloud.store import metering_repo
from govcloud.store.audit import write_session
from govcloud.store.engine import make_engine, write_begin
from govcloud.store.inventory import table
from govcloud.store.migrate import upgrade_engine
from govcloud.store.principals import PrincipalRepository

HERE = Path(__file__).resolve().parent
TENANTS = HERE.parent / "tenants"
SHEET = (TENANTS / "prices" / "2026.yaml").read_text(encoding="utf-8")
MONTH = Month(2026, 11)
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)  # the month is over
CREATED = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
SITES = default_sites()
SITE_SHARE = (("PROD", 0.6), ("DR-LOCAL", 0.2), ("DR-REMOTE", 0.2))
STATUS = {"PROD": "ACTIVE", "DR-LOCAL": "ACTIVE", "DR-REMOTE": "SHELVED_OFFLOADED"}
# (name, vCPUs, RAM MiB, disk GB): two priced per server-hour in the 2026 sheet
FLAVORS = (("m1.small", 1, 2048, 20), ("m1.medium", 2, 4096, 40), ("m1.large", 4, 8192, 80),
           ("m1.xlarge", 8, 16384, 160), ("gc.c4m8", 4, 8192, 40), ("gc.c8m32", 8, 32768, 100))
ADMIN = Principal("admin", Role.BUREAU_ADMIN)
TARGET_METER_MS = 100.0
TARGET_BUILD_S = 30.0
TARGET_READ_P99_MS = 100.0
CHUNK = 5000


def catalogue() -> tuple[Department, ...]:
    got = CatalogueCache(TENANTS, [s.name for s in SITES]).get()
    if not got:
        sys.exit("no department catalogue in tenants/")
    return tuple(got)


def inventory(servers: int, departments: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Server and volume rows: each department uses three of the flavors (as real ones do),
    servers spread over the sites by ``SITE_SHARE``."""
    out: dict[str, list[dict[str, Any]]] = {"server": [], "volume": []}
    n = 0
    for site, share in SITE_SHARE:
        for i in range(int(servers * share)):
            d = (n * 7919) % len(departments)
            name, vcpus, ram, disk = FLAVORS[(d + i % 3) % len(FLAVORS)]
            sid = f"{site}-{i:06d}"
            out["server"].append({
                "site": site, "id": sid, "name": f"vm-{i}", "project_id": f"p-{d}",
                "department": departments[d], "status": STATUS[site], "flavor_name": name,
                "vcpus": vcpus, "ram_mb": ram, "disk_gb": disk, "ephemeral_gb": 0,
                "swap_mb": 0, "boot_from_volume": False, "created": CREATED,
                "updated": CREATED, "deleted_at": None})
            if site == "PROD" and i % 3 == 0:
                out["volume"].append({"site": site, "id": f"v-{i:06d}", "project_id": f"p-{d}",
                                      "department": departments[d], "size_gb": 100,
                                      "status": "in-use", "attached_to": sid})
            n += 1
    return out


def insert_all(conn: Any, name: str, values: list[dict[str, Any]]) -> None:
    for k in range(0, len(values), CHUNK):
        conn.execute(table(name).insert(), values[k:k + CHUNK])


def churn(engine: Any, round_: int, servers: int = 30) -> None:
    """What an incremental sync changes between two readings of an hour: ``servers`` servers
    of PROD stopped or started (their rollup rows change, the others stay as they are)."""
    srv = table("server")
    ids = [f"PROD-{(round_ * 997 + i * 31) % 1000:06d}" for i in range(servers)]
    with write_begin(engine) as conn:
        conn.execute(srv.update().where(srv.c.site == "PROD", srv.c.id.in_(ids))
                     .values(status="SHUTOFF" if round_ % 2 else "ACTIVE"))


def time_metering(engine: Any, rounds: int = 5) -> dict[str, Any]:
    """``record_site_hour`` of every site, each in its own write transaction as a sync runs
    it; ``rounds`` times in one hour: the first reading of the hour writes every row, the
    later ones (as the hour's later syncs, after some servers changed: ``churn``) bring the
    hour's rows up to date."""
    per_site: dict[str, list[float]] = {s.name: [] for s in SITES}
    totals, rows = [], 0
    for site in SITES:  # the hour before, untimed: a running server has metered hours before
        with write_begin(engine) as conn:
            metering_repo.record_site_hour(conn, site.name, site.role, NOW - HOUR)
    for n in range(rounds):
        if n:
            churn(engine, n)
        total = 0.0
        for site in SITES:
            with write_begin(engine) as conn:
                t0 = time.perf_counter()
                rows = metering_repo.record_site_hour(conn, site.name, site.role, NOW)
                took = time.perf_counter() - t0
            per_site[site.name].append(took)
            total += took
        totals.append(total)
    return {"sync_ms_median": round(statistics.median(totals) * 1000, 1),
            "sync_ms_max": round(max(totals) * 1000, 1),
            "sync_ms_first_of_hour": round(totals[0] * 1000, 1),
            "per_site_ms_median": {s: round(statistics.median(t) * 1000, 1)
                                   for s, t in per_site.items()},
            "rows_last_site": rows}


def seed_month(engine: Any, hours: int) -> dict[str, Any]:
    """The month's rollups as metering writes them (each site's groups now, every hour of
    the first ``hours``), every such hour marked read, and the approved 2026 price sheet."""
    t0 = time.perf_counter()
    roles = {s.name: s.role for s in SITES}
    written = 0
    with write_begin(engine) as conn:
        conn.execute(table("usage_hour").delete())
        conn.execute(table("usage_site_hour").delete())
        per_hour = []
        for site in roles:
            srv, vol = metering_repo.site_groups(conn, site)
            per_hour += site_hour_usage(MONTH.start, site, roles[site], srv, vol)
        batch: list[dict[str, Any]] = []
        for hour in list(MONTH.each_hour(None))[:hours]:
            batch += [{"hour": hour, "site": r.site, "department": r.department,
                       "flavor": r.flavor, "kind": r.kind.value, "resource": r.resource.value,
                       "quantity": stored_quantity(r.resource, r.quantity)} for r in per_hour]
            if len(batch) >= 50_000:
                insert_all(conn, "usage_hour", batch)
                written, batch = written + len(batch), []
        insert_all(conn, "usage_hour", batch)
        written += len(batch)
        insert_all(conn, "usage_site_hour", [
            {"hour": hour, "site": site, "state": HourState.READ.value, "at": hour, "reason": None}
            for hour in list(MONTH.each_hour(None))[:hours] for site in roles])
        sheet = parse_sheet_text(SHEET, source="2026.yaml")
        metering_repo.add_sheet(conn, sheet, SHEET, by="operator", person="Op", at=NOW)
        metering_repo.approve_sheet(conn, sheet.version, by="admin", person="Admin", at=NOW)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
    return {"rollup_rows": written, "rows_per_hour": len(per_hour),
            "seed_rollups_s": round(time.perf_counter() - t0, 1)}


def time_build(engine: Any, cat: tuple[Department, ...], runs: int = 3) -> dict[str, Any]:
    times, report = [], {}
    for _ in range(runs):
        t0 = time.perf_counter()
        report = service.statements(engine, ADMIN, MONTH, catalogue=cat,
                                    sites=[s.name for s in SITES], clock=lambda: NOW)
        times.append(time.perf_counter() - t0)
    return {"build_s_first": round(times[0], 2), "build_s_max": round(max(times), 2),
            "build_s_median": round(statistics.median(times), 2),
            "statements": len(report["statements"]),
            "cities": len(report.get("cities", {})),
            "province_total": report.get("province", {}).get("total")}


def latency(client: httpx.Client, path: str, params: dict[str, str], n: int) -> dict[str, Any]:
    times, size = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        resp = client.get(path, params=params)
        times.append((time.perf_counter() - t0) * 1000)
        resp.raise_for_status()
        size = len(resp.content)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1),
            "max_ms": round(times[-1], 1), "bytes": size, "calls": n}


def time_closed(url: str, engine: Any, cat: tuple[Department, ...], department: str,
                reads: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    closed = service.close_month(engine, ADMIN, MONTH, catalogue=cat,
                                 sites=[s.name for s in SITES], clock=lambda: NOW)
    close_s = time.perf_counter() - t0
    with write_session(engine) as session:
        admin = PrincipalRepository(session=session).bootstrap_admin()
        session.commit()
    app = make_app(engine=engine, settings=load_settings(database_url=url),
                   clock=lambda: NOW, catalogue_dir=TENANTS)
    server = ServerThread(app).start()
    path = f"/reports/statements/{MONTH}"
    try:
        with httpx.Client(base_url=server.url + "/api/v1", timeout=600,
                          headers={"Authorization": f"Bearer {admin.token}"}) as client:
            answer = client.get(path, params={"department": department})
            answer.raise_for_status()
            if not answer.json()["closed"]:
                raise SystemExit("the month is not served as closed")
            latency(client, path, {"department": department}, 5)  # warm up
            dept = latency(client, path, {"department": department}, reads)
            latency(client, path, {}, 2)
            province = latency(client, path, {}, reads)
    finally:
        server.stop()
    return {"close_s": round(close_s, 2), "closed_departments": closed["closed"]["departments"],
            "read_department": department, "read_department_ms": dept,
            "read_province_ms": province}


def run_database(url: str, label: str, args: argparse.Namespace) -> dict[str, Any]:
    cat = catalogue()
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
        t0 = time.perf_counter()
        with write_begin(engine) as conn:
            for name, values in inventory(args.servers, [d.code for d in cat]).items():
                insert_all(conn, name, values)
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("ANALYZE")
        out: dict[str, Any] = {"database": label,
                               "seed_servers_s": round(time.perf_counter() - t0, 1)}
        out["metering"] = time_metering(engine, args.rounds)
        if args.metering_only:
            return out
        out["month"] = seed_month(engine, args.hours)
        out["build"] = time_build(engine, cat)
        out["closed"] = time_closed(url, engine, cat, cat[0].code, args.reads)
    finally:
        engine.dispose()
    return out


def each_database(pg: str | None, args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="govcloud-stmt-bench-") as tmp:
        results.append(run_database(f"sqlite:///{tmp}/bench.db", "SQLite", args))
    made = pg_schema(pg) if pg else None
    if made is not None:
        url, drop = made
        try:
            results.append(run_database(url, "PostgreSQL", args))
        finally:
            drop()
    return results


def verdicts(x: dict[str, Any]) -> dict[str, bool]:
    if "build" not in x:  # --metering-only
        return {"metering": x["metering"]["sync_ms_max"] < TARGET_METER_MS}
    return {"metering": x["metering"]["sync_ms_max"] < TARGET_METER_MS,
            "build": x["build"]["build_s_max"] < TARGET_BUILD_S,
            "read": x["closed"]["read_department_ms"]["p99_ms"] < TARGET_READ_P99_MS}


def write_results(r: dict[str, Any], command: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    def mark(ok: bool) -> str:
        return "✅" if ok else "❌"

    lines = [
        f"\n## Metering and monthly statements — {stamp}\n",
        f"Machine: {machine()} · 1-min load average {r['load_avg']} at the start  ",
        f"Command: `{command}`\n",
        "| database | metering per sync, 3 sites (median / max) | month's rollup rows | "
        "statements of the province, first / max of 3 | close | closed statement read, "
        "department p50 / p99 | province p50 / p99 |",
        "| --- | --- | --- | --- | --- | --- | --- |"]
    for x in r["results"]:
        ok, m, b, c = verdicts(x), x["metering"], x["build"], x["closed"]
        d, p = c["read_department_ms"], c["read_province_ms"]
        lines.append(
            f"| {x['database']} | {m['sync_ms_median']} / {m['sync_ms_max']} ms "
            f"{mark(ok['metering'])} | {x['month']['rollup_rows']:,} | {b['build_s_first']} / "
            f"{b['build_s_max']} s {mark(ok['build'])} | {c['close_s']} s | "
            f"{d['p50_ms']} / {d['p99_ms']} ms {mark(ok['read'])} | "
            f"{p['p50_ms']} / {p['p99_ms']} ms ({p['bytes'] / 2**20:.1f} MiB) |")
    first = r["results"][0] if r["results"] else None
    lines.append(
        f"\n{r['servers']:,} servers over three sites and "
        f"{first['build']['statements'] if first else 0} departments, {r['hours']} hours of "
        "November 2026 rolled up (seeded in bulk as metering writes them), the approved 2026 "
        f"price sheet. Targets (issue 20): metering < {TARGET_METER_MS:.0f} ms per sync, a "
        f"month's statements < {TARGET_BUILD_S:.0f} s, closed statement p99 < "
        f"{TARGET_READ_P99_MS:.0f} ms (one department's, read as a bureau-admin; the "
        "province's is shown for reference).\n")
    with (HERE / "results.md").open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--servers", type=int, default=30_000)
    p.add_argument("--hours", type=int, default=720, help="hours of the month rolled up")
    p.add_argument("--reads", type=int, default=100)
    p.add_argument("--pg", default=os.environ.get("GOVCLOUD_TEST_DATABASE_URL", DEFAULT_PG),
                   help="PostgreSQL URL (a fresh schema is made and dropped); '' to skip")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--rounds", type=int, default=5, help="metering rounds in one hour")
    p.add_argument("--metering-only", action="store_true",
                   help="time the metering only (no month, statements or reads; print only)")
    p.add_argument("--scale", help="ignored (bench/run.py passes it to every benchmark)")
    args = p.parse_args()
    load = round(os.getloadavg()[0], 2)
    result = {"servers": args.servers, "hours": args.hours, "load_avg": load,
              "results": each_database(args.pg or None, args)}
    print(json.dumps(result, indent=2))
    ok = all(all(verdicts(x).values()) for x in result["results"])
    if not args.no_write and not args.metering_only:
        command = ("python bench/statements_bench.py --servers "
                   f"{args.servers} --hours {args.hours} --reads {args.reads}")
        write_results(result, command)
        print(f"appended to {HERE / 'results.md'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
