"""Overview: the sites side by side (vCPU/RAM/disk as bars of used, allocated and free
against capacity, hypervisors up, compute services down, how many more of the common flavors
fit), the lose-the-production-site verdict, and the departments closest to their quotas.

The first screen takes two requests (``GET /status``, then ``GET /capacity`` with the
what-if, the flavor fits and the services down) and is shown at once; the quotas
(``GET /usage``) follow."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Static

from govcloud.api.models import Capacity, CapacitySite, Status, StatusSite, Usage
from govcloud.client import ApiClient
from tui.format import bar, count, fraction, gib, level_style, pct, usage_bar
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import DataView
from tui.views.common import COMMON_FLAVORS, department_label

QUOTA_RESOURCES = ("cores", "ram", "instances")


def closest_to_quota(usage: Usage, *, top: int = 8) -> list[tuple[float, str, str, str]]:
    """``(fraction, department, site, resource)`` of the fullest quota of each department,
    fullest first."""
    best: dict[str, tuple[float, str, str, str]] = {}
    for dept, sites in usage.departments.items():
        # ties go to the same site every time
        for site, entry in sorted(sites.items(), key=lambda item: item[0]):
            for res in QUOTA_RESOURCES:
                q = entry.quotas.get(res)
                if q is None or q.limit <= 0:
                    continue
                frac = q.in_use / q.limit
                if dept not in best or frac > best[dept][0]:
                    best[dept] = (frac, dept, site, res)
    return sorted(best.values(), key=lambda t: (-t[0], t[1]))[:top]


@dataclass
class OverviewData:
    """What the overview shows: ``capacity`` only for principals with ``capacity.view`` on
    the whole cloud, ``usage`` once ``GET /usage`` has answered."""

    status: Status
    capacity: Capacity | None = None
    usage: Usage | None = None


class FirstScreenLoaded(Message):
    """Everything but the quotas: shown before ``GET /usage`` answers."""

    def __init__(self, data: OverviewData) -> None:
        super().__init__()
        self.data = data


class OverviewView(DataView):
    VIEW_NAME = "overview"

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="overview-body"):
            yield Horizontal(id="site-cards", classes="sites")
            yield Static(id="verdict", classes="panel")
            yield Static(id="quotas", classes="panel")

    def fetch(self, api: ApiClient) -> Any:
        out = OverviewData(status=api.status())
        if self.session.may("capacity.view", anywhere=False):
            primary = next((s.site for s in out.status.sites if s.role == "production"), None)
            out.capacity = api.capacity(what_if_lose=primary, fit=list(COMMON_FLAVORS))
        if self.data is None:  # the first time: show what there is before the quotas
            self.post_message(FirstScreenLoaded(replace(out)))
        out.usage = api.usage()
        return out

    @on(FirstScreenLoaded)
    def _first_screen(self, message: FirstScreenLoaded) -> None:
        if self.data is None:
            self.show(message.data)

    def show(self, data: Any) -> None:
        overview: OverviewData = data
        lang = self.session.lang
        cards = self.query_one("#site-cards", Horizontal)
        capacity = overview.capacity
        sites: list[CapacitySite] | list[StatusSite] = \
            (capacity.sites if capacity is not None else []) or overview.status.sites
        status = {s.site: s for s in overview.status.sites}
        existing = {c.id: c for c in cards.query(Static)}
        for s in sites:
            card_id = f"card-{s.site}"
            text = self.site_card(s, status.get(s.site), overview)
            card = existing.get(card_id)
            if card is None:
                card = Static(text, id=card_id, classes="site-card")
                cards.mount(card)
            else:
                card.update(text)
            card.set_class(s.role == "production", "production")
        self.query_one("#verdict", Static).update(self.verdict(overview))
        self.query_one("#quotas", Static).update(self.quotas(overview))
        if capacity is None:
            self.set_status(label("no_capacity_rights", lang), "dim")
        else:
            self.set_status(label("overview_keys", lang))

    def site_card(self, s: CapacitySite | StatusSite, st: StatusSite | None,
                  data: OverviewData) -> Text:
        lang = self.session.lang
        out = Text()
        out.append(s.site, style="bold")
        out.append(f"  {s.role}", style="dim")
        if st is not None and st.health != "ok":
            out.append(f"  {label('stale', lang)} ", style="bold black on yellow")
        out.append("\n")
        self.figures(out, s, data)
        if st is not None:
            out.append(label("servers_n", lang).format(n=count(st.servers.total)))
        return out

    def figures(self, out: Text, s: CapacitySite | StatusSite, data: OverviewData) -> None:
        """A site's bars, headroom, quota commitment, hosts up, services down and flavor
        fits, added to ``out`` (nothing when its answer has no figures: a principal who does
        not see the whole cloud)."""
        lang = self.session.lang
        vcpus, ram_mb, disk_gb = s.vcpus, s.ram_mb, s.disk_gb
        if vcpus is None or ram_mb is None or disk_gb is None:
            return
        for key, name, unit, fig in (("vcpus", "vcpu", 1, vcpus), ("ram_mb", "ram", 1024, ram_mb),
                                     ("disk_gb", "disk", 1, disk_gb)):
            alloc, cap = fig.allocated, fig.capacity
            used = fig.used  # absent from a control plane older than the bars
            out.append(f"{label(name, lang):<5}")
            out.append_text(usage_bar(alloc if used is None else used, alloc, cap, 16))
            out.append(f" {pct(alloc, cap):>4}", style=level_style(fraction(alloc, cap)))
            suffix = " GiB" if unit == 1024 else (" GB" if key == "disk_gb" else "")
            out.append(f" {label('of', lang)} {count(cap // unit)}{suffix}\n     ",
                       style="dim")
            if used is not None:
                out.append(f"{label('used', lang)} {count(used // unit)} · ")
            out.append(f"{label('alloc', lang)} {count(alloc // unit)} · "
                       f"{label('free', lang)} {count(fig.free // unit)}\n")
        out.append(f"{label('headroom', lang)}: {count(vcpus.headroom)} vCPU · "
                   f"{gib(ram_mb.headroom)} GiB · "
                   f"{count(disk_gb.headroom)} GB\n", style="dim")
        q = s.quota_commitment if isinstance(s, CapacitySite) else None
        if q is not None:
            out.append(f"{label('quota_commit', lang)}: ")
            for i, (ratio, name) in enumerate(((q.ratio.vcpu, label("vcpu", lang)),
                                               (q.ratio.ram, label("ram", lang)))):
                out.append(" · " if i else "")
                out.append(f"{ratio:.0%}" if ratio is not None else "-",
                           style="bold red" if ratio and ratio > 1 else "")
                out.append(f" {name}")
            out.append(f" {label('of_capacity', lang)}\n")
        if isinstance(s, CapacitySite):
            up, total, down = s.hypervisors_up, s.hypervisors, s.services_down
        else:
            hosts = s.hypervisors
            up, total = (hosts.up, hosts.total) if hosts is not None else (0, 0)
            down = 0
        out.append(f"{label('hosts_up', lang)}: ")
        out.append(f"{up}/{total}", style="red" if up < total else "green")
        out.append(f"\n{label('services_down', lang)}: ")
        out.append(str(down), style="red" if down else "green")
        out.append(f"\n{label('flavor_fit', lang)}:\n")
        fits = (data.capacity.flavor_fits if data.capacity is not None else None) or {}
        for flavor, per_site in fits.items():
            n = next((f.count for f in per_site if f.site == s.site), None)
            if n is not None:
                out.append(f"  {flavor:<9} {count(n):>7}\n")

    def verdict(self, data: OverviewData) -> Text:
        lang = self.session.lang
        w = data.capacity.what_if if data.capacity is not None else None
        out = Text()
        if w is None:
            return out
        out.append(label("if_lost", lang).format(site=w.lost_site) + ": ", style="bold")
        if w.fits:
            out.append(label("fits", lang), style="bold green")
        else:
            out.append(label("short", lang), style="bold red")
        for r in w.receiving:
            short = r.shortfall
            out.append("\n  " + label("takes", lang).format(
                site=r.site, n=len(r.departments), vcpu=count(r.incoming.vcpu),
                ram=gib(r.incoming.ram_mb)) + ": ")
            if r.fits:
                out.append(label("takes_fits", lang), style="green")
            else:
                out.append(label("short_by", lang).format(
                    vcpu=count(short.vcpu), ram=gib(short.ram_mb),
                    disk=count(short.disk_gb)), style="red")
        if w.not_protected:
            out.append("\n  " + label("not_protected_n", lang).format(
                n=len(w.not_protected)), style="yellow")
        if w.copies_lost:
            out.append("\n  " + label("copies_lost_n", lang).format(
                n=len(w.copies_lost)), style="yellow")
        out.append("   " + label("whatif_more", lang), style="dim")
        return out

    def quotas(self, data: OverviewData) -> Text:
        out = Text()
        out.append(label("closest_quota", self.session.lang) + "\n", style="bold")
        if data.usage is None:
            out.append("  " + label("loading", self.session.lang), style="dim")
            return out
        for frac, dept, site, res in closest_to_quota(data.usage):
            out.append(f"  {pct(frac, 1):>5} ", style=level_style(frac))
            out.append_text(bar(frac, 1, 12))
            out.append(f" {site:<9} {res:<9} {department_label(self.app, dept)}\n")
        return out


register_view(ViewSpec(name="overview", title=("Overview", "总览"), factory=OverviewView,
                       aliases=("home", "ov"), order=10))
