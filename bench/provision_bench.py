"""Provisioning benchmark (issue 5), printed and appended to bench/results.md.

    python bench/provision_bench.py [--pg URL] [--serial-servers N] [--no-write]

1. **Provisioning 200 servers over three sites** with 50 ms simulated latency on every cloud
   request: a province-scale simulator process (build delay 1 s, latency via ``/_sim/faults``),
   a full sync into SQLite, then approved requests — five DR-level-6 systems of gd-psd (10
   servers each in PROD, DR-LOCAL and DR-REMOTE) and three systems of a DR-level-3/4
   department (10, 10 and 5 in PROD and DR-REMOTE) — provisioned by the job worker with its default
   concurrency (16); then, for comparison, servers one at a time (``provision_concurrency=1``,
   one request after the other) on the first ``--serial-servers`` servers, extrapolated per
   server to the 200.
2. **Approval with reservation, 50 concurrent approvers**: on SQLite and PostgreSQL, each
   synced from the same simulator (the heap settled after the sync, as the server's sync
   worker does: ``govcloud.heap.settle``), 200 submitted one-server requests of the
   departments with DR level 5-6 and quota room (three sites each, so every approval locks and
   updates the sites' shared ledger rows) are approved by 50 threads at once, each taking the
   next request as soon as its last approval returned; three such rounds, p50/p99 of
   ``approve`` (placement + locked reservation + audit) over all 600. Target p99 < 100 ms
   (issue 18; it was 50 ms).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sim_bench import machine
from sqlmodel import Session
from sync_bench import DEFAULT_PG, pg_schema

from govcloud.cloud.connect import connect
from govcloud.domain.audit_signing import AuditKey
from govcloud.domain.placement import Demand
from govcloud.domain.rbac import Principal, Role
from govcloud.domain.sites import default_sites
from govcloud.errors import TemporaryError
from govcloud.heap import settle
from govcloud.services import provisioning as svc
from govcloud.services.catalogue import load_catalogue
from govcloud.services.sync import Syncer
from govcloud.store import provisioning as store
from govcloud.store.audit import keyed
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from govcloud.workers.provision import ProvisionWorker, WorkerSettings

HERE = Path(__file__).resolve().parent
TENANTS = HERE.parent / "tenants"
LATENCY_MS = 50
TARGET_APPROVE_P99_MS = 100.0
APPROVERS = 50
APPROVALS = 200
ROUNDS = 3  # rounds of APPROVALS; p99 is taken over all of them
ADMIN = Principal("bench-admin", Role.BUREAU_ADMIN)
OPERATOR = Principal("bench-ops", Role.OPERATOR)
NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}


def start_sim(work: Path) -> tuple[Any, dict[str, Any]]:
    import subprocess

    ready = work / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "govcloud.sim", "serve", "--scale", "province", "--port", "0",
         "--clouds-yaml", str(work / "clouds.yaml"), "--ready-file", str(ready),
         "--build-delay", "1.0"],
        stdout=subprocess.DEVNULL, stderr=open(work / "sim.log", "wb"))  # noqa: SIM115
    t0 = time.perf_counter()
    while not ready.exists():
        if proc.poll() is not None or time.perf_counter() - t0 > 180:
            raise SystemExit((work / "sim.log").read_text())
        time.sleep(0.05)
    return proc, json.loads(ready.read_text())


def request(department: str, system: str, count: int) -> dict[str, Any]:
    return {"department": department, "system": system, "justification": "benchmark",
            "servers": [{"name_prefix": "vm", "flavor": "gc.c1m2", "count": count,
                         "image": "cirros-0.6.2-x86_64-disk", "network": NETWORKS}]}


def context(engine: Any, clouds: Path) -> tuple[svc.ProvisioningContext, Callable[[], Any]]:
    sites = default_sites()
    catalogue = load_catalogue(TENANTS, sites=[s.name for s in sites])
    conns: dict[str, Any] = {}

    def connections() -> dict[str, Any]:
        if not conns:
            conns.update({s.name: connect(s, clouds_yaml=clouds) for s in sites})
        return conns

    ctx = svc.ProvisioningContext(engine=engine, sites=sites, catalogue=lambda: catalogue,
                                  group_policy="soft-anti-affinity")
    syncer = Syncer(engine=engine, sites=sites, connections=connections,
                    departments=lambda: {d.code: d.city for d in catalogue})
    t0 = time.perf_counter()
    report = syncer.sync(full=True)
    assert report.ok, report.to_dict()
    settled = settle()  # as the server's sync worker does after every sync (govcloud/heap.py)
    print(f"full sync {time.perf_counter() - t0:.1f} s (heap settled in {settled:.2f} s)",
          flush=True)
    return ctx, connections


def provision(ctx: svc.ProvisioningContext, connections: Callable[[], Any],
              bodies: list[dict[str, Any]], concurrency: int) -> tuple[float, int]:
    """Submit and approve ``bodies``, then let a worker provision them; (wall s, servers)."""
    ids = [svc.submit(ctx, OPERATOR, b)["id"] for b in bodies]
    for rid in ids:
        svc.approve(ctx, ADMIN, rid)
    worker = ProvisionWorker(ctx, connections=connections,
                             settings=WorkerSettings(concurrency=concurrency, poll_s=3600))
    t0 = time.perf_counter()
    for t in worker.poll():
        t.join()
    wall = time.perf_counter() - t0
    states = [svc.show(ctx, ADMIN, rid)["state"] for rid in ids]
    assert states == ["done"] * len(ids), [svc.show(ctx, ADMIN, r)["error"] for r in ids]
    servers = sum(len(svc.show(ctx, ADMIN, rid)["servers"]) for rid in ids)
    return wall, servers


def bench_provisioning(work: Path, serial_servers: int) -> dict[str, Any]:
    proc, info = start_sim(work)
    try:
        engine = make_engine(f"sqlite:///{work / 'prov.db'}")
        upgrade_engine(engine)
        ctx, connections = context(engine, work / "clouds.yaml")
        httpx.put(f"{info['base_url']}/_sim/faults", json={"latency_ms": LATENCY_MS},
                  timeout=30).raise_for_status()
        level3 = max((d for d in ctx.catalogue() if d.dr_level in (3, 4)),
                     key=lambda d: d.quota("DR-REMOTE").instances).code
        # systems of at most 10 (Nova's default quotas: 10 members per server group, 10
        # groups per project): 5 DR-level-6 systems × 10 × 3 sites + 3 DR-level-3/4 systems
        # (10 + 10 + 5) × 2 sites = 200
        shape = [request("gd-psd", f"bench-a{i}", 10) for i in range(5)] + \
            [request(level3, f"bench-b{i}", n) for i, n in enumerate((10, 10, 5))]
        wall, servers = provision(ctx, connections, shape, WorkerSettings().concurrency)
        print(f"concurrent: {servers} servers in {wall:.1f} s", flush=True)
        # one at a time: the same kind of servers, serially
        per_site = max(1, serial_servers // 3)
        serial = [request("gd-psd", f"bench-s{i}", min(10, per_site - 10 * i))
                  for i in range((per_site + 9) // 10)]
        serial_wall = 0.0
        serial_n = 0
        for body in serial:  # one request after the other, one server at a time
            w, n = provision(ctx, connections, [body], 1)
            serial_wall += w
            serial_n += n
        print(f"one at a time: {serial_n} servers in {serial_wall:.1f} s", flush=True)
        engine.dispose()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    per_server = serial_wall / serial_n
    return {"servers": servers, "wall_s": round(wall, 1),
            "concurrency": WorkerSettings().concurrency,
            "serial_servers": serial_n, "serial_wall_s": round(serial_wall, 1),
            "serial_per_server_s": round(per_server, 2),
            "serial_200_estimate_s": round(per_server * servers, 1),
            "speedup": round(per_server * servers / wall, 1)}


def approvals(ctx: svc.ProvisioningContext, approvers: int, count: int, tag: str,
              rounds: int = 1) -> dict[str, Any]:
    """``rounds`` rounds of ``count`` submitted requests approved by ``approvers`` threads;
    p50/p99/max over every approval of every round, and each round's p99."""
    times: list[float] = []
    round_p99: list[float] = []
    reasons: list[str] = []
    wall = 0.0
    for n in range(rounds):
        ids = [svc.submit(ctx, OPERATOR, request(department, f"{tag}{n}-{i}", 1))["id"]
               for i, department in enumerate(departments_with_room(ctx, count))]
        took, refusals, seconds = approval_round(ctx, approvers, ids)
        times += took
        reasons += refusals
        wall += seconds
        round_p99.append(round(p99(took) * 1000, 1))
    times.sort()
    check = svc.ledger_check(ctx.engine)
    return {"approvers": approvers, "approvals": len(times), "refused": len(reasons),
            "rounds": rounds, "round_p99_ms": round_p99,
            "wall_s": round(wall, 2),
            "p50_ms": round(statistics.median(times) * 1000, 1),
            "p99_ms": round(p99(times) * 1000, 1),
            "max_ms": round(times[-1] * 1000, 1), "ledger_matches": check["matches"],
            "first_refusal": reasons[0] if reasons else None}


