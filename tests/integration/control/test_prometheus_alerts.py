"""A real Prometheus (Debian's package) posts its alerts to a running control plane as to an
Alertmanager (``alerting.alertmanagers`` with ``path_prefix: /api/v1/alerts/prometheus`` and
a bearer token, as docs/reports.md shows): a rule that fires at once becomes an open episode,
a rule that stops firing a few seconds later an ended one, and the scorecard counts them.
With a token that may not record alerts nothing is kept."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from govcloud.children import tied_to_parent
from govcloud.domain.metering import Month
from govcloud.store.tables import metadata
from tests.served import free_port

from .conftest import Plane

pytestmark = pytest.mark.slow

PREFIX = "/api/v1/alerts/prometheus"


def wait(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} not seen in {timeout} s"
        time.sleep(0.25)


def send_errors(prom: httpx.Client) -> tuple[float, float]:
    """Prometheus' own count of the alerts it sent and of its failed sends (its /metrics)."""
    sent = errors = 0.0
    for line in prom.get("/metrics").text.splitlines():
        name = line.split("{")[0].split(" ")[0]
        if name == "prometheus_notifications_sent_total":
            sent += float(line.rsplit(" ", 1)[1])
        elif name == "prometheus_notifications_errors_total":
            errors += float(line.rsplit(" ", 1)[1])
    return sent, errors


def episodes(plane: Plane, alertname: str) -> list[Any]:
    tbl = metadata.tables["alert_episode"]
    with plane.engine.connect() as conn:
        return list(conn.execute(select(tbl).where(tbl.c.alertname == alertname)))


@contextmanager
def prometheus(plane: Plane, root: Path, token: str, rules: list[dict[str, Any]]
               ) -> Iterator[httpx.Client]:
    exe = shutil.which("prometheus")
    assert exe, "prometheus is missing (make test installs the Debian package)"
    (root / "rules.yml").write_text(yaml.safe_dump({"groups": [
        {"name": "probe", "interval": "1s", "rules": rules}]}))
    secret = root / "govcloud-alerts.token"
    secret.write_text(token + "\n")
    secret.chmod(0o600)
    config = {"global": {"evaluation_interval": "1s"},
              "rule_files": [str(root / "rules.yml")],
              "alerting": {"alertmanagers": [{
                  "api_version": "v2", "scheme": "http", "path_prefix": PREFIX,
                  "authorization": {"type": "Bearer", "credentials_file": str(secret)},
                  "static_configs": [{"targets": [plane.url.removeprefix("http://")]}]}]}}
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (root / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            tied_to_parent([exe, f"--config.file={root / 'prometheus.yml'}",
                            f"--storage.tsdb.path={root / 'data'}",
                            # resend at once: alerts fired before govcloud was discovered
                            # as the Alertmanager are dropped, and sent again only then
                            "--rules.alert.resend-delay=1s",
                            f"--web.listen-address=127.0.0.1:{port}"]),
            stdout=log, stderr=subprocess.STDOUT)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        try:
            def ready() -> bool:
                assert proc.poll() is None, (root / "prometheus.log").read_text()
                try:
                    return http.get("/-/ready").status_code == 200
                except httpx.HTTPError:
                    return False

            wait("Prometheus ready", ready)
            yield http
        finally:
            http.close()
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_prometheus_alerts_become_episodes(plane: Plane,
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    token = plane.add_principal("prometheus-alerts", "operator")
    bound = int(time.time()) + 15  # fires for some seconds, then resolves
    rules = [{"alert": "ProbeAlwaysFiring", "expr": "vector(1)", "for": "0s",
              "labels": {"severity": "info", "department": "gd-psd", "site": "PROD"},
              "annotations": {"summary": "fires at once"}},
             {"alert": "ProbeBriefly", "expr": f"vector(time()) < {bound}", "for": "0s",
              "labels": {"severity": "warning", "site": "DR-LOCAL"},
              "annotations": {"summary": "fires, then resolves"}}]
    root = tmp_path_factory.mktemp("prometheus-alerts")
    with prometheus(plane, root, token, rules) as prom:
        wait("the firing episode", lambda: len(episodes(plane, "ProbeAlwaysFiring")) == 1)
        wait("the brief one ended", lambda: [r.ended_at is not None
                                             for r in episodes(plane, "ProbeBriefly")] == [True])
        (firing,) = episodes(plane, "ProbeAlwaysFiring")
        assert firing.ended_at is None and firing.source == "prometheus"
        assert (firing.department, firing.site, firing.severity) == ("gd-psd", "PROD", "info")
        assert firing.summary == "fires at once" and firing.recorded_by == "prometheus-alerts"
        # Prometheus' notifier counts no failed sends to govcloud
        sent, errors = send_errors(prom)
        assert sent >= 2 and errors == 0
    (brief,) = episodes(plane, "ProbeBriefly")
    assert brief.ended_at > brief.started_at
    card = plane.admin.scorecard(str(Month.of(plane.clock())))
    figures = {f.name: f for f in card.figures}
    assert figures["ProbeAlwaysFiring fired"].value == "1"
    assert "1 firing now" in figures["ProbeAlwaysFiring fired"].detail
    assert figures["ProbeBriefly fired"].met is False


def test_a_token_without_alert_record_keeps_nothing(plane: Plane,
                                                    tmp_path_factory: pytest.TempPathFactory
                                                    ) -> None:
    token = plane.add_principal("not-alerting", "bureau-auditor")
    rules = [{"alert": "ProbeRefused", "expr": "vector(1)", "for": "0s"}]
    root = tmp_path_factory.mktemp("prometheus-refused")
    with prometheus(plane, root, token, rules) as prom:
        wait("Prometheus failing to send", lambda: send_errors(prom)[1] > 0)
    assert episodes(plane, "ProbeRefused") == []
