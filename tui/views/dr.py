"""Disaster recovery (`:dr`): every system the principal may see, judged against its DR level
(``GET /dr/posture``) — verdict, department, system, level, current RPO against its target, the
last drill (date, achieved RTO against the target, result) and the first reason — worst
verdict first, with the totals above. Enter opens one system (``DrSystemScreen``,
``GET /dr/systems/{department}/{system}``): its copies site by site, each copy server's state
and recent recovery points, and its drills. docs/dr.md describes the verdicts.

Every name and reason is the server's data: drawn as text (``printable``; never Rich markup).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from govcloud.api.models import DrPosture, DrSystem, DrSystemDetail, DrTotals
from govcloud.api.models.dr import DrCopyServer, DrDrill
from govcloud.client import ApiClient
from govcloud.domain.text import printable
from tui.format import duration, stamp
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import DataView, ListView
from tui.widgets.table import Column

# worst first; a verdict the server adds later sorts first (unknown: look at it)
VERDICT_RANK = {"non-compliant": 1, "at risk": 2, "compliant": 3}
VERDICT_STYLE = {"non-compliant": "bold red", "at risk": "yellow", "compliant": "green"}
STATE_STYLE = {"missing": "bold red", "error": "bold red", "wrong flavor": "red",
               "not ready": "red", "holds capacity": "yellow", "changing": "yellow",
               "present": "green"}
NO_VALUE = float("inf")  # sorts after every figure


def age(seconds: float | None) -> str:
    """A current RPO: whole minutes from a minute up (it grows every second)."""
    if seconds is None or seconds < 60:
        return duration(seconds)
    return duration(seconds - seconds % 60)


def worst_rpo(s: DrSystem) -> float | None:
    """The system's worst copy RPO: the largest, or infinite when a copy has no recovery
    point (None: no copy planned)."""
    if not s.copies:
        return None
    return max((c.rpo_s if c.rpo_s is not None else NO_VALUE) for c in s.copies)


def verdict_label(verdict: str, lang: str) -> str:
    key = {"non-compliant": "v_non_compliant", "at risk": "v_at_risk",
           "compliant": "v_compliant"}.get(verdict)
    return label(key, lang) if key else verdict


def totals_line(what: str, t: DrTotals, lang: str) -> str:
    return label("dr_totals", lang).format(
        what=what, n=f"{t.systems:,}", bad=f"{t.non_compliant:,}", risk=f"{t.at_risk:,}",
        ok=f"{t.compliant:,}")


def system_cells(s: DrSystem, lang: str) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """A system's cells and sort values."""
    rpo = worst_rpo(s)
    rpo_text = "-" if rpo is None else (label("rpo_none", lang) if rpo == NO_VALUE
                                        else age(rpo))
    d = s.last_drill
    cells = (verdict_label(s.verdict, lang), s.department, s.system, str(s.level),
             f"{rpo_text} / {duration(s.target_rpo_s)}",
             d.at[:10] if d else label("never_drilled", lang),
             f"{duration(d.rto_s) if d else '-'} / {duration(s.target_rto_s)}",
             d.result if d else "-", s.reasons[0] if s.reasons else "")
    sort = (VERDICT_RANK.get(s.verdict, 0), s.department, s.system, s.level,
            NO_VALUE if rpo is None else rpo, d.at if d else "",
            d.rto_s if d and d.rto_s is not None else NO_VALUE, d.result if d else "", cells[8])
    return cells, sort


class DrView(ListView):
    VIEW_NAME = "dr"
    REFRESH_S = 30.0  # the server judges the posture again at most every minute

    def __init__(self) -> None:
        super().__init__()
        self._systems: dict[str, DrSystem] = {}

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        return [Column("verdict", label("verdict", lang), 13),
                Column("dept", label("dept", lang), 12),
                Column("system", label("system", lang), 16),
                Column("level", label("dr", lang), 3, right=True),
                Column("rpo", label("rpo_now_target", lang), 16),
                Column("drill", label("last_drill", lang), 10),
                Column("rto", label("rto_drill_target", lang), 13),
                Column("result", label("result", lang), 7),
                Column("reason", label("reason", lang), 70)]

    def compose_above(self) -> ComposeResult:
        yield Static(id="dr-totals", classes="panel")

    def site_changed(self) -> None:
        """Systems span sites; the site keys do not filter them."""

    def default_sort(self) -> tuple[int | None, bool]:
        return 0, False  # worst verdict first

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        lang = self.session.lang
        for verdict, style in VERDICT_STYLE.items():
            if cells[0] == verdict_label(verdict, lang):
                return None if verdict == "compliant" else style
        return None

    def fetch(self, api: ApiClient) -> Any:
        return api.dr_posture()

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        posture: DrPosture = data
        lang = self.session.lang
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        self._systems = {}
        for s in posture.systems:
            key = f"{s.department}/{s.system}"
            self._systems[key] = s
            cells, sort = system_cells(s, lang)
            out.append((key, cells, sort))
        return out

    def show_above(self, data: Any) -> None:
        whole = self.session.may("department.view", anywhere=False)
        self.query_one("#dr-totals", Static).update(
            totals_text(data, self.session.lang, province=whole))

    def drill(self, key: str) -> None:
        row = self._systems.get(key)
        if row is not None:
            self.app.push_screen(DrSystemScreen(row))