def departments_with_room(ctx: svc.ProvisioningContext, count: int) -> list[str]:
    """The departments of ``count`` one-server systems: the departments with DR level 5-6
    (three sites each, so every approval updates the sites' shared ledger rows) in turn, each
    as long as its project's instance and core quotas have room in every site after use and
    reservations — so that every approval of the run has room and none is a cheap refusal."""
    codes = sorted(d.code for d in ctx.catalogue() if d.dr_level >= 5)
    sites = [s.name for s in ctx.sites]
    with Session(ctx.engine) as session:
        projects, _ = store.placement_reads(session.connection(),
                                            [(c, s) for c in codes for s in sites], [])
        held = store.ledger_totals(session)
    room = {}
    for code in codes:
        left = []
        for site in sites:
            quotas = projects.get((code, site), ("", {}))[1]
            reserved = held.get((site, code), Demand())
            for name, used in (("instances", reserved.instances), ("cores", reserved.cores)):
                quota = quotas.get(name)
                free = 0 if quota is None else quota.room(used)
                left.append(count if free is None else free)  # None: unlimited
        room[code] = min(left)
    out: list[str] = []
    while len(out) < count:
        ready = [c for c in codes if room[c] > 0]
        if not ready:
            raise SystemExit(f"only room for {len(out)} of {count} one-server systems")
        for code in ready[:count - len(out)]:
            out.append(code)
            room[code] -= 1
    return out


