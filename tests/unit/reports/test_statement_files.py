"""Statements as files (issue 20): the CSV parses back with its sections, the spreadsheet opens
in openpyxl with exact amounts whose totals reconcile, the PDF renders (pdftoppm) with a
coloured chart of usage by site and its text (pdftotext); hostile names stay text."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from govcloud.domain.metering import Gap, Month, Resource, UsageKind, UsageRow
from govcloud.domain.rating import StatementLine
from govcloud.domain.statements import DepartmentInfo, department_statement, rollup
from govcloud.reports.statements import md, to_csv, to_markdown, to_pdf, to_xlsx

NOV = Month(2026, 11)
HOUR = dt.timedelta(hours=1)


def _line(dept: str, site: str, resource: str, base: str, surcharge: str) -> StatementLine:
    return StatementLine(dept, site, "m1.small", "primary", resource, "2026.1", Decimal(20),
                         "vcpu_hour", Decimal("0.08"), Decimal(base), Decimal(surcharge))


def _rows(dept: str, site: str, per_hour: int, hours: range) -> list[UsageRow]:
    return [UsageRow(NOV.start + h * HOUR, dept, site, "m1.small", UsageKind.PRIMARY,
                     Resource.VCPU, Decimal(per_hour)) for h in hours]


def report() -> dict[str, Any]:
    gaps = [Gap(NOV.start + h * HOUR, "DR-REMOTE", "timeout") for h in range(3)]
    gaps.append(Gap(NOV.start + 9 * HOUR, "PROD", "=HYPERLINK(\"http://x\")"))
    tax = department_statement(
        NOV, DepartmentInfo("gd-tax", "广东省税务局 =cmd|' /C calc'!A0", None, 5),
        _rows("gd-tax", "PROD", 2, range(400)) + _rows("gd-tax", "DR-REMOTE", 1,
                                                          range(200, 700)),
        [_line("gd-tax", "PROD", "vcpu", "1.60", "0.32"),
         _line("gd-tax", "PROD", "ram_gib", "0.80", "0.16")], gaps, currency="CNY")
    sz = department_statement(NOV, DepartmentInfo("shenzhen", "深圳 | *bold*", "shenzhen", 3),
                              _rows("shenzhen", "PROD", 4, range(100, 300)),
                              [_line("shenzhen", "PROD", "servers", "2.25", "0.11")], gaps,
                              currency="CNY")
    shown = [tax, sz]
    return {"month": str(NOV), "closed": None, "statements": shown, **rollup(shown),
            "gaps": tax["gaps"]}


def test_the_csv_has_its_sections_and_no_formula_cells() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(report(), what="statement").decode("utf-8"))))
    assert rows[0] == ["# govcloud", "statement", "2026-11", "not closed"]
    sections = [r[0] for r in rows if r and r[0].startswith("# ") and len(r) == 1]
    assert sections == ["# usage", "# lines", "# totals", "# gaps", "# sheets"]
    totals = rows[rows.index(["# totals"]) + 2:]
    assert ["all", "", "", "4.65", "0.59", "5.24"] in totals
    assert ["city", "shenzhen", "", "2.25", "0.11", "2.36"] in totals
    gaps = rows[rows.index(["# gaps"]) + 2]
    assert gaps == ["DR-REMOTE", "2026-11-01T00:00:00+00:00", "2026-11-01T03:00:00+00:00",
                    "3", "timeout"]
    usage_only = to_csv(report(), what="usage").decode("utf-8")
    assert "# lines" not in usage_only and "# usage" in usage_only


def test_a_cell_that_looks_like_a_formula_is_quoted() -> None:
    from govcloud.reports.statements import _cell

    assert _cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert _cell("-0.5") == "-0.5" and _cell("@SUM(A1)") == "'@SUM(A1)"


def test_the_spreadsheet_reads_back_with_exact_amounts_that_reconcile(tmp_path: Path) -> None:
    path = tmp_path / "s.xlsx"
    path.write_bytes(to_xlsx(report(), what="statement"))
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["about", "usage", "lines", "totals", "gaps"]
    about = {r[0]: r[1] for r in wb["about"].iter_rows(values_only=True)}
    assert about["month"] == "2026-11" and about["price sheets"] == "2026.1"
    lines = list(wb["lines"].iter_rows(values_only=True))
    assert lines[0][-1] == "amount"
    amounts = [Decimal(str(r[-1])) for r in lines[1:]]
    totals = {(r[0], r[1]): r for r in wb["totals"].iter_rows(values_only=True)}
    assert Decimal(str(totals[("all", None)][5])) == sum(amounts) == Decimal("5.24")
    assert wb["lines"].cell(row=2, column=12).number_format == "0.00"
    gaps = list(wb["gaps"].iter_rows(values_only=True))
    assert gaps[-1][-1] == "'=HYPERLINK(\"http://x\")"  # text, not a formula
    assert wb["gaps"].cell(row=len(gaps), column=5).data_type == "s"
    usage = list(wb["usage"].iter_rows(values_only=True))
    assert ("gd-tax", "PROD", "vcpu", "primary", 800) in usage


def _ppm(data: bytes) -> tuple[int, int, bytes]:
    fields = data.split(maxsplit=4)
    assert fields[0] == b"P6"
    return int(fields[1]), int(fields[2]), fields[4]


def test_the_pdf_renders_a_page_with_the_usage_chart_and_the_totals(tmp_path: Path) -> None:
    assert shutil.which("pdftoppm") and shutil.which("pdftotext"), "install poppler-utils"
    path = tmp_path / "s.pdf"
    path.write_bytes(to_pdf(report(), what="statement"))
    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", str(path),
                    str(tmp_path / "page")], check=True, capture_output=True, timeout=120)
    width, height, pixels = _ppm(next(tmp_path.glob("page*.ppm")).read_bytes())
    coloured = sum(1 for i in range(0, len(pixels), 3)
                   if pixels[i + 2] > pixels[i] + 60)  # the chart's blue line
    assert coloured > 20, "no chart on page 1"
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    for expected in ("govcloud statement 2026-11", "vCPU-hours by site", "total 5.24 CNY",
                     "PROD", "DR-REMOTE", "广东省税务局", "timeout", "2026.1", "Gaps"):
        assert expected in text, expected


@pytest.mark.parametrize("hostile", ["a | b", "*x*", "<script>", "`c`", "[l](http://x)"])
def test_markdown_cells_are_literal(hostile: str) -> None:
    assert md(hostile).replace("\\", "") == hostile
    assert "|" not in md(hostile).replace("\\|", "")
    assert "深圳 \\| \\*bold\\*" in to_markdown(report(), what="statement")
