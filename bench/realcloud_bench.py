"""Real-cloud run benchmark (issue 8), printed and appended to bench/results.md: the whole
`make test-realcloud` cycle from a clean state — apt (only what is missing), setup of the
three-region OpenStack from nothing, the real-cloud suite, stop — timed per phase, with the
cloud's resident memory sampled every 2 s (its processes and their uwsgi workers).

Not part of `bench/run.py`'s default list: it takes several minutes and drops the real cloud's
databases (`cloud down --purge`) first. Targets: < 15 min in all, < 6 GB RSS, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from sim_bench import machine  # noqa: E402

from tests.realcloud import cloud  # noqa: E402

TARGET_S = 15 * 60
TARGET_RSS_MB = 6 * 1024


def run() -> dict[str, Any]:
    regions = cloud.load_topology()
    env = {**os.environ, "GOVCLOUD_REALCLOUD": str(cloud.STATE),
           "GOVCLOUD_REALCLOUD_DIR": str(cloud.STATE)}
    py = sys.executable
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(2.0):
            pids = [cloud.pid_of(n) for n in cloud.all_processes(regions)]
            peak = max(peak, cloud.rss_mb(pids))

    load = os.getloadavg()[0]
    phases: dict[str, float] = {}

    def phase(name: str, argv: list[str]) -> int:
        t0 = time.monotonic()
        rc = subprocess.call(argv, cwd=REPO, env=env)
        phases[name] = round(time.monotonic() - t0, 1)
        print(f"{name}: {phases[name]} s (exit {rc})", flush=True)
        return rc

    phase("purge", [py, "-m", "tests.realcloud.cloud", "down", "--purge"])
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = phase("install", [str(REPO / "tests" / "realcloud" / "install.sh")])
    rc = rc or phase("setup", [py, "-m", "tests.realcloud.cloud", "up"])
    after_setup = cloud.rss_mb(cloud.pid_of(n) for n in cloud.all_processes(regions))
    suite_rc = phase("suite", [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                               "no:warnings", "tests/realcloud"]) if rc == 0 else 1
    phase("stop", [py, "-m", "tests.realcloud.cloud", "down"])
    stop.set()
    sampler.join()
    total = round(sum(v for k, v in phases.items() if k != "purge"), 1)
    return {"phases": phases, "total_s": total, "rss_after_setup_mb": after_setup,
            "rss_peak_mb": peak, "suite_ok": suite_rc == 0, "setup_ok": rc == 0,
            "load_avg": round(load, 2)}


def write_results(r: dict[str, Any], apt_first_s: float | None) -> None:
    path = HERE / "results.md"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    p = r["phases"]
    ok_t = "✅" if r["total_s"] < TARGET_S else "❌"
    ok_m = "✅" if r["rss_peak_mb"] < TARGET_RSS_MB else "❌"
    first = (f" The packages' first install on this machine (apt, nothing cached) took "
             f"{apt_first_s:.0f} s." if apt_first_s else "")
    text = (
        f"\n## Real three-region OpenStack: make test-realcloud from a clean state — {stamp}\n\n"
        f"Machine: {machine()} · 1-min load average {r['load_avg']} at the start (other "
        f"engineers' suites share these cores)  \n"
        f"Command: `python bench/realcloud_bench.py` (databases, vhosts and state purged "
        f"first; packages already installed)\n\n"
        "| phase | seconds |\n| --- | --- |\n"
        f"| apt (only what is missing) | {p.get('install', 0)} |\n"
        f"| setup from nothing (databases, Keystone, catalog, 3 regions, computes in "
        f"Placement, flavors, image, networks) | {p.get('setup', 0)} |\n"
        f"| real-cloud suite ({'passed' if r['suite_ok'] else 'FAILED'}) | "
        f"{p.get('suite', 0)} |\n"
        f"| stop by PID | {p.get('stop', 0)} |\n"
        f"| **total** | **{r['total_s']}** — target < {TARGET_S // 60} min {ok_t} |\n\n"
        f"Memory of the cloud's 26 processes and their uwsgi workers: {r['rss_after_setup_mb']} "
        f"MiB RSS after setup, **{r['rss_peak_mb']} MiB peak** — target < 6 GB {ok_m}.{first}\n")
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--apt-first-s", type=float, default=None,
                   help="seconds the first apt install took on this machine, to report")
    args = p.parse_args()
    result = run()
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_results(result, args.apt_first_s)
        print(f"appended to {HERE / 'results.md'}")
    return 0 if result["suite_ok"] and result["setup_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
