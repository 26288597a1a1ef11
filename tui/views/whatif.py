"""Capacity what-if: pick a site to lose (the number keys pick the site in view; with all
sites in view, the production site) and see whose load moves where, what each receiving
site is short of, and who is not protected."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from govcloud.client import ApiClient
from tui.format import count, gib
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import ListView
from tui.views.common import department_label, primary_site
from tui.widgets.table import Column


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
                Column("move", "FROM → TO", 22),
                Column("servers", label("count", lang), 8, right=True),
                Column("need_vcpu", "NEED vCPU", 10, right=True),
                Column("need_ram", "NEED RAM GiB", 13, right=True),
                Column("standby", "STANDBY vCPU", 13, right=True)]

    def fetch(self, api: ApiClient) -> Any:
        lost = self.lost_site()
        if lost is None:  # the sites are not known yet: ask which there are
            sites = api.get("/status")["sites"]
            lost = next((s["site"] for s in sites if s["role"] == "production"),
                        sites[0]["site"])
        return api.get("/capacity", what_if_lose=lost)["what_if"]

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        for m in data.get("moves", []):
            dept = m["department"]
            need, load, standby = m["need"], m["load"], m["standby"]
            cells = (f"{department_label(self.app, dept)} ({dept})", str(m["dr_level"]),
                     f"{m['source']} → {m['target']}", count(load.get("servers", 0)),
                     count(need["vcpu"]), gib(need["ram_mb"]), count(standby["vcpu"]))
            sort = (dept, m["dr_level"], m["target"], load.get("servers", 0), need["vcpu"],
                    need["ram_mb"], standby["vcpu"])
            out.append((dept, cells, sort))
        return out

    def default_sort(self) -> tuple[int | None, bool]:
        return 4, True  # biggest need first

    def show_above(self, data: Any) -> None:
        self.query_one("#whatif-verdict", Static).update(verdict_text(self.app, data,
                                                                      self.session.lang))


def verdict_text(app: Any, w: dict[str, Any], lang: str) -> Text:
    out = Text()
    lost = w["lost_load"]
    out.append(f"If {w['lost_site']} is lost ", style="bold")
    out.append(f"({count(lost.get('servers', 0))} servers, {count(lost['vcpu'])} vCPU, "
               f"{gib(lost['ram_mb'])} GiB RAM): ")
    out.append(label("fits", lang) if w["fits"] else label("short", lang),
               style="bold green" if w["fits"] else "bold red")
    out.append("   (number keys pick the site to lose)\n", style="dim")
    for r in w["receiving"]:
        inc, free, short = r["incoming"], r["free"], r["shortfall"]
        out.append(f"  {r['site']:<10}", style="bold")
        out.append(f"takes {len(r['departments'])} departments: needs {count(inc['vcpu'])} "
                   f"vCPU / {gib(inc['ram_mb'])} GiB RAM / {count(inc['disk_gb'])} GB disk; "
                   f"free {count(free['vcpu'])} / {gib(free['ram_mb'])} / "
                   f"{count(free['disk_gb'])} — ")
        if r["fits"]:
            out.append("fits\n", style="green")
        else:
            out.append(f"SHORT {count(short['vcpu'])} vCPU, {gib(short['ram_mb'])} GiB, "
                       f"{count(short['disk_gb'])} GB\n", style="bold red")
    if w.get("not_protected"):
        names = ", ".join(department_label(app, s["department"], english=False)
                          for s in w["not_protected"][:8])
        more = len(w["not_protected"]) - 8
        out.append(f"  not protected (restored later): {names}"
                   + (f" and {more} more" if more > 0 else "") + "\n", style="yellow")
    if w.get("copies_lost"):
        out.append(f"  DR copies lost: {len(w['copies_lost'])} departments\n", style="yellow")
    if w.get("stale_sites"):
        out.append(f"  warning: stale data for {', '.join(w['stale_sites'])}\n",
                   style="bold yellow")
    return out


register_view(ViewSpec(name="whatif", title=("Capacity what-if", "容量推演"),
                       factory=WhatIfView, aliases=("capacity", "lose", "dr"), order=50,
                       needs="capacity.view", needs_global=True))
