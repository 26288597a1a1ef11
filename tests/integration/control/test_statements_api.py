"""Monthly statements over HTTP and the CLI (issue 20), on a plane synced from the simulator
(SQLite and PostgreSQL): the month's statements reconcile to the cent and name the sheet used,
each role sees its own, the files (spreadsheet, PDF, CSV) come back whole, a month is closed
once it is over and then served frozen; binary formats are never written to a terminal; a
backfill fills the hours read without metering, audited, and bad input changes nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import insert

from govcloud.cli import main
from govcloud.domain.metering import Month, hour_of
from govcloud.errors import Forbidden, InvalidInput, NotFound
from govcloud.store.engine import write_begin
from govcloud.store.inventory import table

from .conftest import Plane

EXAMPLE = (Path(__file__).resolve().parents[3] / "tenants" / "prices" / "2026.yaml").read_text(
    encoding="utf-8")


@pytest.fixture(scope="module")
def month(plane: Plane) -> str:
    """The current month, synced once, priced with the example sheet (approved)."""
    plane.admin.propose_price_sheet(EXAMPLE)
    plane.approver.approve_price_sheet("2026.1")
    assert plane.admin.post("/sync", {"full": True})["ok"]
    return str(Month.of(plane.clock()))


def test_the_month_reconciles_and_names_its_sheet(plane: Plane, month: str) -> None:
    r = plane.admin.statements("statements", month)
    assert r.closed is None and r.sheets == ["2026.1"]
    lines = [Decimal(x.amount) for s in r.statements for x in s.lines]
    assert lines and sum(lines) == Decimal(r.province.total)
    assert sum(Decimal(c.total) for c in r.cities) == Decimal(r.province.total)
    for s in r.statements:
        assert Decimal(s.base) + Decimal(s.surcharge) == Decimal(s.total)
        assert sum((Decimal(x.amount) for x in s.lines), Decimal(0)) == Decimal(s.total)
    servers = plane.admin.servers(department="gd-psd", limit=500).servers
    vcpu_now = sum(Decimal(u.quantity) for s in r.statements if s.department == "gd-psd"
                   for u in s.usage if u.resource == "vcpu")
    assert vcpu_now == sum(srv.vcpus for srv in servers if srv.vcpus)  # one hour read
    raw = plane.admin.get(f"/reports/statements/{month}")  # the model kept every key
    assert set(raw) == {"month", "closed", "statements", "cities", "province", "sheets", "gaps"}
    assert set(raw["statements"][0]) == {
        "month", "department", "name", "city", "dr_level", "currency", "sheets", "usage",
        "lines", "base", "surcharge", "total", "gaps", "daily"}
    assert all(set(g) == {"site", "from", "until", "hours", "reason"} for g in raw["gaps"])
    usage = plane.admin.statements("usage", month, department="gd-psd")
    assert [s.department for s in usage.statements] == ["gd-psd"]


def test_each_role_sees_its_own(plane: Plane, month: str) -> None:
    _, viewer = plane.principal("department-viewer", department="gd-psd")
    _, city = plane.principal("city-operator", city="shenzhen")
    _, auditor = plane.principal("bureau-auditor")
    assert [s.department for s in viewer.statements("statements", month).statements] == [
        "gd-psd"]
    assert [s.department for s in city.statements("statements", month).statements] == [
        "shenzhen"]
    everyone = {s.department for s in auditor.statements("statements", month).statements}
    assert {"gd-psd", "gd-tax", "shenzhen", "guangzhou"} <= everyone
    with pytest.raises(Forbidden):
        viewer.statements("statements", month, department="gd-tax")
    with pytest.raises(Forbidden):
        viewer.statements_file("statements", month, "xlsx", city="shenzhen")
    with pytest.raises(Forbidden, match="may not statement.close"):
        auditor.close_month(month)


def test_files_come_back_whole(plane: Plane, month: str, tmp_path: Path) -> None:
    answer = plane.admin.statements_file("statements", month, "xlsx", department="gd-psd")
    path = tmp_path / answer.filename
    path.write_bytes(base64.b64decode(answer.content_base64))
    assert path.stat().st_size == answer.size
    totals = list(openpyxl.load_workbook(path)["totals"].iter_rows(values_only=True))
    expected = plane.admin.statements("statements", month, department="gd-psd")
    assert Decimal(str(totals[-1][5])) == Decimal(expected.province.total)
    with pytest.raises(InvalidInput):
        plane.admin.get(f"/reports/statements/{month}/export", format="docx")


def test_a_month_is_closed_once_over_and_then_served_frozen(plane: Plane, month: str) -> None:
    with pytest.raises(InvalidInput, match="not over"):
        plane.admin.close_month(month)
    closed = plane.admin.close_month("2026-10")  # nothing was read: every hour a gap
    assert not closed.already_closed and closed.closed.departments >= 9
    assert closed.closed.total == "0.00"
    r = plane.admin.statements("statements", "2026-10")
    assert r.closed is not None and r.closed.digest == closed.closed.digest
    assert all(g.reason == "no sync" for g in r.gaps) and sum(g.hours for g in r.gaps) == (
        31 * 24 * len({g.site for g in r.gaps}))
    assert plane.admin.close_month("2026-10").already_closed
    entries = plane.admin.get("/audit", target="month:2026-10")["entries"]
    assert [e["action"] for e in entries] == ["statements.close"]


def test_the_cli_writes_tables_and_files(cli_env: Plane, month: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "statement", "--month", month]) == 0
    out = capsys.readouterr().out
    assert "ALL SHOWN" in out and "price sheets: 2026.1" in out and "not closed" in out
    assert main(["report", "statement", "--month", month, "--format", "pdf"]) == 2
    assert "--output" in capsys.readouterr().err  # never binary to a terminal
    pdf = tmp_path / "s.pdf"
    assert main(["report", "statement", "--month", month, "--city", "shenzhen", "--format",
                 "pdf", "--output", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF") and "wrote" in capsys.readouterr().out
    subprocess.run(["pdftoppm", "-r", "30", "-f", "1", "-l", "1", "-png", str(pdf),
                    str(tmp_path / "page")], check=True, capture_output=True, timeout=120)
    assert list(tmp_path.glob("page*.png"))
    assert main(["report", "usage", "--month", month, "--format", "csv"]) == 0
    assert "# usage" in capsys.readouterr().out
    assert main(["report", "usage", "--month", month, "--department", "gd-psd", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["statements"][0]["department"] == "gd-psd"
    assert main(["report", "close", "--month", "2026-09"]) == 0
    assert "closed 2026-09" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage_error:
        main(["report", "statement", "--month", "2026-13"])
    assert usage_error.value.code == 2 and "not a month" in capsys.readouterr().err


def test_the_scorecard_over_http_and_the_cli(cli_env: Plane, month: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    card = cli_env.admin.scorecard(month)
    sections = {f.section for f in card.figures}
    assert sections == {"availability", "requests", "migration", "dr", "capacity", "alerts"}
    names = {f.name: f for f in card.figures}
    assert names["PROD API"].met is True  # read by the sync, never failed
    assert names["PROD vCPU headroom"].value.endswith("%")
    assert "as of now" in names["PROD vCPU headroom"].detail  # the month is not over
    psd = names["gd-psd servers ACTIVE"]  # the sync metered the ACTIVE servers
    assert psd.value.endswith("%") and psd.met is None
    assert card.targets["fulfilment_hours"] == "72"
    assert card.met + card.missed == sum(1 for f in card.figures if f.met is not None)
    _, viewer = cli_env.principal("department-viewer", department="gd-psd")
    with pytest.raises(Forbidden):
        viewer.scorecard(month)
    assert main(["report", "scorecard", "--month", month]) == 0
    out = capsys.readouterr().out
    assert "operator scorecard" in out and "PROD API" in out and "missed" in out


def test_a_backfill_fills_the_hours_read_without_metering(
        cli_env: Plane, month: str, capsys: pytest.CaptureFixture[str]) -> None:
    plane = cli_env
    start = dt.datetime(2026, 8, 10, 10, tzinfo=dt.UTC)  # a month no other test reads
    assert start < hour_of(plane.clock())
    with write_begin(plane.engine) as conn:  # two hours read before metering existed
        conn.execute(insert(table("capacity_sample")), [
            {"site": "PROD", "at": start + dt.timedelta(hours=h, minutes=7)} for h in (0, 1)])
    end = start + dt.timedelta(hours=3)
    _, operator = plane.principal("operator")
    with pytest.raises(Forbidden, match="may not metering.backfill"):
        operator.backfill(start.isoformat(), end.isoformat(), site="PROD")
    for bad, error in (((start.isoformat(), start.isoformat(), "PROD"), InvalidInput),
                       ((start.isoformat(), (start + dt.timedelta(days=40)).isoformat(),
                         "PROD"), InvalidInput),
                       ((start.isoformat(), end.isoformat(), "NOWHERE"), NotFound),
                       (("yesterday", end.isoformat(), "PROD"), InvalidInput)):
        with pytest.raises(error):
            plane.admin.backfill(bad[0], bad[1], site=bad[2])
    assert plane.admin.get("/audit", target="site:PROD")["entries"] == []
    answer = plane.admin.backfill(start.isoformat(), end.isoformat(), site="PROD")
    (prod,) = answer.sites
    assert (answer.hours, prod.filled, prod.kept, prod.gaps) == (3, 2, 0, 1)
    assert [(g.from_, g.reason) for g in prod.gap_runs] == [
        ((start + dt.timedelta(hours=2)).isoformat(), "no sync")]
    entries = plane.admin.get("/audit", target="site:PROD")["entries"]
    assert [(e["action"], e["actor"], e["after"]["filled"]) for e in entries] == [
        ("metering.backfill", "admin", 2)]
    assert main(["report", "backfill", "--from", start.isoformat(), "--to", end.isoformat(),
                 "--site", "PROD", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert list(shown) == ["from", "to", "hours", "sites"]
    assert shown["sites"][0]["filled"] == 2  # again: the same hours, the same figures
    assert main(["report", "backfill", "--from", start.isoformat(), "--to",
                 end.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "FILLED H" in out and "DR-LOCAL" in out and "no sync" in out
    with pytest.raises(SystemExit) as usage:  # argparse refuses it before any call
        main(["report", "backfill", "--from", "not-a-time", "--to", "2026-11-02"])
    assert usage.value.code == 2 and "is not a time" in capsys.readouterr().err
    assert main(["report", "backfill", "--from", end.isoformat(), "--to",
                 start.isoformat()]) == 2
    assert "is not after" in capsys.readouterr().err
