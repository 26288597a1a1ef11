"""The openstacksdk adapter against the simulator, started as its own process and reached over
HTTP from a plain clouds.yaml — the same path as a real cloud."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from govcloud.cloud.connect import connect
from govcloud.cloud.summary import placement_resources, server_statuses, site_summary
from govcloud.demo.process import SIM_CLOUD, SimInfo, SimProcess
from govcloud.domain.capacity import VCPU
from govcloud.domain.sites import Site, SiteRole, default_sites
from govcloud.errors import Forbidden, InvalidInput, TemporaryError
from govcloud.services.overview import openstack_reader, read_sites

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimInfo]:
    process = SimProcess(state_dir=tmp_path_factory.mktemp("sim"), scale="small", seed=42)
    with process:
        yield process.wait_ready(timeout=120)


def rewrite_cloud(info: SimInfo, tmp_path: Path, **auth: str) -> Path:
    doc = yaml.safe_load(info.clouds_yaml.read_text())
    doc["clouds"][SIM_CLOUD]["auth"].update(auth)
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_every_site_reads_back_consistently(sim: SimInfo) -> None:
    overview = read_sites(default_sites(), read=openstack_reader(clouds_yaml=sim.clouds_yaml))
    assert [o.site.name for o in overview] == ["PROD", "DR-LOCAL", "DR-REMOTE"]
    for item in overview:
        assert item.error is None, item.error
        s = item.summary
        assert s is not None
        assert s.hypervisors > 0
        # one nova-compute service per hypervisor
        assert s.compute_services_up + s.compute_services_down == s.hypervisors
        for fig in (s.vcpu, s.ram_mb, s.disk_gb):
            assert 0 < fig.used <= fig.capacity
        assert s.servers_in("ACTIVE") > 0
    prod, local, remote = (o.summary for o in overview)
    assert prod and local and remote
    assert prod.vcpu.capacity > local.vcpu.capacity >= remote.vcpu.capacity  # PROD is largest


def test_capacity_comes_from_placement_with_ratios_and_reserved(sim: SimInfo) -> None:
    site = default_sites()[0]
    conn = connect(site, clouds_yaml=sim.clouds_yaml)
    try:
        providers = placement_resources(conn)
        summary = site_summary(conn, site=site.name)
    finally:
        conn.close()
    vcpu = [p.inventories[VCPU] for p in providers if VCPU in p.inventories]
    assert len(vcpu) == summary.hypervisors
    assert summary.vcpu.capacity == sum(
        int((i.total - i.reserved) * i.allocation_ratio) for i in vcpu)
    assert any(i.allocation_ratio > 1 for i in vcpu)  # overcommit is taken into account
    assert summary.vcpu.used == sum(p.usages.get(VCPU, 0) for p in providers)


def test_server_statuses_page_like_the_sdk(sim: SimInfo) -> None:
    """The raw paging sees exactly what openstacksdk's Server listing sees, across pages."""
    conn = connect(default_sites()[0], clouds_yaml=sim.clouds_yaml)
    try:
        via_sdk = sorted(s.status for s in conn.compute.servers(details=True, all_projects=True))
        assert sorted(server_statuses(conn, page=7)) == via_sdk
        assert sorted(server_statuses(conn)) == via_sdk
    finally:
        conn.close()
    assert len(via_sdk) > 7
    assert "ACTIVE" in via_sdk


def test_wrong_password_is_forbidden(sim: SimInfo, tmp_path: Path) -> None:
    clouds = rewrite_cloud(sim, tmp_path, password="wrong")
    conn = connect(default_sites()[0], clouds_yaml=clouds)
    with pytest.raises(Forbidden) as info:
        site_summary(conn, site="PROD")
    assert info.value.message.startswith("site PROD")


def test_unreachable_cloud_is_temporary(sim: SimInfo, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clouds = rewrite_cloud(sim, tmp_path, auth_url=f"http://127.0.0.1:{port}/identity/v3")
    conn = connect(default_sites()[0], clouds_yaml=clouds)
    with pytest.raises(TemporaryError) as info:
        site_summary(conn, site="PROD")
    assert info.value.retryable


def test_unknown_cloud_or_file_is_invalid_input(sim: SimInfo, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not found"):
        connect(Site("X", "no-such-cloud", "PROD", SiteRole.CITY), clouds_yaml=sim.clouds_yaml)
    with pytest.raises(InvalidInput, match="clouds.yaml not found"):
        connect(default_sites()[0], clouds_yaml=tmp_path / "missing.yaml")


def test_threads_sharing_a_connection_reuse_its_pool(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Sync and apply fan out over threads sharing one connection: urllib3 must not discard
    connections ("Connection pool is full") as it did with requests' default pool of 10."""
    import logging
    from concurrent.futures import ThreadPoolExecutor

    from govcloud.domain.sites import default_sites
    from govcloud.sim.server import start

    clouds = tmp_path / "clouds.yaml"
    running = start(scale="small", seed=1, clouds_yaml=clouds)
    try:
        conn = connect(default_sites()[0], clouds_yaml=clouds)
        with caplog.at_level(logging.WARNING, logger="urllib3"), \
                ThreadPoolExecutor(24) as pool:
            codes = list(pool.map(lambda _: conn.compute.get("/flavors/detail").status_code,
                                  range(300)))
        assert codes == [200] * 300
        assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
    finally:
        running.stop()
