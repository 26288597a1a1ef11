"""Audit: the newest entries of the hash-chained log (those the principal may see) and,
for whole-cloud auditors, whether the chain verifies. Enter opens one entry in full
(``AuditEntryScreen``: the whole change before and after, scrollable, and its hashes)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from govcloud.api.models import AuditEntry, AuditVerification
from govcloud.client import ApiClient
from govcloud.domain.text import printable
from govcloud.errors import Forbidden
from tui.format import stamp
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import DataView, ListView
from tui.widgets.table import Column

LIMIT = 1000


@dataclass(frozen=True, slots=True)
class AuditData:
    """The newest entries, and the chain's verification (None: the principal may not)."""

    entries: list[AuditEntry]
    verify: AuditVerification | None


class AuditView(ListView):
    VIEW_NAME = "audit"

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, AuditEntry] = {}  # by seq: what Enter opens

    def compose_above(self) -> ComposeResult:
        yield Static(id="audit-verify", classes="panel")

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        return [Column("seq", label("seq", lang), 6, right=True),
                Column("at", label("at", lang), 16),
                Column("actor", label("actor", lang), 16),
                Column("action", label("action", lang), 22),
                Column("target", label("target", lang), 34),
                Column("after", label("change", lang), 40)]

    def default_sort(self) -> tuple[int | None, bool]:
        return 0, True  # newest first

    def fetch(self, api: ApiClient) -> Any:
        entries = api.audit(newest_first=True, limit=LIMIT).entries
        verify: AuditVerification | None
        try:
            verify = api.get_as(AuditVerification, "/audit/verify")
        except Forbidden:
            verify = None
        return AuditData(entries=entries, verify=verify)

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        audit: AuditData = data
        self.entries = {str(e.seq): e for e in audit.entries}
        for e in audit.entries:
            change = json.dumps(e.after, ensure_ascii=False, sort_keys=True) \
                if e.after is not None else "-"
            cells = (str(e.seq), stamp(e.at), e.actor, e.action, e.target, change)
            out.append((str(e.seq), cells, (e.seq, *cells[1:])))
        return out

    def show_above(self, data: Any) -> None:
        audit: AuditData = data
        v = audit.verify
        lang = self.session.lang
        text = Text()
        if v is None:
            text.append("chain verification needs a whole-cloud auditor", style="dim")
        elif v.ok:
            text.append(f"✔ {label('verified', lang)}", style="bold green")
            text.append(f": {v.checked:,} entries, head #{v.head.seq}")
        else:
            text.append(f"✖ {label('broken', lang)}", style="bold white on red")
            text.append(f" at entry #{v.seq}: {printable(v.description or v.reason)}")
        self.query_one("#audit-verify", Static).update(text)

    def site_changed(self) -> None:
        """The audit log is not per site."""

    def drill(self, key: str) -> None:
        entry = self.entries.get(key)
        if entry is not None:
            self.app.push_screen(AuditEntryScreen(entry))


class AuditEntryScreen(DataView):
    """One audit entry in full: who did what to what and when, the whole change (before and
    after, as indented JSON, scrollable) and the entry's place in the hash chain. The entry
    is the one the list read (entries never change)."""

    VIEW_NAME = "audit-entry"
    REFRESH_S = 3600.0
    AUTO_FOCUS = "#audit-entry-scroll"

    def __init__(self, entry: AuditEntry) -> None:
        super().__init__()
        self.entry = entry

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="audit-entry-scroll", can_focus=True):
            yield Static(id="audit-entry", classes="panel")

    def view_title(self) -> str:
        return f"{label('audit_entry', self.session.lang)} #{self.entry.seq}"

    def fetch(self, api: ApiClient) -> Any:
        return self.entry

    def show(self, data: Any) -> None:
        self.query_one("#audit-entry", Static).update(entry_text(data, self.session.lang))
        self.set_status(label("esc_back", self.session.lang))

    def site_changed(self) -> None:
        """An audit entry is not per site."""


def entry_text(e: AuditEntry, lang: str) -> Text:
    """An audit entry in full; every value escaped (the JSON keeps non-ASCII text as it is)."""
    out = Text()

    def line(name: str, value: Any) -> None:
        out.append(f"{label(name, lang):<10}", style="bold")
        out.append(f"{printable(value)}\n")

    line("seq", e.seq)
    line("at", e.at)
    line("actor", e.actor)
    line("action", e.action)
    line("target", e.target)
    for part, value in (("before", e.before), ("after", e.after)):
        out.append(f"\n{label(part, lang)}\n", style="bold")
        if value is None:
            out.append("  -\n", style="dim")
            continue
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2)
        for row in text.splitlines():
            out.append(f"  {printable(row)}\n")
    out.append(f"\n{label('chain', lang)}\n", style="bold")
    line("prev_hash", e.prev_hash or "-")
    line("hash", e.hash or "-")
    if e.mac:
        line("mac", e.mac)
    return out


register_view(ViewSpec(name="audit", title=("Audit", "审计"), factory=AuditView,
                       aliases=("log",), order=70, needs="audit.view"))
