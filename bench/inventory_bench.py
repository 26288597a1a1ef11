"""Inventory read benchmark (issue 3, API phase of a full sync), printed and appended to
bench/results.md.

    python bench/inventory_bench.py [--scale province] [--workers 8] [--no-write]

Starts a simulator process (latency knobs off), then reads all three sites in parallel with
govcloud's inventory adapter (``govcloud.cloud.inventory.read_inventory``): compute services,
Placement resource providers with inventories and usages, hypervisors, every department's
compute quota detail and every server. Timed end to end from connecting (authentication and
version discovery included). Target for issue 3: a full sync under 15 s end to end, of which
this is the API phase.

Then 100 servers are booted in PROD (one multi-create as department gd-psd) and every site is
read incrementally: compute services, Placement providers reusing those whose generation is
unchanged, hypervisors, and ``changes-since`` the full read's ``next_since``. Target for
issue 3: incremental sync with 100 changed servers under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from openstack.connection import Connection
from sim_bench import _get, machine

from govcloud.cloud.connect import connect
from govcloud.cloud.inventory import SiteReader
from govcloud.domain.capacity import site_capacity
from govcloud.domain.inventory import ServerChanges, SiteInventory
from govcloud.domain.sites import Site, SiteRole, default_sites

HERE = Path(__file__).resolve().parent
TARGET_S = 15.0
TARGET_INCREMENTAL_S = 1.0
CHANGED = 100


def start_sim(scale: str, work: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    ready = work / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "govcloud.sim", "serve", "--scale", scale, "--port", "0",
         "--clouds-yaml", str(work / "clouds.yaml"), "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL, stderr=open(work / "sim.log", "wb"))  # noqa: SIM115
    t0 = time.perf_counter()
    ready_s = 300 if scale == "cities" else 120  # 60,000 servers seed slowly on a busy machine
    while not ready.exists():
        if proc.poll() is not None:
            raise SystemExit((work / "sim.log").read_text())
        if time.perf_counter() - t0 > ready_s:
            proc.terminate()
            raise SystemExit(f"simulator not ready in {ready_s} s")
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


def department_projects(clouds: Path) -> list[str]:
    """Project ids of the departments (the sync gets these from the catalogue)."""
    conn = connect(default_sites()[0], clouds_yaml=clouds)
    try:
        doc = conn.identity.get("/projects").json()
    finally:
        conn.close()
    return [p["id"] for p in doc["projects"] if p.get("department")]


def read_one(name: str, clouds: Path, projects: list[str],
             workers: int) -> tuple[SiteInventory, float, Connection]:
    """A full read from a fresh connection (authentication and discovery timed too); the
    connection is kept for the incremental read, as the control plane's sync worker keeps
    its connections."""
    site = next(s for s in default_sites() if s.name == name)
    t0 = time.perf_counter()
    conn = connect(site, clouds_yaml=clouds)
    inv = SiteReader(conn, site=name, workers=workers).read(project_ids=projects)
    return inv, time.perf_counter() - t0, conn


def boot(clouds: Path, count: int) -> None:
    """Boot ``count`` servers in PROD as department gd-psd (one multi-create request)."""
    conn = connect(Site("PROD", "govcloud-sim-gd-psd", "PROD", SiteRole.PRODUCTION),
                   clouds_yaml=clouds)
    try:
        flavor = next(f["id"] for f in conn.compute.get("/flavors").json()["flavors"]
                      if f["name"] == "gc.c2m4")
        image = next(i["id"] for i in conn.compute.get("/images").json()["images"]
                     if i["name"].startswith("cirros"))
        resp = conn.compute.post("/servers", microversion="2.37", json={"server": {
            "name": "bench-incr", "flavorRef": flavor, "imageRef": image, "networks": "none",
            "min_count": count, "max_count": count}})
        if resp.status_code >= 400:
            raise SystemExit(f"boot failed: {resp.status_code} {resp.text[:300]}")
    finally:
        conn.close()


def read_changes(name: str, conn: Connection, previous: SiteInventory,
                 workers: int) -> tuple[ServerChanges, int, int, float]:
    """(changes, requests, providers re-read, seconds) of one incremental read."""
    t0 = time.perf_counter()
    r = SiteReader(conn, site=name, workers=workers)
    services = r.services()
    providers = r.providers(previous=previous.providers)
    r.hypervisors(services=services, providers=providers)
    changes = r.server_changes(previous.next_since)
    seconds = time.perf_counter() - t0
    reread = sum(1 for p in providers if p not in previous.providers)
    return changes, r.requests, reread, seconds


def run(scale: str, workers: int) -> dict[str, Any]:
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="govcloud-invbench-"))
    proc, info = start_sim(scale, work)
    clouds = work / "clouds.yaml"
    try:
        projects = department_projects(clouds)
        names = [s.name for s in default_sites()]
        before = int(_get(info["base_url"] + "/_sim/health")["requests"])
        t0 = time.perf_counter()
        with ThreadPoolExecutor(len(names)) as pool:
            results = list(pool.map(lambda n: read_one(n, clouds, projects, workers), names))
        total = time.perf_counter() - t0
        after = int(_get(info["base_url"] + "/_sim/health")["requests"])
        boot(clouds, CHANGED)
        t1 = time.perf_counter()
        with ThreadPoolExecutor(len(names)) as pool:
            incremental = list(pool.map(
                lambda nr: read_changes(nr[0], nr[1][2], nr[1][0], workers),
                zip(names, results, strict=True)))
        incremental_s = time.perf_counter() - t1
        for _, _, conn in results:
            conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    sites = {}
    for name, (inv, seconds, _) in zip(names, results, strict=True):
        cap = site_capacity(name, inv.hypervisors)
        sites[name] = {"seconds": round(seconds, 2), "read_s": round(inv.seconds, 2),
                       "requests": inv.requests, "servers": len(inv.servers),
                       "hypervisors": len(inv.hypervisors), "providers": len(inv.providers),
                       "services": len(inv.services), "quotas": len(inv.quotas),
                       "physical_cores": cap.physical_cores,
                       "phases": {k: round(v, 2) for k, v in inv.phases.items()}}
    incr = {name: {"seconds": round(sec, 2), "requests": req, "changed": len(ch.changed),
                   "deleted": len(ch.deleted), "providers_reread": reread}
            for name, (ch, req, reread, sec) in zip(names, incremental, strict=True)}
    return {"scale": scale, "workers": workers, "load_avg": round(load, 2),
            "total_s": round(total, 2),
            "incremental_s": round(incremental_s, 2), "incremental": incr,
            "requests": after - before - 1, "sites": sites,
            "servers": sum(s["servers"] for s in sites.values()),
            "hypervisors": sum(s["hypervisors"] for s in sites.values()),
            "providers": sum(s["providers"] for s in sites.values()),
            "quotas": sum(s["quotas"] for s in sites.values()),
            "physical_cores": sum(s["physical_cores"] for s in sites.values())}


def write_results(r: dict[str, Any]) -> None:
    path = HERE / "results.md"
    if not path.exists():
        path.write_text("# Benchmark results\n\nEach section: one run of a script under "
                        "`bench/`, newest last.\n")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    ok = "✅" if r["total_s"] < TARGET_S else "❌"
    rows = "".join(
        f"| {name} | {s['seconds']} s | {s['requests']} | {s['servers']} | "
        f"{s['hypervisors']} | {s['providers']} | {s['quotas']} |\n"
        for name, s in r["sites"].items())
    text = (
        f"\n## Inventory read (sync API phase) — {stamp}\n\n"
        f"Machine: {machine()} · 1-min load average {r['load_avg']} at the start (the "
        f"simulator and the reader share these cores)  \n"
        f"Command: `python bench/inventory_bench.py --scale {r['scale']} "
        f"--workers {r['workers']}` (simulator latency off)\n\n"
        f"All three sites read in parallel with `govcloud.cloud.inventory` (services, "
        f"Placement providers with inventories and usages, hypervisors, quota detail of "
        f"{r['quotas'] // max(1, len(r['sites']))} projects, every server), timed from "
        f"connecting: **{r['total_s']} s** in total, {r['requests']} requests — target for a "
        f"full sync < {TARGET_S:.0f} s end to end {ok} (this is its API phase).\n\n"
        "| site | seconds | requests | servers | hypervisors | providers | quotas |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n" + rows +
        f"| **all** | **{r['total_s']} s** | {r['requests']} | {r['servers']} | "
        f"{r['hypervisors']} | {r['providers']} | {r['quotas']} |\n")
    incr = r["incremental"]
    ok_incr = "✅" if r["incremental_s"] < TARGET_INCREMENTAL_S else "❌"
    text += (
        f"\nThen {CHANGED} servers booted in PROD and every site read incrementally on the "
        f"same connections (services, providers reused by generation, hypervisors, "
        f"`changes-since`): "
        f"**{r['incremental_s']} s**, "
        f"{sum(i['requests'] for i in incr.values())} requests — target for an incremental "
        f"sync < {TARGET_INCREMENTAL_S:.0f} s {ok_incr} (API phase).\n\n"
        "| site | seconds | requests | servers changed | deleted | providers re-read |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + "".join(
            f"| {name} | {i['seconds']} s | {i['requests']} | {i['changed']} | {i['deleted']} "
            f"| {i['providers_reread']} |\n" for name, i in incr.items()))
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--scale", default="province", choices=("province", "small"))
    p.add_argument("--workers", type=int, default=8,
                   help="threads per site for Placement and quota reads")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args()
    result = run(args.scale, args.workers)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_results(result)
        print(f"appended to {HERE / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
