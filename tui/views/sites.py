"""Sites → hypervisors: above, each site in view in `govcloud capacity`'s words (used,
allocated of capacity, free, headroom and the departments' quotas against capacity); below,
every host of the site in view (all sites with 0) with its state, status, vCPU/RAM/disk
allocation and running servers; Enter lists the host's servers, and Enter there opens one
server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from govcloud.api.models import CapacitySite, Figure, HostServers, Hypervisors
from govcloud.client import ApiClient, api_path
from tui.format import count, fraction, gib, level_style, pct
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import ListView
from tui.views.common import server_rows
from tui.views.servers import ServerList
from tui.widgets.table import Column


def _alloc(fig: Figure, unit: int = 1) -> tuple[str, str]:
    if unit == 1024:
        return f"{gib(fig.allocated)}/{gib(fig.capacity)}", pct(fig.allocated, fig.capacity)
    return f"{count(fig.allocated)}/{count(fig.capacity)}", pct(fig.allocated, fig.capacity)


@dataclass(frozen=True, slots=True)
class SitesData:
    hypervisors: Hypervisors
    capacity: list[CapacitySite]


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
                Column("vcpu", f"{label('vcpu', lang)} {label('alloc_cap', lang)}", 11,
                       right=True),
                Column("vcpu%", "%", 4, right=True),
                Column("ram", f"{label('ram', lang)} GiB {label('alloc_cap', lang)}", 11,
                       right=True),
                Column("ram%", "%", 4, right=True),
                Column("disk", f"{label('disk', lang)} GB {label('alloc_cap', lang)}", 13,
                       right=True),
                Column("disk%", "%", 4, right=True),
                Column("servers", label("count", lang), 8, right=True)]

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        if cells[3] != "up":
            return "bold red"
        if cells[4] != "enabled":
            return "yellow"
        return None

    def compose_above(self) -> ComposeResult:
        yield Static(id="site-capacity", classes="panel")

    def fetch(self, api: ApiClient) -> Any:
        site = self.app.site  # type: ignore[attr-defined]
        return SitesData(hypervisors=api.hypervisors(site=site),
                         capacity=api.capacity(site=site).sites)

    def show_above(self, data: Any) -> None:
        shown: SitesData = data
        self.query_one("#site-capacity", Static).update(
            capacity_text(shown.capacity, self.session.lang))

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        shown: SitesData = data
        site = self.app.site  # type: ignore[attr-defined]
        for h in shown.hypervisors.hypervisors:
            if site is not None and h.site != site:
                continue
            v, r, d = h.vcpus, h.ram_mb, h.disk_gb
            status = "maintenance" if h.maintenance else h.status  # in no site total
            cells = (h.site, h.hostname, h.availability_zone or "-", h.state,
                     status, *_alloc(v), *_alloc(r, 1024), *_alloc(d),
                     count(h.running_servers))
            sort = (h.site, h.hostname, cells[2], h.state, status,
                    v.allocated, fraction(v.allocated, v.capacity),
                    r.allocated, fraction(r.allocated, r.capacity),
                    d.allocated, fraction(d.allocated, d.capacity),
                    h.running_servers)
            out.append((f"{h.site}/{h.hostname}", cells, sort))
        return out

    def drill(self, key: str) -> None:
        site, host = key.split("/", 1)
        self.app.push_screen(HostServersScreen(site, host))


def capacity_text(sites: list[CapacitySite], lang: str) -> Text:
    """Per site and resource: used · alloc/cap · free · headroom · quotas/cap (RAM in GiB),
    the words of `govcloud capacity`."""
    out = Text()
    for n, s in enumerate(sites):
        q = s.quota_commitment
        for i, (fig, name, unit, quota) in enumerate((
                (s.vcpus, label("vcpu", lang), 1, "vcpu"),
                (s.ram_mb, f"{label('ram', lang)} GiB", 1024, "ram"))):

            def num(v: int, unit: int = unit) -> str:
                return gib(v) if unit == 1024 else count(v)

            if n or i:
                out.append("\n")
            out.append(f"{s.site if i == 0 else '':<10}", style="bold")
            out.append(f"{name:<9} ")
            if fig.used is not None:
                out.append(f"{label('used', lang)} {num(fig.used)} · ")
            out.append(f"{label('alloc', lang)} {num(fig.allocated)}/"
                       f"{num(fig.capacity)} ")
            out.append(pct(fig.allocated, fig.capacity),
                       style=level_style(fraction(fig.allocated, fig.capacity)))
            out.append(f" · {label('free', lang)} {num(fig.free)} · "
                       f"{label('headroom', lang)} {num(fig.headroom)}")
            if q is not None:
                ratio = q.ratio.vcpu if quota == "vcpu" else q.ratio.ram
                committed = q.committed.vcpu if quota == "vcpu" else q.committed.ram_mb
                out.append(f" · {label('quota_commit', lang)} {num(committed)} = ")
                out.append(f"{ratio:.0%}" if ratio is not None else "-",
                           style="bold red" if ratio and ratio > 1 else "")
                out.append(f" {label('of_capacity', lang)}")
    return out


class HostServersScreen(ServerList):
    VIEW_NAME = "host"

    def __init__(self, site: str, host: str) -> None:
        super().__init__()
        self.site_name = site
        self.host = host

    def view_title(self) -> str:
        return f"{label('host', self.session.lang)} {self.site_name}/{self.host}"

    def fetch(self, api: ApiClient) -> Any:
        return api.get_as(HostServers,
                          api_path("hypervisors", self.site_name, self.host, "servers")).servers

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        return server_rows(self.app, data)

    def site_changed(self) -> None:
        """A host's servers do not depend on the site in view."""


register_view(ViewSpec(name="sites", title=("Sites → hypervisors", "数据中心 → 宿主机"),
                       factory=SitesView, aliases=("hypervisors", "hosts", "hv"), order=30,
                       needs="capacity.view", needs_global=True))
