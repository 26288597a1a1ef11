"""Per-site and per-zone capacity, quota commitments and how many more of a flavor fit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govcloud.domain.capacity import (
    DISK_GB,
    MEMORY_MB,
    VCPU,
    FlavorSpec,
    Inventory,
    Resources,
    capacity_by_zone,
    flavor_fit,
    flavor_request,
    host_fit,
    site_capacity,
)
from govcloud.domain.inventory import (
    HostState,
    HostStatus,
    HypervisorInfo,
    QuotaFigure,
    QuotaInfo,
)
from govcloud.domain.quota import quota_commitment
from govcloud.errors import InvalidInput

GiB = 1024


def host(name: str, *, cores: int = 32, ram_gb: int = 256, disk_gb: int = 2000,
         used: tuple[int, int, int] = (0, 0, 0), cpu_ratio: float = 4.0,
         ram_ratio: float = 1.0, reserved_ram_gb: int = 8, reserved_disk_gb: int = 50,
         up: bool = True, enabled: bool = True, zone: str | None = "nova",
         max_unit: tuple[int | None, int | None, int | None] = (None, None, None),
         ) -> HypervisorInfo:
    invs = {
        VCPU: Inventory(VCPU, cores, 0, cpu_ratio, max_unit[0]),
        MEMORY_MB: Inventory(MEMORY_MB, ram_gb * GiB, reserved_ram_gb * GiB, ram_ratio,
                             max_unit[1]),
        DISK_GB: Inventory(DISK_GB, disk_gb, reserved_disk_gb, 1.0, max_unit[2]),
    }
    return HypervisorInfo(
        id=f"id-{name}", hostname=name, state=HostState.UP if up else HostState.DOWN,
        status=HostStatus.ENABLED if enabled else HostStatus.DISABLED,
        availability_zone=zone, inventories=invs,
        usages={VCPU: used[0], MEMORY_MB: used[1], DISK_GB: used[2]})


C4M8 = FlavorSpec("gc.c4m8", vcpus=4, ram_mb=8 * GiB, disk_gb=100)


def test_site_capacity_sums_every_host_with_ratios_and_reserved() -> None:
    hosts = [host("a", used=(40, 64 * GiB, 500)), host("b", up=False),
             host("c", enabled=False, used=(8, 16 * GiB, 100))]
    cap = site_capacity("PROD", hosts)
    assert (cap.hosts, cap.hosts_up, cap.hosts_schedulable) == (3, 2, 1)
    assert cap.physical_cores == 96
    assert cap.vcpu.capacity == 3 * 32 * 4
    assert cap.vcpu.allocated == 48
    assert cap.vcpu.free == 3 * 128 - 48
    assert cap.vcpu.headroom == 128 - 40  # only the up and enabled host
    assert cap.ram_mb.reserved == 3 * 8 * GiB
    assert cap.ram_mb.capacity == 3 * 248 * GiB
    assert cap.disk_gb.capacity == 3 * 1950
    assert cap.free == Resources(cap.vcpu.free, cap.ram_mb.free, cap.disk_gb.free)
    assert cap.to_dict()["vcpu"]["headroom"] == 88


def test_an_overallocated_host_has_no_free_and_does_not_eat_others() -> None:
    # ratio lowered after allocation: 32 × 1.0 capacity, 50 allocated
    hosts = [host("a", cpu_ratio=1.0, used=(50, 0, 0)), host("b", cpu_ratio=1.0)]
    cap = site_capacity("PROD", hosts)
    assert cap.vcpu.capacity == 64
    assert cap.vcpu.allocated == 50
    assert cap.vcpu.free == 32  # host a: 0, host b: 32 — not 64 − 50


def test_capacity_by_zone() -> None:
    hosts = [host("a", zone="az1"), host("b", zone="az2"), host("c", zone="az2"),
             host("d", zone=None)]
    zones = capacity_by_zone("PROD", hosts)
    assert list(zones) == ["", "az1", "az2"]
    assert zones["az2"].hosts == 2
    assert zones["az2"].zone == "az2"
    assert site_capacity("PROD", hosts, zone="az2") == zones["az2"]
    assert sum(z.vcpu.capacity for z in zones.values()) == site_capacity("PROD", hosts) \
        .vcpu.capacity


def test_flavor_request_like_nova() -> None:
    assert flavor_request(vcpus=2, ram_mb=4096, disk_gb=50, ephemeral_gb=10, swap_mb=1500) \
        == Resources(2, 4096, 62)
    assert flavor_request(vcpus=2, ram_mb=4096, disk_gb=50, boot_from_volume=True) \
        == Resources(2, 4096, 0)
    with pytest.raises(InvalidInput):
        FlavorSpec("bad", vcpus=0, ram_mb=1)


def test_fit_is_counted_per_host_not_by_dividing_totals() -> None:
    # two hosts, each with 6 GiB RAM free: 12 GiB in all, yet no 8 GiB server fits anywhere
    hosts = [host("a", ram_gb=14, reserved_ram_gb=8), host("b", ram_gb=14, reserved_ram_gb=8)]
    fit = flavor_fit("PROD", hosts, C4M8)
    assert fit.count == 0
    assert fit.aggregate_count == 1  # what naive division would have promised
    assert fit.limited_by == MEMORY_MB
    assert fit.hosts_considered == 2 and fit.hosts_with_room == 0


def test_fit_takes_the_scarcest_resource_on_each_host() -> None:
    a = host("a", used=(120, 0, 0))  # 8 vCPU free → 2
    b = host("b", used=(0, 240 * GiB, 0))  # 8 GiB free → 1
    c = host("c", used=(0, 0, 1650))  # 300 GB free → 3
    fit = flavor_fit("PROD", [a, b, c], C4M8)
    assert [host_fit(h, C4M8.request()) for h in (a, b, c)] == [2, 1, 3]
    assert fit.count == 6
    assert fit.by_resource[VCPU] == 2 + 32 + 32


def test_down_disabled_and_other_zones_take_nothing() -> None:
    hosts = [host("a", up=False), host("b", enabled=False), host("c", zone="az9")]
    assert flavor_fit("PROD", hosts, C4M8).count == flavor_fit(
        "PROD", hosts[2:], C4M8).count
    assert flavor_fit("PROD", hosts, C4M8, zone="nova").count == 0


def test_max_unit_caps_a_single_server() -> None:
    big = FlavorSpec("gc.c32m128", vcpus=32, ram_mb=128 * GiB, disk_gb=400)
    assert flavor_fit("PROD", [host("a")], big).count == 1
    assert flavor_fit("PROD", [host("a", max_unit=(16, None, None))], big).count == 0


def test_missing_inventory_allows_none_and_bfv_needs_no_disk() -> None:
    diskless = HypervisorInfo(
        id="x", hostname="x", state=HostState.UP, status=HostStatus.ENABLED,
        inventories={VCPU: Inventory(VCPU, 32, 0, 4.0),
                     MEMORY_MB: Inventory(MEMORY_MB, 64 * GiB)})
    assert flavor_fit("PROD", [diskless], C4M8).count == 0
    assert flavor_fit("PROD", [diskless], C4M8, boot_from_volume=True).count == 8


def test_quota_commitment() -> None:
    cap = site_capacity("PROD", [host("a"), host("b")])
    quotas = [
        QuotaInfo("p1", {"cores": QuotaFigure(200, 40), "ram": QuotaFigure(400 * GiB, 80 * GiB),
                         "instances": QuotaFigure(50, 10)}),
        QuotaInfo("p2", {"cores": QuotaFigure(100, 4), "ram": QuotaFigure(-1, 8 * GiB),
                         "instances": QuotaFigure(20, 1)}),
    ]
    c = quota_commitment(cap, quotas)
    assert c.projects == 2
    assert c.committed == Resources(300, 400 * GiB)
    assert c.instances == 70
    assert c.in_use == Resources(44, 88 * GiB)
    assert c.unlimited == ("p2",)
    assert c.ratio_vcpu == pytest.approx(300 / 256)
    assert c.ratio_physical_cores == pytest.approx(300 / 64)
    assert c.ratio_ram == pytest.approx(400 / 496)
    assert c.overcommitted
    assert c.to_dict()["ratio"]["vcpu"] == round(300 / 256, 4)


def test_quota_commitment_of_an_empty_site() -> None:
    c = quota_commitment(site_capacity("X", []), [])
    assert c.ratio_vcpu is None and c.ratio_physical_cores is None and not c.overcommitted


# --- properties ----------------------------------------------------------------------------

hosts_st = st.builds(
    lambda cores, ram, disk, ratio, reserved, used, up, enabled: host(
        "h", cores=cores, ram_gb=ram, disk_gb=disk, cpu_ratio=ratio,
        reserved_ram_gb=reserved, reserved_disk_gb=reserved,
        used=(used[0], used[1] * GiB, used[2]), up=up, enabled=enabled),
    st.integers(0, 128), st.integers(0, 1024), st.integers(0, 8000),
    st.floats(0.1, 16.0, allow_nan=False), st.integers(0, 2000),
    st.tuples(st.integers(0, 3000), st.integers(0, 3000), st.integers(0, 20000)),
    st.booleans(), st.booleans())

flavors_st = st.builds(FlavorSpec, st.just("f"), st.integers(1, 64), st.integers(1, 256 * GiB),
                       st.integers(0, 2000), st.integers(0, 200), st.integers(0, 16 * GiB))


@given(st.lists(hosts_st, max_size=8))
def test_capacity_figures_are_never_negative(hosts: list[HypervisorInfo]) -> None:
    cap = site_capacity("S", hosts)
    for fig in (cap.vcpu, cap.ram_mb, cap.disk_gb):
        assert fig.capacity >= 0 and fig.free >= 0 and fig.headroom >= 0
        assert fig.headroom <= fig.free <= fig.capacity


@given(st.lists(hosts_st, min_size=1, max_size=6), flavors_st,
       st.lists(st.tuples(st.integers(0, 64), st.integers(0, 64 * GiB), st.integers(0, 2000)),
                min_size=6, max_size=6))
def test_fit_never_drops_when_hosts_gain_free_capacity(
        hosts: list[HypervisorInfo], flavor: FlavorSpec,
        released: list[tuple[int, int, int]]) -> None:
    before = flavor_fit("S", hosts, flavor)
    freer = []
    for h, (cpu, ram, disk) in zip(hosts, released, strict=False):
        usages = {VCPU: max(0, h.usages[VCPU] - cpu), MEMORY_MB: max(0, h.usages[MEMORY_MB] - ram),
                  DISK_GB: max(0, h.usages[DISK_GB] - disk)}
        freer.append(HypervisorInfo(id=h.id, hostname=h.hostname, state=h.state,
                                    status=h.status, availability_zone=h.availability_zone,
                                    inventories=h.inventories, usages=usages))
    after = flavor_fit("S", freer, flavor)
    assert after.count >= before.count
    assert before.count <= before.aggregate_count  # per host never beats plain division
