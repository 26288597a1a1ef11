"""The host-maintenance adapter (``govcloud.cloud.hosts``) against the simulator over HTTP,
with the real openstacksdk: compute hosts read, disabled and enabled; the servers on a host;
Nova's own words when it refuses a move; a migration Nova accepted and then failed named from
its migration record."""

from __future__ import annotations

from pathlib import Path

import pytest

from govcloud.cloud import hosts as cloud
from govcloud.cloud.connect import connect
from govcloud.domain.sites import default_sites
from govcloud.errors import NotFound
from govcloud.sim.server import RunningSimulator
from tests.integration.control.host_helpers import sim_conn, wait_status

PROD = default_sites()[0]


def test_hosts_read_disable_enable_and_list_servers(
        sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim
    region = running.sim.cloud.regions["PROD"]
    conn = connect(PROD, clouds_yaml=clouds)
    hosts = {h.host: h for h in cloud.compute_hosts(conn, "PROD")}
    assert set(hosts) == set(region.hv_by_host)
    down = next(h for h in region.hypervisors.values() if not h.service.is_up)
    assert not hosts[down.hostname].up and not hosts[down.hostname].schedulable
    one = cloud.get_compute_host(conn, "PROD", "prod-cmp-0002")
    assert (one.enabled, one.availability_zone, one.hypervisor) == (True, "nova",
                                                                    "prod-cmp-0002")
    with pytest.raises(NotFound, match="no compute host 'nope'"):
        cloud.get_compute_host(conn, "PROD", "nope")
    cloud.disable_compute(conn, "PROD", one, "govcloud drain 9")
    svc = region.hv_by_host["prod-cmp-0002"].service
    assert (svc.status, svc.disabled_reason) == ("disabled", "govcloud drain 9")
    again = cloud.get_compute_host(conn, "PROD", "prod-cmp-0002")
    assert not again.enabled and again.disabled_reason == "govcloud drain 9"
    cloud.enable_compute(conn, "PROD", again)
    assert (svc.status, svc.disabled_reason) == ("enabled", None)
    on = cloud.servers_on(conn, "PROD", "prod-cmp-0002")
    assert {s.id for s in on} == region.hv_by_host["prod-cmp-0002"].servers
    s = on[0]
    flavor = region.servers[s.id].flavor
    assert (s.need.vcpu, s.need.ram_mb) == (flavor.vcpus, flavor.ram)


def test_novas_refusal_and_a_failed_migration_are_named(
        sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim
    region = running.sim.cloud.regions["PROD"]
    conn = connect(PROD, clouds_yaml=clouds)
    stuck = next(s for s in region.servers.values()
                 if s.status == "ACTIVE" and not region.hv_by_host[s.host].service.is_up)
    with pytest.raises(cloud.MoveRefused) as refused:
        cloud.live_migrate(conn, "PROD", stuck.id, "prod-cmp-0002")
    assert refused.value.message == (
        f"Compute service of {stuck.host} is unavailable at this time.")
    assert cloud.migration_error(conn, "PROD", stuck.id) is None  # none was made
    # from 2.34 Nova accepts, and the migration fails: its record says so
    admin = sim_conn(clouds)
    answer = admin.compute.post(f"/servers/{stuck.id}/action", microversion="2.96",
                                json={"os-migrateLive": {"host": None,
                                                         "block_migration": "auto"}})
    assert answer.status_code == 202
    wait_status(admin, stuck.id, "ACTIVE")
    assert cloud.migration_error(conn, "PROD", stuck.id) == (
        "Nova's live-migration to a new host ended in status error")
