"""Inventory sync of a small simulator (real HTTP) into SQLite and PostgreSQL: figures equal
the simulator's state, a second full sync changes nothing, incremental sync sees a created and
a deleted server, a region failing mid-listing goes stale with its rows intact."""

from __future__ import annotations

import datetime as dt
import urllib.request
from pathlib import Path
from typing import Any

import openstack
import pytest
from openstack.connection import Connection
from sqlalchemy import Engine, func, select

from govcloud.cloud.connect import connect
from govcloud.cloud.inventory import SiteReader
from govcloud.domain.sites import Site, default_sites
from govcloud.errors import InvalidInput
from govcloud.services.sync import Syncer
from govcloud.sim.seed import department_password
from govcloud.sim.server import RunningSimulator
from govcloud.store.inventory import sync_states, table

pytestmark = pytest.mark.slow

SITES = default_sites()
BY_NAME = {s.name: s for s in SITES}
# the small simulator's departments and their RBAC cities (provincial departments: none)
DEPARTMENTS: dict[str, str | None] = {
    "gd-psd": None, "gd-tax": None, "gd-hrss": None, "gd-edu": None, "gd-agri": None,
    "gd-data": None, "guangzhou": "guangzhou", "shenzhen": "shenzhen", "shantou": "shantou"}


def post(url: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10):
        pass


def make_syncer(engine: Engine, clouds: Path, **kw: Any) -> Syncer:
    conns = {s.name: connect(s, clouds_yaml=clouds) for s in SITES}
    return Syncer(engine=engine, sites=SITES, connections=lambda: conns,
                  departments=lambda: DEPARTMENTS, **kw)


def rows(engine: Engine, name: str, site: str, *, live_only: bool = False) -> list[Any]:
    tbl = table(name)
    q = select(tbl).where(tbl.c.site == site)
    if live_only:
        q = q.where(tbl.c.deleted_at.is_(None))
    with engine.connect() as conn:
        return list(conn.execute(q))


def test_full_sync_equals_the_simulator_and_is_idempotent(
        sim: tuple[RunningSimulator, Path], engine: Engine) -> None:
    running, clouds = sim
    cloud = running.sim.cloud
    # Volumes made by departments' own users in PROD and DR-LOCAL (the seed has none).
    for code, site, sizes in (("gd-psd", "PROD", (10, 20)), ("shenzhen", "PROD", (5,)),
                              ("gd-psd", "DR-LOCAL", (30,))):
        user = openstack.connect(
            auth_url=f"{cloud.base_url}/identity", username=f"{code}-ops",
            password=department_password(code), project_name=code, user_domain_id="default",
            project_domain_id="default", region_name=site)
        for size in sizes:
            user.block_storage.wait_for_status(
                user.block_storage.create_volume(size=size, name=f"{code}-data-{size}"),
                "available", wait=30)
        user.close()
    syncer = make_syncer(engine, clouds)
    report = syncer.sync(full=True)
    assert report.ok, report.to_dict()
    dept_projects = {p.id: p.name for p in cloud.projects.values() if "department" in p.extra}
    for site in BY_NAME:
        region = cloud.regions[site]
        servers = {r.id: r for r in rows(engine, "server", site, live_only=True)}
        assert set(servers) == set(region.servers)
        for sid, want in region.servers.items():
            got = servers[sid]
            assert (got.name, got.project_id, got.status, got.host, got.vcpus, got.ram_mb,
                    got.flavor_name) == (want.name, want.project_id, want.status, want.host,
                                         want.flavor.vcpus, want.flavor.ram, want.flavor.name)
            assert got.department == dept_projects.get(want.project_id)
        hvs = {r.id: r for r in rows(engine, "hypervisor", site)}
        assert set(hvs) == set(region.hypervisors)
        for hid, hv in region.hypervisors.items():
            vcpu = hv.provider.inventories["VCPU"]
            assert hvs[hid].vcpu_total == vcpu.total
            assert hvs[hid].vcpu_ratio == vcpu.allocation_ratio
            assert hvs[hid].vcpu_used == hv.provider.used.get("VCPU", 0)
            assert hvs[hid].ram_used == hv.provider.used.get("MEMORY_MB", 0)
            assert hvs[hid].state == hv.state
        mapping = {r.department: r.project_id for r in rows(engine, "department_site", site)}
        assert mapping == {name: pid for pid, name in dept_projects.items()}
        quotas = rows(engine, "quota_usage", site)
        assert {r.project_id for r in quotas} == set(dept_projects)
        assert all(r.department == dept_projects[r.project_id] for r in quotas)
        # block-storage quotas sit beside the compute ones, with the volumes' usage
        volume_quota = {(r.project_id, r.resource): r for r in quotas}
        flavors = {r.id: r for r in rows(engine, "flavor", site)}
        assert set(flavors) == set(region.flavors)  # public and private
        assert all((flavors[fid].vcpus, flavors[fid].ram_mb, flavors[fid].is_public)
                   == (f.vcpus, f.ram, f.is_public) for fid, f in region.flavors.items())
        stored = rows(engine, "volume", site)
        assert {r.id for r in stored} == set(region.volumes)
        assert all(r.department == dept_projects.get(r.project_id) for r in stored)
        assert len(stored) == {"PROD": 3, "DR-LOCAL": 1, "DR-REMOTE": 0}[site]
        for pid in dept_projects:
            theirs = [v for v in region.volumes.values() if v.project_id == pid]
            assert volume_quota[(pid, "volumes")].in_use == len(theirs)
            assert volume_quota[(pid, "gigabytes")].in_use == sum(v.size for v in theirs)
    with engine.connect() as conn:
        states = sync_states(conn)
    assert all(not s.stale and s.error is None and s.last_success for s in states.values())
    assert {s: states[s].servers for s in BY_NAME} == {
        s: len(cloud.regions[s].servers) for s in BY_NAME}

    before = {s: sorted(tuple(r) for r in rows(engine, "server", s)) for s in BY_NAME}
    again = syncer.sync(full=True)
    assert again.ok and all(r.deleted == 0 for r in again.results)
    assert {s: sorted(tuple(r) for r in rows(engine, "server", s)) for s in BY_NAME} == before
    with engine.connect() as conn:
        samples = conn.execute(select(func.count()).select_from(table("capacity_sample")))
        assert samples.scalar_one() == 6  # one per site per sync: the forecast's history


