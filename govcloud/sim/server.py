"""Start and stop a simulator in this process (the CLI, tests and benchmarks use this)."""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from govcloud.sim.app import Simulator
from govcloud.sim.clouds import clouds_document, write_clouds_yaml
from govcloud.sim.http import Faults, SimHTTPServer
from govcloud.sim.seed import build_cloud
from govcloud.sim.state import Cloud

log = logging.getLogger(__name__)

DEFAULT_ADMIN_PASSWORD = "govcloud-admin"


@dataclass
class RunningSimulator:
    sim: Simulator
    httpd: SimHTTPServer
    thread: threading.Thread
    base_url: str
    clouds_yaml: Path | None
    seed_seconds: float

    @property
    def cloud(self) -> Cloud:
        return self.sim.cloud

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def start(*, host: str = "127.0.0.1", port: int = 0, scale: str = "small", seed: int = 42,
          clouds_yaml: str | os.PathLike[str] | None = None, functional: bool = True,
          build_delay: float = 1.0, admin_password: str = DEFAULT_ADMIN_PASSWORD,
          faults: Faults | None = None, ready_file: str | os.PathLike[str] | None = None,
          freeze_gc: bool = False) -> RunningSimulator:
    """Bind, seed, serve in a background thread; returns once requests are answered."""
    httpd = SimHTTPServer((host, port), app=None)
    base_url = httpd.base_url
    t0 = time.perf_counter()
    cloud = build_cloud(scale=scale, seed=seed, base_url=base_url,
                        admin_password=admin_password, build_delay=build_delay)
    sim = Simulator(cloud, faults=faults)
    if freeze_gc:
        gc.collect()
        gc.freeze()  # the seed lives for the whole run: keep it out of every GC pass
    seed_seconds = time.perf_counter() - t0
    httpd.app = sim.app
    written = None
    if clouds_yaml is not None:
        doc = clouds_document(cloud, base_url=base_url, admin_password=admin_password,
                              functional=functional)
        written = write_clouds_yaml(clouds_yaml, doc)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                              name="govcloud-sim", daemon=True)
    thread.start()
    running = RunningSimulator(sim=sim, httpd=httpd, thread=thread, base_url=base_url,
                               clouds_yaml=written, seed_seconds=seed_seconds)
    if ready_file is not None:
        info = {"base_url": base_url, "auth_url": f"{base_url}/identity",
                "clouds_yaml": str(written) if written else None, "pid": os.getpid(),
                "scale": scale, "seed": seed, "regions": list(cloud.regions),
                "seed_seconds": round(seed_seconds, 2)}
        path = Path(ready_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, path)
    log.info("simulator serving at %s (%s scale, seeded in %.1fs)", base_url, scale,
             seed_seconds)
    return running
