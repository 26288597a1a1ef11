"""Helpers the views share: department names, server rows, the site in view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from govcloud.api.models import Server
from tui.format import stamp
from tui.i18n import dept_name, label
from tui.widgets.table import Column

PRIMARY_ROLES = ("production", "city")
SERVER_SORT = (1, False)  # server lists are sorted by name
COMMON_FLAVORS = ("gc.c2m4", "gc.c4m8", "gc.c8m16")


def department_label(app: Any, code: str | None, *, english: bool = True) -> str:
    """``广东省公安厅 Public Security Department`` (or the code when unknown)."""
    if not code:
        return "-"
    d = app.departments.get(code)
    if d is None:
        return code
    return dept_name(d.name_zh, d.name_en if english else None)


def server_columns(lang: str) -> list[Column]:
    return [Column("site", label("site", lang), 9),
            Column("name", label("name", lang), 26),
            Column("status", label("status", lang), 8),
            Column("dept", label("dept", lang), 28),
            Column("flavor", label("flavor", lang), 11),
            Column("host", label("hostname", lang), 16),
            Column("created", label("created", lang), 16)]


def server_rows(app: Any, servers: Sequence[Server], *, site: str | None = None
                ) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
    out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
    names: dict[str | None, str] = {}
    departments = app.departments
    for s in servers:
        if site is not None and s.site != site:
            continue
        code = s.department
        if code not in names:
            d = departments.get(code) if code else None
            zh = d.name_zh if d is not None else None
            names[code] = f"{zh} {code}" if zh else (code or "-")
        cells = (s.site, s.name or "", s.status or "", names[code], s.flavor or "-",
                 s.host or "-", stamp(s.created))
        out.append((f"{s.site}/{s.id}", cells, cells))
    return out


def server_style(cells: tuple[str, ...]) -> str | None:
    status = cells[2] if len(cells) > 2 else ""
    if status == "ERROR":
        return "red"
    if status in ("SHUTOFF", "PAUSED", "SUSPENDED"):
        return "dim"
    return None


def primary_site(app: Any) -> str | None:
    for s in app.site_status:
        if s["role"] == "production":
            return str(s["site"])
    return str(app.site_status[0]["site"]) if app.site_status else None
