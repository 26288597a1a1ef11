"""What the console's Pilot tests share beyond their fixtures (``conftest.py``): the terminal
size they run at (``SIZE``) and opening a view through the palette (``open_view``)."""

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
