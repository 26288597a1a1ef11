"""Sites → hypervisors: every host of the site in view (all sites with 0) with its state,
status, vCPU/RAM/disk allocation and running servers; Enter lists the host's servers, and
Enter there opens one server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from govcloud.client import ApiClient, api_path
from tui.format import count, fraction, gib, pct
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import ListView
from tui.views.common import server_rows
from tui.views.servers import ServerList
from tui.widgets.table import Column


def _alloc(fig: dict[str, int], unit: int = 1) -> tuple[str, str]:
    if unit == 1024:
        return f"{gib(fig['allocated'])}/{gib(fig['capacity'])}", \
            pct(fig["allocated"], fig["capacity"])
    return f"{count(fig['allocated'])}/{count(fig['capacity'])}", \
        pct(fig["allocated"], fig["capacity"])


class SitesView(ListView):
    VIEW_NAME = "sites"
    TITLE_KEY = "hypervisors"

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        return [Column("site", label("site", lang), 9),
                Column("host", label("hostname", lang), 18),
                Column("zone", label("zone", lang), 6),
                Column("state", label("state", lang), 5),
                Column("status", label("status", lang), 8),
                Column("vcpu", label("vcpu", lang), 11, right=True),
                Column("vcpu%", "%", 4, right=True),
                Column("ram", f"{label('ram', lang)} GiB", 11, right=True),
                Column("ram%", "%", 4, right=True),
                Column("disk", f"{label('disk', lang)} GB", 13, right=True),
                Column("disk%", "%", 4, right=True),
                Column("servers", label("count", lang), 8, right=True)]

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        if cells[3] != "up":
            return "bold red"
        if cells[4] != "enabled":
            return "yellow"
        return None

    def fetch(self, api: ApiClient) -> Any:
        return api.get("/hypervisors", site=self.app.site)  # type: ignore[attr-defined]

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        site = self.app.site  # type: ignore[attr-defined]
        for h in data["hypervisors"]:
            if site is not None and h["site"] != site:
                continue
            v, r, d = h["vcpus"], h["ram_mb"], h["disk_gb"]
            cells = (h["site"], h["hostname"], h.get("availability_zone") or "-", h["state"],
                     h["status"], *_alloc(v), *_alloc(r, 1024), *_alloc(d),
                     count(h["running_servers"]))
            sort = (h["site"], h["hostname"], cells[2], h["state"], h["status"],
                    v["allocated"], fraction(v["allocated"], v["capacity"]),
                    r["allocated"], fraction(r["allocated"], r["capacity"]),
                    d["allocated"], fraction(d["allocated"], d["capacity"]),
                    h["running_servers"])
            out.append((f"{h['site']}/{h['hostname']}", cells, sort))
        return out

    def drill(self, key: str) -> None:
        site, host = key.split("/", 1)
        self.app.push_screen(HostServersScreen(site, host))


class HostServersScreen(ServerList):
    VIEW_NAME = "host"

    def __init__(self, site: str, host: str) -> None:
        super().__init__()
        self.site_name = site
        self.host = host

    def view_title(self) -> str:
        return f"{label('host', self.session.lang)} {self.site_name}/{self.host}"

    def fetch(self, api: ApiClient) -> Any:
        return api.get(api_path("hypervisors", self.site_name, self.host, "servers"))["servers"]

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        return server_rows(self.app, data)

    def site_changed(self) -> None:
        """A host's servers do not depend on the site in view."""


register_view(ViewSpec(name="sites", title=("Sites → hypervisors", "数据中心 → 宿主机"),
                       factory=SitesView, aliases=("hypervisors", "hosts", "hv"), order=30,
                       needs="capacity.view", needs_global=True))
