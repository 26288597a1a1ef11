"""Helpers of the protection tests: a system provisioned on the simulator with its servers
backed by sshd sandboxes (production, a hot copy in DR-LOCAL, a cold one in DR-REMOTE), and
what the store and the cloud then hold."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine

from govcloud.client import ApiClient
from govcloud.cloud.connect import connect
from govcloud.demo.sandbox import Sandbox, write_files
from govcloud.domain.recovery import PointRecord
from govcloud.domain.sites import default_sites
from govcloud.services.plane import Plane, build_plane
from govcloud.settings import load_settings
from govcloud.store import protection_repo as repo

DEPARTMENT = "gd-psd"  # DR level 6: a hot copy in DR-LOCAL, a cold one in DR-REMOTE
NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}
IMAGE = "cirros-0.6.2-x86_64-disk"
DATA = "/srv/app"


def tree(root: Path) -> dict[str, str]:
    """path → sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def data(box: Sandbox) -> dict[str, str]:
    return tree(box.root / DATA.lstrip("/"))


def request_body(system: str, department: str = DEPARTMENT) -> dict[str, Any]:
    return {"department": department, "system": system, "justification": "protection test",
            "servers": [{"name_prefix": "app", "flavor": "gc.c2m4", "image": IMAGE,
                         "count": 1, "network": NETWORKS}]}


def wait_done(api: ApiClient, rid: int, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r: dict[str, Any] = api.get(f"/requests/{rid}")
        if r["state"] in ("done", "failed", "rejected", "cancelled"):
            return r
        time.sleep(0.1)
    raise AssertionError(f"request {rid} did not finish")


def sim_servers(clouds_yaml: Path, rid: int) -> dict[str, Any]:
    """site → the request's server there, as the cloud shows it (admin view)."""
    out = {}
    for site in default_sites():
        conn = connect(site, clouds_yaml=clouds_yaml)
        try:
            for s in conn.compute.servers(all_projects=True):
                if any(t.startswith(f"govcloud-req-{rid}-") for t in (s.tags or [])):
                    out[site.name] = s
        finally:
            conn.close()
    return out


def provision(sim_url: str, clouds_yaml: Path, submit: Callable[[dict[str, Any]], int],
              approve: Callable[[int], Any], wait: Callable[[int], dict[str, Any]],
              make_box: Callable[[str], Sandbox], system: str,
              department: str = DEPARTMENT,
              host_keys: list[str] | None = None) -> dict[str, Sandbox]:
    """Provision ``system`` (one server) with its servers backed by fresh sandboxes; site →
    the sandbox of its server. The production guest gets data under DATA. ``host_keys``:
    what the servers' console logs show instead of their sandboxes' own keys."""
    pool = [make_box(f"{system}-{i}") for i in range(3)]
    posted = [b.endpoint() if host_keys is None else {**b.endpoint(), "host_keys": host_keys}
              for b in pool]
    answer = httpx.post(f"{sim_url}/_sim/sandboxes", json={"sandboxes": posted}, timeout=10)
    assert answer.status_code == 200
    rid = submit(request_body(system, department))
    approve(rid)
    done = wait(rid)
    assert done["state"] == "done", done
    by_port = {b.port: b for b in pool}
    boxes = {site: by_port[int(str(s.metadata["sim:ssh"]).rpartition(":")[2])]
             for site, s in sim_servers(clouds_yaml, rid).items()}
    assert set(boxes) == {"PROD", "DR-LOCAL", "DR-REMOTE"}
    write_files(boxes["PROD"].root, DATA, {"ledger.db": b"L" * 50_000, "conf/app.ini": b"a=1\n",
                                           "logs/today.log": b"started\n"})
    return boxes


def latest(engine: Engine, system: str) -> dict[str, PointRecord]:
    """site → the latest good point of the system's copy server there."""
    with engine.connect() as conn:
        return {p.site: p for p in repo.latest_recovery_points(conn, departments=[DEPARTMENT])
                if p.system == system}


def history(engine: Engine, site: str, server_id: str) -> list[PointRecord]:
    with engine.connect() as conn:
        return repo.recovery_points(conn, site, server_id)


def manifest(engine: Engine, point_id: int) -> dict[str, str]:
    with engine.connect() as conn:
        point = repo.recovery_point(conn, point_id)
    assert point is not None
    return dict(point.manifest)


def provision_system(plane: Any, ops: ApiClient, make_box: Callable[[str], Sandbox],
                     system: str, host_keys: list[str] | None = None) -> dict[str, Sandbox]:
    """``provision`` through ``plane`` (a test plane: sim, admin) as the operator ``ops``,
    then a full sync; site → the sandbox of its server."""
    assert plane.sim.clouds_yaml is not None
    boxes = provision(plane.sim.base_url, plane.sim.clouds_yaml,
                      lambda body: int(ops.post("/requests", body)["id"]),
                      lambda rid: plane.admin.post(f"/requests/{rid}/approve"),
                      lambda rid: wait_done(plane.admin, rid), make_box, system,
                      host_keys=host_keys)
    assert plane.admin.post("/sync", {"full": True})["ok"]
    return boxes


def system_servers(plane: Any, system: str) -> dict[str, Any]:
    """site → the server of ``system`` (of DEPARTMENT, its first request) there, as the
    cloud of ``plane`` (a test plane: sim, admin) shows it."""
    assert plane.sim.clouds_yaml is not None
    rid = next(int(r["id"]) for r in plane.admin.get("/requests")["requests"]
               if r["department"] == DEPARTMENT and r["system"] == system)
    return sim_servers(plane.sim.clouds_yaml, rid)


def server_status(plane: Any, system: str, site: str) -> str:
    """The status of ``system``'s server in ``site``, as the cloud shows it."""
    return str(system_servers(plane, system)[site].status)


def local_plane(plane: Any, settings: dict[str, Any], **overrides: Any) -> Plane:
    """A control plane of this process on the database and the clouds of ``plane`` (a test
    plane), with ``settings`` (the module's plane settings) and ``overrides``."""
    loaded = load_settings(
        database_url=str(plane.engine.url.render_as_string(hide_password=False)),
        clouds_yaml=plane.sim.clouds_yaml, **{**settings, **overrides})
    return build_plane(engine=plane.engine, settings=loaded, catalogue_dir=plane.catalogue)


def known_hosts_text(plane_settings: dict[str, Any]) -> str:
    """The control plane's known_hosts (the migration's, which DR shares), or ''."""
    path = Path(str(plane_settings["migrate_dir"])) / "known_hosts"
    return path.read_text() if path.is_file() else ""
