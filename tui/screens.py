"""The console's modal screens: the `:` command palette (view names with completion), the
`?` help (every key of the view underneath) and the yes/no confirmation of a change."""

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
from tui.i18n import label
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


class ConfirmScreen(ModalScreen[bool]):
    """A question with what it will do: `y` or Enter answers yes (True), `n` or Esc no
    (False). Nothing happens until it is answered."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "yes", priority=True),
        Binding("n,escape", "answer(False)", "no", priority=True),
    ]

    def __init__(self, title: str, body: Text, *, yes: str = "y/Enter: yes",
                 no: str = "n/Esc: no") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(self.title_text + "\n\n", style="bold")
        text.append_text(self.body)
        text.append("\n")
        text.append(f" {self.yes} ", style="bold black on green")
        text.append("   ")
        text.append(f" {self.no} ", style="bold white on red")
        with VerticalScroll(id="confirm"):
            yield Static(text, id="confirm-body")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class HelpScreen(ModalScreen[None]):
    """Every key of the screen underneath, with what it does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "close")]

    def __init__(self, title: str, keys: list[tuple[str, str]], *, lang: str = "en") -> None:
        super().__init__()
        self.title_text = title
        self.keys = keys
        self.lang = lang

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(f"{self.title_text} — {label('help_keys', self.lang)}\n\n", style="bold")
        for key, what in self.keys:
            text.append(f"  {key:<14}", style="bold cyan")
            text.append(f"{what}\n")
        text.append("\n" + label("help_close", self.lang), style="dim")
        with VerticalScroll(id="help"):
            yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)
