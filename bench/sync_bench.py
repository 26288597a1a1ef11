"""Inventory sync benchmark (issue 3), printed and appended to bench/results.md.

    python bench/sync_bench.py [--scale province|cities|cities-small] [--pg URL] [--no-write]

Starts a simulator process (latency knobs off), then for SQLite and for PostgreSQL (when
reachable; a fresh schema, dropped afterwards): a full sync of every site into a freshly
migrated database, end to end from connecting (``govcloud.services.sync.Syncer``), with the
API and database phases per site; a second full sync over the existing rows; then 100
servers booted in PROD and an incremental sync. Then the control plane's API in a server
thread on that database: ``GET /api/v1/servers`` filtered by department and site (pages of
100) and ``GET /api/v1/capacity`` for all sites, p50/p99 over repeated calls.

Targets: full sync < 15 s, incremental with 100 changed servers < 1 s, servers p99 < 50 ms,
capacity < 100 ms.

``--scale cities`` (24 sites in 4 clouds, 60,000 servers; docs/city-clouds.md) syncs the
sites the simulator's ready file lists, and also times ``GET /status`` and the capacity
what-if (losing PROD) once cold and then warm; its targets are the issue's: full sync < 20 s,
incremental < 2 s. ``cities-small`` is the same layout in miniature, for a quick check.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from inventory_bench import CHANGED, boot, start_sim
from sim_bench import machine

from govcloud.api.app import make_app
from govcloud.api.server import ServerThread
from govcloud.cloud.connect import connect
from govcloud.demo.cities import ready_sites, sites_of
from govcloud.domain.sites import Site
from govcloud.services.inventory import CatalogueCache, departments_of
from govcloud.services.sync import Syncer, SyncReport
from govcloud.settings import load_settings
from govcloud.store.audit import write_session
from govcloud.store.engine import make_engine, normalise_url
from govcloud.store.migrate import upgrade_engine
from govcloud.store.principals import PrincipalRepository

HERE = Path(__file__).resolve().parent
TENANTS = HERE.parent / "tenants"
TARGET_FULL_S = 15.0
TARGET_INCREMENTAL_S = 1.0
TARGET_SERVERS_P99_MS = 50.0
TARGET_CAPACITY_MS = 100.0
CITY_SCALES = ("cities", "cities-small")
TARGET_CITIES_FULL_S = 20.0
TARGET_CITIES_INCREMENTAL_S = 2.0
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def rss_mb() -> tuple[float, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def per_site(report: SyncReport) -> dict[str, Any]:
    return {r.site: {"seconds": round(r.seconds, 2), "api_s": round(r.api_s, 2),
                     "db_s": round(r.db_s, 2), "servers": r.servers, "changed": r.changed,
                     "deleted": r.deleted, "ok": r.ok, "error": r.error}
            for r in report.results}


def latency(client: httpx.Client, path: str, params: dict[str, Any], n: int) -> dict[str, float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        resp = client.get(path, params=params)
        times.append((time.perf_counter() - t0) * 1000)
        resp.raise_for_status()
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 1),
            "max_ms": round(times[-1], 1), "calls": n}


def sim_sites(clouds: Path) -> tuple[tuple[Site, ...], dict[str, dict[str, Any]]]:
    """The sites the simulator beside ``clouds`` (its clouds.yaml) serves, as checked domain
    values and in settings form (from its ready file, as the demo configures them)."""
    raw = json.loads((clouds.parent / "ready.json").read_text())
    return sites_of(raw), ready_sites(raw)


def cold_warm(client: httpx.Client, path: str, params: dict[str, Any]) -> dict[str, float]:
    """The first answer (nothing cached) and the second, in ms."""
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        times.append(round((time.perf_counter() - t0) * 1000, 1))
    return {"cold_ms": times[0], "warm_ms": times[1]}


def run_database(url: str, label: str, clouds: Path) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade_engine(engine)
    sites, site_settings = sim_sites(clouds)
    catalogue = CatalogueCache(TENANTS, [s.name for s in sites])
    catalogue.get()  # parsed once, as the server keeps it
    t0, cpu0 = time.perf_counter(), time.process_time()
    conns = {s.name: connect(s, clouds_yaml=clouds) for s in sites}
    syncer = Syncer(engine=engine, sites=sites, connections=lambda: conns,
                    departments=lambda: departments_of(catalogue))
    first = syncer.sync(full=True)
    full_s, full_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    second = syncer.sync(full=True)
    stored = sum(r.servers for r in first.results)
    boot(clouds, CHANGED if stored > 1000 else 10)  # the small seeds' quotas hold 10 more
    cpu0 = time.process_time()
    incremental = syncer.sync()
    incremental_cpu_s = time.process_time() - cpu0
    out: dict[str, Any] = {
        # CPU seconds of this process (sync threads; the simulator's are its own): a figure
        # the other helpers' load on the machine changes less than the wall-clock ones
        "full_cpu_s": round(full_cpu_s, 2), "incremental_cpu_s": round(incremental_cpu_s, 2),
        "database": label, "full_s": round(full_s, 2), "full": per_site(first),
        "full_again_s": round(second.seconds, 2), "full_again": per_site(second),
        "incremental_s": round(incremental.seconds, 2),
        "incremental": per_site(incremental),
        "ok": first.ok and second.ok and incremental.ok}

    with write_session(engine) as session:
        admin = PrincipalRepository(session=session).bootstrap_admin()
        session.commit()
    settings = load_settings(database_url=url, clouds_yaml=clouds, sites=site_settings)
    app = make_app(engine=engine, settings=settings, clouds=conns, catalogue_dir=TENANTS)
    server = ServerThread(app).start()
    try:
        with httpx.Client(base_url=server.url + "/api/v1", timeout=60,
                          headers={"Authorization": f"Bearer {admin.token}"}) as client:
            if len(sites) > 3:  # what grows with the sites: status, the what-if
                out["status"] = cold_warm(client, "/status", {})
                out["what_if"] = cold_warm(client, "/capacity", {"what_if_lose": "PROD"})
            params: dict[str, str | int] = {"department": "gd-psd", "site": "PROD", "limit": 100}
            latency(client, "/servers", params, 20)  # warm up
            out["servers"] = latency(client, "/servers", params, 300)
            page = client.get("/servers", params=params).json()
            out["servers_page"] = len(page["servers"])
            latency(client, "/capacity", {}, 5)
            out["capacity"] = latency(client, "/capacity", {}, 100)
    finally:
        server.stop()
        for conn in conns.values():
            conn.close()
        engine.dispose()
    return out


def pg_schema(base: str) -> tuple[str, Any] | None:
    try:
        admin = make_engine(base)
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except Exception as exc:  # noqa: BLE001 — no PostgreSQL here: SQLite only
        print(f"PostgreSQL not reachable ({exc}); SQLite only", file=sys.stderr)
        return None
    url = normalise_url(base).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def each_database(scale: str, pg: str | None, prefix: str,
                  run_one: Callable[[str, str, Path], dict[str, Any]]) -> list[dict[str, Any]]:
    """``run_one(url, label, clouds_yaml)`` on SQLite and (when ``pg`` is reachable) on a
    fresh PostgreSQL schema, each with a fresh simulator process of ``scale``."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    results = []
    targets: list[tuple[str, str, Callable[[], None] | None]] = [
        ("SQLite", f"sqlite:///{work / 'govcloud.db'}", None)]
    made = pg_schema(pg) if pg else None
    if made is not None:
        targets.append(("PostgreSQL", made[0], made[1]))
    try:
        for label, url, _ in targets:
            (work / label).mkdir()
            proc, _info = start_sim(scale, work / label)  # a fresh simulator per database
            try:
                results.append(run_one(url, label, work / label / "clouds.yaml"))
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    finally:
        for _, _, drop in targets:
            if drop is not None:
                drop()
    return results


