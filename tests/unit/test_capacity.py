from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from govcloud.domain.capacity import (
    DISK_GB,
    MEMORY_MB,
    VCPU,
    Inventory,
    ProviderResources,
    ResourceFigure,
    total_resources,
)
from govcloud.domain.summary import SiteSummary, count_statuses


def test_capacity_is_total_minus_reserved_times_ratio() -> None:
    assert Inventory(VCPU, total=64, reserved=4, allocation_ratio=4.0).capacity == 240
    assert Inventory(MEMORY_MB, total=515_072, reserved=8192, allocation_ratio=1.5).capacity \
        == 760_320
    assert Inventory(DISK_GB, total=3_600).capacity == 3_600


def test_capacity_floors_like_placement() -> None:
    assert Inventory(VCPU, total=3, reserved=0, allocation_ratio=1.5).capacity == 4


def test_capacity_never_negative() -> None:
    assert Inventory(VCPU, total=4, reserved=8).capacity == 0


def test_totals_sum_over_providers() -> None:
    providers = [
        ProviderResources("cmp-001", {VCPU: Inventory(VCPU, 64, 4, 4.0),
                                      MEMORY_MB: Inventory(MEMORY_MB, 262_144, 4096, 1.0)},
                          {VCPU: 100, MEMORY_MB: 65_536}),
        ProviderResources("cmp-002", {VCPU: Inventory(VCPU, 32, 0, 16.0)}, {VCPU: 12}),
        ProviderResources("empty"),
    ]
    totals = total_resources(providers)
    assert totals[VCPU] == ResourceFigure(capacity=240 + 512, used=112)
    assert totals[MEMORY_MB] == ResourceFigure(capacity=258_048, used=65_536)
    assert DISK_GB not in totals


def test_usage_without_inventory_still_counts() -> None:
    totals = total_resources([ProviderResources("odd", {}, {DISK_GB: 10})])
    assert totals[DISK_GB] == ResourceFigure(capacity=0, used=10)


inventories = st.builds(
    Inventory, st.just(VCPU), st.integers(0, 10_000), st.integers(0, 100),
    st.floats(0.1, 16.0, allow_nan=False))


@given(st.lists(st.tuples(inventories, st.integers(0, 50_000)), max_size=20))
def test_totals_are_the_sum_of_each_provider(items: list[tuple[Inventory, int]]) -> None:
    providers = [ProviderResources(f"p{i}", {VCPU: inv}, {VCPU: used})
                 for i, (inv, used) in enumerate(items)]
    total = total_resources(providers).get(VCPU, ResourceFigure())
    assert total.capacity == sum(inv.capacity for inv, _ in items)
    assert total.used == sum(used for _, used in items)
    assert total.free == total.capacity - total.used


def test_used_fraction() -> None:
    assert ResourceFigure(200, 50).used_fraction == 0.25
    assert ResourceFigure(0, 0).used_fraction == 0.0


def test_count_statuses() -> None:
    assert count_statuses(["ACTIVE", "active", "ERROR", None, "SHUTOFF", "ACTIVE"]) == {
        "ACTIVE": 3, "ERROR": 1, "UNKNOWN": 1, "SHUTOFF": 1}


def test_site_summary_to_dict() -> None:
    summary = SiteSummary(site="PROD", hypervisors=2, compute_services_up=2,
                          compute_services_down=1, vcpu=ResourceFigure(100, 40),
                          ram_mb=ResourceFigure(1024, 512), disk_gb=ResourceFigure(10, 1),
                          servers_by_status={"SHUTOFF": 1, "ACTIVE": 5})
    assert summary.servers == 6
    assert summary.servers_in("active") == 5
    assert summary.servers_in("ERROR") == 0
    data = summary.to_dict()
    # Placement's usage is "allocated", as in GET /capacity ("used" is what ACTIVE servers
    # hold there, which a site summary does not sum)
    assert data["vcpu"] == {"capacity": 100, "allocated": 40, "free": 60}
    assert data["compute_services"] == {"up": 2, "down": 1}
    assert data["servers"] == {"total": 6, "by_status": {"ACTIVE": 5, "SHUTOFF": 1}}
