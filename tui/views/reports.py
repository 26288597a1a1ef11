"""Reports (`:reports`): a month's statement totals per department (``GET
/reports/statements/{month}``) — department, name, city, base, DR surcharge, total, whether
the month is closed, the gap runs — with the total of everything shown above, largest total
first; `c` toggles the operator scorecard of the same month (``GET
/reports/scorecard/{month}``: each figure, its target, met or missed), for the roles that
assess the operator; `[` and `]` go to the previous and the next month (default: the
previous calendar month). Enter opens one department's statement (``StatementScreen``): its
lines, usage and gaps. docs/reports.md describes the figures.

A month the server will not price (no approved price sheet covers it) shows the server's
message and hint in place of the list. Every department code, name and gap reason is the
server's data: drawn as text (``printable``; never Rich markup).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from govcloud.api.models import Scorecard, StatementReport
from govcloud.api.models.reports import DepartmentStatement
from govcloud.client import ApiClient
from govcloud.domain.text import printable
from govcloud.errors import Forbidden, GovCloudError, InvalidInput, NotFound
from tui.format import fit, stamp
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import DataView, ListView
from tui.views.common import department_label
from tui.widgets.table import Column

NO_DEPARTMENT = "(no department)"  # the key of the usage no department owns
MARK_STYLE = {True: "green", False: "bold red", None: "dim"}
# answers about the month itself (no sheet prices it, the role may not see it): shown in
# place of the figures, and asked again at the usual pace, not retried at once
MONTH_REFUSALS = (InvalidInput, Forbidden, NotFound)


def month_of(at: dt.datetime) -> str:
    """The UTC month of ``at``, ``YYYY-MM`` (as the API names months)."""
    return f"{at.astimezone(dt.UTC):%Y-%m}"


def shift(month: str, months: int) -> str:
    """``month`` (``YYYY-MM``) moved by ``months`` (either way)."""
    year, number = (int(x) for x in month.split("-"))
    index = year * 12 + number - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def amount(text: str) -> tuple[str, Decimal]:
    """An amount as the server wrote it (a decimal as text), with thousands separators, and
    its value to sort by; a value that is not a number is shown as sent and sorts first."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError, ValueError):
        return printable(text), Decimal("-Infinity")
    return (f"{value:,.2f}", value) if value.is_finite() else (printable(text), value)


@dataclass(frozen=True, slots=True)
class MonthData:
    """What one fetch read: the month's statements or its scorecard, or the server's refusal
    of the month."""

    month: str
    scorecard: bool
    answer: StatementReport | Scorecard | None
    refused: GovCloudError | None = None


