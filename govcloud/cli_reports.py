"""Report commands, clients of the control plane's API: ``report prices list|propose|approve``
(the price sheets the bureau pays the operator by), ``report usage|statement`` (a month's
usage and statements, as a table, JSON, CSV, a spreadsheet or a PDF), ``report close`` and
``report backfill`` (fill the metering's hours from the store).
Registered by ``govcloud.cli``; errors are reported there. docs/reports.md describes them."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import sys
from typing import Any

from govcloud import cli_lifecycle
from govcloud.api.models.reports import PriceSheetInfo, StatementReport
from govcloud.cli_control import (
    _client,
    _cmd,
    _group,
    _print_json,
    _table,
    echo,
    identifier,
    write_output,
)
from govcloud.client import as_json
from govcloud.domain.text import printable, safe_json
from govcloud.errors import InvalidInput, PermanentError
from govcloud.yamlfile import read_text

COLUMNS = ("VERSION", "FROM", "UNTIL", "CURRENCY", "STATE", "PROPOSED BY", "APPROVED BY",
           "DIGEST")


def _row(s: PriceSheetInfo) -> tuple[str, ...]:
    return (s.version, s.effective_from, s.effective_until or "-", s.currency, s.state,
            f"{s.proposed_by} ({s.proposed_by_person})",
            f"{s.approved_by} ({s.approved_by_person})" if s.approved_by else "-",
            s.digest[:19])


def _print_sheet(what: str, s: PriceSheetInfo) -> None:
    echo(f"price sheet {printable(s.version)} {what}: {s.state}, from {s.effective_from}"
         f"{f' until {s.effective_until}' if s.effective_until else ''} ({s.digest})")


def cmd_list(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.list_price_sheets()
    if args.json:
        _print_json(as_json(answer))
    elif answer.sheets:
        echo(_table([_row(s) for s in answer.sheets], COLUMNS))
    else:
        echo("no price sheets yet (propose one: govcloud report prices propose FILE)")
    return 0


def cmd_propose(args: argparse.Namespace) -> int:
    document = read_text(args.file, what="price sheet", max_bytes=64 * 1024)
    with _client(args) as api:
        answer = api.propose_price_sheet(document)
    if args.json:
        _print_json(as_json(answer))
    else:
        _print_sheet("proposed", answer.sheet)
        echo("another person of the bureau approves it: govcloud report prices approve "
             f"{printable(answer.sheet.version)}")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.approve_price_sheet(args.version)
    if args.json:
        _print_json(as_json(answer))
    else:
        _print_sheet("approved", answer.sheet)
    return 0


FORMATS = ("table", "json", "csv", "xlsx", "pdf")
BINARY = ("xlsx", "pdf")


def _closed(r: StatementReport) -> str:
    if r.closed is None:
        return f"{r.month}: not closed (figures may still change)"
    return (f"{r.month}: closed {r.closed.closed_at} by {r.closed.closed_by}, seal "
            f"{r.closed.digest}")


def _print_report(r: StatementReport, what: str) -> None:
    echo(_closed(r))
    if what == "statements":
        rows: list[tuple[str, ...]] = [
            (s.department or "-", s.city or "(provincial)", str(s.dr_level), s.base,
             s.surcharge, s.total, s.currency) for s in r.statements]
        rows += [("city " + c.city, "", "", c.base, c.surcharge, c.total, "")
                 for c in r.cities]
        rows.append(("ALL SHOWN", "", "", r.province.base, r.province.surcharge,
                     r.province.total, ""))
        echo(_table(rows, ("DEPARTMENT", "CITY", "DR", "BASE", "DR SURCHARGE", "TOTAL",
                           "CURRENCY")))
    else:
        echo(_table([(s.department or "-", u.site, u.resource, u.kind, u.quantity)
                     for s in r.statements for u in s.usage],
                    ("DEPARTMENT", "SITE", "RESOURCE", "KIND", "UNIT-HOURS")))
    echo("price sheets: " + (", ".join(printable(v) for v in r.sheets) or "none"))
    hours = sum(g.hours for g in r.gaps)
    echo(f"gaps: {hours} site-hours not read (usage unknown, not zero)" if hours else
         "gaps: none")
    for g in r.gaps[:20]:
        echo(f"  {printable(g.site)} {g.from_} .. {g.until} ({g.hours} h): "
             f"{printable(g.reason)}")


def _report(args: argparse.Namespace, what: str) -> int:
    fmt = "json" if args.json else args.format
    if fmt in BINARY and not args.output:
        raise InvalidInput(f"a {fmt} file is not shown on a terminal",
                           hint=f"write it to a file: --output FILE.{fmt}")
    with _client(args) as api:
        if fmt in ("table", "json"):
            report = api.statements(what, args.month, department=args.department,
                                    city=args.city)
        else:
            file = api.statements_file(what, args.month, fmt, department=args.department,
                                       city=args.city)
    if fmt in ("table", "json"):
        if args.output:
            if fmt != "json":
                raise InvalidInput("a table is shown on the terminal, not written",
                                   hint="use --format json, csv, xlsx or pdf with --output")
            write_output(args.output, (safe_json(as_json(report)) + "\n").encode("utf-8"),
                         what="a report")
        elif fmt == "json":
            _print_json(as_json(report))
        else:
            _print_report(report, what)
        return 0
    content = base64.b64decode(file.content_base64)
    if "sha256:" + hashlib.sha256(content).hexdigest() != file.digest:
        raise PermanentError("the file's digest does not match what the server sent",
                             hint="try again; the connection may have been cut")
    if args.output:
        write_output(args.output, content, what=f"a {fmt} file")
        echo(f"wrote {printable(args.output)}: {file.size} bytes ({file.digest})")
    else:
        sys.stdout.write(content.decode("utf-8"))
    return 0


def cmd_usage(args: argparse.Namespace) -> int:
    return _report(args, "usage")


def cmd_statement(args: argparse.Namespace) -> int:
    return _report(args, "statements")


def cmd_close(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.close_month(args.month)
    if args.json:
        _print_json(as_json(answer))
    elif answer.already_closed:
        echo(f"{answer.closed.month} was closed already ({answer.closed.closed_at} by "
             f"{answer.closed.closed_by}); a rebuild gives the same statements")
    else:
        echo(f"closed {answer.closed.month}: {answer.closed.departments} statements frozen, "
             f"total {answer.closed.total}, seal {answer.closed.digest} (in the audit log)")
    return 0


def cmd_scorecard(args: argparse.Namespace) -> int:
    with _client(args) as api:
        card = api.scorecard(args.month)
    if args.json:
        _print_json(as_json(card))
        return 0
    mark = {True: "met", False: "MISSED", None: "-"}
    echo(f"operator scorecard {card.month} (read {card.at}; DR and capacity as of the "
         "month's end once it is over, else now: see each figure)")
    echo(_table([(f.section, f.name, f.value, f.target, mark[f.met], f.detail)
                 for f in card.figures],
                ("SECTION", "FIGURE", "VALUE", "TARGET", "MARK", "DETAIL")))
    echo(f"{card.met} met, {card.missed} missed")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.backfill(args.start, args.end, site=args.site)
    if args.json:
        _print_json(as_json(answer))
        return 0
    echo(f"backfill {answer.from_} .. {answer.to} ({answer.hours} h)")
    echo(_table([(s.site, str(s.filled), str(s.kept), str(s.rows), str(s.gaps))
                 for s in answer.sites],
                ("SITE", "FILLED H", "KEPT H (SYNC READ)", "ROWS", "GAP H (UNKNOWN)")))
    for s in answer.sites:
        for g in s.gap_runs[:10]:
            echo(f"  gap {printable(g.site)} {g.from_} .. {g.until} ({g.hours} h): "
                 f"{printable(g.reason)}")
    echo("filled hours are marked filled; gaps stay gaps (usage unknown, not zero)")
    return 0


def _time(value: str) -> str:
    """An ISO 8601 time or date (UTC unless it carries an offset), as the server reads it."""
    text = value.strip()
    try:
        if len(text) > 40:
            raise ValueError
        dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{printable(text[:40])!r} is not a time (use ISO 8601 in UTC, e.g. 2026-11-01 "
            "or 2026-11-01T06:00)") from None
    return text


def _month(value: str) -> str:
    from govcloud.domain.metering import Month

    try:
        return str(Month.parse(value))
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(f"{exc.message} ({exc.hint})") from None


def _report_command(report: Any, name: str, handler: Any, help_: str) -> None:
    p = _cmd(report, name, handler, help_)
    p.add_argument("--month", required=True, type=_month, help="the month, YYYY-MM (UTC)")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--department", type=identifier("department"),
                       help="one department's")
    scope.add_argument("--city", type=identifier("city"), help="one city's departments'")
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="table (default), json, csv, xlsx or pdf (xlsx and pdf need --output)")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE")


def register(commands: Any) -> None:
    report = _group(commands, "report", "reports for the bureau: price sheets, usage, "
                                        "statements, closing a month, the operator scorecard "
                                        "(docs/reports.md)")
    _report_command(report, "usage", cmd_usage, "a month's usage per department, site and "
                    "resource, with the hours a site was not read")
    _report_command(report, "statement", cmd_statement, "a month's statements: usage, cost by "
                    "line, DR surcharge, totals per department, city and all shown")
    p = _cmd(report, "scorecard", cmd_scorecard, "the operator scorecard of a month: "
             "availability, request fulfilment, DR, capacity, each with target and mark")
    p.add_argument("--month", required=True, type=_month, help="the month, YYYY-MM (UTC)")
    p = _cmd(report, "backfill", cmd_backfill, "fill the metering's hours a site was read in "
             "but that hold no sync reading (bureau-admin); hours nobody read stay gaps")
    p.add_argument("--from", dest="start", required=True, type=_time,
                   help="the first hour, ISO 8601 (UTC unless given), e.g. 2026-11-01")
    p.add_argument("--to", dest="end", required=True, type=_time,
                   help="up to this time (exclusive), at most 31 days after --from")
    p.add_argument("--site", type=identifier("site"), help="one site (default: every site)")
    p = _cmd(report, "close", cmd_close, "close a month (bureau-admin): freeze its "
             "statements and seal them in the audit log; again: check a rebuild is identical")
    p.add_argument("--month", required=True, type=_month, help="the month, YYYY-MM (UTC)")
    prices = _group(report, "prices", "the price sheets the bureau pays the operator by")
    _cmd(prices, "list", cmd_list, "every price sheet and its state")
    p = _cmd(prices, "propose", cmd_propose, "propose a price sheet from a YAML file (- for "
             "stdin); it takes effect once another person of the bureau approves it")
    p.add_argument("file", help="the sheet's YAML file (e.g. tenants/prices/2026.yaml)")
    p = _cmd(prices, "approve", cmd_approve, "approve a proposed price sheet (bureau-admin, "
             "another person than its proposer); it is never changed afterwards")
    p.add_argument("version", help="the sheet's version")
    cli_lifecycle.register_reclaim(report)  # `report reclaim` (docs/lifecycle.md)
