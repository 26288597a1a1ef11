"""The console's modal screens: the `:` command palette (view names with completion) and
the `?` help (every key of the view underneath)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from govcloud.domain.text import printable
from tui.registry import ViewSpec, find_view


class PaletteScreen(ModalScreen[str | None]):
    """`:` then a view name (Tab or → completes); Enter opens it, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel"),
        Binding("tab", "complete", "complete", priority=True),
    ]

    def __init__(self, specs: list[ViewSpec], lang: str) -> None:
        super().__init__()
        self.specs = specs
        self.lang = lang
        self.words = [w for s in specs for w in (s.name, *s.aliases)]

    def compose(self) -> ComposeResult:
        with Vertical(id="palette"):
            listing = Text()
            for s in self.specs:
                listing.append(f":{s.name}", style="bold")
                if s.aliases:
                    listing.append(f" ({', '.join(s.aliases)})", style="dim")
                listing.append(f"  {s.title_in(self.lang)}\n")
            yield Static(listing, id="palette-list")
            yield Input(placeholder="view name", id="palette-input",
                        suggester=SuggestFromList(self.words, case_sensitive=False))
            yield Static("", id="palette-error")

    def on_mount(self) -> None:
        self.query_one("#palette-input", Input).focus()

    def action_complete(self) -> None:
        box = self.query_one("#palette-input", Input)
        box.cursor_position = len(box.value)
        box.action_cursor_right()  # at the end of the text, → accepts the suggestion

    @on(Input.Submitted, "#palette-input")
    def _submitted(self, event: Input.Submitted) -> None:
        spec = find_view(event.value)
        if spec is None or spec not in self.specs:
            self.query_one("#palette-error", Static).update(Text(  # typed: not markup
                f"no view '{printable(event.value.strip())}'; try one of the names above"))
            return
        self.dismiss(spec.name)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """Every key of the screen underneath, with what it does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "close")]

    def __init__(self, title: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(f"{self.title_text} — keys\n\n", style="bold")
        for key, what in self.keys:
            text.append(f"  {key:<14}", style="bold cyan")
            text.append(f"{what}\n")
        text.append("\nEsc or ? closes this help", style="dim")
        with VerticalScroll(id="help"):
            yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)
