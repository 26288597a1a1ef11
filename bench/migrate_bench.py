"""Migration benchmark (issue 6), printed and appended to bench/results.md.

A wave of N hosts (default 20) holding T MiB of data in all (default 1024), each host and each
target a real sshd sandbox on loopback; the wave runs through the real service, ansible-runner
and rsync, as `govcloud migrate run` does. Reported per step: the step's wall time, the wall
time of the same rsync commands run directly with the same concurrency (the baseline, for the
sync steps; 0 for the others), and govcloud's overhead beyond it:

* per host (latency): (step wall − baseline wall) × concurrency ÷ hosts — how much longer one
  host's step takes than its rsync alone; the target is < 1.5 s;
* amortised: (step wall − baseline wall) ÷ hosts.

    python bench/migrate_bench.py [--hosts 20] [--total-mb 1024] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim_bench import machine  # bench/ itself, the script's directory
from sqlmodel import Session

from govcloud.demo.sandbox import Sandbox, make_key, service_vars
from govcloud.domain.legacy import Endpoint, LegacyHost
from govcloud.domain.waves import STEPS, Step
from govcloud.services import migration as service
from govcloud.services import migration_run as runs
from govcloud.settings import load_settings
from govcloud.ssh.hosts import scan
from govcloud.store import migration as repo
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine

HERE = Path(__file__).resolve().parent

DATA = "/srv/app/data"
SYNC_STEPS = (Step.INITIAL_SYNC, Step.FINAL_SYNC)


def _rsync(args: list[str]) -> None:
    subprocess.run(args, check=True, capture_output=True)


def baseline(pairs: list[tuple[Sandbox, Sandbox]], settings: Any, stage: Path,
             concurrency: int) -> float:
    """The sync steps' rsync commands (legacy → stage → target), run directly."""
    known = service.known_hosts(settings).path
    key = settings.ssh_key

    def ssh(box: Sandbox) -> str:
        return (f"ssh -i {key} -p {box.port} -o UserKnownHostsFile={known} "
                "-o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes")

    def one(pair: tuple[Sandbox, Sandbox]) -> None:
        legacy, target = pair
        local = stage / legacy.name
        _rsync(["rsync", "-a", "--delete", "--mkpath", "-e", ssh(legacy),
                f"root@{legacy.address}:{legacy.root}{DATA}/", f"{local}/"])
        _rsync(["rsync", "-a", "--delete", "--mkpath", "-e", ssh(target),
                f"{local}/", f"root@{target.address}:{target.root}/baseline{DATA}/"])

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, pairs))
    return time.perf_counter() - t0


