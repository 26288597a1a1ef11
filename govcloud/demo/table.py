"""Plain-text rendering of the per-site overview."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from govcloud.domain.capacity import ResourceFigure
from govcloud.domain.text import printable
from govcloud.services.overview import SiteOverview

COLUMNS = ("SITE", "ROLE", "HYPERVISORS", "SERVICES DOWN", "VCPU USED/CAP", "RAM USED/CAP",
           "DISK USED/CAP", "SERVERS ACTIVE/ERROR/SHUTOFF")


def _binary(value: float, units: Sequence[str]) -> str:
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    return f"{value:.1f} {units[unit]}" if unit else f"{value:.0f} {units[unit]}"


def fmt_mb(mb: int) -> str:
    return _binary(mb, ("MiB", "GiB", "TiB", "PiB"))


def fmt_gb(gb: int) -> str:
    return _binary(gb, ("GiB", "TiB", "PiB"))


def _pair(fig: ResourceFigure, fmt: str = "count") -> str:
    if fmt == "mb":
        return f"{fmt_mb(fig.used)} / {fmt_mb(fig.capacity)}"
    if fmt == "gb":
        return f"{fmt_gb(fig.used)} / {fmt_gb(fig.capacity)}"
    return f"{fig.used:,} / {fig.capacity:,}"


def overview_rows(overview: Sequence[SiteOverview]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for item in overview:
        s = item.summary
        if s is None:
            message = item.error.message if item.error else "not read"
            rows.append((item.site.name, item.site.role.value, f"error: {message}"))
            continue
        servers = "/".join(f"{s.servers_in(st):,}" for st in ("ACTIVE", "ERROR", "SHUTOFF"))
        rows.append((item.site.name, item.site.role.value, f"{s.hypervisors:,}",
                     f"{s.compute_services_down:,}", _pair(s.vcpu), _pair(s.ram_mb, "mb"),
                     _pair(s.disk_gb, "gb"), servers))
    return rows


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide and full-width characters (Chinese) take two,
    combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (``str.ljust`` counts characters)."""
    return text + " " * max(0, width - display_width(text))


def render_table(rows: Sequence[Sequence[str]], columns: Sequence[str] = COLUMNS) -> str:
    """Left-aligned text columns, aligned by display width so Chinese names line up; a short
    row (an error) runs on past the column grid. Every cell is shown ``printable`` (control
    characters escaped, newlines too), so a value can neither act on the terminal nor add a
    row."""
    rows = [tuple(printable(cell) for cell in row) for row in rows]
    full = [r for r in rows if len(r) == len(columns)]
    widths = [max([display_width(c)] + [display_width(r[i]) for r in full])
              for i, c in enumerate(columns)]

    def line(cells: Sequence[str]) -> str:
        padded = [pad(cell, widths[i]) for i, cell in enumerate(cells[:-1])]
        return "  ".join([*padded, cells[-1]]).rstrip()

    return "\n".join([line(columns), *(line(r) for r in rows)])
