"""Plain-text rendering of the per-site overview."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from govcloud.domain.capacity import ResourceFigure
from govcloud.domain.text import printable
from govcloud.services.overview import SiteOverview

# `govcloud capacity`'s words and units (``cli_inventory.CAPACITY_COLUMNS``): what Placement
# has handed out is ALLOC (USED is what ACTIVE servers hold, which a site read does not sum);
# RAM in GiB, disk in GB
COLUMNS = ("SITE", "ROLE", "HYPERVISORS", "SERVICES DOWN", "VCPU ALLOC/CAP", "RAM GIB ALLOC/CAP",
           "DISK GB ALLOC/CAP", "SERVERS ACTIVE/ERROR/SHUTOFF")


def _pair(fig: ResourceFigure, unit: int = 1) -> str:
    """``allocated / capacity`` (``fig.used`` is Placement's usage), divided by ``unit``."""
    return f"{fig.used / unit:,.0f} / {fig.capacity / unit:,.0f}"


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
                     f"{s.compute_services_down:,}", _pair(s.vcpu), _pair(s.ram_mb, 1024),
                     _pair(s.disk_gb), servers))
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
