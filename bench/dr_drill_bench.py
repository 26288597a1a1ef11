"""DR drill benchmark (issue 19): a drill of a 10-server DR-level-5 system, end to end on the
simulator with 50 ms API latency, printed and appended to bench/results.md (``--no-write``:
print only).

    python bench/dr_drill_bench.py [--servers 10] [--runs 3] [--latency-ms 50] [--no-write]

A simulator process (``govcloud.demo.process.SimProcess``, small scale) and the control plane
as a process (``govcloud serve``, ``tests/served.py``) with its provisioning worker and an SSH
client key. An operator's request for ``servers`` servers of gd-hrss (DR level 5: a hot copy in
DR-LOCAL, a cold one in DR-REMOTE) is approved and provisioned: the cold copies end shelved
offloaded, each with its ``<name>-shelved`` image. Each cold copy is then given a recovery
point written into the store directly (no protection cycle runs): an ``image`` artifact (the
shelved image) and the manifest of the files the drill's sandboxes hold. Then the latency is
set on the simulator (``PUT /_sim/faults``) and, ``runs`` times: ``servers`` fresh sshd
sandboxes (``govcloud.demo.sandbox``) holding those files go into the simulator's pool, the
operator plans a drill of the system into DR-REMOTE, a bureau-admin approves it, and the time
from ``POST /dr/drills/{id}/run`` until the drill is ``passed`` or ``failed`` (read every
0.1 s) is measured: bring-up, health-check playbook, teardown, leftover check in every region,
production compared, evidence recorded. Reported: median and max of that wall time, each
step's median duration from the drill's recorded steps, and the achieved RTO the drill
measured (worst system, per run).

Target (issue 19): < 60 s per drill, cleanup included.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/ (as realcloud_bench.py does)

from sim_bench import machine  # noqa: E402

from govcloud.cloud.connect import connect  # noqa: E402
from govcloud.demo.process import SimProcess  # noqa: E402
from govcloud.demo.sandbox import Sandbox, make_key, write_files  # noqa: E402
from govcloud.domain.recovery import (  # noqa: E402
    Artifact,
    ArtifactKind,
    PointKind,
    PointRecord,
    manifest_digest,
)
from govcloud.domain.sites import default_sites  # noqa: E402
from govcloud.store import protection_repo  # noqa: E402
from govcloud.store.engine import make_engine, write_begin  # noqa: E402
from govcloud.store.tables import utcnow  # noqa: E402
from tests.integration.control.conftest import small_catalogue  # noqa: E402
from tests.integration.control.provisioning_plane import request  # noqa: E402
from tests.served import ServedPlane  # noqa: E402

DEPARTMENT, SYSTEM, SITE = "gd-hrss", "drillbench", "DR-REMOTE"  # DR level 5: cold copy
DATA = "/srv/drillbench"
FILES = {"app.db": b"D" * 20000, "conf/app.ini": b"[app]\nname=drillbench\n"}
TARGET_S = 60.0
FINAL = ("passed", "failed", "interrupted")


def start_plane(work: Path, clouds_yaml: Path, key: Path) -> tuple[ServedPlane, str, str]:
    """``govcloud serve`` on the simulator; the bootstrapped admin's and an operator's token."""
    plane = ServedPlane(work / "plane", database_url=f"sqlite:///{work / 'govcloud.db'}",
                        catalogue=small_catalogue(work / "tenants"), clouds_yaml=clouds_yaml,
                        env={"GOVCLOUD_MIGRATE_DIR": str(work / "migrate"),
                             "GOVCLOUD_SSH_KEY": str(key), "GOVCLOUD_SSH_TIMEOUT_S": "10",
                             "GOVCLOUD_MIGRATE_PYTHON": "/usr/bin/python3",
                             "GOVCLOUD_PROVISION_CONCURRENCY": "8",
                             # the small simulator has 3-6 hosts a site: 10 members share them
                             "GOVCLOUD_PROVISION_GROUP_POLICY": "soft-anti-affinity"})
    admin = plane.bootstrap()
    plane.serve()
    return plane, admin, plane.principal(admin, "bench-ops", "operator")


def provision(plane: ServedPlane, admin: str, operator: str, servers: int) -> dict[str, str]:
    """The system provisioned; its cold copies' server id → name in SITE."""
    plane.api(admin, "POST", "/tenants/apply")
    assert plane.api(admin, "POST", "/sync", {"full": True})["ok"]
    body = request(SYSTEM, count=servers, department=DEPARTMENT, flavor="gc.c1m2")
    rid = plane.api(operator, "POST", "/requests", body)["id"]
    plane.api(admin, "POST", f"/requests/{rid}/approve")
    deadline = time.monotonic() + 600
    while (r := plane.api(admin, "GET", f"/requests/{rid}"))["state"] not in (
            "done", "failed", "rejected", "cancelled"):
        if time.monotonic() > deadline:
            raise SystemExit(f"request {rid} did not finish: {r['state']}")
        time.sleep(0.5)
    if r["state"] != "done":
        raise SystemExit(f"provisioning {r['state']}: {r.get('error')}")
    assert plane.api(admin, "POST", "/sync", {"full": True})["ok"]
    copies = {s["server_id"] for s in r["servers"] if s["site"] == SITE}
    conn = cloud(plane.clouds_yaml)
    try:
        return {s.id: s.name for s in conn.compute.servers(all_projects=True) if s.id in copies}
    finally:
        conn.close()


