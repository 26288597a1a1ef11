"""The metrics snapshot and collector on a real store (SQLite, and PostgreSQL when
configured): registering does no work, a scrape reuses the held snapshot until the store
changes, a never-synced store exports its sites as stale, and a tampered audit chain shows."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine, text

from govcloud.domain.metrics import FAMILIES
from govcloud.domain.sites import default_sites
from govcloud.services.metrics import MetricsSnapshots, Snapshot, SnapshotBuilder
from govcloud.store.audit import append_committed
from monitors.collector import GovcloudCollector

from .control.metrics_util import parse, select, value


class CountingBuilder(SnapshotBuilder):
    builds = 0

    def build(self) -> Snapshot:
        self.builds += 1
        return super().build()


def builder(engine: Engine, **kwargs: Any) -> CountingBuilder:
    return CountingBuilder(engine=engine, sites=default_sites(), **kwargs)


def scrape(snapshots: MetricsSnapshots) -> str:
    registry = CollectorRegistry()
    registry.register(GovcloudCollector(snapshots.current))
    return generate_latest(registry).decode()


def test_registering_does_no_work_and_describes_every_family(engine: Engine) -> None:
    b = builder(engine)
    collector = GovcloudCollector(MetricsSnapshots(b).current)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    assert b.builds == 0
    assert [m.name for m in collector.describe()] == \
        [f.name.removesuffix("_total") for f in FAMILIES]
    assert b.builds == 0


def test_a_never_synced_store_exports_stale_sites(engine: Engine) -> None:
    series = parse(scrape(MetricsSnapshots(builder(engine))))
    for site in ("PROD", "DR-LOCAL", "DR-REMOTE"):
        assert value(series, "govcloud_site_stale", site=site) == 1
        assert value(series, "govcloud_site_vcpu_capacity", site=site) == 0
        assert not select(series, "govcloud_site_data_age_seconds", site=site)
        assert not select(series, "govcloud_sync_last_success_timestamp_seconds", site=site)
    assert value(series, "govcloud_audit_chain_verified") == 1
    assert value(series, "govcloud_audit_entries_total") == 0


def test_a_scrape_reuses_the_snapshot_until_the_store_changes(engine: Engine) -> None:
    b = builder(engine)
    snapshots = MetricsSnapshots(b)
    scrape(snapshots)
    scrape(snapshots)
    assert b.builds == 1  # the second scrape only checked the fingerprint
    append_committed(engine, actor="admin", action="test", target="site:PROD")
    scrape(snapshots)  # serves the held snapshot, starts a refresh
    deadline = time.monotonic() + 30
    while value(parse(scrape(snapshots)), "govcloud_audit_entries_total") != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert b.builds == 2


def test_a_tampered_audit_chain_is_exported(engine: Engine) -> None:
    for i in range(5):
        append_committed(engine, actor="admin", action="test", target=f"site:{i}")
    b = builder(engine, audit_recheck_s=0.0)
    snapshots = MetricsSnapshots(b)
    series = parse(scrape(snapshots))
    assert value(series, "govcloud_audit_chain_verified") == 1
    assert value(series, "govcloud_audit_entries_total") == 5
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2"))
    snapshots.refresh()
    assert value(parse(scrape(snapshots)), "govcloud_audit_chain_verified") == 0