def totals_text(posture: DrPosture, lang: str = "en", *, province: bool = False) -> Text:
    """The totals over what the caller sees (``province``: it sees every department), and
    the departments with a non-compliant system."""
    out = Text()
    t = posture.province
    out.append(totals_line(label("dr_province" if province else "dr_shown", lang), t, lang),
               style="bold")
    out.append(f"   {label('as_of', lang)} {stamp(posture.at)} UTC\n")
    worst = [d for d, dt in posture.departments.items() if dt.non_compliant]
    if worst:
        out.append(label("dr_departments_bad", lang).format(
            n=len(worst), of=len(posture.departments)) + ": ", style="red")
        shown = ", ".join(printable(d) for d in worst[:12])
        out.append(shown + (" …" if len(worst) > 12 else ""))
    return out


class DrSystemScreen(DataView):
    """One system: its verdict and reasons, each copy site by site with its servers and
    their recent recovery points, and its drills. Shows the posture's row at once; the
    servers, points and drills once they are read."""

    VIEW_NAME = "dr-system"
    AUTO_FOCUS = "#dr-system-scroll"

    def __init__(self, row: DrSystem) -> None:
        super().__init__()
        self.row = row

    def view_title(self) -> str:
        return (f"{label('dr_system', self.session.lang)} "
                f"{printable(self.row.department)}/{printable(self.row.system)}")

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="dr-system-scroll", can_focus=True):
            yield Static(system_text(self.row, None, self.session.lang),
                         id="dr-system-detail", classes="panel")

    def fetch(self, api: ApiClient) -> Any:
        return api.dr_system(self.row.department, self.row.system)

    def show(self, data: Any) -> None:
        detail: DrSystemDetail = data
        lang = self.session.lang
        self.query_one("#dr-system-detail", Static).update(
            system_text(detail.system, detail, lang))
        self.set_status(label("esc_back", lang))


def _server_lines(out: Text, s: DrCopyServer, lang: str) -> None:
    out.append(f"    {printable(s.member):<24} ")
    out.append(f"{printable(s.state):<15}", style=STATE_STYLE.get(s.state, ""))
    if s.server_id is None:
        out.append(f"{label('no_server', lang)}\n", style="red")
    else:
        out.append(f"{printable(s.status):<18} {printable(s.flavor or '-'):<10} "
                   f"{printable(s.server_id)}\n")
    if s.state != "present" and s.server_id is not None:
        out.append(f"      {printable(s.detail)}\n", style=STATE_STYLE.get(s.state, ""))
    for p in s.points:
        style = "" if p.status == "ok" else "red"
        out.append(f"      {stamp(p.taken_at)}  {printable(p.status):<7} {printable(p.kind):<15} "
                   f"{p.size_bytes / 2**20:,.1f} MiB", style=style)
        out.append(f"  {printable(p.error)}\n" if p.error else "\n", style=style)
    if s.server_id is not None and not s.points:
        out.append(f"      {label('no_point', lang)}\n", style="red")


def _drill_line(d: DrDrill) -> str:
    return (f"  {stamp(d.at)}  {printable(d.site):<10} {printable(d.result):<7} "
            f"RTO {duration(d.rto_s)}\n")


def system_text(s: DrSystem, detail: DrSystemDetail | None, lang: str = "en") -> Text:
    """A system in full; ``detail`` None: the posture's row only (being read)."""
    out = Text()
    out.append(f"{printable(s.department)} / {printable(s.system)}", style="bold")
    out.append(f"   {label('dr', lang)} {s.level}   ")
    out.append(printable(verdict_label(s.verdict, lang)).upper(),
               style=VERDICT_STYLE.get(s.verdict, ""))
    every = f"; {label('drill_every', lang).format(n=s.drill_every_months)}" \
        if s.drill_every_months else ""
    out.append(f"\n{label('targets', lang)}: RPO {duration(s.target_rpo_s)}, "
               f"RTO {duration(s.target_rto_s)}{every}; {label('drill', lang)}: "
               f"{printable(s.drill.state)} {stamp(s.drill.due_at) if s.drill.due_at else ''}\n")
    out.append(f"{label('reasons', lang)}:\n", style="bold")
    for r in s.reasons:
        out.append(f"  • {printable(r)}\n")
    out.append(f"{label('copies', lang)}:\n", style="bold")
    if not s.copies:
        out.append(f"  {label('no_copies', lang)}\n")
    for c in s.copies:
        rpo = age(c.rpo_s) if c.rpo_s is not None else label("no_point", lang)
        out.append(f"  {printable(c.site):<10} {printable(c.kind):<5} ")
        out.append(f"{printable(c.state):<15}", style=STATE_STYLE.get(c.state, ""))
        out.append(f" RPO {rpo}" + (f" ({stamp(c.recovery_point)})" if c.recovery_point
                                    else "") + "\n")
        for server in (detail.servers if detail else []):
            if server.site == c.site:
                _server_lines(out, server, lang)
    out.append(f"{label('drills', lang)}:\n", style="bold")
    if detail is None:
        out.append(f"  {label('loading', lang)}\n", style="dim")
    elif not detail.drills:
        out.append(f"  {label('never_drilled', lang)}\n")
    for d in (detail.drills if detail else []):
        out.append(_drill_line(d), style="" if d.result == "passed" else "red")
    return out


register_view(ViewSpec(name="dr", title=("Disaster recovery", "灾备"), factory=DrView,
                       aliases=("posture", "recovery"), order=75, needs="department.view"))