def cloud(clouds_yaml: Path) -> Any:
    return connect(next(s for s in default_sites() if s.name == SITE), clouds_yaml=clouds_yaml)


def record_points(plane: ServedPlane, copies: dict[str, str]) -> None:
    """A good recovery point 10 minutes old per cold copy: its shelved image and FILES' manifest
    (written into the store directly, as tests/integration/dr/drills.py does)."""
    conn = cloud(plane.clouds_yaml)
    try:
        images = {i.name: i.id for i in conn.image.images()}
    finally:
        conn.close()
    manifest = tuple(sorted((f"{DATA}/{name}", "sha256:" + hashlib.sha256(data).hexdigest())
                            for name, data in FILES.items()))
    engine = make_engine(plane.db)
    try:
        with write_begin(engine) as db:
            for copy_id, name in copies.items():
                protection_repo.add_recovery_point(db, PointRecord(
                    DEPARTMENT, SYSTEM, SITE, copy_id, utcnow() - timedelta(minutes=10),
                    PointKind.FILE_SYNC, sum(map(len, FILES.values())),
                    manifest_digest(manifest),
                    artifacts=(Artifact(ArtifactKind.IMAGE, SITE, images[f"{name}-shelved"]),),
                    manifest=manifest))
    finally:
        engine.dispose()


def pool(sim_url: str, work: Path, key: Path, run: int, servers: int) -> list[Sandbox]:
    """``servers`` fresh sandboxes holding FILES, in the simulator's pool for the drill."""
    boxes = []
    for i in range(servers):
        box = Sandbox(f"r{run}-{i:02d}", work / "hosts" / f"r{run}-{i:02d}",
                      key.with_suffix(".pub")).start()
        boxes.append(box)
        write_files(box.root, DATA, FILES)
    httpx.post(f"{sim_url}/_sim/sandboxes", json={"sandboxes": [b.endpoint() for b in boxes]},
               timeout=30).raise_for_status()
    return boxes


def drill(plane: ServedPlane, admin: str, operator: str) -> dict[str, Any]:
    """Plan, approve, then time ``run`` until the drill ends."""
    made = plane.api(operator, "POST", "/dr/drills",
                     {"department": DEPARTMENT, "system": SYSTEM, "site": SITE})
    plane.api(admin, "POST", f"/dr/drills/{made['id']}/approve")
    t0 = time.perf_counter()
    plane.api(operator, "POST", f"/dr/drills/{made['id']}/run")
    while (shown := plane.api(operator, "GET", f"/dr/drills/{made['id']}"))["state"] \
            not in FINAL:
        if time.perf_counter() - t0 > 900:
            raise SystemExit(f"drill {made['id']} still {shown['state']} after 900 s")
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    steps = {s["step"]: (datetime.fromisoformat(s["finished_at"])
                         - datetime.fromisoformat(s["started_at"])).total_seconds()
             for s in shown["steps"] if s["started_at"] and s["finished_at"]}
    systems = (shown.get("evidence") or {}).get("systems") or []
    rtos = [s["achieved_rto_s"] for s in systems if s.get("achieved_rto_s") is not None]
    failed = [f"{s['step']}: {s['status']}: {(s.get('output') or '')[-300:]}"
              for s in shown["steps"] if s["status"] not in ("succeeded", "pending")]
    return {"drill": made["id"], "state": shown["state"], "wall_s": round(wall, 2),
            "steps_s": {k: round(v, 2) for k, v in steps.items()},
            "achieved_rto_s": max(rtos) if rtos else None, "problems": failed}


