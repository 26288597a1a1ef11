"""Monthly statements from a real store (SQLite, and PostgreSQL when
GOVCLOUD_TEST_DATABASE_URL is set): the figures of a small scenario against a hand
calculation (statements_seed.py), gaps on the statement, role scoping, closing a month
(frozen, sealed in the audit chain, served frozen, a differing rebuild refused and audited,
all or nothing — an exception or a kill -9 mid-close leaves nothing)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from govcloud.domain.audit import AuditEntry
from govcloud.domain.rbac import Principal, Role
from govcloud.domain.statements import MonthClosed
from govcloud.errors import ConflictError, Forbidden, InvalidInput, NotFound
from govcloud.services import statements as service
from govcloud.services.metering import backfill_month
from govcloud.store import metering_repo, statements_repo
from govcloud.store.audit import AuditLog
from govcloud.store.engine import write_begin
from govcloud.store.inventory import table

from .statements_seed import AFTER, CATALOGUE, EXPECTED, NOV, PROVINCE, SITES, TOTALS, seed

ADMIN = Principal("admin", Role.BUREAU_ADMIN, person="Admin")
AUDITOR = Principal("auditor", Role.BUREAU_AUDITOR)


def report(engine: Engine, who: Principal = ADMIN, **kw: Any) -> dict[str, Any]:
    return service.statements(engine, who, NOV, catalogue=CATALOGUE, sites=SITES,
                              clock=lambda: AFTER, **kw)


def close(engine: Engine, who: Principal = ADMIN) -> dict[str, Any]:
    return service.close_month(engine, who, NOV, catalogue=CATALOGUE, sites=SITES,
                               clock=lambda: AFTER)


def count(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())


def test_the_figures_match_the_hand_calculation_and_reconcile(db: Engine) -> None:
    seed(db)
    r = report(db)
    by = {s["department"]: s for s in r["statements"]}
    assert set(by) == {"gd-tax", "gd-edu", "shenzhen", ""}
    for code, lines in EXPECTED.items():
        got = {(x["site"], x["resource"]): (x["base"], x["surcharge"])
               for x in by[code]["lines"]}
        assert got == lines, code
    assert {c: s["total"] for c, s in by.items()} == TOTALS
    assert r["province"]["total"] == PROVINCE
    assert sum(Decimal(x["amount"]) for s in r["statements"] for x in s["lines"]) == Decimal(
        PROVINCE)
    assert {c["city"]: c["total"] for c in r["cities"]} == {
        "(provincial)": "3.89", "shenzhen": "2.36"}  # gd-tax 3.65 + no department 0.24
    assert r["sheets"] == ["2026.1"] and by["shenzhen"]["currency"] == "CNY"
    usage = {(u["site"], u["resource"], u["kind"]): u["quantity"] for u in by["gd-tax"]["usage"]}
    assert usage[("PROD", "ram_gib", "primary")] == "40"
    assert usage[("DR-REMOTE", "vcpu", "cold")] == "10"
    assert usage[("PROD", "volume_gb", "primary")] == "1000"


def test_usage_summed_per_day_in_the_database_equals_the_hours_summed(db: Engine) -> None:
    seed(db, extra_prod_hours=30)  # into 2 November
    with db.connect() as conn:
        hourly = metering_repo.usage_rows(conn, NOV.start, NOV.end)
        daily = metering_repo.usage_days(conn, NOV)
    by_day: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for r in hourly:
        by_day[(r.hour.replace(hour=0), r.key)] += r.quantity
    assert {(r.hour, r.key): r.quantity for r in daily} == dict(by_day)
    assert len(daily) < len(hourly) and {r.hour.day for r in daily} == {1, 2}
    assert all(r.hour.tzinfo is dt.UTC for r in daily)


def test_the_gaps_are_on_the_statement(db: Engine) -> None:
    seed(db)
    gaps = [(g["site"], g["from"][:16], g["hours"], g["reason"]) for g in report(db)["gaps"]]
    assert gaps == [("DR-REMOTE", "2026-11-01T10:00", 710, "no sync"),
                    ("PROD", "2026-11-01T10:00", 1, "timeout"),
                    ("PROD", "2026-11-01T11:00", 709, "no sync")]


def test_usage_needs_no_price_sheet_a_statement_does(db: Engine) -> None:
    seed(db, sheet=False)
    usage = report(db, priced=False)
    tax = next(s for s in usage["statements"] if s["department"] == "gd-tax")
    assert tax["usage"] and tax["lines"] == [] and usage["sheets"] == []
    with pytest.raises(InvalidInput, match="no approved price sheet is in effect on "
                                           "2026-11-01"):
        report(db)
    with pytest.raises(InvalidInput, match="no approved price sheet"):
        close(db)  # a month is closed priced


def test_each_role_sees_its_own_statements(db: Engine) -> None:
    seed(db)
    viewer = Principal("v", Role.DEPARTMENT_VIEWER, department="gd-tax")
    city = Principal("c", Role.CITY_OPERATOR, city="shenzhen")
    assert [s["department"] for s in report(db, viewer)["statements"]] == ["gd-tax"]
    assert report(db, viewer)["province"]["total"] == "3.65"  # of what it may see
    assert [s["department"] for s in report(db, city)["statements"]] == ["shenzhen"]
    assert len(report(db, AUDITOR)["statements"]) == 4
    with pytest.raises(Forbidden):
        report(db, viewer, department="shenzhen")
    with pytest.raises(Forbidden):
        report(db, city, city="guangzhou")
    with pytest.raises(Forbidden):
        report(db, viewer, city="shenzhen")
    assert [s["department"] for s in report(db, AUDITOR, city="shenzhen")["statements"]] == [
        "shenzhen"]
    with pytest.raises(NotFound):
        report(db, department="gd-nope")
    with pytest.raises(Forbidden, match="may not statement.close"):
        close(db, AUDITOR)


def test_closing_freezes_seals_and_serves_the_frozen_statements(db: Engine) -> None:
    seed(db)
    built = report(db)
    with pytest.raises(InvalidInput, match="not over"):
        service.close_month(db, ADMIN, NOV, catalogue=CATALOGUE, sites=SITES,
                            clock=lambda: NOV.end.replace(day=1) - (NOV.end - NOV.start) / 2)
    answer = close(db)
    assert not answer["already_closed"] and answer["closed"]["departments"] == 4
    assert answer["closed"]["total"] == PROVINCE
    assert count(db, "closed_statement") == 4
    sealed = _audit(db)[-1]
    assert (sealed.action, sealed.target) == ("statements.close", "month:2026-11")
    assert sealed.after is not None and sealed.after["digest"] == answer["closed"]["digest"]
    assert set(sealed.after["statements"]) == {"gd-tax", "gd-edu", "shenzhen", ""}
    frozen = report(db)
    assert frozen["closed"]["digest"] == answer["closed"]["digest"]
    assert frozen["statements"] == built["statements"]
    assert close(db)["already_closed"]  # a rebuild is identical
    seed(db, extra_prod_hours=3)  # the store changes under the closed month
    assert report(db)["statements"] == built["statements"]  # still served frozen
    with pytest.raises(MonthClosed, match=r"gd-tax: total 3.65 closed, 4.\d\d rebuilt"):
        close(db)
    assert count(db, "closed_statement") == 4
    with pytest.raises(MonthClosed, match="is closed"):
        backfill_month(db, NOV, [], clock=lambda: AFTER)
    refused = _audit(db)[-1]
    assert refused.action == "statements.rebuild-refused" and refused.after is not None
    assert "gd-edu: total 0.00 closed, 0.00 rebuilt (gaps differ)" in refused.after[
        "differences"]  # the gaps are on every statement
    with Session(db) as session:
        assert AuditLog(session=session).verify().ok


def _audit(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(AuditLog(session=session).iter_entries())


def test_an_exception_mid_close_leaves_nothing(db: Engine,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db)

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(AuditLog, "append", boom)
    with pytest.raises(RuntimeError):
        close(db)
    assert (count(db, "closed_statement"), count(db, "month_close")) == (0, 0)
    assert report(db)["closed"] is None


KILLER = ("import sys; from tests.unit.services.statements_seed import close_and_die; "
          "close_and_die(sys.argv[1])")


def test_kill_9_mid_close_leaves_the_month_open(db: Engine, tmp_path: Path) -> None:
    seed(db)
    url = db.url.render_as_string(hide_password=False)
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", KILLER, url], capture_output=True, text=True,
                          timeout=120, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout == "writing\n"
    assert (count(db, "closed_statement"), count(db, "month_close")) == (0, 0)
    assert close(db)["closed"]["departments"] == 4  # and it closes afterwards


def test_a_close_that_loses_a_race_is_a_conflict_and_writes_nothing(db: Engine) -> None:
    seed(db)
    close(db)
    with pytest.raises(ConflictError, match="closed meanwhile"), write_begin(db) as conn:
        statements_repo.close(conn, NOV, {"x": {"total": "1"}}, digest="sha256:x",
                              total="1", by="other", person="Other", at=AFTER)
    assert count(db, "closed_statement") == 4 and count(db, "month_close") == 1