def run(scale: str, pg: str | None) -> dict[str, Any]:
    load = os.getloadavg()[0]
    results = each_database(scale, pg, "govcloud-syncbench-", run_database)
    rss, hwm = rss_mb()
    return {"scale": scale, "load_avg": round(load, 2), "results": results,
            "rss_mb": round(rss), "hwm_mb": round(hwm)}


def write_results(r: dict[str, Any]) -> None:
    path = HERE / "results.md"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    def mark(ok: bool) -> str:
        return "✅" if ok else "❌"

    lines = [
        f"\n## Inventory sync into the database — {stamp}\n",
        f"Machine: {machine()} · 1-min load average {r['load_avg']} at the start (simulator, "
        "sync and API server share these cores)  ",
        f"Command: `python bench/sync_bench.py --scale {r['scale']}` (simulator latency off)\n",
        "| database | full sync, end to end | per site: API / DB (s) | second full sync | "
        f"incremental ({CHANGED} new servers) | `GET /servers` dept+site p50 / p99 | "
        "`GET /capacity` p50 / p99 |",
        "| --- | --- | --- | --- | --- | --- | --- |"]
    for x in r["results"]:
        phases = "; ".join(f"{site} {s['api_s']} / {s['db_s']}" for site, s in x["full"].items())
        lines.append(
            f"| {x['database']} | {x['full_s']} s {mark(x['full_s'] < TARGET_FULL_S)} | "
            f"{phases} | {x['full_again_s']} s | {x['incremental_s']} s "
            f"{mark(x['incremental_s'] < TARGET_INCREMENTAL_S)} | "
            f"{x['servers']['p50_ms']} / {x['servers']['p99_ms']} ms "
            f"{mark(x['servers']['p99_ms'] < TARGET_SERVERS_P99_MS)} | "
            f"{x['capacity']['p50_ms']} / {x['capacity']['p99_ms']} ms "
            f"{mark(x['capacity']['p99_ms'] < TARGET_CAPACITY_MS)} |")
    full = r["results"][0]["full"] if r["results"] else {}
    servers = sum(s["servers"] for s in full.values())
    lines.append(
        f"\n{servers} servers over {len(full)} sites. Targets: full sync < {TARGET_FULL_S:.0f} s, "
        f"incremental < {TARGET_INCREMENTAL_S:.0f} s, servers p99 < "
        f"{TARGET_SERVERS_P99_MS:.0f} ms, capacity < {TARGET_CAPACITY_MS:.0f} ms. The API "
        "phase is the site's read (sites in parallel); the DB phase is its one transaction "
        "(on SQLite the three sites' transactions queue for the single writer). Memory of "
        f"the benchmark process (sync + API server + client): VmRSS {r['rss_mb']} MB, peak "
        f"{r['hwm_mb']} MB.\n")
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--scale", default="province", choices=("province", "small", *CITY_SCALES))
    p.add_argument("--pg", default=os.environ.get("GOVCLOUD_TEST_DATABASE_URL", DEFAULT_PG),
                   help="PostgreSQL URL (a fresh schema is made and dropped); '' to skip")
    p.add_argument("--workers", type=int, default=8, help=argparse.SUPPRESS)
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args()
    result = run(args.scale, args.pg or None)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_results(result)
        print(f"appended to {HERE / 'results.md'}")
    return 0 if all(x["ok"] for x in result["results"]) else 1


if __name__ == "__main__":
    sys.exit(main())
