"""The header on every screen: the server, the principal and its role, the site in view
(PROD marked in red), each site's data freshness with a stale badge, and the clock."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from govcloud.domain.text import printable
from tui.format import age
from tui.i18n import label

PRODUCTION = "production"


def header_text(*, server: str, whoami: dict[str, Any], site: str | None,
                sites: list[dict[str, Any]], lang: str, now: Any, read_only: bool,
                view_title: str) -> Text:
    """The header's two lines (pure: the tests render it without an app)."""
    out = Text()
    out.append(" govcloud ", style="bold reverse")
    out.append(f" {view_title} ", style="bold")
    out.append(f"│ {printable(server)} ", style="dim")
    if whoami:
        out.append("│ ")
        out.append(printable(whoami.get("name", "?")), style="bold")
        out.append(f" ({printable(whoami.get('role', '?'))}")
        scope = whoami.get("scope")
        if scope and scope != "all":
            out.append(f", {printable(scope)}")
        out.append(")")
        if read_only:
            out.append(f" {label('read_only', lang)}", style="italic")
    out.append(" │ ")
    role = next((s.get("role") for s in sites if s.get("site") == site), None)
    if site is None:
        out.append(f"{label('site_in_view', lang)}: {label('all_sites', lang)}")
    elif role == PRODUCTION:
        out.append(f" {printable(site)} ▲ PRODUCTION ", style="bold white on red")
    else:
        out.append(f"{label('site_in_view', lang)}: ")
        out.append(printable(site), style="bold")
    out.append(" │ " + now.strftime("%Y-%m-%d %H:%M:%S UTC"))
    out.append("\n")
    if not sites:
        out.append(" " + label("loading", lang), style="dim")
    for i, s in enumerate(sites, start=1):
        name = s.get("site", "?")
        shown = printable(name)
        health = s.get("health", "never-synced")
        out.append(f" {i}:", style="dim")
        out.append(shown, style="bold" if name == site else "")
        if health == "ok":
            out.append(" ● ", style="green")
            out.append(age(s.get("data_as_of"), now))
        else:
            badge = label("never", lang) if health == "never-synced" else label("stale", lang)
            out.append(" ")
            out.append(f" {badge} ", style="bold black on yellow")
            out.append(" " + age(s.get("data_as_of"), now))
        out.append("  ")
    return out


class ConsoleHeader(Static):
    """Re-renders itself from the app's session and site status every second."""

    DEFAULT_CSS = """
    ConsoleHeader { height: 2; background: $panel; }
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.view_title = title

    def on_mount(self) -> None:
        self.redraw()
        self.set_interval(1.0, self.redraw)

    def redraw(self) -> None:
        app: Any = self.app
        session = app.session
        self.update(header_text(server=session.server, whoami=session.whoami,
                                site=app.site, sites=app.site_status, lang=session.lang,
                                now=session.clock(), read_only=app.read_only,
                                view_title=self.view_title), layout=False)  # 2 lines
