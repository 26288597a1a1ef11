"""The custom Prometheus collector: formats the control plane's metrics snapshot.

``collect()`` reads the snapshot held in memory (see ``govcloud.services.metrics``) and only
adds what depends on the time of the scrape (data age) and on the collector itself (build
info, the previous scrape's duration). ``describe()`` returns the families from their static
specs, so registering the collector does no work (prometheus_client calls ``describe`` at
registration, or ``collect`` when there is none).
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from govcloud import __version__
from govcloud.domain.metrics import FAMILIES, FamilySpec
from govcloud.services.metrics import Snapshot


def _family(spec: FamilySpec) -> GaugeMetricFamily | CounterMetricFamily:
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)


class GovcloudCollector(Collector):
    """``snapshot`` returns the snapshot to serve (``MetricsSnapshots.current``)."""

    def __init__(self, snapshot: Callable[[], Snapshot],
                 clock: Callable[[], float] = time.time) -> None:
        self._snapshot = snapshot
        self._clock = clock
        self._lock = threading.Lock()
        self.last_duration_s = 0.0

    def describe(self) -> Iterable[Metric]:
        return [_family(spec) for spec in FAMILIES]

    def collect(self) -> Iterable[Metric]:
        t0 = time.perf_counter()
        snap = self._snapshot()
        now = self._clock()
        out: list[Metric] = []
        for spec in FAMILIES:
            family = _family(spec)
            if spec.name == "govcloud_site_data_age_seconds":
                for site, at in snap.last_success.items():
                    if at is not None:
                        family.add_metric((site,), max(0.0, now - at))
            elif spec.name == "govcloud_build_info":
                family.add_metric((__version__, platform.python_version()), 1)
            elif spec.name == "govcloud_snapshot_timestamp_seconds":
                family.add_metric((), snap.built_at)
            elif spec.name == "govcloud_snapshot_build_duration_seconds":
                family.add_metric((), snap.build_s)
            elif spec.name == "govcloud_scrape_duration_seconds":
                family.add_metric((), self.last_duration_s)
            else:
                for labels, value in snap.families.get(spec.name, ()):
                    family.add_metric(labels, value)
            out.append(family)
        with self._lock:
            self.last_duration_s = time.perf_counter() - t0
        return out
