"""``govcloud change submit|list|show|approve|reject|cancel|close`` and ``govcloud calendar
show|propose|approve``: change requests and the change calendar, clients of ``/changes`` and
``/calendar`` (docs/changes.md). Registered by ``govcloud.cli``; errors are reported there (a
refused gate or window: exit 7)."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from govcloud.api.models.changes import (
    CalendarAnswer,
    CalendarMonth,
    ChangeList,
    ChangeRequest,
)
from govcloud.cli_control import _client, _cmd, _group, _print_json, _table, echo, identifier
from govcloud.client import api_path, as_json
from govcloud.domain.limits import MAX_ID
from govcloud.domain.text import printable
from govcloud.errors import InvalidInput
from govcloud.yamlfile import load_text_tree, read_text

KINDS = ("tenancy-apply", "migration-wave", "dr-drill", "dr-failover", "host-maintenance",
         "lifecycle")
TYPES = ("standard", "normal", "emergency")
STATES = ("submitted", "approved", "flagged", "in-progress", "done", "failed", "rejected",
          "cancelled")
COLUMNS = ("ID", "STATE", "TYPE", "KIND", "START (UTC)", "END (UTC)", "DEPARTMENTS",
           "APPROVALS", "FLAGS", "TITLE")
FILE_FIELDS = ("kind", "type", "title", "departments", "sites", "start", "end",
               "rollback_plan")


def change_id(value: str) -> int:
    """An argparse ``type`` for a change's id: a whole number from 1 (else exit 2)."""
    if not value.isdigit() or not 1 <= int(value) <= MAX_ID:
        raise argparse.ArgumentTypeError(f"{value[:20]!r} is not a change id (a number "
                                         "from 1; `govcloud change list`)")
    return int(value)


def add_change_flag(parser: argparse.ArgumentParser, kind: str) -> None:
    """``--change ID``: the approved change (of ``kind``) an operation runs under."""
    parser.add_argument("--change", type=change_id, metavar="ID",
                        help=f"the approved {kind} change it runs under (docs/changes.md; "
                             "required when change control is enforced)")


def _when(value: str | None) -> str:
    if not value:
        return "-"
    try:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return value


def _row(c: ChangeRequest) -> tuple[str, ...]:
    shown = ", ".join(c.departments[:4]) + (f" +{len(c.departments) - 4}"
                                            if len(c.departments) > 4 else "")
    approvals = "policy" if c.policy else f"{len(c.approvals)}/{c.approvals_needed}"
    return (str(c.id), c.state, c.type, c.kind, _when(c.start), _when(c.end), shown,
            approvals, ",".join(c.flags) or "-", c.title)


def _print_change(c: ChangeRequest) -> None:
    echo(_table([_row(c)], COLUMNS))
    echo(f"requested by {c.requester} ({printable(c.requester_person)}) at "
         f"{_when(c.created_at)} UTC; sites: {', '.join(c.sites) or 'every site'}")
    for a in c.approvals:
        echo(f"  approved by {a.by} ({printable(a.person)}, {a.role}) at {_when(a.at)} UTC")
    if c.policy:
        echo(f"  pre-approved by standard policy {c.policy}")
    if c.review_by:
        echo(f"  emergency: approved after the fact by {_when(c.review_by)} UTC")
    if c.reason:
        echo(f"  reason: {printable(c.reason)}")
    if c.rollback_plan:
        echo("rollback plan:")
        for line in c.rollback_plan.splitlines():
            echo(f"  {printable(line)}")
    for k in c.links or []:
        echo(f"  ran {k.kind} {printable(k.ref)} by {k.actor} at {_when(k.at)} UTC: {k.state}"
             + (f" ({printable(k.detail)})" if k.detail else ""))


def _answer(args: argparse.Namespace, change: ChangeRequest, then: str) -> int:
    if args.json:
        _print_json(as_json(change))
    else:
        _print_change(change)
        echo(then)
    return 0


def _from_file(path: str) -> dict[str, Any]:
    text = read_text(path, what="change file", max_bytes=64 * 1024)
    doc, _lines = load_text_tree(text, what=f"change file {path}")
    if not isinstance(doc, dict):
        raise InvalidInput(f"change file {path} must hold a mapping of fields",
                           hint="fields: " + ", ".join(FILE_FIELDS))
    unknown = [k for k in doc if k not in FILE_FIELDS]
    if unknown:
        raise InvalidInput(f"change file {path}: unknown field {printable(unknown[0])!s}",
                           hint="fields: " + ", ".join(FILE_FIELDS))
    return dict(doc)


