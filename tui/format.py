"""Pure formatting for the console: numbers, sizes, ages, usage bars, and cells padded to a
width in terminal cells (Chinese characters take two). No Textual here."""

from __future__ import annotations

import datetime as dt
import math

from rich.cells import cell_len, set_cell_size
from rich.text import Text

BAR_FULL = "█"
BAR_HALF = "▒"
BAR_EMPTY = "░"


def fit(text: str, width: int, *, right: bool = False) -> str:
    """``text`` cut or padded to exactly ``width`` cells (wide characters count two; a wide
    character that would straddle the edge becomes a space)."""
    if width <= 0:
        return ""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…" if width > 1 else set_cell_size(text, 1)
    pad = " " * (width - length)
    return pad + text if right else text + pad


def gib(mb: int | float) -> str:
    return f"{mb / 1024:,.0f}"


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def fraction(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def level_style(frac: float) -> str:
    if frac >= 0.9:
        return "bold red"
    if frac >= 0.75:
        return "yellow"
    return "green"


def bar(part: float, whole: float, width: int = 20) -> Text:
    """A usage bar ``████░░░░`` coloured by how full it is."""
    frac = min(1.0, fraction(part, whole))
    filled = round(frac * width)
    out = Text(BAR_FULL * filled, style=level_style(frac))
    out.append(BAR_EMPTY * (width - filled), style="dim")
    return out


def usage_bar(used: float, allocated: float, whole: float, width: int = 20) -> Text:
    """``███▒▒▒░░░░``: used (held by running servers), allocated but not used, and free;
    coloured by how much is allocated."""
    frac = min(1.0, fraction(allocated, whole))
    filled = round(frac * width)
    solid = min(filled, round(min(1.0, fraction(used, whole)) * width))
    style = level_style(frac)
    out = Text(BAR_FULL * solid, style=style)
    out.append(BAR_HALF * (filled - solid), style=style)
    out.append(BAR_EMPTY * (width - filled), style="dim")
    return out


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def age(value: str | None, now: dt.datetime) -> str:
    """How long ago, coarsely: ``<1m``, ``5m``, ``3h``, ``2d`` (or ``never``)."""
    when = parse_time(value)
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return "<1m"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def stamp(value: str | None) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM`` (UTC), or ``-``."""
    when = parse_time(value)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if when else "-"


def count(n: int) -> str:
    return f"{n:,}"


def duration(seconds: float | None) -> str:
    """``30m``, ``7d``, ``1h30m``, ``0s`` (the largest units first, whole seconds; ``-`` for
    none): as the CLI writes durations (``govcloud.domain.protection.format_duration``)."""
    if seconds is None:
        return "-"
    left = math.floor(seconds)
    if left <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts)