def test_incremental_sync_picks_up_a_created_and_a_deleted_server(
        sim: tuple[RunningSimulator, Path], engine: Engine) -> None:
    running, clouds = sim
    region = running.sim.cloud.regions["PROD"]
    syncer = make_syncer(engine, clouds)
    assert syncer.sync(full=True).ok

    user = connect(Site("PROD", "govcloud-sim-gd-edu", "PROD", BY_NAME["PROD"].role),
                   clouds_yaml=clouds)
    flavor = next(f for f in region.flavors.values() if f.name == "gc.c2m4")
    image = next(i for i in region.images.values() if i.name.startswith("cirros"))
    made = user.compute.create_server(name="sync-new", flavor_id=flavor.id,
                                      image_id=image.id, networks="none")
    victim = next(r for r in rows(engine, "server", "PROD", live_only=True)
                  if r.status == "ACTIVE")
    connect(BY_NAME["PROD"], clouds_yaml=clouds).compute.delete_server(victim.id)

    report = syncer.sync(["PROD"])
    (result,) = report.results
    assert result.ok and not result.full
    assert result.changed >= 1 and result.deleted == 1
    servers = {r.id: r for r in rows(engine, "server", "PROD")}
    assert servers[made.id].name == "sync-new" and servers[made.id].department == "gd-edu"
    assert servers[made.id].deleted_at is None
    assert servers[victim.id].deleted_at is not None  # tombstoned, not forgotten
    live = {r.id for r in rows(engine, "server", "PROD", live_only=True)}
    assert live == set(region.servers)

    # Full syncs keep a tombstone for the retention period (30 days), then purge it.
    assert syncer.sync(["PROD"], full=True).ok
    assert victim.id in {r.id for r in rows(engine, "server", "PROD")}
    later = make_syncer(engine, clouds,
                        clock=lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=31))
    assert later.sync(["PROD"], full=True).ok
    kept = {r.id for r in rows(engine, "server", "PROD")}
    assert victim.id not in kept and kept == set(region.servers)


