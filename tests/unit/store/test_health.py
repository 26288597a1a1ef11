"""What the probe store keeps between rounds, on an in-memory SQLite: consecutive failures
counted and reset by a success, the last success kept through failures, each site's service
on its own. (Through the probe worker against the simulator: test_probes_sim.py.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine

from govcloud.domain.health import ProbeResult
from govcloud.store.health import probes, record_probes
from govcloud.store.tables_health import ProbeResultRow

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = create_engine("sqlite://")
    ProbeResultRow.__table__.create(eng)  # type: ignore[attr-defined]
    try:
        yield eng
    finally:
        eng.dispose()


def result(up: bool, minute: int, *, site: str = "PROD", service: str = "compute") -> ProbeResult:
    return ProbeResult(site, service, up, 0.05, T0 + dt.timedelta(minutes=minute),
                       status_code=200 if up else 503, error=None if up else "HTTP 503")


def record(engine: Engine, *results: ProbeResult) -> list[ProbeResult]:
    with engine.begin() as conn:
        return record_probes(conn, results)


def test_failures_count_up_and_a_success_resets_them(engine: Engine) -> None:
    assert record(engine, result(True, 0))[0].failures == 0
    assert [record(engine, result(False, m))[0].failures for m in (1, 2, 3)] == [1, 2, 3]
    again = record(engine, result(True, 4))[0]
    assert again.failures == 0 and again.last_ok_at == T0 + dt.timedelta(minutes=4)


def test_the_last_success_is_kept_through_failures(engine: Engine) -> None:
    record(engine, result(True, 0))
    down = record(engine, result(False, 1))[0]
    down = record(engine, result(False, 2))[0]
    assert not down.up and down.last_ok_at == T0
    with engine.connect() as conn:
        (stored,) = probes(conn)
    assert stored == down
    assert stored.checked_at.tzinfo is not None and stored.last_ok_at == T0


def test_a_service_never_seen_up_has_no_last_success(engine: Engine) -> None:
    first = record(engine, result(False, 0))[0]
    assert first.failures == 1 and first.last_ok_at is None


def test_each_site_and_service_keeps_its_own_count(engine: Engine) -> None:
    record(engine, result(False, 0), result(True, 0, service="image"),
           result(True, 0, site="DR-LOCAL"))
    record(engine, result(False, 1), result(False, 1, service="image"),
           result(False, 1, site="DR-LOCAL"))
    with engine.connect() as conn:
        got = {(p.site, p.service): (p.failures, p.last_ok_at) for p in probes(conn)}
    assert got == {("PROD", "compute"): (2, None), ("PROD", "image"): (1, T0),
                   ("DR-LOCAL", "compute"): (1, T0)}


def test_probes_are_listed_by_site_then_service(engine: Engine) -> None:
    record(engine, *(result(True, 0, site=s, service=v)
                     for s in ("PROD", "DR-LOCAL") for v in ("network", "compute")))
    with engine.connect() as conn:
        assert [(p.site, p.service) for p in probes(conn)] == [
            ("DR-LOCAL", "compute"), ("DR-LOCAL", "network"), ("PROD", "compute"),
            ("PROD", "network")]
