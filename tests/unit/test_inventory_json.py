"""Turning raw compute/placement JSON into inventory domain types."""

from __future__ import annotations

import datetime as dt

from govcloud.cloud.inventory import _version
from govcloud.cloud.listings import (
    hypervisor_from_json,
    inventories_from_json,
    parse_time,
    quota_from_json,
    server_from_json,
    service_from_json,
    tombstone_from_json,
)
from govcloud.domain.capacity import Resources
from govcloud.domain.inventory import HostState, HostStatus, ProviderInfo

SERVER = {
    "id": "s1", "name": "web-1", "status": "active", "tenant_id": "p1", "user_id": "u1",
    "metadata": {"department": "gd-psd"}, "image": "",  # boot from volume
    "flavor": {"vcpus": 4, "ram": 8192, "disk": 100, "ephemeral": 10, "swap": "",
               "original_name": "gc.c4m8"},
    "created": "2026-01-02T03:04:05Z", "updated": "2026-01-03T00:00:00Z",
    "addresses": {"prod-net": [{"addr": "10.0.0.5", "version": 4},
                               {"addr": "fd00::5", "version": 6}]},
    "OS-EXT-SRV-ATTR:host": "cmp-1", "OS-EXT-AZ:availability_zone": "nova",
    "tags": ["dept:gd-psd"],
}


def test_server_from_json() -> None:
    s = server_from_json(SERVER)
    assert (s.id, s.name, s.status, s.project_id, s.host) == ("s1", "web-1", "ACTIVE", "p1",
                                                                "cmp-1")
    assert (s.vcpus, s.ram_mb, s.disk_gb, s.ephemeral_gb, s.swap_mb) == (4, 8192, 100, 10, 0)
    assert s.flavor_name == "gc.c4m8"
    assert s.boot_from_volume and s.image_id is None
    assert s.resources() == Resources(4, 8192, 10)  # the root disk is a volume
    assert s.created == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert s.addresses == {"prod-net": ("10.0.0.5", "fd00::5")}
    assert s.tags == ("dept:gd-psd",) and s.metadata == {"department": "gd-psd"}


def test_unplaced_server_holds_nothing() -> None:
    s = server_from_json({**SERVER, "OS-EXT-SRV-ATTR:host": None, "status": "ERROR",
                          "image": {"id": "img"}})
    assert not s.placed and s.resources() == Resources()
    assert s.image_id == "img"


def test_tombstone() -> None:
    t = tombstone_from_json({"id": "s9", "tenant_id": "p1", "status": "DELETED",
                             "updated": "2026-02-01T00:00:00Z",
                             "OS-SRV-USG:terminated_at": "2026-02-01T00:00:01.000000"})
    assert t.id == "s9" and t.project_id == "p1"
    assert t.deleted_at == dt.datetime(2026, 2, 1, 0, 0, 1, tzinfo=dt.UTC)


def test_service_and_hypervisor_join() -> None:
    svc = service_from_json({"id": "v1", "binary": "nova-compute", "host": "cmp-1",
                             "zone": "az1", "state": "down", "status": "disabled",
                             "forced_down": False, "disabled_reason": "firmware",
                             "updated_at": "2026-01-01T00:00:00.000000"})
    assert svc.state is HostState.DOWN and svc.status is HostStatus.DISABLED
    assert svc.is_compute and not svc.up
    provider = ProviderInfo(uuid="h1", name="cmp-1", inventories=inventories_from_json(
        {"inventories": {"VCPU": {"total": 32, "reserved": 0, "min_unit": 1, "max_unit": 16,
                                  "step_size": 1, "allocation_ratio": 4.0}}}),
        usages={"VCPU": 10})
    raw = {"id": "h1", "hypervisor_hostname": "cmp-1", "state": "up", "status": "enabled",
           "service": {"host": "cmp-1", "id": "v1", "disabled_reason": None},
           "servers": [{"uuid": "a"}, {"uuid": "b"}]}
    hv = hypervisor_from_json(raw, zones={"cmp-1": "az1"}, providers={"h1": provider})
    assert hv.schedulable and hv.availability_zone == "az1" and hv.running_servers == 2
    assert hv.inventories["VCPU"].capacity == 128 and hv.inventories["VCPU"].max_unit == 16
    assert hv.usages == {"VCPU": 10} and hv.provider_uuid == "h1"
    # matched by name when the ids differ; no provider at all leaves empty figures
    by_name = hypervisor_from_json({**raw, "id": "other"}, zones={},
                                   providers={"cmp-1": provider})
    assert by_name.provider_uuid == "h1" and by_name.availability_zone is None
    bare = hypervisor_from_json({**raw, "id": "x", "hypervisor_hostname": "y"}, zones={},
                                providers={})
    assert bare.inventories == {} and bare.provider_uuid is None


def test_quota_detail() -> None:
    q = quota_from_json("p1", {"quota_set": {
        "id": "p1", "cores": {"limit": 80, "in_use": 32, "reserved": 0},
        "ram": {"limit": -1, "in_use": 4096, "reserved": 0}}})
    assert q.cores is not None and q.cores.remaining == 48
    assert q.ram_mb is not None and q.ram_mb.unlimited and q.ram_mb.remaining is None
    assert q.instances is None


def test_versions_and_times() -> None:
    assert _version("2.96") == (2, 96) and _version((1, 39)) == (1, 39)
    assert _version(None) is None and _version("x.y") is None
    assert (_version("2.60") or (0, 0)) >= (2, 53)
    assert parse_time("2026-01-01T00:00:00") == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert parse_time("garbage") is None and parse_time(None) is None
