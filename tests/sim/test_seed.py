"""Seed data: deterministic, consistent accounting, the shape the issue asks for."""

from __future__ import annotations

import pytest

from govcloud.sim.seed import SCALES, build_cloud


def _fingerprint(cloud):
    return [(r.name, [(s.id, s.name, s.host, s.status) for s in r.servers.values()])
            for r in cloud.regions.values()]


def test_same_seed_same_cloud_different_seed_differs():
    a = build_cloud(scale="small", seed=7, base_url="http://x")
    b = build_cloud(scale="small", seed=7, base_url="http://x")
    c = build_cloud(scale="small", seed=8, base_url="http://x")
    assert _fingerprint(a) == _fingerprint(b)
    assert _fingerprint(a) != _fingerprint(c)


def test_accounting_is_consistent_across_nova_placement_and_quota():
    cloud = build_cloud(scale="small", seed=3, base_url="http://x")
    for region in cloud.regions.values():
        placed = [s for s in region.servers.values() if s.host]
        assert sum(rp.used.get("VCPU", 0) for rp in region.providers.values()) == \
            sum(s.flavor.vcpus for s in placed)
        for rp in region.providers.values():
            for rc, inv in rp.inventories.items():
                assert rp.used.get(rc, 0) <= inv.capacity()
        # quota in_use counts every server of the project, as Nova does
        for pid, usage in region.usage.items():
            mine = [s for s in region.servers.values() if s.project_id == pid]
            assert usage.instances == len(mine)
            assert usage.cores == sum(s.flavor.vcpus for s in mine)


@pytest.mark.slow
def test_province_scale_shape():
    cloud = build_cloud(scale="province", seed=42, base_url="http://x")
    cores = {name: sum(rp.inventories["VCPU"].total for rp in r.providers.values())
             for name, r in cloud.regions.items()}
    assert 55_000 <= sum(cores.values()) <= 65_000
    assert cores["PROD"] > cores["DR-LOCAL"] > cores["DR-REMOTE"]
    servers = sum(len(r.servers) for r in cloud.regions.values())
    assert 28_000 <= servers <= 32_000
    statuses = {s.status for r in cloud.regions.values() for s in r.servers.values()}
    assert {"ACTIVE", "ERROR", "SHUTOFF"} <= statuses
    assert all(any(not s.is_up for s in r.services.values()) for r in cloud.regions.values())
    ratios = {name: next(iter(r.providers.values())).inventories["VCPU"].allocation_ratio
              for name, r in cloud.regions.items()}
    assert len(set(ratios.values())) > 1  # ratios differ per site
    departments = [p for p in cloud.projects.values() if "department" in p.extra]
    assert len(departments) == 50 + 21


def test_scales_are_known():
    # tenth: the soak (issue 23); cities and cities-small: the city clouds (issue 22)
    assert set(SCALES) == {"small", "tenth", "province", "cities", "cities-small"}
    with pytest.raises(ValueError):
        build_cloud(scale="galaxy", seed=1, base_url="http://x")
