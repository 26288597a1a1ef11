"""Monthly statements as files (issue 20): CSV, a spreadsheet (openpyxl) and a PDF with a
chart of usage by site over the month (``markdown_to_pdf`` and ``charts.daily_lines``).

The input is a statements report as ``govcloud.services.statements.statements`` answers it
(amounts and quantities as decimal text). ``what`` is ``statement`` (usage, lines, totals,
rollups, gaps, sheets) or ``usage`` (usage and gaps only). Amounts are written as the text
given (CSV, PDF) or as exact decimals with two places shown (spreadsheet: numbers a
spreadsheet program sums; the cell's value is the decimal's text parsed, the figures are
cents). Text from the catalogue or the store is escaped for each format: a CSV cell never
starts with a formula character, a Markdown cell never breaks its table.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from govcloud.domain.text import printable
from govcloud.reports.charts import daily_lines
from govcloud.reports.pdf import markdown_to_pdf

USAGE_COLUMNS = ("department", "site", "resource", "kind", "quantity")
LINE_COLUMNS = ("department", "site", "flavor", "kind", "resource", "sheet", "quantity",
                "unit", "price", "base", "surcharge", "amount")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}<>#|!~])")


def _cell(value: object) -> str:
    """A CSV cell: printable, and never read as a formula by a spreadsheet program."""
    out = printable(value)
    return "'" + out if out.startswith(_FORMULA) and not _is_number(out) else out


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def _usage_rows(report: Mapping[str, Any]) -> Iterable[tuple[str, ...]]:
    for s in report["statements"]:
        for u in s["usage"]:
            yield (s["department"], u["site"], u["resource"], u["kind"], u["quantity"])


def _line_rows(report: Mapping[str, Any]) -> Iterable[tuple[str, ...]]:
    for s in report["statements"]:
        for line in s["lines"]:
            yield (s["department"], *(line[c] for c in LINE_COLUMNS[1:]))


def _total_rows(report: Mapping[str, Any]) -> Iterable[tuple[str, ...]]:
    for s in report["statements"]:
        yield ("department", s["department"], s["city"] or "", s["base"], s["surcharge"],
               s["total"])
    for c in report["cities"]:
        yield ("city", c["city"], "", c["base"], c["surcharge"], c["total"])
    p = report["province"]
    yield ("all", "", "", p["base"], p["surcharge"], p["total"])


def to_csv(report: Mapping[str, Any], *, what: str) -> bytes:
    """Sections one after another, each with its header row: usage, then (a statement)
    lines, totals; then gaps and the sheets used."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")

    def section(name: str, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
        w.writerow([f"# {name}"])
        w.writerow(header)
        w.writerows([[_cell(v) for v in row] for row in rows])
        w.writerow([])

    w.writerow(["# govcloud", what, report["month"],
                "closed " + report["closed"]["digest"] if report["closed"] else "not closed"])
    section("usage", USAGE_COLUMNS, _usage_rows(report))
    if what == "statement":
        section("lines", LINE_COLUMNS, _line_rows(report))
        section("totals", ("level", "name", "city", "base", "surcharge", "total"),
                _total_rows(report))
    section("gaps", ("site", "from", "until", "hours", "reason"),
            ((g["site"], g["from"], g["until"], str(g["hours"]), g["reason"])
             for g in report["gaps"]))
    section("sheets", ("version",), ([v] for v in report["sheets"]))
    return out.getvalue().encode("utf-8")


def _sheet(wb: Workbook, title: str, header: Sequence[str],
           rows: Iterable[Sequence[str]], numeric: Iterable[str]) -> None:
    ws = wb.create_sheet(title)
    ws.append(list(header))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    numbers = {header.index(n) for n in numeric}
    money = {i for i, h in enumerate(header) if h in ("base", "surcharge", "total", "amount")}
    for row in rows:
        ws.append([Decimal(v) if i in numbers and v != "" else _cell(v)
                   for i, v in enumerate(row)])
        for i in money:
            ws.cell(row=ws.max_row, column=i + 1).number_format = "0.00"
    ws.freeze_panes = "A2"


def to_xlsx(report: Mapping[str, Any], *, what: str) -> bytes:
    """A workbook: ``usage``, (a statement) ``lines`` and ``totals``, ``gaps``, ``about``."""
    wb = Workbook()
    about = wb.active
    assert about is not None
    about.title = "about"
    closed = report["closed"]
    for key, value in (("report", what), ("month", report["month"]),
                       ("closed", f"{closed['closed_at']} by {closed['closed_by']}"
                        if closed else "not closed"),
                       ("seal", closed["digest"] if closed else ""),
                       ("price sheets", ", ".join(report["sheets"]) or "none"),
                       ("currency", _currency(report))):
        about.append([key, _cell(value)])
    _sheet(wb, "usage", USAGE_COLUMNS, _usage_rows(report), ["quantity"])
    if what == "statement":
        _sheet(wb, "lines", LINE_COLUMNS, _line_rows(report),
               ["quantity", "price", "base", "surcharge", "amount"])
        _sheet(wb, "totals", ("level", "name", "city", "base", "surcharge", "total"),
               _total_rows(report), ["base", "surcharge", "total"])
    _sheet(wb, "gaps", ("site", "from", "until", "hours", "reason"),
           ((g["site"], g["from"], g["until"], str(g["hours"]), g["reason"])
            for g in report["gaps"]), ["hours"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _currency(report: Mapping[str, Any]) -> str:
    return next((s["currency"] for s in report["statements"] if s["currency"]), "")


def md(value: object) -> str:
    """Text set literally in Markdown (a table cell or a paragraph)."""
    return _MD_SPECIAL.sub(r"\\\1", printable(value))


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(md(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def to_markdown(report: Mapping[str, Any], *, what: str) -> str:
    closed = report["closed"]
    out = [f"Month {md(report['month'])}: "
           + (f"closed {md(closed['closed_at'])} by {md(closed['closed_by'])}, seal "
              f"`{closed['digest']}`." if closed else "not closed; figures may change."),
           "", "Price sheets used: " + (md(", ".join(report["sheets"])) or "none") + ".", ""]
    if what == "statement":
        cur = md(_currency(report))
        out += ["## Totals", ""]
        out += _table(("city", "departments", f"base {cur}", f"DR surcharge {cur}",
                       f"total {cur}"),
                      [(c["city"], c["departments"], c["base"], c["surcharge"], c["total"])
                       for c in report["cities"]])
        p = report["province"]
        out += [f"All shown: {p['departments']} departments, base {md(p['base'])}, DR "
                f"surcharge {md(p['surcharge'])}, **total {md(p['total'])} {cur}**.", ""]
    out += _gaps(report["gaps"])
    for s in report["statements"]:
        out += _department(s, what=what)
    return "\n".join(out)


def _gaps(gaps: Sequence[Mapping[str, Any]]) -> list[str]:
    if not gaps:
        return ["No gaps: every site was read in every hour of the month.", ""]
    hours = sum(int(g["hours"]) for g in gaps)
    return ["## Gaps", "", f"{hours} site-hours were not read: their usage is unknown, "
            "not zero, and is not charged.", "",
            *_table(("site", "from", "until", "hours", "reason"),
                    [(g["site"], g["from"], g["until"], g["hours"], g["reason"])
                     for g in gaps[:200]])]


def _department(s: Mapping[str, Any], *, what: str) -> list[str]:
    heading = f"{s['department']} {s['name']}" if s["department"] else s["name"]
    out = [f"## {md(heading)}", "",
           f"City: {md(s['city'] or '(provincial)')}; DR level {s['dr_level']}.", ""]
    by_site: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for u in s["usage"]:
        by_site[(u["site"], f"{u['resource']} ({u['kind']})")] += Decimal(u["quantity"])
    out += _table(("site", "resource (kind)", "unit-hours"),
                  [(site, res, q) for (site, res), q in sorted(by_site.items())])
    if what == "statement":
        out += _table(("site", "flavor", "kind", "resource", "sheet", "quantity", "price",
                       "base", "surcharge", "amount"),
                      [(x["site"], x["flavor"] or "-", x["kind"], x["resource"], x["sheet"],
                        x["quantity"], x["price"], x["base"], x["surcharge"], x["amount"])
                       for x in s["lines"]])
        out += [f"Base {md(s['base'])}, DR surcharge {md(s['surcharge'])}, **total "
                f"{md(s['total'])} {md(s['currency'])}**.", ""]
    return out


def site_days(report: Mapping[str, Any]) -> dict[str, list[Decimal]]:
    """vCPU-hours per site and day over every statement shown (the chart's series)."""
    out: dict[str, list[Decimal]] = {}
    for s in report["statements"]:
        for site, values in s["daily"].items():
            days = out.setdefault(site, [Decimal(0)] * len(values))
            for i, v in enumerate(values):
                days[i] += Decimal(v)
    return out


def to_pdf(report: Mapping[str, Any], *, what: str) -> bytes:
    title = f"govcloud {what} {report['month']}"
    chart = daily_lines(site_days(report), title="vCPU-hours by site, per day of the month")
    return markdown_to_pdf(to_markdown(report, what=what), title=title, figures=[chart])
