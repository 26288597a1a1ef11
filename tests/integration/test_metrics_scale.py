"""At province scale (the simulator's 3 sites, ~75 projects, 30,000 servers, synced for real
into SQLite): the number of series ``/metrics`` exports stays bounded by sites × departments
× families (< 15,000, none per server or host) and ``promtool check metrics`` is clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from govcloud.cloud.connect import connect
from govcloud.domain.health import REASONS, SERVICES
from govcloud.domain.metrics import COMMON_FLAVORS, FAMILIES, QUOTA_RESOURCES
from govcloud.services.health import Prober
from govcloud.services.inventory import CatalogueCache, departments_of, dr_levels_of
from govcloud.services.metrics import MetricsSnapshots, SnapshotBuilder
from govcloud.services.sync import Syncer
from govcloud.settings import load_settings
from govcloud.sim.server import RunningSimulator, start
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from monitors.collector import GovcloudCollector

from .control.metrics_util import parse, promtool_check

pytestmark = pytest.mark.slow

TENANTS = Path(__file__).resolve().parents[2] / "tenants"
MAX_SERIES = 15_000


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    root = tmp_path_factory.mktemp("province")
    clouds = root / "clouds.yaml"
    sim: RunningSimulator = start(scale="province", seed=7, clouds_yaml=clouds,
                                  freeze_gc=True)
    engine = make_engine(f"sqlite:///{root / 'govcloud.db'}")
    try:
        upgrade_engine(engine)
        settings = load_settings(clouds_yaml=clouds, database_url="sqlite://")
        sites = settings.site_list()
        catalogue = CatalogueCache(TENANTS, [s.name for s in sites])
        conns = {s.name: connect(s, clouds_yaml=clouds) for s in sites}
        report = Syncer(engine=engine, sites=sites, connections=lambda: conns,
                        departments=lambda: departments_of(catalogue)).sync(full=True)
        assert report.ok, report.to_dict()
        Prober(engine=engine, sites=sites,
               connect=lambda s: connect(s, clouds_yaml=clouds)).run()
        snapshots = MetricsSnapshots(SnapshotBuilder(
            engine=engine, sites=sites, dr_levels=lambda: dr_levels_of(catalogue)))
        registry = CollectorRegistry()
        registry.register(GovcloudCollector(snapshots.current))
        departments = len(departments_of(catalogue))
        yield generate_latest(registry).decode(), departments
    finally:
        engine.dispose()
        sim.stop()


def test_series_are_bounded_by_sites_departments_and_families(
        province: tuple[str, int]) -> None:
    text, departments = province
    series = parse(text)
    sites = 3
    statuses = {dict(lbls)["status"] for (name, lbls) in series
                if name == "govcloud_department_servers"}
    bound = (len(FAMILIES) * sites * sites  # per site (and site pairs for the what-if)
             + sites * len(REASONS) + sites * len(SERVICES) * 4 + sites * COMMON_FLAVORS
             + departments * sites * (2 * len(QUOTA_RESOURCES) + len(statuses)))
    assert len(series) <= bound < MAX_SERIES, (len(series), bound)
    assert len(series) > 1000  # the province's departments are all there
    per_department = {dict(lbls)["department"] for (name, lbls) in series
                      if name == "govcloud_department_quota_in_use"}
    assert len(per_department) >= departments - 5
    assert not any(k in ("server", "server_id", "host", "hypervisor", "instance")
                   for _, lbls in series for k, _v in lbls)


def test_promtool_finds_nothing_at_province_scale(province: tuple[str, int]) -> None:
    checked = promtool_check(province[0])
    assert checked.returncode == 0 and not checked.stdout.strip() \
        and not checked.stderr.strip(), checked