def test_a_region_failing_mid_sync_goes_stale_and_keeps_its_rows(
        sim: tuple[RunningSimulator, Path], engine: Engine) -> None:
    running, clouds = sim
    down = f"{running.base_url}/_sim/regions/DR-LOCAL/down"

    class DiesMidListing(SiteReader):
        """DR-LOCAL's region goes down between the first and second page of servers."""

        pages = 0

        def servers(self, *, limit: int = 1000) -> Any:
            return super().servers(limit=10 if armed else limit)  # many pages to fail between

        def _get(self, service: str, path: str, params: Any, what: str) -> Any:
            if self.site == "DR-LOCAL" and path == "/servers/detail" and armed:
                self.pages += 1
                if self.pages == 2:
                    post(down)
            return super()._get(service, path, params, what)

    def reader(conn: Connection, site: str, workers: int) -> SiteReader:
        return DiesMidListing(conn, site=site, workers=workers)

    armed = False
    syncer = make_syncer(engine, clouds, reader=reader)
    assert syncer.sync(full=True).ok
    before = {s: sorted(tuple(r) for r in rows(engine, "server", s)) for s in BY_NAME}
    hv_before = sorted(tuple(r) for r in rows(engine, "hypervisor", "DR-LOCAL"))
    assert len(before["DR-LOCAL"]) > 10

    armed = True
    report = syncer.sync(full=True)
    by_site = {r.site: r for r in report.results}
    assert by_site["PROD"].ok and by_site["DR-REMOTE"].ok
    failed = by_site["DR-LOCAL"]
    assert not failed.ok and failed.error is not None
    # whichever read noticed first (the server listing runs beside the hypervisor listing)
    assert failed.error.startswith("site DR-LOCAL:")
    assert sorted(tuple(r) for r in rows(engine, "server", "DR-LOCAL")) == before["DR-LOCAL"]
    assert sorted(tuple(r) for r in rows(engine, "hypervisor", "DR-LOCAL")) == hv_before
    with engine.connect() as conn:
        states = sync_states(conn)
    assert states["DR-LOCAL"].stale and states["DR-LOCAL"].error == failed.error
    assert states["DR-LOCAL"].last_attempt is not None
    assert states["DR-LOCAL"].last_success is not None
    assert states["DR-LOCAL"].last_attempt > states["DR-LOCAL"].last_success
    assert not states["PROD"].stale and not states["DR-REMOTE"].stale

    armed = False
    still_down = syncer.sync(["DR-LOCAL"])  # still down: stale again, rows still there
    assert not still_down.ok
    assert sorted(tuple(r) for r in rows(engine, "server", "DR-LOCAL")) == before["DR-LOCAL"]

    post(f"{running.base_url}/_sim/regions/DR-LOCAL/up")
    recovered = syncer.sync()
    assert recovered.ok, recovered.to_dict()
    with engine.connect() as conn:
        states = sync_states(conn)
    assert not states["DR-LOCAL"].stale and states["DR-LOCAL"].error is None
    live = {r.id for r in rows(engine, "server", "DR-LOCAL", live_only=True)}
    assert live == set(running.sim.cloud.regions["DR-LOCAL"].servers)


def test_a_hung_api_times_out_and_the_site_goes_stale(
        sim: tuple[RunningSimulator, Path], engine: Engine) -> None:
    running, clouds = sim
    syncer = make_syncer(engine, clouds, request_timeout_s=0.5)
    assert syncer.sync(full=True).ok
    before = sorted(tuple(r) for r in rows(engine, "server", "PROD"))
    faults = urllib.request.Request(f"{running.base_url}/_sim/faults", method="PUT",
                                    data=b'{"latency_ms": 2000}',
                                    headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(faults, timeout=10):
        pass
    report = syncer.sync(["PROD"])
    (result,) = report.results
    assert not result.ok and result.error is not None
    assert result.error.startswith("site PROD:") and "timed out" in result.error
    assert result.seconds < 10
    assert sorted(tuple(r) for r in rows(engine, "server", "PROD")) == before
    with engine.connect() as conn:
        assert sync_states(conn)["PROD"].stale


def test_a_sync_of_no_site_is_bad_input_and_syncs_nothing(engine: Engine) -> None:
    """An empty list of sites is not "every site" and not a crash: bad input, nothing read."""
    def no_cloud() -> dict[str, Any]:
        raise AssertionError("no cloud may be reached")

    syncer = Syncer(engine=engine, sites=SITES, connections=no_cloud,
                    departments=lambda: DEPARTMENTS)
    with pytest.raises(InvalidInput, match="no site to sync") as caught:
        syncer.sync([])
    assert "PROD" in (caught.value.hint or "")
    with engine.connect() as conn:
        assert sync_states(conn) == {}


def test_a_sites_microversions_are_negotiated_once_until_its_sync_fails(
        sim: tuple[RunningSimulator, Path], engine: Engine) -> None:
    running, clouds = sim
    negotiated: list[tuple[str, str]] = []

    class Counting(SiteReader):
        def _negotiate(self, service: str) -> None:
            negotiated.append((self.site, service))
            super()._negotiate(service)

    def reader(conn: Connection, site: str, workers: int) -> SiteReader:
        return Counting(conn, site=site, workers=workers)

    syncer = make_syncer(engine, clouds, reader=reader)
    assert syncer.sync(full=True).ok
    assert sorted(negotiated) == sorted((s, v) for s in BY_NAME for v in ("compute",
                                                                          "placement"))
    negotiated.clear()
    assert syncer.sync().ok and syncer.sync(full=True).ok
    assert negotiated == []  # the next readers of the same connections start from it
    post(f"{running.base_url}/_sim/regions/DR-LOCAL/down")
    try:
        failed = syncer.sync(["DR-LOCAL"])
    finally:
        post(f"{running.base_url}/_sim/regions/DR-LOCAL/up")
    assert not failed.ok
    negotiated.clear()
    assert syncer.sync().ok
    assert [s for s, _ in negotiated] == ["DR-LOCAL", "DR-LOCAL"]  # afresh after a failure
