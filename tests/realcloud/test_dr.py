"""Disaster recovery against the real cloud (docs/dr.md): a DR-level-3 system of gd-edu (one
server in PROD, its cold copy shelved and offloaded in DR-REMOTE) whose servers are backed by
sshd sandboxes — the fake virt driver runs no guest, so each new server takes one from the
guest pool (``cloud.offer_guests``), as the simulator's servers take theirs — is protected by
a real protection cycle (the copy unshelved by Nova, synced over SSH, verified, shelved again:
its point holds the new shelved image), then

* **drilled** into DR-REMOTE: plan → approve (another person) → run; a new server booted by
  Nova from the point's image on an isolated network Neutron made (VXLAN, no router, no
  gateway), checked over SSH against the point's manifest, the RTO measured, everything the
  drill made deleted and nothing of it left in any region, production and the copy unchanged;
* **failed over** to DR-REMOTE (freeze, final cycle, production stopped by Nova, the copy
  unshelved, the endpoint moved, verified), **reprotected**, and **failed back** (production
  started, the copy shelved and offloaded again), then **drilled** again: from the image
  failback's shelve made, holding the data changed while the system served from DR-REMOTE.

The simulator's versions are tests/integration/dr/test_drill.py and test_failover.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from govcloud.client import ApiClient
from govcloud.demo.sandbox import Sandbox, make_key, write_files
from govcloud.domain.drills import DrillStep

from . import cloud
from .conftest import SITES, Plane, RealCloud, delete_system, request, wait_final

DEPARTMENT, SITE = "gd-edu", "DR-REMOTE"  # DR level 3: a cold copy in DR-REMOTE
DATA = "/srv/app"
FILES = {"data.db": b"D" * 8000, "conf/app.ini": b"[app]\nname=real\n"}
CHANGED = {"data.db": b"E" * 9000}  # written while the system serves from DR-REMOTE
WAIT = 180.0


@pytest.fixture(scope="module")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_key(tmp_path_factory.mktemp("keys") / "id_ed25519")


@pytest.fixture(scope="module")
def plane_settings(tmp_path_factory: pytest.TempPathFactory,
                   client_key: Path) -> dict[str, Any]:
    return {"migrate_dir": tmp_path_factory.mktemp("migrate"), "ssh_key": client_key,
            "ssh_timeout_s": 5.0, "migrate_python": "/usr/bin/python3",
            "migrate_stale_after_s": 5.0, "dr_protect_paths": [DATA.rsplit("/", 1)[0]],
            "dr_protect_timeout_s": 60.0,
            # the real cloud's fake virt driver boots no guest: no cloud-init writes the host
            # keys to a console log, so the sandboxes' keys are trusted on first use, audited
            # (docs/dr.md, "Host keys")
            "dr_trust_on_first_use": "real-cloud suite: the fake virt driver has no console keys",
            "migrate_host_key_wait_s": 1.0}  # for keys no console log will ever show


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory,
              client_key: Path) -> Iterator[Callable[[str], Sandbox]]:
    """``sandboxes(name)`` starts an sshd sandbox; all are stopped after the module, and the
    guest pool is emptied of what no server took."""
    started: list[Sandbox] = []
    base = tmp_path_factory.mktemp("hosts")

    def make(name: str) -> Sandbox:
        box = Sandbox(name, base / name, client_key.with_suffix(".pub")).start()
        started.append(box)
        return box

    yield make
    cloud.clear_guests()
    for box in started:
        box.stop()


def guest(box: Sandbox) -> dict[str, str]:
    """The server metadata that makes ``box`` the server's guest (docs/simulator.md)."""
    return {"sim:ssh": f"{box.address}:{box.port}", "sim:user": str(box.endpoint()["user"]),
            "sim:root": str(box.root)}


@dataclass
class System:
    name: str
    prod_id: str
    copy_id: str
    prod_box: Sandbox
    copy_box: Sandbox
    point: dict[str, Any]  # the protection cycle's outcome of the copy


def _until(what: str, probe: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.5)


