"""Capacity what-if: pick a site to lose (the number keys pick the site in view; with all
sites in view, the production site) and see whose load moves where, what each receiving
site is short of, and who is not protected. The list has one row per department with load
in the lost site — moved, not protected, or a DR copy lost — so each count the verdict gives
is a count of rows; Enter opens the department."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from govcloud.api.models import CapacitySite, Resources, WhatIf
from govcloud.api.models.inventory import LoadFirst
from govcloud.client import ApiClient
from govcloud.errors import PermanentError
from tui.format import count, gib
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import ListView
from tui.views.common import department_label, primary_site
from tui.widgets.table import Column


@dataclass(frozen=True, slots=True)
class WhatIfData:
    """The verdict, and the sites' figures (their free resources, shown beside the headroom
    the verdict counts on)."""

    what_if: WhatIf
    site_figures: dict[str, CapacitySite]


class WhatIfView(ListView):
    VIEW_NAME = "whatif"

    def lost_site(self) -> str | None:
        return self.app.site or primary_site(self.app)  # type: ignore[attr-defined]

    def compose_above(self) -> ComposeResult:
        yield Static(id="whatif-verdict", classes="panel")

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        return [Column("dept", label("dept", lang), 44),
                Column("dr", label("dr", lang), 3, right=True),
                Column("outcome", label("outcome", lang), 24),
                Column("servers", label("count", lang), 8, right=True),
                Column("vcpu", label("lost_vcpu", lang), 9, right=True),
                Column("need_vcpu", label("need_vcpu", lang), 10, right=True),
                Column("need_ram", label("need_ram", lang), 13, right=True),
                Column("standby", label("standby_vcpu", lang), 13, right=True)]

    def fetch(self, api: ApiClient) -> Any:
        lost = self.lost_site()
        if lost is None:  # the sites are not known yet: ask which there are
            sites = api.status().sites
            lost = next((s.site for s in sites if s.role == "production"), sites[0].site)
        answer = api.capacity(what_if_lose=lost)
        if answer.what_if is None:
            raise PermanentError(f"the control plane answered no what-if for losing {lost}")
        return WhatIfData(what_if=answer.what_if,
                          site_figures={s.site: s for s in answer.sites})

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        return whatif_rows(self.app, data, self.session.lang)

    def default_sort(self) -> tuple[int | None, bool]:
        return 4, True  # the biggest load lost first

    def drill(self, key: str) -> None:
        from tui.views.departments import DepartmentScreen  # (departments imports overview)

        code = key.split("/", 1)[1]
        if code not in self.app.departments:  # type: ignore[attr-defined]
            self.set_status(f"{code} is a project of no department in the catalogue", "error")
            return
        self.app.push_screen(DepartmentScreen(code))

    def show_above(self, data: Any) -> None:
        self.query_one("#whatif-verdict", Static).update(verdict_text(self.app, data,
                                                                      self.session.lang))


def whatif_rows(app: Any, data: WhatIfData, lang: str
                ) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
    """One row per department with load in the lost site: its move (with what it needs in
    the receiving site beyond its standbys), or why it does not move (not protected, or its
    DR copy is what is lost). Keys are ``outcome/department``."""
    out: list[tuple[str, Sequence[str], Sequence[Any]]] = []

    def row(kind: str, dept: str, level: int | None, outcome: str, load: LoadFirst,
            need: Resources | None, standby: Resources | None) -> None:
        cells = (f"{department_label(app, dept)} ({dept})", str(level or "-"), outcome,
                 count(load.servers), count(load.vcpu),
                 count(need.vcpu) if need else "-", gib(need.ram_mb) if need else "-",
                 count(standby.vcpu) if standby else "-")
        sort = (dept, level or 0, outcome, load.servers, load.vcpu,
                need.vcpu if need else -1, need.ram_mb if need else -1,
                standby.vcpu if standby else -1)
        out.append((f"{kind}/{dept}", cells, sort))

    w = data.what_if
    for m in w.moves:
        row("move", m.department, m.dr_level, f"{m.source} → {m.target}",
            m.load, m.need, m.standby)
    for s in w.not_protected:
        row("unprotected", s.department, s.dr_level, label("not_protected", lang),
            s.load, None, None)
    for s in w.copies_lost:
        row("copy", s.department, s.dr_level, label("copy_lost", lang), s.load,
            None, None)
    return out


def verdict_text(app: Any, data: WhatIfData, lang: str) -> Text:
    out = Text()
    w = data.what_if
    lost = w.lost_load
    out.append(label("if_lost", lang).format(site=w.lost_site) + " ", style="bold")
    out.append(label("lost_load", lang).format(
        servers=count(lost.servers), vcpu=count(lost.vcpu),
        ram=gib(lost.ram_mb)) + ": ")
    out.append(label("fits", lang) if w.fits else label("short", lang),
               style="bold green" if w.fits else "bold red")
    out.append("   " + label("whatif_keys", lang) + "\n", style="dim")
    for r in w.receiving:
        inc, free, short = r.incoming, r.free, r.shortfall
        out.append(f"  {r.site:<10}", style="bold")
        out.append(label("takes_needs", lang).format(
            n=len(r.departments), vcpu=count(inc.vcpu), ram=gib(inc.ram_mb),
            disk=count(inc.disk_gb)) + "; ")
        out.append(label("headroom_of", lang).format(
            vcpu=count(free.vcpu), ram=gib(free.ram_mb), disk=count(free.disk_gb)))
        fig = data.site_figures.get(r.site)
        if fig is not None:
            out.append(" " + label("free_of", lang).format(
                vcpu=count(fig.vcpus.free), ram=gib(fig.ram_mb.free),
                disk=count(fig.disk_gb.free)), style="dim")
        out.append(" — ")
        if r.fits:
            out.append(label("takes_fits", lang) + "\n", style="green")
        else:
            out.append(label("short_by", lang).format(
                vcpu=count(short.vcpu), ram=gib(short.ram_mb),
                disk=count(short.disk_gb)) + "\n", style="bold red")
    if w.receiving:
        out.append("  " + label("headroom_vs_free", lang) + "\n", style="dim")
    if w.not_protected:
        names = ", ".join(department_label(app, s.department, english=False)
                          for s in w.not_protected[:8])
        more = len(w.not_protected) - 8
        out.append("  " + label("not_protected_n", lang).format(n=len(w.not_protected))
                   + f": {names}" + (f" (+{more})" if more > 0 else "") + "\n",
                   style="yellow")
    if w.copies_lost:
        out.append("  " + label("copies_lost_n", lang).format(n=len(w.copies_lost))
                   + "\n", style="yellow")
    if w.stale_sites:
        out.append("  " + label("stale_warning", lang).format(
            sites=", ".join(w.stale_sites)) + "\n", style="bold yellow")
    return out


register_view(ViewSpec(name="whatif", title=("Capacity what-if", "容量推演"),
                       factory=WhatIfView, aliases=("capacity", "lose"), order=50,
                       needs="capacity.view", needs_global=True))
