"""Pure parts of health and metrics: failure reasons from error messages (the fixed label
set), a probe's state, and the probe alerts added to ``GET /status``."""

from __future__ import annotations

import datetime as dt

import pytest

from govcloud.domain.health import REASONS, SLOW_PROBE_S, ProbeResult, failure_reason
from govcloud.domain.metrics import BY_NAME, FAMILIES
from govcloud.services.health import annotate_status

NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("error", "reason"), [
    (None, None),
    ("", None),
    ("site PROD: listing servers: the request timed out", "timeout"),
    ("site PROD: cannot connect: Unable to establish connection to http://x", "unreachable"),
    ("site PROD: HTTP 401: The request you have made requires authentication.", "auth"),
    ("(sqlite3.OperationalError) database is locked", "database"),
    ("site PROD: HTTP 503: Service Unavailable", "api_error"),
    ("KeyError: 'hypervisors'", "other"),
])
def test_failure_reasons_come_from_a_fixed_set(error: str | None, reason: str | None) -> None:
    assert failure_reason(error) == reason
    assert reason is None or reason in REASONS


def test_a_probe_is_slow_only_when_up_and_over_the_threshold() -> None:
    fast = ProbeResult("PROD", "compute", True, 0.01, NOW)
    slow = ProbeResult("PROD", "compute", True, SLOW_PROBE_S + 0.1, NOW)
    down = ProbeResult("PROD", "compute", False, SLOW_PROBE_S + 3, NOW, error="timed out")
    assert (fast.slow, slow.slow, down.slow) == (False, True, False)
    assert (fast.reason, down.reason) == (None, "timeout")
    assert down.to_dict()["reason"] == "timeout" and down.to_dict()["up"] is False
    # a failed answer without an error text still has a reason
    assert ProbeResult("PROD", "image", False, 0.1, NOW, status_code=500).reason == "api_error"


def test_probe_alerts_are_added_to_the_status() -> None:
    status = {"sites": [{"site": "PROD"}, {"site": "DR-LOCAL"}, {"site": "DR-REMOTE"}],
              "alerts": [{"site": "PROD", "severity": "info", "message": "existing"}]}
    report = {"sites": [
        {"site": "PROD", "state": "up", "services": [{"service": "compute", "state": "up"}]},
        {"site": "DR-LOCAL", "state": "down", "services": [
            {"service": "compute", "state": "down", "failures": 3, "error": "HTTP 503"},
            {"service": "image", "state": "up"}]},
        {"site": "DR-REMOTE", "state": "slow", "services": [
            {"service": "identity", "state": "slow", "latency_s": 2.5}]}]}
    out = annotate_status(status, report)
    assert [s["probes"] for s in out["sites"]] == ["up", "down", "slow"]
    assert [(a["site"], a["severity"]) for a in out["alerts"]] == [
        ("PROD", "info"), ("DR-LOCAL", "critical"), ("DR-REMOTE", "warning")]
    assert out["alerts"][1]["message"] == "DR-LOCAL compute API down (3 probes): HTTP 503"
    assert out["alerts"][2]["message"] == "DR-REMOTE identity API slow (2.50 s)"


def test_family_specs_follow_the_conventions() -> None:
    names = [f.name for f in FAMILIES]
    assert len(names) == len(set(names)) == len(BY_NAME)
    for f in FAMILIES:
        assert f.name.startswith("govcloud_") and f.help
        assert f.kind in ("gauge", "counter")
        assert (f.kind == "counter") == f.name.endswith("_total"), f.name
        assert not f.name.endswith(("_mb", "_gb", "_ms", "_minutes")), f.name
        assert not {"server", "server_id", "host", "hypervisor", "instance"} & set(f.labels)
