"""The custom Prometheus collector: formats the control plane's metrics snapshot.

``collect()`` reads the snapshot held in memory (see ``govcloud.services.metrics``) and only
adds what depends on the time of the scrape (data age, the DR copies' current RPO) and on the
collector itself (the previous scrape's duration). ``describe()`` returns the families from
their static specs, so registering the collector does no work (prometheus_client calls
``describe`` at registration, or ``collect`` when there is none).

:class:`Exposition` is what ``/metrics`` serves: the text of the families that only change
with the snapshot is rendered once per snapshot and kept; each scrape renders only the few
time-dependent families and appends them.
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from govcloud import __version__
from govcloud.domain.metrics import FAMILIES, FamilySpec
from govcloud.services.dr_metrics import rpo_seconds
from govcloud.services.metrics import Snapshot

# Families whose values depend on the moment of the scrape, not only on the snapshot.
PER_SCRAPE = frozenset({"govcloud_site_data_age_seconds", "govcloud_scrape_duration_seconds",
                        "govcloud_dr_rpo_seconds"})


def _family(spec: FamilySpec) -> GaugeMetricFamily | CounterMetricFamily:
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)


class _Fixed(Collector):
    def __init__(self, metrics: Sequence[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


class GovcloudCollector(Collector):
    """``snapshot`` returns the snapshot to serve (``MetricsSnapshots.current``)."""

    def __init__(self, snapshot: Callable[[], Snapshot],
                 clock: Callable[[], float] = time.time) -> None:
        self.snapshot = snapshot
        self._clock = clock
        self.last_duration_s = 0.0

    def describe(self) -> Iterable[Metric]:
        return [_family(spec) for spec in FAMILIES]

    def families(self, snap: Snapshot, *, per_scrape: bool | None = None) -> list[Metric]:
        """The families of ``snap`` (only the per-scrape ones, only the others, or all)."""
        now = self._clock()
        out: list[Metric] = []
        for spec in FAMILIES:
            if per_scrape is not None and (spec.name in PER_SCRAPE) != per_scrape:
                continue
            family = _family(spec)
            if spec.name == "govcloud_site_data_age_seconds":
                for site, at in snap.last_success.items():
                    if at is not None:
                        family.add_metric((site,), max(0.0, now - at))
            elif spec.name == "govcloud_dr_rpo_seconds":
                for labels, point in snap.dr_points:
                    family.add_metric(labels, rpo_seconds(point, now))
            elif spec.name == "govcloud_scrape_duration_seconds":
                family.add_metric((), self.last_duration_s)
            elif spec.name == "govcloud_build_info":
                family.add_metric((__version__, platform.python_version()), 1)
            elif spec.name == "govcloud_snapshot_timestamp_seconds":
                family.add_metric((), snap.built_at)
            elif spec.name == "govcloud_snapshot_build_duration_seconds":
                family.add_metric((), snap.build_s)
            else:
                for labels, value in snap.families.get(spec.name, ()):
                    family.add_metric(labels, value)
            out.append(family)
        return out

    def collect(self) -> Iterable[Metric]:
        t0 = time.perf_counter()
        out = self.families(self.snapshot())
        self.last_duration_s = time.perf_counter() - t0
        return out


class Exposition:
    """The text ``/metrics`` serves, from ``collector``'s snapshot: the snapshot's families
    rendered once per snapshot, the per-scrape ones at every scrape. One scrape at a time."""

    def __init__(self, collector: GovcloudCollector) -> None:
        self.collector = collector
        self._lock = threading.Lock()
        self._for: Snapshot | None = None
        self._text = b""
        self._prepared: tuple[Snapshot, bytes] | None = None

    def _fixed(self, snap: Snapshot) -> None:
        if snap is self._for:
            return
        prepared = self._prepared
        if prepared is not None and prepared[0] is snap:
            self._text = prepared[1]
        else:
            self._text = generate_latest(
                _Fixed(self.collector.families(snap, per_scrape=False)))
        self._for, self._prepared = snap, None

    def prepare(self, snap: Snapshot) -> None:
        """Render ``snap``'s families now, before it is served (a snapshot the worker
        process sent, rendered on the thread that received it, before it is held): the
        scrapes meanwhile serve the one before, without waiting."""
        text = generate_latest(_Fixed(self.collector.families(snap, per_scrape=False)))
        with self._lock:
            self._prepared = (snap, text)

    def render(self) -> bytes:
        with self._lock:
            t0 = time.perf_counter()
            snap = self.collector.snapshot()
            self._fixed(snap)
            body = self._text + generate_latest(
                _Fixed(self.collector.families(snap, per_scrape=True)))
            self.collector.last_duration_s = time.perf_counter() - t0
            return body
