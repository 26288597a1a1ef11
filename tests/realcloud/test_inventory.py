"""Sync and capacity against the real cloud: after `govcloud sync`, govcloud's capacity per site
(and per host) equals what each region's Placement reports — total, reserved, allocation ratio
and usage, as the topology configured them — and its server list equals `openstack server
list --all-projects` per region. A region whose APIs are stopped is marked stale on the next
sync and keeps its rows; once back, the next sync clears it. A region whose APIs are frozen
(SIGSTOP) and then killed while a sync is reading it is marked stale with the connection
failure, keeps its rows while the other regions sync, and recovers on the sync after its
restart."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govcloud.cli import main
from govcloud.domain.capacity import DISK_GB, MEMORY_MB, VCPU
from govcloud.store.inventory import hosts, sync_states
from tests.integration.control.metrics_util import parse, scrape, value
from tests.waiting import wait_until

from . import cloud
from .conftest import Plane, RealCloud

SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")
RESOURCES = {VCPU: "vcpus", MEMORY_MB: "ram_mb", DISK_GB: "disk_gb"}
# servers made "by hand" per region before the sync: (name, flavor)
SERVERS = {"PROD": [("rc-web-1", "m1.small"), ("rc-web-2", "m1.medium"),
                    ("rc-db-1", "m1.large")],
           "DR-LOCAL": [("rc-standby-1", "m1.medium")],
           "DR-REMOTE": []}


def govcloud(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if "--json" in argv and not out:
        pytest.fail(f"govcloud {' '.join(argv)}: exit {code}: {err}")
    return code, json.loads(out) if "--json" in argv else out


def placement(real: RealCloud, region: str) -> dict[str, dict[str, Any]]:
    """Each resource provider's inventories and usages, straight from Placement."""
    conn = real.sdk(region)
    out = {}
    for rp in conn.placement.resource_providers():
        base = f"/resource_providers/{rp.id}"
        inv = conn.placement.get(f"{base}/inventories", microversion="1.39").json()
        use = conn.placement.get(f"{base}/usages", microversion="1.39").json()
        out[rp.name] = {"inventories": inv["inventories"], "usages": use["usages"]}
    return out


@pytest.fixture(scope="module")
def servers(real: RealCloud) -> dict[str, list[Any]]:
    """Only this module's servers in the cloud: the earlier ones deleted, ours created and
    ACTIVE (the fake driver, on the flat network)."""
    made: dict[str, list[Any]] = {}
    for region, wanted in SERVERS.items():
        conn = real.sdk(region)
        for old in conn.compute.servers(all_projects=True):
            conn.compute.delete_server(old)
        for old in conn.compute.servers(all_projects=True):
            conn.compute.wait_for_delete(old, wait=120)
        image = conn.image.find_image(cloud.IMAGE)
        net = conn.network.find_network(cloud.NETWORK)
        made[region] = [conn.compute.create_server(
            name=name, flavor_id=conn.compute.find_flavor(flavor).id, image_id=image.id,
            networks=[{"uuid": net.id}]) for name, flavor in wanted]
        made[region] = [conn.compute.wait_for_server(s, wait=180) for s in made[region]]
    return made


@pytest.fixture(scope="module")
def synced(plane: Plane, servers: dict[str, list[Any]]) -> Plane:
    code = main(["sync", "--full", "--json", "--server", plane.url, "--token",
                 plane.admin_token])
    assert code == 0
    return plane