def approval_round(ctx: svc.ProvisioningContext, approvers: int, ids: list[int]
                   ) -> tuple[list[float], list[str], float]:
    """``approvers`` threads approve ``ids``, each taking the next as soon as its last
    returned: (seconds each approval took, why each refused one was refused, wall seconds)."""
    queue = list(ids)
    lock = threading.Lock()
    times: list[float] = []
    reasons: list[str] = []
    barrier = threading.Barrier(approvers)

    def approver() -> None:
        barrier.wait()
        while True:
            with lock:
                if not queue:
                    return
                rid = queue.pop()
            t0 = time.perf_counter()
            try:
                svc.approve(ctx, ADMIN, rid)
            except (svc.InsufficientCapacity, TemporaryError) as exc:
                with lock:
                    reasons.append(exc.message)
            dt = time.perf_counter() - t0
            with lock:
                times.append(dt)

    threads = [threading.Thread(target=approver) for _ in range(approvers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, reasons, time.perf_counter() - t0


def p99(values: list[float]) -> float:
    """The 99th percentile (nearest rank: the value 99 % of the sample is at or below)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(len(ordered) * 0.99), 1) - 1]


def bench_approvals(work: Path, pg: str | None) -> list[dict[str, Any]]:
    proc, _info = start_sim(work / "appr")
    out = []
    try:
        targets: list[tuple[str, str, Any]] = [("SQLite", f"sqlite:///{work / 'appr.db'}",
                                                None)]
        made = pg_schema(pg) if pg else None
        if made is not None:
            targets.append(("PostgreSQL", made[0], made[1]))
        for label, url, drop in targets:
            engine = make_engine(url)
            try:
                upgrade_engine(engine)
                # keyed as a server's is: every audit entry of an approval carries its MAC
                ctx, _ = context(keyed(engine, AuditKey(os.urandom(32))),
                                 work / "appr" / "clouds.yaml")
                one = approvals(ctx, 1, 50, "seq")
                print(f"{label}, one approver: {one}", flush=True)
                result = approvals(ctx, APPROVERS, APPROVALS, "par", rounds=ROUNDS)
                print(f"{label}: {result}", flush=True)
                out.append({"database": label, **result, "sequential": one})
            finally:
                engine.dispose()
                if drop is not None:
                    drop()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def write_results(r: dict[str, Any]) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    p = r["provisioning"]
    lines = [
        f"\n## Provisioning — {stamp}\n",
        f"Machine: {machine()} · 1-min load average {r['load_avg']} at the start  ",
        "Command: `python bench/provision_bench.py` (province-scale simulator, build delay "
        f"1 s, {LATENCY_MS} ms latency on every cloud request)\n",
        "| what | figure |", "| --- | --- |",
        f"| {p['servers']} servers over PROD, DR-LOCAL, DR-REMOTE (worker concurrency "
        f"{p['concurrency']}) | **{p['wall_s']} s** wall, approval to done |",
        f"| one at a time ({p['serial_servers']} servers measured, concurrency 1) | "
        f"{p['serial_wall_s']} s = {p['serial_per_server_s']} s per server → "
        f"{p['serial_200_estimate_s']} s for {p['servers']} |",
        f"| speed-up | **{p['speedup']}×** |", "",
        f"Approval with reservation, {APPROVERS} concurrent approvers: {ROUNDS} rounds of "
        f"{APPROVALS} one-server requests of the DR-level-5/6 departments with room (three "
        "sites each; placement, locked reservation, event and audit entry per approval), p50 / "
        "p99 / max over all the rounds' approvals. The heap is settled after the sync, as the "
        f"server's sync worker does (govcloud/heap.py). Target p99 < "
        f"{TARGET_APPROVE_P99_MS:.0f} ms.\n",
        "| database | approvers | approvals | refused (no room or busy) | wall | p50 | p99 | "
        "p99 of each round | max | ledger matches |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for a in r["approvals"]:
        for x in (a["sequential"], a):
            ok = ("" if x["approvers"] != APPROVERS else  # the target is for 50 approvers
                  " ✅" if x["p99_ms"] < TARGET_APPROVE_P99_MS else " ❌")
            each = " / ".join(f"{v} ms" for v in x["round_p99_ms"]) if x["rounds"] > 1 else "—"
            lines.append(f"| {a['database']} | {x['approvers']} | {x['approvals']} | "
                         f"{x['refused']} | {x['wall_s']} s | {x['p50_ms']} ms | "
                         f"{x['p99_ms']} ms{ok} | {each} | {x['max_ms']} ms | "
                         f"{x['ledger_matches']} |")
    per = {a["database"]: a["wall_s"] * 1000 / max(a["approvals"], 1) for a in r["approvals"]}
    met = all(a["p99_ms"] < TARGET_APPROVE_P99_MS for a in r["approvals"])
    lines.append(
        "\nApprovals arriving together are decided in one batch (one transaction locks the "
        "batch's requests and the sites' ledger rows, places each in arrival order against the "
        "ledger as the ones before it left it, writes them in bulk, commits once); a new "
        "batch gathers up to 15 ms for the approvers answered together, stopping 3 ms after "
        "the last one queued (docs/provisioning.md, Group commit). With 50 "
        "approvers each taking the next request the moment the last returns, every approval "
        "waits for about one whole batch of 50, so p99 ≈ 50 × the serialised cost per "
        "approval (wall ÷ approvals here: "
        + ", ".join(f"{db} {ms:.2f} ms" for db, ms in per.items()) + "). The one-approver "
        "runs (50 approvals) are for comparison (each waits 3 ms for company before it goes "
        "alone); their p99 is their slowest approval, the first after the sync, which makes "
        "the departments' ledger rows and fills the caches"
        + (". Target met.\n" if met else
           ". Not met where ❌: a batch of 50 is Python work (placement and audit sealing, "
           "~0.2 ms per approval) plus the database's for the six rows an approval writes, on "
           "a 2-core machine whose speed varies by ±40 % from minute to minute.\n"))
    with (HERE / "results.md").open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--pg", default=os.environ.get("GOVCLOUD_TEST_DATABASE_URL", DEFAULT_PG),
                   help="PostgreSQL URL (a fresh schema is made and dropped); '' to skip")
    p.add_argument("--serial-servers", type=int, default=30,
                   help="servers to create one at a time for the comparison (default 30; "
                        "200 takes minutes)")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--approvals-only", action="store_true", help="skip part 1 (print only)")
    args = p.parse_args()
    if args.approvals_only:
        work = Path(tempfile.mkdtemp(prefix="govcloud-provbench-"))
        (work / "appr").mkdir()
        print(json.dumps(bench_approvals(work, args.pg or None), indent=2))
        return 0
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="govcloud-provbench-"))
    (work / "appr").mkdir()
    result = {"load_avg": round(load, 2),
              "provisioning": bench_provisioning(work, args.serial_servers),
              "approvals": bench_approvals(work, args.pg or None)}
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_results(result)
        print(f"appended to {HERE / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
