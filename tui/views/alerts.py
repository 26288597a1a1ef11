"""Alerts/Health: the region API probes of every site's services (state, latency, when,
failures in a row, the error) and, above them, the alerts ``GET /status`` raises (stale
sites, capacity, hypervisors and APIs down). Follows the site in view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from govcloud.api.models import Probes, Status
from govcloud.client import ApiClient
from govcloud.domain.text import printable
from tui.format import stamp
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import ListView
from tui.widgets.table import Column

STATE_STYLE = {"down": "bold red", "slow": "yellow", "old": "dim", "never-probed": "dim"}
SEVERITY_STYLE = {"critical": "bold white on red", "warning": "bold yellow", "info": "cyan"}
STATE_ORDER = {"down": 0, "slow": 1, "old": 2, "never-probed": 3, "up": 4}


class AlertsView(ListView):
    VIEW_NAME = "alerts"

    def compose_above(self) -> ComposeResult:
        yield Static(id="alerts-panel", classes="panel")

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        return [Column("site", label("site", lang), 10),
                Column("service", label("service", lang), 10),
                Column("state", label("state", lang), 12),
                Column("latency", label("latency", lang), 10, right=True),
                Column("checked", label("checked", lang), 16),
                Column("failures", label("failures", lang), 6, right=True),
                Column("error", label("error", lang), 60)]

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        return STATE_STYLE.get(cells[2])

    def fetch(self, api: ApiClient) -> Any:
        return {"health": api.probes(), "status": api.status()}

    def _site(self) -> str | None:
        site: str | None = getattr(self.app, "site", None)
        return site

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        site = self._site()
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        health: Probes = data["health"]
        for s in health.sites:
            if site is not None and s.site != site:
                continue
            for p in s.services:
                latency = p.latency_s
                failures = p.failures if p.failures is not None else 0
                cells = (s.site, p.service, p.state,
                         f"{latency * 1000:,.0f}" if latency is not None else "-",
                         stamp(p.checked_at), str(failures), p.error or "")
                sort = (s.site, p.service, STATE_ORDER.get(p.state, 9),
                        latency or 0.0, cells[4], failures, cells[6])
                out.append((f"{s.site}/{p.service}", cells, sort))
        return out

    def show_above(self, data: Any) -> None:
        site = self._site()
        status: Status = data["status"]
        alerts = [a for a in status.alerts if site is None or a.site == site]
        text = Text()
        if not alerts:
            text.append(f"✔ {label('no_alerts', self.session.lang)}", style="bold green")
        for i, a in enumerate(alerts):
            if i:
                text.append("\n")
            text.append(f" {a.severity.upper()} ",
                        style=SEVERITY_STYLE.get(a.severity, "bold"))
            text.append(f" {printable(a.message)}")
        self.query_one("#alerts-panel", Static).update(text)


# for the roles that see the whole cloud (operators, auditors, the bureau): the on-call's view
register_view(ViewSpec(name="alerts", title=("Alerts/Health", "告警/健康"), factory=AlertsView,
                       aliases=("health", "probes"), order=80, needs="capacity.view",
                       needs_global=True))
