"""The header on every screen: the server, the principal and its role, the site in view
(PROD marked in red), each site's data freshness with a stale badge, and the clock.

It draws plain values (``SiteFreshness``, ``Principal``): the app makes them from the typed
``/status`` and ``/whoami`` answers (``freshness``, ``principal``), and the tests pin them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

from rich.text import Text
from textual.widgets import Static

from govcloud.api.models import StatusSite, WhoAmI
from govcloud.domain.text import printable
from tui.format import age
from tui.i18n import label

PRODUCTION = "production"


class SiteFreshness(TypedDict):
    """What the header shows of a site: its name, role, health and when its data is from."""

    site: str
    role: str
    health: str
    data_as_of: str | None


class Principal(TypedDict):
    """What the header shows of the principal."""

    name: str
    role: str
    scope: str


def freshness(site: StatusSite) -> SiteFreshness:
    return {"site": site.site, "role": site.role, "health": site.health,
            "data_as_of": site.data_as_of}


def principal(whoami: WhoAmI | None) -> Principal | None:
    if whoami is None:
        return None
    return {"name": whoami.name, "role": whoami.role, "scope": whoami.scope}


def header_text(*, server: str, whoami: Principal | None, site: str | None,
                sites: Sequence[SiteFreshness], lang: str, now: Any, read_only: bool,
                view_title: str, servers: Sequence[str] = ()) -> Text:
    """The header's two lines (pure: the tests render it without an app). ``servers``: every
    replica the console may use; with several, which of them it is on."""
    out = Text()
    out.append(" govcloud ", style="bold reverse")
    out.append(f" {view_title} ", style="bold")
    out.append(f"│ {printable(server)} ", style="dim")
    if len(servers) > 1 and server in servers:
        out.append(f"({label('replica', lang)} {servers.index(server) + 1}/{len(servers)}) ",
                   style="dim")
    if whoami:
        out.append("│ ")
        out.append(printable(whoami["name"]), style="bold")
        out.append(f" ({printable(whoami['role'])}")
        scope = whoami["scope"]
        if scope and scope != "all":
            out.append(f", {printable(scope)}")
        out.append(")")
        if read_only:
            out.append(f" {label('read_only', lang)}", style="italic")
    out.append(" │ ")
    role = next((s["role"] for s in sites if s["site"] == site), None)
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
        name = s["site"]
        shown = printable(name)
        health = s["health"]
        out.append(f" {i}:", style="dim")
        out.append(shown, style="bold" if name == site else "")
        if health == "ok":
            out.append(" ● ", style="green")
            out.append(age(s["data_as_of"], now))
        else:
            badge = label("never", lang) if health == "never-synced" else label("stale", lang)
            out.append(" ")
            out.append(f" {badge} ", style="bold black on yellow")
            out.append(" " + age(s["data_as_of"], now))
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
        while session.switches:  # the client moved to another replica: say so, once
            old, new = session.switches.pop(0)
            app.notify(f"{printable(old)} {label('did_not_answer', session.lang)} "
                       f"{printable(new)}", severity="warning", timeout=10)
        self.update(header_text(server=session.server, whoami=principal(session.whoami),
                                site=app.site, sites=app.site_status, lang=session.lang,
                                now=session.clock(), read_only=app.read_only,
                                view_title=self.view_title, servers=session.servers),
                    layout=False)  # 2 lines