@contextmanager
def protected(plane: Plane, sandboxes: Callable[[str], Sandbox], name: str
              ) -> Iterator[System]:
    """``name`` of DEPARTMENT provisioned (its servers backed by sandboxes: the production
    guest holding FILES under DATA) and its cold copy protected by a protection cycle."""
    admin = ApiClient(plane.url, plane.admin_token)
    real = plane.real
    delete_system(real, DEPARTMENT, name)
    boxes = {b.port: b for b in (sandboxes(f"{name}-a"), sandboxes(f"{name}-b"))}
    cloud.offer_guests([guest(b) for b in boxes.values()])
    try:
        admin.post("/tenants/apply", {})
        assert admin.post("/sync", {"full": True})["ok"]
        rid = admin.post("/requests", request(name, count=1, department=DEPARTMENT))["id"]
        ApiClient(plane.url, plane.approver_token).post(f"/requests/{rid}/approve")
        done = wait_final(admin, rid)
        assert done["state"] == "done", (done["error"], done["events"][-6:])
        assert admin.post("/sync", {"full": True})["ok"]
        made = {s["site"]: s["server_id"] for s in done["servers"]}
        assert set(made) == {"PROD", SITE}, made

        def box_of(site: str) -> Sandbox:
            meta = real.sdk(site).compute.get_server(made[site]).metadata
            return boxes[int(str(meta["sim:ssh"]).rpartition(":")[2])]

        prod_box, copy_box = box_of("PROD"), box_of(SITE)
        write_files(prod_box.root, DATA, FILES)
        run = admin.post("/dr/protect", {"department": DEPARTMENT, "system": name})
        ended = _until("the protection cycle", lambda: (
            r if (r := admin.get(f"/dr/protect/{run['id']}"))["done"] else None))
        (cycle,) = ended["cycles"]
        assert cycle["status"] == "ok", ended["lines"]
        yield System(name, made["PROD"], made[SITE], prod_box, copy_box, cycle)
    finally:
        delete_system(real, DEPARTMENT, name)


@pytest.fixture
def system(plane: Plane, sandboxes: Callable[[str], Sandbox],
           request: pytest.FixtureRequest) -> Iterator[System]:
    """A protected system of the test's own, named for it (the plane is the module's: one
    name, one system); the failover test drills its system after the failback."""
    name = "ledger" if request.function.__name__.startswith("test_a_drill") else "permits"
    with protected(plane, sandboxes, name) as made:
        yield made


def _prod(real: RealCloud) -> list[tuple[str, str, str, str]]:
    return sorted((s.id, s.status, s.flavor.original_name, str(s.addresses))
                  for s in real.sdk("PROD").compute.servers(all_projects=True))


def _leftovers(real: RealCloud, drill: int) -> list[str]:
    """Anything named for the drill, or on its networks, in every region (as Nova, Neutron
    and Glance list them to an admin)."""
    prefix, found = f"govcloud-drill-{drill}-", []
    for site in SITES:
        conn = real.sdk(site)
        nets = {n.id for n in conn.network.networks() if (n.name or "").startswith(prefix)}
        found += [f"{site} server {s.name}" for s in conn.compute.servers(all_projects=True)
                  if (s.name or "").startswith(prefix)]
        found += [f"{site} network {n}" for n in nets]
        found += [f"{site} subnet {s.id}" for s in conn.network.subnets()
                  if s.network_id in nets or (s.name or "").startswith(prefix)]
        found += [f"{site} port {p.id}" for p in conn.network.ports() if p.network_id in nets]
    return found


class Isolation:
    """Watches DR-REMOTE's Neutron while a drill runs: the drill network's attributes and
    what its ports are (a router's interface would route it to production)."""

    def __init__(self, real: RealCloud, drill: int) -> None:
        self.conn, self.prefix = real.sdk(SITE), f"govcloud-drill-{drill}-"
        self.seen: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self.stop.is_set():
            for n in self.conn.network.networks():
                if (n.name or "").startswith(self.prefix):
                    subnets = list(self.conn.network.subnets(network_id=n.id))
                    ports = list(self.conn.network.ports(network_id=n.id))
                    self.seen.append({
                        "type": n.provider_network_type, "shared": n.is_shared,
                        "external": n.is_router_external,
                        "gateways": [s.gateway_ip for s in subnets],
                        "owners": sorted({p.device_owner or "" for p in ports})})
            time.sleep(0.5)