def run(servers: int, runs: int, latency_ms: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="govcloud-drill-bench-"))
    key = make_key(work / "keys" / "id_ed25519")
    sim = SimProcess(state_dir=work / "sim", scale="small", seed=42,
                     extra_args=("--build-delay", "0.2"))
    boxes: list[Sandbox] = []
    plane: ServedPlane | None = None
    try:
        sim.start()
        info = sim.wait_ready()
        plane, admin, operator = start_plane(work, info.clouds_yaml, key)
        t0 = time.perf_counter()
        copies = provision(plane, admin, operator, servers)
        record_points(plane, copies)
        setup_s = time.perf_counter() - t0
        httpx.put(f"{info.base_url}/_sim/faults", json={"latency_ms": latency_ms},
                  timeout=30).raise_for_status()
        drills = []
        for n in range(runs):
            boxes += pool(info.base_url, work, key, n, servers)
            drills.append(drill(plane, admin, operator))
            print(json.dumps(drills[-1]), file=sys.stderr, flush=True)
    finally:
        if plane is not None:
            plane.stop()
        for box in boxes:
            box.stop()
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    return summary(servers, latency_ms, len(copies), setup_s, drills)


def summary(servers: int, latency_ms: int, copies: int, setup_s: float,
            drills: list[dict[str, Any]]) -> dict[str, Any]:
    walls = [d["wall_s"] for d in drills]
    names = list(dict.fromkeys(k for d in drills for k in d["steps_s"]))
    rtos = [d["achieved_rto_s"] for d in drills if d["achieved_rto_s"] is not None]
    return {"servers": servers, "cold_copies": copies, "latency_ms": latency_ms,
            "runs": len(drills), "setup_s": round(setup_s, 1),
            "states": [d["state"] for d in drills],
            "drill_s": {"median": round(statistics.median(walls), 2), "max": max(walls)},
            "steps_median_s": {k: round(statistics.median(
                [d["steps_s"][k] for d in drills if k in d["steps_s"]]), 2) for k in names},
            "achieved_rto_s": {"median": round(statistics.median(rtos), 2) if rtos else None,
                               "max": round(max(rtos), 2) if rtos else None},
            "problems": [p for d in drills for p in d["problems"]]}


def met(r: dict[str, Any]) -> bool:
    return all(s == "passed" for s in r["states"]) and r["drill_s"]["max"] < TARGET_S


def write_results(r: dict[str, Any], args: argparse.Namespace, load: float) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    ok = "✅" if met(r) else "❌"
    rto = r["achieved_rto_s"]
    lines = [
        f"\n## DR drill of a {r['servers']}-server system — {stamp}\n",
        f"Machine: {machine()} · 1-min load average {load} at the start  ",
        f"Command: `python bench/dr_drill_bench.py --servers {args.servers} --runs {args.runs} "
        f"--latency-ms {args.latency_ms}` (simulator and `govcloud serve` as processes, "
        "sshd sandboxes on loopback, the real health-check playbook)\n",
        "| runs | drill, run → done (median / max) | achieved RTO (median / max) | results | "
        "target |",
        "| --- | --- | --- | --- | --- |",
        f"| {r['runs']} | {r['drill_s']['median']} / {r['drill_s']['max']} s {ok} | "
        f"{rto['median']} / {rto['max']} s | {', '.join(r['states'])} | < {TARGET_S:.0f} s, "
        "cleanup included |",
        "\n| step (median of the runs) | s |", "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in r["steps_median_s"].items()],
        f"\ngd-hrss (DR level 5) provisioned with {r['servers']} servers per site; drilled into "
        f"DR-REMOTE from its {r['cold_copies']} cold copies' recovery points (shelved image + "
        "manifest, written into the store: no protection cycle ran). "
        f"{r['latency_ms']} ms latency on every simulator API request during the drills. Time "
        "from `POST /dr/drills/{id}/run` until the drill is passed/failed, polled every 0.1 s: "
        "bring-up, health check, teardown, leftover check in every region, production "
        f"compared, evidence recorded. Setup (provisioning, points) {r['setup_s']} s, not "
        "counted.\n"]
    with (HERE / "results.md").open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--servers", type=int, default=10)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--scale", help="ignored (bench/run.py passes it to every benchmark)")
    args = p.parse_args()
    load = round(os.getloadavg()[0], 2)
    result = {"load_1min": load, **run(args.servers, args.runs, args.latency_ms)}
    json.dump(result, sys.stdout, indent=2)
    print()
    if not args.no_write:
        write_results(result, args, load)
        print("appended to bench/results.md")
    return 0 if met(result) else 1


if __name__ == "__main__":
    sys.exit(main())
