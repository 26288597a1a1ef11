"""At province scale (the simulator's 3 sites, ~75 projects, 30,000 servers, synced for real
into SQLite, and 5,000 systems with their DR posture): the number of series ``/metrics``
exports stays bounded by sites × departments × families plus two per system (< 15,000, none
per server, host or copy) and ``promtool check metrics`` is clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from govcloud.cloud.connect import connect
from govcloud.domain.health import REASONS, SERVICES
from govcloud.domain.metrics import COMMON_FLAVORS, FAMILIES, QUOTA_RESOURCES
from govcloud.domain.protection_config import DEFAULT_PROTECTION
from govcloud.services.dr_metrics import max_series
from govcloud.services.dr_posture_held import HeldPostures, PostureBuilder
from govcloud.services.health import Prober
from govcloud.services.inventory import CatalogueCache, departments_of, dr_levels_of
from govcloud.services.metrics import MetricsSnapshots, SnapshotBuilder
from govcloud.services.sync import Syncer
from govcloud.settings import load_settings
from govcloud.sim.server import RunningSimulator, start
from govcloud.store.engine import make_engine, write_begin
from govcloud.store.migrate import upgrade_engine
from monitors.collector import GovcloudCollector
from tests.unit.services.dr_seed import NOW, drill, request

from .control.metrics_util import parse, promtool_check

pytestmark = pytest.mark.slow

TENANTS = Path(__file__).resolve().parents[2] / "tenants"
MAX_SERIES = 15_000
SYSTEMS = 5_000


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
        levels = dr_levels_of(catalogue)
        codes = sorted(levels)
        with write_begin(engine) as conn:  # 5,000 systems, each drilled: the DR worst case
            for n in range(SYSTEMS):
                code = codes[n % len(codes)]
                request(conn, code, f"sys{n:04d}", level=min(5, max(4, levels[code])),
                        servers=1)
                drill(conn, code, f"sys{n:04d}", NOW)
        posture = HeldPostures(PostureBuilder(engine=engine, policy=DEFAULT_PROTECTION,
                                              sites=sites, clock=lambda: NOW, cities=dict))
        snapshots = MetricsSnapshots(SnapshotBuilder(
            engine=engine, sites=sites, dr_levels=lambda: levels, dr_posture=posture))
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
    others = [f for f in FAMILIES if not f.name.startswith("govcloud_dr_")]
    bound = (len(others) * sites * sites  # per site (and site pairs for the what-if)
             + sites * len(REASONS) + sites * len(SERVICES) * 4 + sites * COMMON_FLAVORS
             + departments * sites * (2 * len(QUOTA_RESOURCES) + len(statuses)))
    dr = max_series(systems=SYSTEMS, departments=departments, sites=sites)
    assert len(series) <= bound + dr < MAX_SERIES, (len(series), bound, dr)
    dr_series = [(name, lbls) for (name, lbls) in series if name.startswith("govcloud_dr_")]
    assert len([1 for name, _ in dr_series if name == "govcloud_dr_rpo_seconds"]) == SYSTEMS
    assert SYSTEMS * 2 <= len(dr_series) <= dr
    assert len(series) > 1000  # the province's departments are all there
    per_department = {dict(lbls)["department"] for (name, lbls) in series
                      if name == "govcloud_department_quota_in_use"}
    assert len(per_department) >= departments - 5
    assert not any(k in ("server", "server_id", "host", "hypervisor", "instance", "copy")
                   for _, lbls in series for k, _v in lbls)


def test_promtool_finds_nothing_at_province_scale(province: tuple[str, int]) -> None:
    checked = promtool_check(province[0])
    assert checked.returncode == 0 and not checked.stdout.strip() \
        and not checked.stderr.strip(), checked
