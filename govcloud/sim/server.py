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
from typing import Any

from govcloud.sim.app import Simulator
from govcloud.sim.clouds import cloud_entry_name, clouds_documents, write_clouds_yaml
from govcloud.sim.http import CloudsApp, Faults, SimHTTPServer
from govcloud.sim.scales import PROVINCE_CLOUD, SCALES
from govcloud.sim.seed import build_clouds
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
    # every cloud served, by name: the province's ("", the same as ``sim``) first
    sims: dict[str, Simulator]
    scale: str = "small"

    @property
    def cloud(self) -> Cloud:
        return self.sim.cloud

    def sites(self) -> list[dict[str, Any]]:
        """Every region of every cloud as a govcloud site: name, the clouds.yaml cloud,
        region, role, the servers seeded there and the city a city site hosts
        (docs/city-clouds.md)."""
        return site_list(self.scale)

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
    clouds = build_clouds(scale=scale, seed=seed, base_url=base_url,
                          admin_password=admin_password, build_delay=build_delay)
    # one fault knob set per cloud (a city cloud's outage is its own); the given one is the
    # province's
    sims = {name: Simulator(c, faults=faults if name == PROVINCE_CLOUD else None)
            for name, c in clouds.items()}
    sim = sims[PROVINCE_CLOUD]
    cloud = sim.cloud
    if freeze_gc:
        gc.collect()
        gc.freeze()  # the seed lives for the whole run: keep it out of every GC pass
    seed_seconds = time.perf_counter() - t0
    others = {name: s.app for name, s in sims.items() if name != PROVINCE_CLOUD}
    httpd.app = CloudsApp(sim.app, others) if others else sim.app
    written = None
    if clouds_yaml is not None:
        doc = clouds_documents(clouds, admin_password=admin_password, functional=functional)
        written = write_clouds_yaml(clouds_yaml, doc)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                              name="govcloud-sim", daemon=True)
    thread.start()
    running = RunningSimulator(sim=sim, httpd=httpd, thread=thread, base_url=base_url,
                               clouds_yaml=written, seed_seconds=seed_seconds, sims=sims,
                               scale=scale)
    if ready_file is not None:
        info = {"base_url": base_url, "auth_url": f"{base_url}/identity",
                "clouds_yaml": str(written) if written else None, "pid": os.getpid(),
                "scale": scale, "seed": seed, "regions": list(cloud.regions),
                "clouds": {cloud_entry_name(n): {"auth_url": f"{c.base_url}/identity",
                                                 "regions": list(c.regions)}
                           for n, c in clouds.items()},
                "sites": running.sites(),
                "seed_seconds": round(seed_seconds, 2)}
        path = Path(ready_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, path)
    log.info("simulator serving at %s (%s scale, seeded in %.1fs)", base_url, scale,
             seed_seconds)
    return running


def site_list(scale: str) -> list[dict[str, Any]]:
    """The sites of ``scale`` as govcloud configures them (see ``RunningSimulator.sites``)."""
    out: list[dict[str, Any]] = []
    for shape in SCALES[scale]:
        site: dict[str, Any] = {"name": shape.name, "cloud": cloud_entry_name(shape.cloud),
                                "region": shape.name, "role": shape.role,
                                "servers": shape.servers}
        if shape.city:
            site["city"] = shape.city
        out.append(site)
    return out