def _normal(plane: Plane, system: System) -> None:
    """The system serves from production, its cold copy shelved."""
    assert plane.real.sdk("PROD").compute.get_server(system.prod_id).status == "ACTIVE"
    assert plane.real.sdk(SITE).compute.get_server(system.copy_id).status == \
        "SHELVED_OFFLOADED"


def _drill(plane: Plane, sandboxes: Callable[[str], Sandbox], system: System,
           files: dict[str, bytes]) -> dict[str, Any]:
    """A drill of ``system`` into SITE planned by an operator, approved by the admin and run,
    the server it boots backed by a guest holding ``files`` under DATA (what the point's
    image carries); checked passed, isolated, measured and clean. The drill as shown."""
    real = plane.real
    admin = ApiClient(plane.url, plane.admin_token)
    operator = ApiClient(plane.url, plane.principal(f"ops-drill-{system.name}", "operator"))
    booted_box = sandboxes(f"{system.name}-drill")
    write_files(booted_box.root, DATA, files)
    cloud.offer_guests([guest(booted_box)])
    before = _prod(real)
    copy_before = real.sdk(SITE).compute.get_server(system.copy_id)
    planned = operator.post("/dr/drills", {"department": DEPARTMENT,
                                           "system": system.name, "site": SITE})
    drill = planned["id"]
    admin.post(f"/dr/drills/{drill}/approve")
    watch = Isolation(real, drill)
    watch.thread.start()
    try:
        operator.post(f"/dr/drills/{drill}/run", {})
        shown: dict[str, Any] = _until("the drill", lambda: (
            d if (d := admin.get(f"/dr/drills/{drill}"))["state"] in ("passed", "failed")
            and not d["running"] else None))
    finally:
        watch.stop.set()
        watch.thread.join(30)
    assert shown["state"] == "passed", [(s["step"], s["status"], s["output"][-400:])
                                        for s in shown["steps"]]
    assert [(s["step"], s["status"]) for s in shown["steps"]] == [
        (s.value, "succeeded") for s in DrillStep]
    (ev,) = shown["evidence"]["systems"]
    assert ev["healthy"] and ev["rto_met"] and ev["rpo_met"], ev
    assert 0 < ev["achieved_rto_s"] < WAIT
    assert [(c["path"], c["matched"]) for c in ev["checksums"]] == [
        (f"{DATA}/{n}", True) for n in sorted(files)]
    evidence = shown["evidence"]
    assert evidence["leftovers_checked"] and evidence["leftovers"] == []
    assert evidence["prod_compared"] and evidence["prod_unchanged"]
    # the drill's network, as Neutron showed it while it existed: a tenant network of
    # its own (not the shared flat one), no gateway, no router port
    assert watch.seen, "the drill's network was never seen"
    assert {(s["type"], s["shared"], s["external"]) for s in watch.seen} == {
        ("vxlan", False, False)}
    assert {g for s in watch.seen for g in s["gateways"]} == {None}
    assert not {o for s in watch.seen for o in s["owners"]
                if o.startswith("network:router")}
    assert _leftovers(real, drill) == []
    assert _prod(real) == before
    copy_after = real.sdk(SITE).compute.get_server(system.copy_id)
    assert (copy_after.status, copy_after.updated_at) == (copy_before.status,
                                                          copy_before.updated_at)
    # a cleanup afterwards finds nothing
    cleaned = operator.post(f"/dr/drills/{drill}/cleanup", {})
    assert (cleaned["state"], cleaned["leftovers"], cleaned["failed"]) == (
        "passed", [], [])
    return shown


def test_a_drill_on_an_isolated_network_measures_rto_and_leaves_nothing(
        plane: Plane, sandboxes: Callable[[str], Sandbox], system: System) -> None:
    _normal(plane, system)
    _drill(plane, sandboxes, system, FILES)


def _shelved_image(real: RealCloud, server_id: str, name: str) -> str:
    """The id of the snapshot image Glance holds of the shelved server (the newest)."""
    found = sorted((str(i.created_at), str(i.id)) for i in
                   real.sdk(SITE).image.images(name=f"{name}-shelved")
                   if (i.properties or {}).get("instance_uuid") == server_id
                   or getattr(i, "instance_uuid", None) == server_id)
    assert found, f"no shelved image of {name} in {SITE}"
    return found[-1][1]