def run(hosts: int, total_mb: int, concurrency: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="govcloud-migrate-bench-"))
    key = make_key(work / "keys" / "id_ed25519")
    boxes: list[tuple[Sandbox, Sandbox]] = []
    try:
        per_host = total_mb * 1024 * 1024 // hosts
        chunk = 4 * 1024 * 1024
        for i in range(hosts):
            legacy = Sandbox(f"legacy{i:02d}", work / f"legacy{i:02d}", key.with_suffix(".pub"))
            target = Sandbox(f"target{i:02d}", work / f"target{i:02d}", key.with_suffix(".pub"))
            boxes.append((legacy.start(), target.start()))
            left, n = per_host, 0
            while left > 0:
                path = legacy.root / DATA.lstrip("/") / f"part{n:03d}.bin"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(os.urandom(min(chunk, left)))
                left -= chunk
                n += 1
            (legacy.root / "run").mkdir()
        engine = make_engine(f"sqlite:///{work / 'govcloud.db'}")
        upgrade_engine(engine)
        settings = load_settings(database_url=str(engine.url), migrate_dir=work / "state",
                                 ssh_key=key, migrate_python="/usr/bin/python3",
                                 migrate_concurrency=concurrency)
        legacy_hosts = []
        for i, (legacy, target) in enumerate(boxes):
            svc = service_vars(f"app{i:02d}")
            legacy_hosts.append(LegacyHost(
                name=f"psd-app{i:02d}", department="gd-psd", system="bench",
                endpoint=Endpoint(legacy.address, legacy.port, "root", str(legacy.root)),
                data_paths=(DATA,), service=svc["govcloud_service"],
                service_stop=svc["govcloud_service_stop"],
                service_start=svc["govcloud_service_start"],
                health_check=svc["govcloud_health_check"],
                target=Endpoint(target.address, target.port, "root", str(target.root)),
                target_host_key=target.fingerprint))  # pinned, as an inventory would
        service.import_hosts(engine, legacy_hosts, actor="bench")
        known = service.known_hosts(settings)
        for h in legacy_hosts:
            known.record(scan(h.endpoint))
        plan = service.plan(engine, department="gd-psd", dept_level=1, actor="bench",
                            first_window=datetime.now(UTC), max_hosts=hosts)
        wave = plan[0]["wave"]
        ctx = runs.RunContext(engine=engine, settings=settings)
        t0 = time.perf_counter()
        status = runs.run_wave(ctx, wave, actor="bench", cancel=threading.Event())
        total = time.perf_counter() - t0
        with Session(engine) as session:
            rows = repo.step_rows(session, wave)
        failures = [f"{r.host} {r.step}: {r.status}: {r.error}" for r in rows
                    if r.status not in ("succeeded", "pending")]
        for line in failures:
            print(line, file=sys.stderr)
        steps: dict[str, float] = {}
        for step in STEPS:
            mine = [r for r in rows if r.step == step.value and r.started_at and r.finished_at]
            if mine:
                steps[step.value] = (max(r.finished_at for r in mine if r.finished_at)
                                     - min(r.started_at for r in mine if r.started_at)
                                     ).total_seconds()
        # the same rsyncs, directly: a full copy (initial) and a copy with nothing changed
        stage = work / "baseline-stage"
        base = {Step.INITIAL_SYNC.value: baseline(boxes, settings, stage, concurrency),
                Step.FINAL_SYNC.value: baseline(boxes, settings, stage, concurrency)}
        return {"hosts": hosts, "total_mb": total_mb, "concurrency": concurrency,
                "status": status, "failures": failures, "total_s": total, "steps": steps,
                "baseline": base}
    finally:
        for legacy, target in boxes:
            legacy.stop()
            target.stop()
        shutil.rmtree(work, ignore_errors=True)


def write_results(r: dict[str, Any]) -> None:
    c, n = r["concurrency"], r["hosts"]
    lines = [f"\n## Migration: a wave of {n} hosts, {r['total_mb']} MiB — "
             f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n",
             f"Machine: {machine()} · 1-min load average {os.getloadavg()[0]:.2f} at the end  ",
             f"Command: `python bench/migrate_bench.py --hosts {n} --total-mb {r['total_mb']} "
             f"--concurrency {c}` (sshd sandboxes on loopback; wave status {r['status']}, "
             f"{r['total_s']:.1f} s in all)\n",
             "| step | wall (s) | rsync alone (s) | overhead per host (s, latency) | "
             "overhead per host (s, amortised) |",
             "| --- | --- | --- | --- | --- |"]
    for step, wall in r["steps"].items():
        b = r["baseline"].get(step, 0.0)
        latency = max(0.0, wall - b) * c / n
        ok = "✅" if latency < 1.5 else "❌"
        lines.append(f"| {step} | {wall:.2f} | {b:.2f} | {latency:.2f} {ok} | "
                     f"{max(0.0, wall - b) / n:.3f} |")
    lines.append(f"\nTarget: govcloud's overhead beyond rsync < 1.5 s per step per host. "
                 f"Latency = (wall − rsync alone) × concurrency ({c}) ÷ hosts ({n}). Each "
                 "step is one ansible-playbook run over the wave's hosts (forks = concurrency); "
                 "the sync steps copy legacy → stage on the control node → target; "
                 "provision (targets declared) checks the target keys against their pinned "
                 "fingerprints and records them; verify "
                 "hashes every file on both sides (twice the data); done is a record. Steps "
                 "without rsync count whole as overhead. The load average says how much of "
                 "the machine other work took.")
    text = "\n".join(lines) + "\n"
    print(text)
    with (HERE / "results.md").open("a", encoding="utf-8") as fh:
        fh.write(text)
    print(f"appended to {HERE / 'results.md'}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=20)
    p.add_argument("--total-mb", type=int, default=1024)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--scale", help="ignored (bench/run.py passes it to every benchmark)")
    args = p.parse_args()
    result = run(args.hosts, args.total_mb, args.concurrency)
    if result["status"] != "done":
        # a failed wave's step times measure the failure, not the migration: nothing is recorded
        print(f"wave status {result['status']}; results.md left unchanged", file=sys.stderr)
        return 1
    write_results(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
