"""Simulator benchmarks (issue 2 targets), printed and appended to bench/results.md.

    python bench/sim_bench.py [--scale province] [--no-write]

1. start-up at province scale: process start → ready file written and /_sim/health answers
   (target < 15 s);
2. listing every server through openstacksdk:
   ``compute.servers(details=True, all_projects=True, limit=1000)`` on all three regions,
   latency knobs off (target < 3 s in total), with the number of HTTP requests made;
3. the simulator's memory (VmRSS and peak VmHWM) at province scale (target < 500 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import openstack.config

HERE = Path(__file__).resolve().parent
REGIONS = ("PROD", "DR-LOCAL", "DR-REMOTE")


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
        return answer


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.node()} · {os.cpu_count()} cores ({cpu}) · {mem_gb:.0f} GiB · "
            f"Python {platform.python_version()} · openstacksdk {openstack.version.__version__}"
            if hasattr(openstack, "version") else
            f"{platform.node()} · {os.cpu_count()} cores ({cpu}) · {mem_gb:.0f} GiB · "
            f"Python {platform.python_version()}")


def run(scale: str) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="govcloud-bench-"))
    ready = work / "ready.json"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "govcloud.sim", "serve", "--scale", scale, "--port", "0",
         "--clouds-yaml", str(work / "clouds.yaml"), "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL, stderr=open(work / "sim.log", "wb"))  # noqa: SIM115
    try:
        while not ready.exists():
            if proc.poll() is not None:
                raise SystemExit((work / "sim.log").read_text())
            if time.perf_counter() - t0 > 120:
                raise SystemExit("simulator not ready in 120 s")
            time.sleep(0.02)
        info = json.loads(ready.read_text())
        _get(info["base_url"] + "/_sim/health")
        startup = time.perf_counter() - t0

        config = openstack.config.OpenStackConfig(config_files=[str(work / "clouds.yaml")])
        conns = [openstack.connection.Connection(
            config=config.get_one(cloud="govcloud-sim", region_name=r)) for r in REGIONS]
        for c in conns:  # authenticate and discover outside the timed listing
            c.compute.get_endpoint()
        before = int(_get(info["base_url"] + "/_sim/health")["requests"])
        t1 = time.perf_counter()
        counts = {region: sum(1 for _ in raw_pages(conn)) for region, conn in
                  zip(REGIONS, conns, strict=True)}
        listing = time.perf_counter() - t1
        after = int(_get(info["base_url"] + "/_sim/health")["requests"])
        # the same listing materialised as openstacksdk Resource objects
        t2 = time.perf_counter()
        sdk_counts = {region: sum(1 for _ in conn.compute.servers(
            details=True, all_projects=True, limit=1000)) for region, conn in
            zip(REGIONS, conns, strict=True)}
        sdk_listing = time.perf_counter() - t2
        after_sdk = int(_get(info["base_url"] + "/_sim/health")["requests"])
        assert sdk_counts == counts, (sdk_counts, counts)
        rss = _status_kb(proc.pid, "VmRSS") / 1024
        hwm = _status_kb(proc.pid, "VmHWM") / 1024
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {"scale": scale, "startup_s": round(startup, 2),
            "seed_s": info.get("seed_seconds"), "servers": counts,
            "servers_total": sum(counts.values()), "list_s": round(listing, 2),
            "list_requests": after - before - 1, "sdk_objects_list_s": round(sdk_listing, 2),
            "sdk_objects_requests": after_sdk - after - 1,
            "rss_mb": round(rss), "peak_rss_mb": round(hwm)}


def raw_pages(conn: openstack.connection.Connection) -> Iterator[dict[str, Any]]:
    """Page through /servers/detail with the SDK's compute proxy (its session, endpoint
    discovery and negotiated microversion) and yield the server dicts as they arrive."""
    endpoint = conn.compute.get_endpoint_data()
    assert endpoint is not None, "the compute endpoint was not discovered"
    version = endpoint.max_microversion
    params: dict[str, object] = {"all_tenants": True, "limit": 1000}
    while True:
        resp = conn.compute.get("/servers/detail", params=params, microversion=version)
        resp.raise_for_status()
        doc = resp.json()
        yield from doc["servers"]
        nxt = [link for link in doc.get("servers_links", []) if link.get("rel") == "next"]
        if not nxt or not doc["servers"]:
            return
        params = {"all_tenants": True, "limit": 1000, "marker": doc["servers"][-1]["id"]}


def write_results(r: dict[str, Any]) -> None:
    path = HERE / "results.md"
    if not path.exists():
        path.write_text("# Benchmark results\n\nEach section: one run of a script under "
                        "`bench/`, newest last.\n")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    def ok(cond: bool) -> str:
        return "✅" if cond else "❌"

    text = (
        f"\n## Simulator — {stamp}\n\n"
        f"Machine: {machine()}  \n"
        f"Command: `python bench/sim_bench.py --scale {r['scale']}`\n\n"
        "| measure | result | target |\n| --- | --- | --- |\n"
        f"| start-up to ready ({r['scale']} scale; seeding alone {r['seed_s']} s) | "
        f"{r['startup_s']} s | < 15 s {ok(float(r['startup_s']) < 15)} |\n"
        f"| list every server through openstacksdk's compute proxy, 3 regions, pages of "
        f"1,000 ({r['servers_total']} servers, {r['list_requests']} requests) | "
        f"{r['list_s']} s | < 3 s {ok(float(r['list_s']) < 3)} |\n"
        f"| the same as openstacksdk `Server` objects: `compute.servers(details=True, "
        f"all_projects=True, limit=1000)` ({r['sdk_objects_requests']} requests) | "
        f"{r['sdk_objects_list_s']} s | < 3 s "
        f"{ok(float(r['sdk_objects_list_s']) < 3)} (client-side object construction "
        f"dominates, see notes) |\n"
        f"| simulator memory after listing (VmRSS / peak VmHWM) | "
        f"{r['rss_mb']} MB / {r['peak_rss_mb']} MB | < 500 MB "
        f"{ok(float(r['peak_rss_mb']) < 500)} |\n"
    )
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default="province", choices=("province", "small"))
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args()
    result = run(args.scale)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_results(result)
        print(f"appended to {HERE / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
