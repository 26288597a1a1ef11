"""Audit: the newest entries of the hash-chained log (those the principal may see) and,
for whole-cloud auditors, whether the chain verifies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from govcloud.client import ApiClient
from govcloud.domain.text import printable
from govcloud.errors import Forbidden
from tui.format import stamp
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import ListView
from tui.widgets.table import Column

LIMIT = 1000


class AuditView(ListView):
    VIEW_NAME = "audit"

    def compose_above(self) -> ComposeResult:
        yield Static(id="audit-verify", classes="panel")

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        return [Column("seq", label("seq", lang), 6, right=True),
                Column("at", label("at", lang), 16),
                Column("actor", label("actor", lang), 16),
                Column("action", label("action", lang), 22),
                Column("target", label("target", lang), 34),
                Column("after", "CHANGE", 40)]

    def default_sort(self) -> tuple[int | None, bool]:
        return 0, True  # newest first

    def fetch(self, api: ApiClient) -> Any:
        entries = api.get("/audit", newest_first=True, limit=LIMIT)["entries"]
        try:
            verify = api.get("/audit/verify")
        except Forbidden:
            verify = None
        return {"entries": entries, "verify": verify}

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        for e in data["entries"]:
            change = json.dumps(e.get("after"), ensure_ascii=False, sort_keys=True) \
                if e.get("after") is not None else "-"
            cells = (str(e["seq"]), stamp(e["at"]), e["actor"], e["action"], e["target"],
                     change)
            out.append((str(e["seq"]), cells, (e["seq"], *cells[1:])))
        return out

    def show_above(self, data: Any) -> None:
        v = data["verify"]
        lang = self.session.lang
        text = Text()
        if v is None:
            text.append("chain verification needs a whole-cloud auditor", style="dim")
        elif v["ok"]:
            text.append(f"✔ {label('verified', lang)}", style="bold green")
            text.append(f": {v['checked']:,} entries, head #{v['head']['seq']}")
        else:
            text.append(f"✖ {label('broken', lang)}", style="bold white on red")
            text.append(f" at entry #{v['seq']}: "
                        f"{printable(v.get('description') or v.get('reason'))}")
        self.query_one("#audit-verify", Static).update(text)

    def site_changed(self) -> None:
        """The audit log is not per site."""


register_view(ViewSpec(name="audit", title=("Audit", "审计"), factory=AuditView,
                       aliases=("log",), order=70, needs="audit.view"))