def test_capacity_per_site_and_host_equals_placement(
        synced: Plane, cli: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    real = synced.real
    code, answer = govcloud(capsys, "capacity", "--json")
    assert code == 0
    assert [s["site"] for s in answer["sites"]] == list(SITES)
    for site in answer["sites"]:
        region = real.region(site["site"])
        rps = placement(real, region.name)
        assert set(rps) == {c.host for c in region.computes}
        assert site["hypervisors"] == len(region.computes) and not site["stale"]
        # the topology's sizes and ratios reached Placement ...
        for c in region.computes:
            inv = rps[c.host]["inventories"]
            assert inv[VCPU]["total"] == c.vcpus
            assert inv[MEMORY_MB]["total"] == c.memory_mb
            assert inv[DISK_GB]["total"] == c.local_gb
            assert inv[VCPU]["allocation_ratio"] == region.settings["cpu_allocation_ratio"]
            assert inv[MEMORY_MB]["allocation_ratio"] == region.settings["ram_allocation_ratio"]
            assert inv[VCPU]["reserved"] == region.settings["reserved_host_cpus"]
            assert inv[MEMORY_MB]["reserved"] == region.settings["reserved_host_memory_mb"]
        # ... and govcloud's figures are Placement's
        assert site["physical_cores"] == sum(rp["inventories"][VCPU]["total"]
                                             for rp in rps.values())
        for rc, key in RESOURCES.items():
            capacity = sum(int((rp["inventories"][rc]["total"] - rp["inventories"][rc][
                "reserved"]) * rp["inventories"][rc]["allocation_ratio"]) for rp in rps.values())
            used = sum(rp["usages"].get(rc, 0) for rp in rps.values())
            assert site[key]["capacity"] == capacity, (site["site"], rc)
            assert site[key]["allocated"] == used, (site["site"], rc)
        with synced.engine.connect() as conn:
            stored = {h.hostname: h for h in hosts(conn, region.name)}
        assert set(stored) == set(rps)
        for name, h in stored.items():
            for rc in RESOURCES:
                real_inv = rps[name]["inventories"][rc]
                inv = h.inventories[rc]
                assert (inv.total, inv.reserved, inv.allocation_ratio) == \
                    (real_inv["total"], real_inv["reserved"], real_inv["allocation_ratio"])
                assert h.usages.get(rc, 0) == rps[name]["usages"].get(rc, 0)
    prod = next(s for s in answer["sites"] if s["site"] == "PROD")
    assert prod["vcpus"]["allocated"] == 1 + 2 + 4  # the three servers' flavors


def placement_figures(rps: dict[str, dict[str, Any]], rc: str) -> tuple[int, int, int]:
    """(capacity, allocated, free) of one resource class summed over the providers, by
    Placement's rule: capacity (total − reserved) × ratio, free max(0, capacity − used) per
    provider."""
    capacity = allocated = free = 0
    for rp in rps.values():
        inv = rp["inventories"][rc]
        cap = int((inv["total"] - inv["reserved"]) * inv["allocation_ratio"])
        used = rp["usages"].get(rc, 0)
        capacity, allocated, free = capacity + cap, allocated + used, free + max(0, cap - used)
    return capacity, allocated, free


def test_metrics_capacity_families_equal_placement(synced: Plane) -> None:
    series = parse(scrape(synced.url))
    for site in SITES:
        rps = placement(synced.real, site)
        assert value(series, "govcloud_site_physical_cores", site=site) == sum(
            rp["inventories"][VCPU]["total"] for rp in rps.values())
        for rc, family, scale in ((VCPU, "vcpu", 1), (MEMORY_MB, "memory", 1024 ** 2),
                                  (DISK_GB, "disk", 1024 ** 3)):
            unit = "" if family == "vcpu" else "_bytes"
            capacity, allocated, free = placement_figures(rps, rc)
            for fig, expected in (("capacity", capacity), ("allocated", allocated),
                                  ("free", free)):
                got = value(series, f"govcloud_site_{family}_{fig}{unit}", site=site)
                assert got == expected * scale, (site, family, fig)
        assert value(series, "govcloud_site_stale", site=site) == 0


def test_server_list_equals_openstack_server_list_all_projects(
        synced: Plane, cli: Plane, servers: dict[str, list[Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    real = synced.real
    for region in SITES:
        listed = real.osc(region, "server", "list", "--all-projects", "--long", "-f", "json")
        code, ours = govcloud(capsys, "servers", "list", "--site", region, "--json")
        assert code == 0
        theirs = {s["ID"]: (s["Name"], s["Status"], s["Host"]) for s in listed}
        mine = {s["id"]: (s["name"], s["status"], s["host"]) for s in ours["servers"]}
        assert mine == theirs, region
        assert {name for name, _, _ in mine.values()} == {n for n, _ in SERVERS[region]}


def test_a_stopped_region_is_stale_and_keeps_its_rows(
        synced: Plane, cli: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    real = synced.real
    region = real.region("DR-LOCAL")
    code, before = govcloud(capsys, "servers", "list", "--site", "DR-LOCAL", "--json")
    assert code == 0 and len(before["servers"]) == 1
    apis = [f"{region.slug}-{s}" for s in ("nova-api", "placement")]
    assert cloud.stop(apis) == apis
    try:
        code, report = govcloud(capsys, "sync", "--json")
        assert code == 1 and not report["ok"]
        by_site = {s["site"]: s for s in report["sites"]}
        assert by_site["DR-LOCAL"]["stale"] and by_site["DR-LOCAL"]["error"]
        assert "DR-LOCAL" in by_site["DR-LOCAL"]["error"]
        assert by_site["PROD"]["ok"] and by_site["DR-REMOTE"]["ok"]
        code, after = govcloud(capsys, "servers", "list", "--site", "DR-LOCAL", "--json")
        assert code == 0 and after["servers"] == before["servers"]
        code, cap = govcloud(capsys, "capacity", "--site", "DR-LOCAL", "--json")
        (site,) = cap["sites"]
        assert site["stale"] and site["hypervisors"] == len(region.computes)
        assert site["error"]
    finally:
        cloud.start_region_apis(region)
        cloud.wait_apis([region])
    code, report = govcloud(capsys, "sync", "--json")
    assert code == 0 and report["ok"], report
    code, cap = govcloud(capsys, "capacity", "--site", "DR-LOCAL", "--json")
    assert not cap["sites"][0]["stale"]


# everything govcloud reads in a region (conductor, scheduler and the computes keep running: the
# fake driver holds its instances in memory, and a restarted compute would lose them)
REGION_APIS = ("placement", "neutron", "cinder", "nova-api")
# what a client sees of a peer killed mid-request: a reset (its request unread), or a close
# without an answer (read, not answered); not a refusal, which would be a request made after
CONNECTION_LOST = re.compile(r"reset by peer|connection aborted|remote ?disconnected|"
                             r"closed connection without response", re.I)


@pytest.fixture
def dr_local(real: RealCloud) -> Iterator[cloud.Region]:
    """DR-LOCAL, its APIs running again after the test whatever the test did to them (later
    tests need the region)."""
    region = real.region("DR-LOCAL")
    try:
        yield region
    finally:
        apis = [f"{region.slug}-{s}" for s in REGION_APIS]
        cloud.kill([n for n in apis if cloud.frozen(n)])  # a test that failed mid-outage
        cloud.start_region_apis(region)
        cloud.wait_apis([region])


def wait_in_log(log: Path, offset: int, needle: str, timeout: float = 120.0) -> str:
    """The first line containing ``needle`` written to ``log`` after ``offset``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with log.open("rb") as fh:
            fh.seek(offset)
            for line in fh.read().decode(errors="replace").splitlines():
                if needle in line:
                    return line
        time.sleep(0.01)
    raise AssertionError(f"no {needle!r} in {log} within {timeout:.0f} s")


def waiting_at(ports: set[int]) -> bool:
    """Whether a request waits, unread, at one of ``ports`` on this machine: a server-side
    socket there with bytes in its receive queue, or a listening one with connections in its
    accept backlog (``/proc/net/tcp``'s rx_queue) — what a request to a frozen API is."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if port in ports and int(fields[4].split(":")[1], 16) > 0:
                return True
    return False


def test_a_region_stopped_mid_sync_is_stale_keeps_its_rows_and_recovers(
        synced: Plane, cli: Plane, dr_local: cloud.Region,
        capsys: pytest.CaptureFixture[str]) -> None:
    real, region = synced.real, dr_local
    code, _ = govcloud(capsys, "sync", "--json")  # every region fresh before the outage
    assert code == 0
    code, before = govcloud(capsys, "servers", "list", "--site", "DR-LOCAL", "--json")
    assert code == 0 and len(before["servers"]) == 1
    code, cap_before = govcloud(capsys, "capacity", "--site", "DR-LOCAL", "--json")
    assert code == 0 and not cap_before["sites"][0]["stale"]
    with synced.engine.connect() as conn:
        hosts_before = hosts(conn, "DR-LOCAL")
        state_before = sync_states(conn)["DR-LOCAL"]
    assert len(hosts_before) == len(region.computes)

    apis = [f"{region.slug}-{s}" for s in REGION_APIS]
    nova_log = real.state / "logs" / f"{region.slug}-nova-api.log"
    offset = nova_log.stat().st_size
    # `govcloud sync --full` as a process, through the control plane's API (cli's environment)
    sync = subprocess.Popen([sys.executable, "-m", "govcloud.cli", "sync", "--full", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the region's first read (compute services, whose Date is the sync's clock) has been
        # answered: the sync is reading DR-LOCAL now — freeze every API of the region
        wait_in_log(nova_log, offset, "/os-services")
        assert sync.poll() is None, "the sync finished before the region could be frozen"
        assert cloud.freeze(apis) == apis
        # the sync's next request to the region waits, unread, at a frozen API (a positive
        # signal, where a fixed sleep proved nothing on a loaded machine)
        ports = {region.port("nova" if s == "nova-api" else s) for s in REGION_APIS}
        wait_until(lambda: waiting_at(ports) or sync.poll() is not None, 60,
                   "a request at the frozen region")
        # still running: the sync's next requests to the region hang on the frozen APIs
        assert sync.poll() is None, "the sync was not reading DR-LOCAL when it was frozen"
        assert waiting_at(ports)
        assert cloud.kill(apis) == apis  # the datacentre is gone: its connections reset
        out, err = sync.communicate(timeout=180)
    finally:
        if sync.poll() is None:
            sync.kill()
            sync.wait()
    assert sync.returncode == 1 and "Traceback" not in err, err
    report = json.loads(out)
    by_site = {s["site"]: s for s in report["sites"]}
    failed = by_site["DR-LOCAL"]
    assert not report["ok"] and not failed["ok"] and failed["stale"], failed
    assert "DR-LOCAL" in failed["error"] and CONNECTION_LOST.search(failed["error"]), \
        failed["error"]
    for other in ("PROD", "DR-REMOTE"):  # the other regions synced (fully) meanwhile
        assert by_site[other]["ok"] and by_site[other]["full"], by_site[other]
        assert by_site[other]["servers"] == len(SERVERS[other])

    # DR-LOCAL's rows are the previous sync's, untouched; the site says why it is stale
    code, after = govcloud(capsys, "servers", "list", "--site", "DR-LOCAL", "--json")
    assert code == 0 and after["servers"] == before["servers"]
    code, cap = govcloud(capsys, "capacity", "--site", "DR-LOCAL", "--json")
    (site,) = cap["sites"]
    assert site["stale"] and site["error"] == failed["error"]
    for key in ("hypervisors", "physical_cores", "vcpus", "ram_mb", "disk_gb"):
        assert site[key] == cap_before["sites"][0][key], key
    with synced.engine.connect() as conn:
        assert hosts(conn, "DR-LOCAL") == hosts_before
        state = sync_states(conn)["DR-LOCAL"]
    assert state.stale and state.error == failed["error"]
    assert state.last_success == state_before.last_success
    assert state.last_attempt is not None and state_before.last_attempt is not None
    assert state.last_attempt > state_before.last_attempt

    # the region back: the next sync recovers it
    cloud.start_region_apis(region)
    cloud.wait_apis([region])
    code, report = govcloud(capsys, "sync", "--json")
    assert code == 0 and report["ok"], report
    code, cap = govcloud(capsys, "capacity", "--site", "DR-LOCAL", "--json")
    assert not cap["sites"][0]["stale"] and not cap["sites"][0]["error"]
    with synced.engine.connect() as conn:
        state = sync_states(conn)["DR-LOCAL"]
    assert not state.stale and state.error is None
    assert state.last_success is not None and state.last_success > state_before.last_attempt
    listed = real.osc("DR-LOCAL", "server", "list", "--all-projects", "--long", "-f", "json")
    code, ours = govcloud(capsys, "servers", "list", "--site", "DR-LOCAL", "--json")
    assert {s["id"]: s["status"] for s in ours["servers"]} == \
        {s["ID"]: s["Status"] for s in listed}
