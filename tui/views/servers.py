"""Servers: every server of the province in one virtual list (fetched once in the
background and shared, ``tui.cache``), filtered by the site in view and by `/`; Enter opens
one server (``ServerScreen``: flavor, host, addresses, metadata, tags, department, site)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from govcloud.api.models import ServerDetail
from govcloud.client import ApiClient
from govcloud.domain.text import printable
from tui.format import gib, stamp
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import DataView, ListView
from tui.views.common import (
    SERVER_SORT,
    department_label,
    server_columns,
    server_rows,
    server_style,
)
from tui.widgets.table import Column, RowSet


class ServerList(ListView):
    """A list of servers (keys ``SITE/ID``), sorted by name; Enter opens the server."""

    def columns(self) -> Sequence[Column]:
        return server_columns(self.session.lang)

    def default_sort(self) -> tuple[int | None, bool]:
        return SERVER_SORT

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        return server_style(cells)

    def drill(self, key: str) -> None:
        site, server_id = key.split("/", 1)
        self.app.push_screen(ServerScreen(site, server_id))


class ServersView(ServerList):
    VIEW_NAME = "servers"

    def on_mount(self) -> None:
        super().on_mount()
        cached = self.app.servers.peek()  # type: ignore[attr-defined]
        if cached is not None:  # show what the prefetch has at once, then refresh
            self.data = cached
            self.show(cached)
        self.set_interval(0.5, self._progress)

    def _progress(self) -> None:
        cache = self.app.servers  # type: ignore[attr-defined]
        if self.data is None and cache.loading:
            self.set_status(f"{label('loading', self.session.lang)} "
                            f"{cache.loading:,} servers", "dim")

    def fetch(self, api: ApiClient) -> Any:
        return self.app.servers.get(api, force=self.loads > 0)  # type: ignore[attr-defined]

    def interval(self) -> float:
        return float(self.app.servers.max_age_s)  # type: ignore[attr-defined]

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]] | RowSet:
        site = self.app.site  # type: ignore[attr-defined]
        built: RowSet | None = self.app.servers.prepared(data)  # type: ignore[attr-defined]
        if built is None:
            return server_rows(self.app, data, site=site)
        # the rows the prefetch built: no work per row here (a site in view picks its own)
        return built if site is None else built.where(lambda key: key.startswith(site + "/"))

    def site_changed(self) -> None:
        if self.data is not None:
            self.show(self.data)


class ServerScreen(DataView):
    """One server in full."""

    VIEW_NAME = "server"

    def __init__(self, site: str, server_id: str) -> None:
        super().__init__()
        self.site_name = site
        self.server_id = server_id

    def compose_body(self) -> ComposeResult:
        yield Static(id="server-detail", classes="panel")

    def view_title(self) -> str:
        return f"{label('server', self.session.lang)} {self.site_name}/{self.server_id[:8]}"

    def fetch(self, api: ApiClient) -> Any:
        return api.server_detail(self.site_name, self.server_id)

    def show(self, data: Any) -> None:
        lang = self.session.lang
        self.query_one("#server-detail", Static).update(server_text(self.app, data, lang))
        self.set_status(label("esc_back", lang))


def server_text(app: Any, s: ServerDetail, lang: str = "en") -> Text:
    out = Text()

    def line(name: str, value: str | None, style: str = "") -> None:
        # every value is the cloud's or a user's: control characters escaped (they may build
        # it from several: addresses, metadata), markup never parsed (a Text)
        out.append(f"{label('f_' + name.replace(' ', '_'), lang):<16}", style="bold")
        out.append(f"{printable(value)}\n", style=style)

    line("name", s.name, "bold")
    line("id", s.id)
    line("site", s.site)
    line("status", s.status, "red" if s.status == "ERROR" else "")
    line("department", f"{department_label(app, s.department)} ({s.department or '-'})")
    ram = gib(s.ram_mb) if s.ram_mb is not None else None
    line("flavor", f"{s.flavor or '-'}: {s.vcpus} vCPU, {ram} GiB RAM, {s.disk_gb} GB disk")
    line("host", s.host or "-")
    line("zone", s.availability_zone or "-")
    line("created", stamp(s.created))
    line("updated", stamp(s.updated))
    if s.live_error:
        line("live detail", f"{label('unavailable', lang)}: {s.live_error}", "yellow")
    addresses = s.addresses or {}
    line("addresses", "; ".join(f"{net}: {', '.join(ips)}" for net, ips in
                                sorted(addresses.items())) or "-")
    metadata = s.metadata or {}
    line("metadata", ", ".join(f"{k}={v}" for k, v in sorted(metadata.items())) or "-")
    line("tags", ", ".join(s.tags or []) or "-")
    return out


register_view(ViewSpec(name="servers", title=("Servers", "云主机"), factory=ServersView,
                       aliases=("srv", "vm", "vms"), order=40))
