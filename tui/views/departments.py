"""Departments: every department and city, Chinese and English names, DR level, the
fullest compute quota per site, server counts and the last change; Enter opens one
(``DepartmentScreen``: its projects, quotas and usage per site, servers, requests and
audit trail)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from govcloud.api.models import (
    AuditEntry,
    Department,
    DepartmentView,
    QuotaUse,
    RequestList,
    Server,
    UsageEntry,
)
from govcloud.client import ApiClient
from govcloud.domain.text import printable
from govcloud.errors import Forbidden, GovCloudError, NotFound
from tui.format import count, gib, pct, stamp
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import ListView
from tui.views.common import server_rows
from tui.views.overview import QUOTA_RESOURCES
from tui.views.servers import ServerList
from tui.widgets.table import Column

log = logging.getLogger(__name__)

DEFAULT_SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")

T = TypeVar("T")


def fullest(entry: UsageEntry | None) -> tuple[float, str]:
    """The fullest of a site entry's compute quotas: ``(fraction, resource)``."""
    best = (-1.0, "")
    if entry is None:
        return best
    for res in QUOTA_RESOURCES:
        q = entry.quotas.get(res)
        if q is not None and q.limit > 0:
            best = max(best, (q.in_use / q.limit, res))
    return best


@dataclass(frozen=True, slots=True)
class DepartmentsData:
    departments: list[Department]
    usage: dict[str, dict[str, UsageEntry]]  # department → site → usage


@dataclass(frozen=True, slots=True)
class DepartmentData:
    """One department: ``audit`` and ``requests`` are None when the principal may not read
    them (or the control plane could not answer)."""

    department: DepartmentView
    servers: list[Server]
    audit: list[AuditEntry] | None
    requests: RequestList | None


class DepartmentsView(ListView):
    VIEW_NAME = "departments"

    def sites(self) -> list[str]:
        names = [s["site"] for s in self.app.site_status]  # type: ignore[attr-defined]
        return names or list(DEFAULT_SITES)

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        cols = [Column("code", label("code", lang), 12),
                Column("zh", label("name_zh", lang), 26),
                Column("en", label("name_en", lang), 34),
                Column("dr", label("dr", lang), 3, right=True)]
        cols += [Column(s, f"{s} %", 16) for s in self.sites()]
        cols += [Column("servers", label("count", lang), 8, right=True),
                 Column("last", label("last_change", lang), 16)]
        return cols

    def fetch(self, api: ApiClient) -> Any:
        return DepartmentsData(departments=api.departments().departments,
                               usage=api.usage().departments)

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        listed: DepartmentsData = data
        for d in listed.departments:
            use = listed.usage.get(d.code, {})
            cells = [d.code, d.name_zh, d.name_en, str(d.dr_level)]
            sort: list[Any] = list(cells[:3]) + [d.dr_level]
            for site in self.sites():
                frac, res = fullest(use.get(site))
                cells.append(f"{pct(frac, 1):>4} {res}" if res else "-")
                sort.append(frac)
            servers = sum(e.servers for e in use.values())
            last = max((e.last_change for e in use.values() if e.last_change), default=None)
            cells += [count(servers), stamp(last)]
            sort += [servers, last or ""]
            out.append((d.code, tuple(cells), tuple(sort)))
        return out

    def drill(self, key: str) -> None:
        self.app.push_screen(DepartmentScreen(key))


class DepartmentScreen(ServerList):
    """One department: per site its project, quotas and use and servers by status; its
    servers (the list); its requests (when the control plane has them) and audit trail."""

    VIEW_NAME = "department"

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code

    def view_title(self) -> str:
        return f"{label('department', self.session.lang)} {self.code}"

    def compose_above(self) -> ComposeResult:
        yield Static(id="department-detail", classes="panel")

    def fetch(self, api: ApiClient) -> Any:
        department = api.department(self.code)
        servers: list[Server] = []
        cursor = None
        while True:
            page = api.servers(department=self.code, limit=1000, cursor=cursor)
            servers += page.servers
            cursor = page.next_cursor
            if cursor is None:
                break
        audit = _optional(lambda: api.audit(department=self.code, newest_first=True,
                                            limit=8).entries)
        requests = _optional(lambda: api.requests(department=self.code))
        return DepartmentData(department=department, servers=servers, audit=audit,
                              requests=requests)

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        one: DepartmentData = data
        return server_rows(self.app, one.servers, site=self.app.site)  # type: ignore[attr-defined]

    def show_above(self, data: Any) -> None:
        self.query_one("#department-detail", Static).update(
            department_text(data, self.session.lang))


def _optional(read: Callable[[], T]) -> T | None:
    """What ``read`` returns, or None when the endpoint is missing or not allowed (or
    failed: the department is shown without it)."""
    try:
        return read()
    except (NotFound, Forbidden):
        return None
    except GovCloudError as exc:
        log.info("department detail part unavailable: %s", exc.message)
        return None


def department_text(data: DepartmentData, lang: str = "en") -> Text:
    d = data.department
    out = Text()
    out.append(f"{printable(d.name_zh)} ", style="bold")
    out.append(f"{printable(d.name_en)}  ", style="bold")
    out.append(f"({printable(d.code)}, {printable(d.kind)}, "
               f"{label('f_city', lang)} {printable(d.city or '-')}, "
               f"{label('dr', lang)} {d.dr_level})\n")
    for s in d.sites:
        q = s.quotas

        def fig(name: str, unit: int = 1, q: dict[str, QuotaUse] = q) -> str:
            f = q.get(name)
            if f is None:
                return f"{name} -"
            shown = (gib(f.in_use), gib(f.limit)) if unit == 1024 else \
                (count(f.in_use), count(f.limit))
            return f"{name} {shown[0]}/{shown[1]} ({pct(f.in_use, f.limit)})"

        out.append(f"  {printable(s.site):<10}", style="bold")
        if s.error:
            out.append(f"{label('unavailable', lang)}: {printable(s.error)}\n",
                       style="yellow")
            continue
        out.append(f"{label('f_project', lang)} {printable((s.project_id or '-')[:12])}"
                   f"  {fig('cores')}  {fig('ram_mb', 1024)} GiB  {fig('instances')}  "
                   + label("servers_n", lang).format(n=s.servers.total))
        if s.in_sync is False:
            out.append(f"  {label('drift', lang)}", style="bold yellow")
        out.append("\n")
    if data.requests is not None:
        out.append(f"  {label('requests_n', lang).format(n=len(data.requests.requests))}\n")
    if data.audit:
        out.append(f"  {label('recent_changes', lang)}:\n", style="bold")
        for e in data.audit:
            out.append(f"    #{e.seq} {stamp(e.at)} {printable(e.actor)} "
                       f"{printable(e.action)} {printable(e.target)}\n")
    return out


register_view(ViewSpec(name="departments", title=("Departments", "部门"),
                       factory=DepartmentsView, aliases=("dept", "depts", "tenants"),
                       order=20))