def _failover_ended(api: ApiClient, fid: int) -> dict[str, Any]:
    ended: dict[str, Any] = _until(f"failover {fid}", lambda: (
        f if (f := api.get(f"/dr/failovers/{fid}"))["state"] != "running"
        and not f["running"] else None))
    return ended


def test_failover_reprotect_failback_then_a_drill(
        plane: Plane, sandboxes: Callable[[str], Sandbox], system: System) -> None:
    real = plane.real
    operator = ApiClient(plane.url, plane.principal("ops-failover", "operator"))
    _normal(plane, system)
    name = system.name
    started = operator.post("/dr/failovers", {"department": DEPARTMENT, "system": name,
                                              "to": SITE, "confirm": name})
    shown = _failover_ended(operator, started["failover"])
    steps = [(s["step"], s["status"]) for s in shown["steps"]]
    assert shown["state"] == "done", [(s["step"], s["status"], s["output"][-400:])
                                      for s in shown["steps"]]
    assert steps == [(s, "succeeded") for s in (
        "freeze", "final_cycle", "stop_primary", "promote", "move_endpoint", "verify")]
    assert f"final protection cycle: {name}-app-1 point #" in shown["steps"][1]["output"]
    assert "unshelve" in shown["steps"][3]["output"]
    assert (system.prod_box.root / ".govcloud-frozen").read_text().strip() == \
        f"failover-{shown['id']}"
    # in Nova: production stopped, the copy unshelved onto a DR-REMOTE host
    prod = real.sdk("PROD").compute.get_server(system.prod_id)
    copy = real.sdk(SITE).compute.get_server(system.copy_id)
    assert prod.status == "SHUTOFF"
    assert (copy.status, copy.compute_host in {c.host for c in real.region(SITE).computes}
            ) == ("ACTIVE", True)
    assert shown["endpoints"] == {f"{name}-app-1": f"{system.copy_box.address}:"
                                                  f"{system.copy_box.port}"}
    assert shown["kind"] == "planned" and 0 < shown["rto_s"] < WAIT
    assert (shown["role"]["primary"], shown["role"]["state"]) == (SITE, "failed-over")
    # the data changes while the system serves from DR-REMOTE
    write_files(system.copy_box.root, DATA, CHANGED)
    role = operator.post("/dr/reprotect", {"department": DEPARTMENT, "system": name,
                                           "confirm": name})
    assert (role["primary"], role["copy_site"], role["state"]) == (SITE, "PROD",
                                                                    "reprotected")
    started = operator.post("/dr/failback", {"department": DEPARTMENT, "system": name,
                                             "confirm": name})
    back = _failover_ended(operator, started["failover"])
    assert back["state"] == "done", [(s["step"], s["status"], s["output"][-400:])
                                     for s in back["steps"]]
    assert (back["kind"], back["source"], back["target"]) == ("failback", SITE, "PROD")
    # production serves again; the cold copy holds no compute capacity again
    prod = real.sdk("PROD").compute.get_server(system.prod_id)
    copy = real.sdk(SITE).compute.get_server(system.copy_id)
    assert prod.status == "ACTIVE"
    assert (copy.status, copy.compute_host) == ("SHELVED_OFFLOADED", None)
    assert back["endpoints"] == {f"{name}-app-1": f"{system.prod_box.address}:"
                                                 f"{system.prod_box.port}"}
    assert operator.get(f"/dr/failovers/{back['id']}")["role"]["state"] == "normal"
    # a drill after the failback: Nova deleted the image of the copy's earlier points when
    # the failover unshelved it; the drill boots from the image failback's shelve made and
    # finds the data of failback's final cycle (docs/dr.md, "A cold copy shelved again")
    image = _shelved_image(real, system.copy_id, f"{name}-app-1")
    drilled = _drill(plane, sandboxes, system, {**FILES, **CHANGED})
    bring_up = next(s["output"] for s in drilled["steps"] if s["step"] == "bring_up")
    assert f" from image {image} (recovery point " in bring_up, bring_up
