"""Reading ``/metrics`` in tests: fetch, parse into {(name, labels): value}, promtool."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]

# the test planes' bearer token of /metrics (conftest's ``running_plane`` sets it)
METRICS_TOKEN = "test-metrics-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def scrape(url: str, **kwargs: Any) -> str:
    """``url``'s /metrics, with the test planes' token unless ``headers`` or ``auth`` say
    otherwise."""
    if "headers" not in kwargs and "auth" not in kwargs:
        kwargs["headers"] = BEARER
    resp = httpx.get(f"{url.rstrip('/')}/metrics", timeout=30, **kwargs)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return resp.text


def parse(text: str) -> Series:
    out: Series = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(series: Series, name: str, **labels: str) -> float:
    return series[(name, frozenset(labels.items()))]


def select(series: Series, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    """Samples of ``name`` whose labels include ``labels``: [(labels, value)]."""
    want = set(labels.items())
    return [(dict(lbls), v) for (n, lbls), v in series.items()
            if n == name and want <= lbls]


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing (make test installs the prometheus package)"
    return subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=60, check=False)
