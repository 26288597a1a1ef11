"""The inventory read adapter against a small simulator over real HTTP, through govcloud's own
connect() and clouds.yaml: figures equal the simulator's state, paging, changes-since and a
site going down."""

from __future__ import annotations

import math
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from govcloud.cloud.connect import connect
from govcloud.cloud.inventory import SiteReader, read_inventory
from govcloud.domain.capacity import FlavorSpec, flavor_fit, site_capacity
from govcloud.domain.inventory import HostState, HostStatus, SiteInventory
from govcloud.domain.quota import quota_commitment
from govcloud.domain.sites import Site, default_sites
from govcloud.domain.whatif import department_loads, lose_site
from govcloud.errors import GovCloudError, TemporaryError
from govcloud.sim.server import RunningSimulator

pytestmark = pytest.mark.slow

SITES = {s.name: s for s in default_sites()}


def reader(clouds: Path, site: str, **kw: Any) -> SiteReader:
    return SiteReader(connect(SITES[site], clouds_yaml=clouds), site=site, **kw)


def post(url: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10):
        pass


def test_every_figure_equals_the_simulators_state(sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim
    for name in SITES:
        region = running.sim.cloud.regions[name]
        project_ids = [p.id for p in running.sim.cloud.projects.values()
                       if "department" in p.extra]
        inv = reader(clouds, name).read(project_ids=project_ids)
        assert inv.site == name and inv.requests > 0
        assert inv.next_since < inv.read_at

        # servers: every live one, with flavor, host and metadata as the simulator has them
        assert {s.id for s in inv.servers} == set(region.servers)
        for s in inv.servers:
            want = region.servers[s.id]
            assert (s.name, s.project_id, s.status, s.host) == (
                want.name, want.project_id, want.status, want.host)
            assert (s.vcpus, s.ram_mb, s.disk_gb, s.flavor_name) == (
                want.flavor.vcpus, want.flavor.ram, want.flavor.disk, want.flavor.name)
            assert dict(s.metadata) == want.metadata and list(s.tags) == want.tags
            assert s.created == want.created_at
            assert [ip for ips in s.addresses.values() for ip in ips] == [
                a["addr"] for net in want.addresses.values() for a in net]

        # hypervisors joined with services (zone) and Placement (inventories, usages)
        assert len(inv.hypervisors) == len(region.hypervisors)
        for hv in inv.hypervisors:
            want_hv = region.hypervisors[hv.id]
            rp = want_hv.provider
            assert hv.hostname == want_hv.hostname and hv.provider_uuid == rp.uuid
            assert hv.state == HostState(want_hv.state)
            assert hv.status == HostStatus(want_hv.status)
            assert hv.availability_zone == want_hv.service.zone
            assert hv.running_servers == len([i for i in want_hv.servers if i in region.servers])
            assert {rc: n for rc, n in hv.usages.items() if n} == {
                rc: n for rc, n in rp.used.items() if n}
            for rc, want_inv in rp.inventories.items():
                got = hv.inventories[rc]
                assert (got.total, got.reserved, got.allocation_ratio, got.max_unit) == (
                    want_inv.total, want_inv.reserved, want_inv.allocation_ratio,
                    want_inv.max_unit)
        assert len(inv.services) == len(region.services)
        assert sum(not s.up for s in inv.services if s.is_compute) == sum(
            not s.is_up for s in region.services.values() if s.binary == "nova-compute")
        assert len(inv.providers) == len(region.providers)

        # capacity from those figures equals the simulator's own arithmetic
        cap = site_capacity(name, inv.hypervisors)
        rps = [h.provider for h in region.hypervisors.values()]
        assert cap.vcpu.capacity == sum(rp.inventories["VCPU"].capacity() for rp in rps)
        assert cap.ram_mb.allocated == sum(rp.used.get("MEMORY_MB", 0) for rp in rps)
        assert cap.physical_cores == sum(rp.inventories["VCPU"].total for rp in rps)

        # quotas: limits and in-use as Nova keeps them
        assert [q.project_id for q in inv.quotas] == project_ids
        for q in inv.quotas:
            assert q.cores is not None and q.ram_mb is not None
            assert q.cores.limit == region.compute_quota(q.project_id)["cores"]
            assert q.cores.in_use == region.usage[q.project_id].cores
        assert quota_commitment(cap, inv.quotas).projects == len(project_ids)


def test_flavor_fit_matches_booting_until_full(sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim
    inv = reader(clouds, "PROD").read()
    region = running.sim.cloud.regions["PROD"]
    for flavor in (f for f in region.flavors.values() if f.name.startswith("gc.")):
        spec = FlavorSpec(flavor.name, flavor.vcpus, flavor.ram, flavor.disk)
        want = 0  # what the simulator's scheduler would take, host by host
        need = region.flavor_resources(flavor)
        for hv in region.hypervisors.values():
            if not (hv.service.is_up and hv.service.status == "enabled"):
                continue
            used = dict(hv.provider.used)
            while all(used.get(rc, 0) + n <= hv.provider.inventories[rc].capacity()
                      and n <= hv.provider.inventories[rc].max_unit for rc, n in need.items()):
                for rc, n in need.items():
                    used[rc] = used.get(rc, 0) + n
                want += 1
        assert flavor_fit("PROD", inv.hypervisors, spec).count == want, flavor.name


def test_paging_reads_every_server_and_hypervisor_once(
        sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim
    region = running.sim.cloud.regions["PROD"]
    r = reader(clouds, "PROD")
    r.microversion("compute")
    before = r.requests
    servers = r.servers(limit=7)
    assert len(servers) == len({s.id for s in servers}) == len(region.servers) > 7
    pages = r.requests - before
    assert pages >= math.ceil(len(region.servers) / 7)
    before = r.requests
    hypervisors = r.hypervisors(limit=2)
    assert {h.id for h in hypervisors} == set(region.hypervisors)
    assert len(hypervisors) == len(region.hypervisors) > 2


def test_changes_since_returns_new_and_deleted_servers(
        sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim
    region = running.sim.cloud.regions["PROD"]
    r = reader(clouds, "PROD")
    first = r.read()
    quiet = r.server_changes(first.next_since)
    assert quiet.changed == () and quiet.deleted == ()

    user = connect(Site("PROD", "govcloud-sim-gd-edu", "PROD", SITES["PROD"].role),
                   clouds_yaml=clouds)
    flavor = next(f for f in region.flavors.values() if f.name == "gc.c2m4")
    image = next(i for i in region.images.values() if i.name.startswith("cirros"))
    made = user.compute.create_server(name="inv-new", flavor_id=flavor.id, image_id=image.id,
                                      networks="none")
    victim = next(s for s in first.servers if s.status == "ACTIVE")
    admin = connect(SITES["PROD"], clouds_yaml=clouds)
    admin.compute.delete_server(victim.id)

    changes = r.server_changes(first.next_since, limit=1)  # one per page: paging over both
    assert [s.id for s in changes.changed] == [made.id]
    assert changes.changed[0].name == "inv-new" and changes.changed[0].vcpus == 2
    assert [t.id for t in changes.deleted] == [victim.id]
    assert changes.deleted[0].project_id == victim.project_id
    assert changes.next_since >= first.next_since
    again = r.server_changes(changes.next_since)  # the overlap may repeat, never lose
    assert {s.id for s in again.changed} <= {made.id}


def test_a_site_that_is_down_fails_alone(sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim
    post(f"{running.base_url}/_sim/regions/DR-LOCAL/down")

    def read(name: str) -> SiteInventory | GovCloudError:
        try:
            return read_inventory(connect(SITES[name], clouds_yaml=clouds), site=name)
        except GovCloudError as exc:
            return exc

    with ThreadPoolExecutor(3) as pool:
        results = dict(zip(SITES, pool.map(read, SITES), strict=True))
    assert isinstance(results["PROD"], SiteInventory)
    assert isinstance(results["DR-REMOTE"], SiteInventory)
    error = results["DR-LOCAL"]
    assert isinstance(error, TemporaryError) and error.retryable
    assert error.message.startswith("site DR-LOCAL:")

    post(f"{running.base_url}/_sim/regions/DR-LOCAL/up")
    back = read("DR-LOCAL")
    assert isinstance(back, SiteInventory)
    assert len(back.servers) == len(running.sim.cloud.regions["DR-LOCAL"].servers)


def test_a_failure_mid_listing_raises_instead_of_a_partial_list(
        sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim

    class DownAfterFirstPage(SiteReader):
        pages = 0

        def _get(self, service: str, path: str, params: Any, what: str) -> Any:
            if path == "/servers/detail":
                self.pages += 1
                if self.pages == 2:  # the site dies between two pages
                    post(f"{running.base_url}/_sim/regions/PROD/down")
            return super()._get(service, path, params, what)

    r = DownAfterFirstPage(connect(SITES["PROD"], clouds_yaml=clouds), site="PROD")
    with pytest.raises(TemporaryError) as info:
        r.servers(limit=10)
    assert info.value.message.startswith("site PROD: listing servers (page 2)")


def test_capacity_and_what_if_from_a_real_read(sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim
    cloud = running.sim.cloud
    reads = {name: reader(clouds, name).read() for name in SITES}
    department_of = {p.id: p.name for p in cloud.projects.values() if "department" in p.extra}
    loads = {name: department_loads(inv.servers, department_of) for name, inv in reads.items()}
    free = {name: site_capacity(name, inv.hypervisors).headroom for name, inv in reads.items()}
    levels = {"gd-psd": 6, "gd-tax": 6, "gd-hrss": 5, "gd-data": 5, "guangzhou": 5,
              "shenzhen": 5, "gd-edu": 3, "gd-agri": 3, "shantou": 4}
    verdict = lose_site("PROD", sites=list(SITES.values()), free=free, loads=loads,
                        dr_levels=levels)
    placed = [s for s in cloud.regions["PROD"].servers.values() if s.host]
    assert verdict.lost_load.servers == len(placed)
    assert verdict.lost_load.resources.vcpu == sum(s.flavor.vcpus for s in placed)
    targets = {m.department: m.target for m in verdict.moves}
    assert targets["gd-psd"] == "DR-LOCAL" and targets["gd-edu"] == "DR-REMOTE"
    psd = next(m for m in verdict.moves if m.department == "gd-psd")
    assert psd.standby == loads["DR-LOCAL"]["gd-psd"].resources  # its standbys are credited
    for r in verdict.receiving:
        assert r.free == free[r.site]
        assert r.fits == (r.shortfall.vcpu == r.shortfall.ram_mb == r.shortfall.disk_gb == 0)
    assert verdict.fits == all(r.fits for r in verdict.receiving)


def test_unchanged_providers_are_reused_by_generation(
        sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim
    region = running.sim.cloud.regions["PROD"]
    r = reader(clouds, "PROD")
    first = r.providers()
    assert all(p.generation is not None for p in first)

    user = connect(Site("PROD", "govcloud-sim-gd-edu", "PROD", SITES["PROD"].role),
                   clouds_yaml=clouds)
    flavor = next(f for f in region.flavors.values() if f.name == "gc.c2m4")
    image = next(i for i in region.images.values() if i.name.startswith("cirros"))
    made = user.compute.wait_for_server(user.compute.create_server(
        name="inv-gen", flavor_id=flavor.id, image_id=image.id, networks="none"),
        interval=0.05, wait=30)
    host = region.servers[made.id].host

    before = r.requests
    second = r.providers(previous=first)
    assert r.requests - before == 1 + 2  # the listing, then only the provider that changed
    changed = [p for p in second if p not in first]
    assert [p.name for p in changed] == [host]
    assert [p.uuid for p in second] == [p.uuid for p in first]  # in the listing's order
    assert changed[0].usages["VCPU"] == region.hv_by_host[host].provider.used["VCPU"]


def test_volumes_and_their_quota_usage_are_read(sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim
    conn = connect(SITES["PROD"], clouds_yaml=clouds)
    project_id = conn.current_project_id
    sizes = (5, 7, 11)
    made = [conn.block_storage.create_volume(size=size, name=f"gc-vol-{size}") for size in sizes]
    for volume in made:
        conn.block_storage.wait_for_status(volume, "available", wait=30)
    prod = reader(clouds, "PROD")
    assert prod.has_volume_service()
    listed = {v.id: v for v in prod.volumes(limit=2) or ()}  # small pages: paging is followed
    for volume, size in zip(made, sizes, strict=True):
        got = listed[volume.id]
        assert (got.size_gb, got.project_id, got.name, got.status) == (
            size, project_id, f"gc-vol-{size}", "available")
    mine = [v for v in listed.values() if v.project_id == project_id]
    (quota,) = prod.all_quotas([project_id])
    volumes, gigabytes = quota.get("volumes"), quota.get("gigabytes")
    assert volumes is not None and gigabytes is not None and quota.cores is not None
    assert volumes.in_use == len(mine) and gigabytes.in_use == sum(v.size_gb for v in mine)
    # Other sites hold none of these volumes.
    assert not {v.id for v in reader(clouds, "DR-LOCAL").volumes() or ()} & set(listed)
