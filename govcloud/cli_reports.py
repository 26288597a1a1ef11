"""Report commands, clients of the control plane's API: ``report prices list|propose|approve``
(the price sheets the bureau pays the operator by). Registered by ``govcloud.cli``; errors
are reported there. docs/reports.md describes the sheets and their approval."""

from __future__ import annotations

import argparse
from typing import Any

from govcloud.api.models.reports import PriceSheetInfo
from govcloud.cli_control import _client, _cmd, _group, _print_json, _table, echo
from govcloud.client import as_json
from govcloud.domain.text import printable
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


def register(commands: Any) -> None:
    report = _group(commands, "report", "reports for the bureau: price sheets "
                                        "(docs/reports.md)")
    prices = _group(report, "prices", "the price sheets the bureau pays the operator by")
    _cmd(prices, "list", cmd_list, "every price sheet and its state")
    p = _cmd(prices, "propose", cmd_propose, "propose a price sheet from a YAML file (- for "
             "stdin); it takes effect once another person of the bureau approves it")
    p.add_argument("file", help="the sheet's YAML file (e.g. tenants/prices/2026.yaml)")
    p = _cmd(prices, "approve", cmd_approve, "approve a proposed price sheet (bureau-admin, "
             "another person than its proposer); it is never changed afterwards")
    p.add_argument("version", help="the sheet's version")
