"""The example configurations that point the operator's alerting at govcloud
(monitors/alertmanager.yml, the commented alerting block of monitors/prometheus.yml) name the
API's receivers as they are served, ask for a bearer token from a file and send resolutions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from govcloud.api.reference import current_openapi

MONITORS = Path(__file__).resolve().parents[2] / "monitors"


def test_the_alertmanager_example_sends_every_alert_to_govcloud() -> None:
    config: dict[str, Any] = yaml.safe_load((MONITORS / "alertmanager.yml").read_text())
    (receiver,) = [r for r in config["receivers"] if r["name"] == "govcloud"]
    (hook,) = receiver["webhook_configs"]
    path = "/api/v1" + hook["url"].split("/api/v1", 1)[1]
    assert "post" in current_openapi()["paths"][path]
    assert hook["send_resolved"] is True and hook["max_alerts"] <= 1000
    assert hook["http_config"]["authorization"]["type"] == "Bearer"
    assert hook["http_config"]["authorization"]["credentials_file"].startswith("/etc/")
    (route,) = [r for r in config["route"]["routes"] if r["receiver"] == "govcloud"]
    assert route["continue"] is True  # the people on call still get every alert


def test_the_prometheus_example_can_post_to_govcloud_itself() -> None:
    text = (MONITORS / "prometheus.yml").read_text()
    block = "\n".join(line.removeprefix("# ") for line in text.splitlines()
                      if line.startswith(("# alerting:", "#   ")))
    config: dict[str, Any] = yaml.safe_load(block)
    direct = [a for a in config["alerting"]["alertmanagers"] if "path_prefix" in a]
    (entry,) = direct
    assert entry["api_version"] == "v2"
    assert "post" in current_openapi()["paths"][entry["path_prefix"] + "/api/v2/alerts"]
    assert entry["authorization"]["type"] == "Bearer"
