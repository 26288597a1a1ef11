"""What the console's Pilot tests share beyond their fixtures (``conftest.py``): the terminal
size they run at (``SIZE``), opening a view through the palette (``open_view``), and what a
widget draws (``drawn``) with the raw control characters in it (``raw_controls``)."""

from __future__ import annotations

from typing import Any

from tui.screens import PaletteScreen

from .conftest import wait_for

SIZE = (180, 50)


async def open_view(pilot: Any, word: str, *, complete: bool = False) -> None:
    await pilot.press("colon")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PaletteScreen),
                   what="the palette")
    await pilot.press(*word)
    if complete:
        await pilot.press("tab")
    await pilot.press("enter")


def drawn(widget: Any) -> str:
    """What ``widget`` puts on the screen, line by line (its strips' text)."""
    return "\n".join("".join(seg.text for seg in widget.render_line(y))
                     for y in range(widget.size.height))


def raw_controls(shown: str) -> list[str]:
    return [c for c in shown if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F
                                               or c == "\u202e")]