def cmd_submit(args: argparse.Namespace) -> int:
    body: dict[str, Any] = _from_file(args.file) if args.file else {}
    rollback = read_text(args.rollback_file, what="rollback plan", max_bytes=16 * 1024) \
        if args.rollback_file else args.rollback
    for key, value in (("kind", args.kind), ("type", args.type), ("title", args.title),
                       ("departments", args.department), ("sites", args.site),
                       ("start", args.start), ("end", args.end), ("rollback_plan", rollback)):
        if value:
            body[key] = value
    missing = [k for k in ("kind", "title", "departments", "start", "end", "rollback_plan")
               if not body.get(k)]
    if missing:
        raise InvalidInput(f"a change needs {', '.join(missing)}",
                           hint="give --kind, --title, --department, --start, --end and "
                                "--rollback (or a --file holding them); docs/changes.md")
    with _client(args) as api:
        change = api.post_as(ChangeRequest, "/changes", body)
    then = {"submitted": f"change {change.id} submitted; the bureau approves it: "
                         f"`govcloud change approve {change.id}` (another person)",
            "approved": f"change {change.id} is pre-approved by policy {change.policy}",
            "flagged": f"emergency change {change.id} may run now; it must be approved by "
                       f"{_when(change.review_by)} UTC"}.get(change.state, "")
    return _answer(args, change, then)