class ReportsView(ListView):
    VIEW_NAME = "reports"
    REFRESH_S = 60.0  # an open month changes with each sync; building it is not free
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "month(-1)", "previous month", key_display="["),
        Binding("right_square_bracket", "month(1)", "next month", key_display="]"),
        Binding("c", "scorecard", "scorecard"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._month: str | None = None
        self.showing_scorecard = False
        self._statements: dict[str, DepartmentStatement] = {}
        self.report: StatementReport | None = None

    @property
    def month(self) -> str:
        """The month in view, ``YYYY-MM``: at first the previous calendar month."""
        if self._month is None:
            self._month = shift(month_of(self.session.clock()), -1)
        return self._month

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        return [Column("dept", label("dept", lang), 16),
                Column("name", label("name", lang), 40),
                Column("city", label("city", lang), 12),
                Column("base", label("base", lang), 12, right=True),
                Column("surcharge", label("dr_surcharge", lang), 12, right=True),
                Column("total", label("total", lang), 12, right=True),
                Column("month", label("month_state", lang), 8),
                Column("gaps", label("gaps", lang), 5, right=True)]

    def compose_above(self) -> ComposeResult:
        yield Static(id="reports-totals", classes="panel")

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        with VerticalScroll(id="reports-scorecard", can_focus=True):
            yield Static(id="scorecard-detail", classes="panel")

    def on_mount(self) -> None:
        self.query_one("#reports-scorecard").display = False
        super().on_mount()

    def site_changed(self) -> None:
        """Statements span sites; the site keys do not filter them."""

    def default_sort(self) -> tuple[int | None, bool]:
        return 5, True  # the largest total first

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        return "dim" if cells[5] == "0.00" else None

    def may_score(self) -> bool:
        """Only roles that see the whole cloud assess the operator."""
        return bool(self.session.may("statement.view", anywhere=False))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "scorecard":
            return self.may_score()
        if action == "filter":
            return not self.showing_scorecard
        return True

    def fetch(self, api: ApiClient) -> Any:
        month, scorecard = self.month, self.showing_scorecard
        try:
            answer = api.scorecard(month) if scorecard else \
                api.statements("statements", month)
        except MONTH_REFUSALS as exc:
            return MonthData(month, scorecard, None, exc)
        return MonthData(month, scorecard, answer)

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        report: StatementReport = data
        lang = self.session.lang
        closed = label("closed" if report.closed else "open", lang)
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        self._statements = {}
        for s in report.statements:
            key = s.department or NO_DEPARTMENT
            self._statements[key] = s
            name = (department_label(self.app, s.department) if s.department in
                    self.app.departments else s.name)  # type: ignore[attr-defined]
            base, surcharge, total = amount(s.base), amount(s.surcharge), amount(s.total)
            cells = (key, name, s.city or label("provincial", lang), base[0], surcharge[0],
                     total[0], closed, f"{len(s.gaps):,}")
            sort = (key, name, cells[2], base[1], surcharge[1], total[1], closed, len(s.gaps))
            out.append((key, cells, sort))
        return out

    def show(self, data: Any) -> None:
        got: MonthData = data
        if got.month != self.month or got.scorecard != self.showing_scorecard:
            return  # read before the month or the pane changed: the next read is coming
        lang = self.session.lang
        panel = self.query_one("#reports-totals", Static)
        if got.refused is not None:
            self.report = None
            self.table.set_rows([])
            self.query_one("#scorecard-detail", Static).update("")
            panel.update(refused_text(got.month, got.refused, lang))
            self.set_status(f"✖ {got.refused.message}", "error")
        elif isinstance(got.answer, Scorecard):
            panel.update(month_line(got.month, lang))
            self.query_one("#scorecard-detail", Static).update(
                scorecard_text(got.answer, lang))
            self.set_status(label("scorecard_count", lang).format(
                met=got.answer.met, missed=got.answer.missed))
        elif isinstance(got.answer, StatementReport):
            self.report = got.answer
            self.table.set_rows(self.rows(got.answer))
            panel.update(totals_text(got.answer, lang,
                                     province=self.session.may("statement.view",
                                                               anywhere=False)))
            self.update_count()

    def _loading(self) -> None:
        """The month or the pane changed: nothing of the last one stays on screen."""
        self.report = None
        self.table.set_rows([])
        self.query_one("#scorecard-detail", Static).update("")
        lang = self.session.lang
        panel = month_line(self.month, lang)
        panel.append(f"  {label('loading', lang)}", style="dim")
        self.query_one("#reports-totals", Static).update(panel)
        self.action_reload()

    def action_month(self, step: int) -> None:
        latest = month_of(self.session.clock())  # the month under way; none after it
        wanted = shift(self.month, step)
        if wanted > latest:
            self.set_status(label("no_later_month", self.session.lang))
            return
        self._month = wanted
        self._loading()

    def action_scorecard(self) -> None:
        if not self.may_score():
            return
        self.showing_scorecard = not self.showing_scorecard
        self.table.display = not self.showing_scorecard
        scroll = self.query_one("#reports-scorecard", VerticalScroll)
        scroll.display = self.showing_scorecard
        (scroll if self.showing_scorecard else self.table).focus()
        self.refresh_bindings()
        self._loading()

    def drill(self, key: str) -> None:
        row = self._statements.get(key)
        if row is not None and self.report is not None:
            self.app.push_screen(StatementScreen(row, self.report))


def month_line(month: str, lang: str) -> Text:
    out = Text()
    out.append(f"{label('month', lang)} {month}", style="bold")
    out.append(f"   {label('month_keys', lang)}", style="dim")
    return out


def refused_text(month: str, error: GovCloudError, lang: str) -> Text:
    out = month_line(month, lang)
    out.append(f"\n✖ {printable(error.message)}", style="bold red")
    if error.hint:
        out.append(f"\n  {label('hint', lang)}: {printable(error.hint)}")
    return out


def closed_words(report: StatementReport, lang: str) -> Text:
    c = report.closed
    if c is None:
        return Text(label("not_closed", lang), style="yellow")
    return Text(label("closed_by", lang).format(
        at=stamp(c.closed_at), by=printable(c.closed_by),
        person=printable(c.closed_by_person), seal=printable(c.digest[:19])), style="green")


def totals_text(report: StatementReport, lang: str = "en", *, province: bool = False) -> Text:
    """The month, whether it is closed, the total of what the caller sees (``province``: it
    sees every department), the sheets used and the gaps."""
    out = Text()
    out.append(f"{label('month', lang)} {printable(report.month)}   ", style="bold")
    out.append_text(closed_words(report, lang))
    out.append(f"   {label('month_keys', lang)}\n", style="dim")
    t = report.province
    currency = next((s.currency for s in report.statements if s.currency), "")
    out.append(label("statement_totals", lang).format(
        what=label("dr_province" if province else "dr_shown", lang), n=f"{t.departments:,}",
        base=amount(t.base)[0], surcharge=amount(t.surcharge)[0], total=amount(t.total)[0],
        currency=printable(currency)), style="bold")
    sheets = ", ".join(printable(s) for s in report.sheets) or "-"
    hours = sum(g.hours for g in report.gaps)
    out.append(f"\n{label('price_sheets', lang)}: {sheets}   ")
    out.append(label("gaps_line", lang).format(runs=f"{len(report.gaps):,}",
                                               hours=f"{hours:,}"),
               style="yellow" if report.gaps else "")
    return out


def scorecard_text(card: Scorecard, lang: str = "en") -> Text:
    """Each figure by section: its value, its target and its mark."""
    out = Text()
    out.append(label("scorecard_title", lang).format(
        month=printable(card.month), at=stamp(card.at)) + "\n", style="bold")
    marks = {True: label("met", lang), False: label("missed", lang), None: "-"}
    section = None
    for f in card.figures:
        if f.section != section:
            section = f.section
            out.append(f"\n{printable(section)}\n", style="bold")
        out.append(f"  {fit(printable(f.name), 28)} {fit(printable(f.value), 12, right=True)}"
                   f"  {fit(printable(f.target), 12)} ")
        out.append(fit(marks[f.met], 8), style=MARK_STYLE[f.met])
        out.append(f" {printable(f.detail)}\n")
    out.append("\n" + label("scorecard_count", lang).format(met=card.met, missed=card.missed),
               style="bold")
    return out


class StatementScreen(DataView):
    """One department's statement for the month: totals, lines, usage and gaps. Shows the
    list's row at once, and reads it again (ctrl+r) for a named department."""

    VIEW_NAME = "statement"
    AUTO_FOCUS = "#statement-scroll"

    def __init__(self, row: DepartmentStatement, report: StatementReport) -> None:
        super().__init__()
        self.row = row
        self.report = report

    def view_title(self) -> str:
        return (f"{label('statement', self.session.lang)} {printable(self.row.month)} "
                f"{printable(self.row.department or NO_DEPARTMENT)}")

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="statement-scroll", can_focus=True):
            yield Static(statement_text(self.row, self.report, self.session.lang),
                         id="statement-detail", classes="panel")

    def fetch(self, api: ApiClient) -> Any:
        if not self.row.department:
            return None  # no department's usage is read with the whole month
        return api.statements("statements", self.row.month, department=self.row.department)

    def show(self, data: Any) -> None:
        if isinstance(data, StatementReport):
            self.report = data
            self.row = next((s for s in data.statements
                             if s.department == self.row.department), self.row)
        self.query_one("#statement-detail", Static).update(
            statement_text(self.row, self.report, self.session.lang))
        self.set_status(label("esc_back", self.session.lang))


