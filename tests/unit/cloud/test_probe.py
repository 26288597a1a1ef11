"""What a region API probe decides, against a fake connection: which answer counts as up, what
a failure reports, that it never raises, and which request each service gets. (Over HTTP
against the simulator: tests/integration/test_probes_sim.py.)"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from keystoneauth1 import exceptions as ksa_exc

from govcloud.cloud.probe import PROBES, probe_service, probe_site
from govcloud.domain.health import SERVICES

AT = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


@dataclass
class Response:
    status_code: int
    text: str = ""


@dataclass
class Proxy:
    answer: Response | Exception
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def get(self, path: str, **kwargs: Any) -> Response:
        self.calls.append((path, kwargs))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Conn:
    """An openstacksdk Connection with one proxy per service, each giving ``answer``."""

    def __init__(self, answer: Response | Exception) -> None:
        for attr, _path in PROBES.values():
            setattr(self, attr, Proxy(answer))


def probe(answer: Response | Exception, service: str = "compute") -> Any:
    return probe_service(Conn(answer), "PROD", service, timeout_s=2.5, clock=lambda: AT)


@pytest.mark.parametrize("status", [200, 204, 299])
def test_a_2xx_answer_is_up(status: int) -> None:
    result = probe(Response(status, "whatever"))
    assert result.up and result.status_code == status and result.error is None
    assert result.site == "PROD" and result.service == "compute" and result.checked_at == AT
    assert result.latency_s >= 0


@pytest.mark.parametrize("status", [300, 401, 404, 500, 503])
def test_any_other_status_is_down_with_the_status_and_the_start_of_the_body(status: int) -> None:
    result = probe(Response(status, "  Service\n\n Unavailable  " + "x" * 500))
    assert not result.up and result.status_code == status
    assert result.error is not None
    assert result.error.startswith(f"HTTP {status}: Service Unavailable x")
    assert len(result.error) == len(f"HTTP {status}: ") + 200


def test_an_empty_error_body_says_only_the_status() -> None:
    assert probe(Response(502, " \n")).error == "HTTP 502"


def test_a_probe_never_raises_it_reports() -> None:
    result = probe(ksa_exc.ConnectTimeout("timed out"), service="image")
    assert not result.up and result.status_code is None
    assert result.error is not None and "site PROD image" in result.error
    assert "timed out" in result.error
    broken = probe(RuntimeError("proxy exploded"))
    assert not broken.up and "proxy exploded" in (broken.error or "")


def test_the_probe_is_short_and_never_retried() -> None:
    conn = Conn(Response(200))
    probe_service(conn, "PROD", "volume", timeout_s=2.5, clock=lambda: AT)
    (path, kwargs), = conn.block_storage.calls  # type: ignore[attr-defined]
    assert path == "/types"
    assert kwargs == {"raise_exc": False, "timeout": 2.5, "connect_retries": 0,
                      "retriable_status_codes": []}


def test_a_site_probe_asks_every_service_once_in_order() -> None:
    conn = Conn(Response(200))
    results = probe_site(conn, "DR-LOCAL", clock=lambda: AT)
    assert [r.service for r in results] == list(SERVICES)
    assert all(r.up and r.site == "DR-LOCAL" for r in results)
    for attr, path in PROBES.values():
        assert [c[0] for c in getattr(conn, attr).calls] == [path]