def cmd_list(args: argparse.Namespace) -> int:
    with _client(args) as api:
        listed = api.get_as(ChangeList, "/changes", department=args.department,
                            state=args.state or None, kind=args.kind,
                            flagged=args.flagged or None, limit=args.limit)
    if args.json:
        _print_json(as_json(listed))
    elif listed.changes:
        echo(_table([_row(c) for c in listed.changes], COLUMNS))
    else:
        echo("no changes (submit one: `govcloud change submit`)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _client(args) as api:
        change = api.get_as(ChangeRequest, api_path("changes", args.id))
    return _answer(args, change, "")


def cmd_approve(args: argparse.Namespace) -> int:
    with _client(args) as api:
        change = api.post_as(ChangeRequest, api_path("changes", args.id, "approve"))
    return _answer(args, change, f"change {change.id}: {len(change.approvals)} of "
                                 f"{change.approvals_needed} approvals; {change.state}")


def cmd_reject(args: argparse.Namespace) -> int:
    with _client(args) as api:
        change = api.post_as(ChangeRequest, api_path("changes", args.id, "reject"),
                             {"reason": args.reason})
    return _answer(args, change, f"change {change.id} rejected")


def cmd_cancel(args: argparse.Namespace) -> int:
    body = {"reason": args.reason} if args.reason else None
    with _client(args) as api:
        change = api.post_as(ChangeRequest, api_path("changes", args.id, "cancel"), body)
    return _answer(args, change, f"change {change.id} cancelled")


def cmd_close(args: argparse.Namespace) -> int:
    with _client(args) as api:
        change = api.post_as(ChangeRequest, api_path("changes", args.id, "close"),
                             {"reason": args.reason})
    return _answer(args, change, f"change {change.id} closed: {change.state}")


# --- the calendar ------------------------------------------------------------------------------

def _month(value: str) -> str:
    from govcloud.domain.metering import Month

    try:
        return str(Month.parse(value))
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(f"{exc.message} ({exc.hint})") from None


def _print_month(m: CalendarMonth) -> None:
    if m.version is None:
        echo("no calendar is in force yet: propose one (`govcloud calendar propose FILE`) "
             "and have another person of the bureau approve it")
    else:
        echo(f"calendar {printable(m.version)}, {m.month}, times in UTC{m.timezone}")
        echo(_table([(w.name, ",".join(w.days), f"{w.start}-{w.end}",
                      ", ".join(w.sites) or "every site",
                      ", ".join(w.departments) or "every department") for w in m.windows],
                    ("WINDOW", "DAYS", "TIME", "SITES", "DEPARTMENTS")))
        echo(_table([(o.window, o.start[:16].replace("T", " "), o.end[:16].replace("T", " "))
                     for o in m.openings], ("OPENS", "FROM", "TO")) if m.openings
             else "no window opens this month")
        echo(_table([(f.name, f.from_, f.until, ", ".join(f.departments) or "province-wide",
                      f.reason) for f in m.freezes],
                    ("FREEZE", "FROM", "UNTIL", "DEPARTMENTS", "REASON")) if m.freezes
             else "no freeze this month")
    echo(_table([_row(c) for c in m.changes], COLUMNS) if m.changes
         else "no change planned this month")
    if m.versions:
        echo(_table([(v.version, v.state, "yes" if v.in_force else "",
                      f"{v.proposed_by} ({v.proposed_by_person})",
                      f"{v.approved_by} ({v.approved_by_person})" if v.approved_by else "-")
                     for v in m.versions],
                    ("VERSION", "STATE", "IN FORCE", "PROPOSED BY", "APPROVED BY")))


def cmd_calendar_show(args: argparse.Namespace) -> int:
    month = args.month or dt.datetime.now(dt.UTC).strftime("%Y-%m")
    with _client(args) as api:
        answer = api.get_as(CalendarMonth, "/calendar", month=month, site=args.site,
                            department=args.department)
    if args.json:
        _print_json(as_json(answer))
    else:
        _print_month(answer)
    return 0


def cmd_calendar_propose(args: argparse.Namespace) -> int:
    document = read_text(args.file, what="calendar", max_bytes=64 * 1024)
    with _client(args) as api:
        answer = api.post_as(CalendarAnswer, "/calendar", {"document": document})
    if args.json:
        _print_json(as_json(answer))
    else:
        echo(f"calendar {printable(answer.calendar.version)} proposed ({answer.calendar.digest})"
             "; another person of the bureau approves it: govcloud calendar approve "
             f"{printable(answer.calendar.version)}")
    return 0


def cmd_calendar_approve(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.post_as(CalendarAnswer, api_path("calendar", args.version, "approve"))
    if args.json:
        _print_json(as_json(answer))
    else:
        echo(f"calendar {printable(answer.calendar.version)} approved by "
             f"{answer.calendar.approved_by}; it is in force from now on")
    return 0


def register(commands: Any) -> None:
    sub = _group(commands, "change", "change requests: submit, approve, follow "
                                     "(docs/changes.md)")
    p = _cmd(sub, "submit", cmd_submit, "submit a change from flags or a YAML --file")
    p.add_argument("--file", metavar="FILE", help="a YAML file of the change's fields "
                   "(flags given as well win)")
    p.add_argument("--kind", choices=KINDS, help="the operation the change wraps")
    p.add_argument("--type", choices=TYPES, help="normal (default), standard or emergency")
    p.add_argument("--title", help="one line: what changes")
    p.add_argument("--department", action="append", type=identifier("department"),
                   metavar="CODE", help="a department it affects (repeatable)")
    p.add_argument("--site", action="append", type=identifier("site"), metavar="SITE",
                   help="a site it touches (repeatable; default: every site)")
    p.add_argument("--start", help="the window's start, ISO 8601 with its offset, e.g. "
                                   "2027-01-09T01:00+08:00")
    p.add_argument("--end", help="the window's end")
    p.add_argument("--rollback", help="the rollback plan (or --rollback-file)")
    p.add_argument("--rollback-file", metavar="FILE", help="the rollback plan from a file")
    p = _cmd(sub, "list", cmd_list, "the changes you may see, newest first")
    p.add_argument("--department", type=identifier("department"))
    p.add_argument("--state", action="append", choices=STATES, help="repeatable")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--flagged", action="store_true", help="only those the reports flag "
                   "(emergency changes awaiting or overdue for approval, run in a freeze)")
    p.add_argument("--limit", type=int, default=100)
    for name, handler, help_ in (
            ("show", cmd_show, "a change: approvals, rollback plan, what ran under it"),
            ("approve", cmd_approve, "approve a change (the bureau; not its requester)")):
        p = _cmd(sub, name, handler, help_)
        p.add_argument("id", type=int)
    p = _cmd(sub, "reject", cmd_reject, "reject a change that has not run")
    p.add_argument("id", type=int)
    p.add_argument("--reason", required=True)
    p = _cmd(sub, "cancel", cmd_cancel, "cancel a change that has not run")
    p.add_argument("id", type=int)
    p.add_argument("--reason")
    p = _cmd(sub, "close", cmd_close, "close a change whose work ended or was abandoned")
    p.add_argument("id", type=int)
    p.add_argument("--reason", required=True)

    sub = _group(commands, "calendar", "the change calendar: maintenance windows and freezes")
    p = _cmd(sub, "show", cmd_calendar_show, "a month: windows, their openings, freezes and "
             "the changes planned")
    p.add_argument("--month", type=_month, help="YYYY-MM (default: this month)")
    p.add_argument("--site", type=identifier("site"))
    p.add_argument("--department", type=identifier("department"))
    p = _cmd(sub, "propose", cmd_calendar_propose, "propose a calendar version from a YAML "
             "file (- for stdin); it is in force once another person of the bureau approves")
    p.add_argument("file", help="the calendar's YAML file (e.g. tenants/calendar/2027.yaml)")
    p = _cmd(sub, "approve", cmd_calendar_approve, "approve a proposed calendar version "
             "(bureau-admin, another person than its proposer)")
    p.add_argument("version", type=identifier("version"))