def _lines(out: Text, s: DepartmentStatement, lang: str) -> None:
    out.append(f"\n{label('statement_lines', lang)}\n", style="bold")
    out.append("  " + " ".join(fit(label(k, lang), w, right=r) for k, w, r in (
        ("site", 10, False), ("flavor", 10, False), ("kind", 7, False),
        ("resource", 9, False), ("sheet", 8, False), ("quantity", 12, True),
        ("price", 10, True), ("base", 10, True), ("dr_surcharge", 12, True),
        ("amount", 10, True))) + "\n", style="dim")
    if not s.lines:
        out.append(f"  {label('no_lines', lang)}\n", style="dim")
    for x in s.lines:
        out.append("  " + " ".join(fit(printable(v), w, right=r) for v, w, r in (
            (x.site, 10, False), (x.flavor or "-", 10, False), (x.kind, 7, False),
            (x.resource, 9, False), (x.sheet, 8, False), (x.quantity, 12, True),
            (x.price, 10, True), (amount(x.base)[0], 10, True),
            (amount(x.surcharge)[0], 12, True), (amount(x.amount)[0], 10, True))) + "\n")


def _usage_and_gaps(out: Text, s: DepartmentStatement, lang: str) -> None:
    out.append(f"\n{label('usage_hours', lang)}\n", style="bold")
    if not s.usage:
        out.append(f"  {label('no_usage', lang)}\n", style="dim")
    for u in s.usage:
        out.append(f"  {fit(printable(u.site), 10)} {fit(printable(u.resource), 9)} "
                   f"{fit(printable(u.kind), 7)} {fit(printable(u.quantity), 14, right=True)}\n")
    out.append(f"\n{label('gaps_title', lang)}\n", style="bold")
    if not s.gaps:
        out.append(f"  {label('no_gaps', lang)}\n", style="dim")
    for g in s.gaps:
        out.append(f"  {fit(printable(g.site), 10)} {stamp(g.from_)} → {stamp(g.until)} "
                   f"{g.hours:>5,} h  ")
        out.append(f"{printable(g.reason)}\n", style="yellow")


def statement_text(s: DepartmentStatement, report: StatementReport, lang: str = "en") -> Text:
    out = Text()
    out.append(f"{printable(s.department or NO_DEPARTMENT)}  {printable(s.name)}",
               style="bold")
    out.append(f"   {label('month', lang)} {printable(s.month)}   {label('dr', lang)} "
               f"{s.dr_level}   {printable(s.city or label('provincial', lang))}   ")
    out.append_text(closed_words(report, lang))
    out.append("\n" + label("statement_total", lang).format(
        base=amount(s.base)[0], surcharge=amount(s.surcharge)[0], total=amount(s.total)[0],
        currency=printable(s.currency)), style="bold")
    out.append(f"   {label('price_sheets', lang)}: "
               f"{', '.join(printable(x) for x in s.sheets) or '-'}\n")
    _lines(out, s, lang)
    _usage_and_gaps(out, s, lang)
    return out


register_view(ViewSpec(name="reports", title=("Reports", "报表"), factory=ReportsView,
                       aliases=("statements", "scorecard", "bill"), order=78,
                       needs="statement.view"))
