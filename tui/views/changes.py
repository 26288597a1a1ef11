"""Changes and the change calendar (issue 21, docs/changes.md).

``:changes`` lists the change requests the principal may see, newest first (refreshed every
5 s): state, type, kind, window, departments, approvals and the flags the reports raise
(an emergency change awaiting or overdue for its approval, or run during a freeze).
``:calendar`` lays out this month of the calendar in force: each maintenance window's
openings, the freezes and the changes planned, in the calendar's own time zone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from govcloud.api.models.changes import CalendarMonth, ChangeList, ChangeRequest
from govcloud.client import ApiClient
from govcloud.domain.text import printable
from tui.format import stamp
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import ListView
from tui.widgets.table import Column

LIMIT = 200
STATE_STYLE = {"failed": "bold red", "rejected": "red", "submitted": "yellow",
               "approved": "cyan", "flagged": "bold magenta", "in-progress": "bold cyan",
               "done": "green", "cancelled": "dim"}


def approvals(c: ChangeRequest) -> str:
    return "policy" if c.policy else f"{len(c.approvals)}/{c.approvals_needed}"


def departments(codes: Sequence[str]) -> str:
    return ", ".join(codes[:3]) + (f" +{len(codes) - 3}" if len(codes) > 3 else "")


class ChangesView(ListView):
    VIEW_NAME = "changes"
    REFRESH_S = 5.0

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        return [Column("id", "ID", 6, right=True),
                Column("state", label("change_state", lang), 11),
                Column("type", label("change_type", lang), 9),
                Column("kind", label("kind", lang), 16),
                Column("start", label("window_start", lang), 16),
                Column("end", label("window_end", lang), 16),
                Column("dept", label("dept", lang), 24),
                Column("approvals", label("approvals", lang), 9),
                Column("flags", label("flags", lang), 22),
                Column("title", label("change_title", lang), 40)]

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        if "review-overdue" in cells[8]:
            return "bold red"
        return STATE_STYLE.get(cells[1])

    def site_changed(self) -> None:
        """Changes span sites; the site keys do not filter them."""

    def fetch(self, api: ApiClient) -> Any:
        return api.get_as(ChangeList, "/changes", limit=LIMIT).changes

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        changes: list[ChangeRequest] = data
        return [(str(c.id), cells, (c.id, *cells[1:]))
                for c in changes
                for cells in [(str(c.id), c.state, c.type, c.kind, stamp(c.start),
                               stamp(c.end), departments(c.departments), approvals(c),
                               ",".join(c.flags) or "-", printable(c.title))]]

    def default_sort(self) -> tuple[int | None, bool]:
        return 0, True


class CalendarView(ListView):
    """This month of the calendar: one row per window opening, freeze and planned change."""

    VIEW_NAME = "calendar"
    REFRESH_S = 30.0

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        return [Column("what", label("calendar_entry", lang), 8),
                Column("name", label("name", lang), 22),
                Column("from", label("from", lang), 16),
                Column("to", label("to", lang), 16),
                Column("scope", label("scope", lang), 30),
                Column("note", label("note", lang), 50)]

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        lang = self.session.lang
        return {label("entry_freeze", lang): "bold red",
                label("entry_change", lang): "cyan"}.get(cells[0])

    def site_changed(self) -> None:
        """The month covers every site; the site keys do not filter it."""

    def fetch(self, api: ApiClient) -> Any:
        month = self.session.clock().astimezone(dt.UTC).strftime("%Y-%m")
        return api.get_as(CalendarMonth, "/calendar", month=month)

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        m: CalendarMonth = data
        lang = self.session.lang
        every = label("every_department", lang)
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        scopes = {w.name: ", ".join([*w.sites, *w.departments]) or every for w in m.windows}
        for i, o in enumerate(m.openings):
            cells = (label("entry_window", lang), o.window, local(o.start), local(o.end),
                     scopes.get(o.window, every), "")
            out.append((f"w{i}", cells, cells))
        for f in m.freezes:
            cells = (label("entry_freeze", lang), f.name, f.from_, f.until, ", ".join(f.departments)
                     or label("province_wide", lang), printable(f.reason))
            out.append((f"f-{f.name}", cells, cells))
        for c in m.changes:
            cells = (label("entry_change", lang), f"#{c.id} {c.state}", stamp(c.start),
                     stamp(c.end), departments(c.departments), printable(c.title))
            out.append((f"c{c.id}", cells, cells))
        return out

    def default_sort(self) -> tuple[int | None, bool]:
        return 2, False


def local(value: str) -> str:
    """A time the calendar gave in its own offset, as ``YYYY-MM-DD HH:MM``."""
    return value[:16].replace("T", " ")


register_view(ViewSpec(name="changes", title=("Changes", "变更"), factory=ChangesView,
                       aliases=("change",), order=75, needs="change.view"))
register_view(ViewSpec(name="calendar", title=("Change calendar", "变更日历"),
                       factory=CalendarView, aliases=("cal", "freezes"), order=76,
                       needs="calendar.view"))
