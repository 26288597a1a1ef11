"""What every view shares: the header, a status line, the footer with the view's keys,
background refresh, and (for lists) a virtual table with the `/` filter.

A view says what to ``fetch`` (runs in a worker thread, through the API client; may raise a
govcloud error) and how to ``show`` it (on the UI thread). The next refresh is scheduled when
the previous one has finished (never overlapping), and only while the view is on screen; a
failed fetch shows the error and its hint and retries with a growing delay. Nothing here
blocks the UI on the network.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static
from textual.widgets._footer import FooterKey

from govcloud.client import ApiClient
from govcloud.domain.text import printable_lines
from govcloud.errors import GovCloudError, PermanentError
from tui.i18n import key_label, label
from tui.registry import views
from tui.widgets.header import ConsoleHeader
from tui.widgets.table import Column, RowSet, VirtualTable

log = logging.getLogger(__name__)

MAX_RETRY_S = 30.0


class DataLoaded(Message):
    """A fetch finished."""

    def __init__(self, data: Any, seconds: float) -> None:
        super().__init__()
        self.data = data
        self.seconds = seconds


class DataFailed(Message):
    """A fetch failed with a govcloud error (unexpected errors are wrapped in one)."""

    def __init__(self, error: GovCloudError) -> None:
        super().__init__()
        self.error = error


class ConsoleFooter(Footer):
    """Textual's footer, rebuilt only when the keys it shows change (Textual's rebuilds it
    on every focus or binding change: several times each time a screen opens), with the
    keys' descriptions in the console's language.

    A rebuild (its keys' widgets made again, styled, and the screen laid out: 15-35 ms of CPU
    on a loaded machine) is not done while a filter is being typed: `/` moves the focus to the
    filter box, and Textual would rebuild the footer just after — in the pass of the key typed
    next, which then showed its rows that much later. While the box has the focus, the rebuild
    waits until no key has been typed in it for at least ``QUIET_S``: every key shows its rows
    at once, the footer follows when typing pauses. Leaving the box rebuilds it at once (or
    cancels the wait when its keys are the same again)."""

    QUIET_S = 0.4
    _shown: tuple[Any, ...] | None = None
    _quiet: Timer | None = None

    def compose(self) -> ComposeResult:
        lang = getattr(getattr(self.app, "session", None), "lang", "en")
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                widget.description = key_label(widget.description, lang)
            yield widget

    @staticmethod
    def _keys(screen: Screen[Any]) -> tuple[Any, ...]:
        return tuple((b.key, b.action, b.description, enabled)
                     for (_, b, enabled, _tip) in screen.active_bindings.values() if b.show)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = self._keys(screen)
            if shown == self._shown:
                self._stop_waiting()
                return
            if isinstance(screen.focused, FilterBox):
                if self._quiet is None:
                    self._quiet = self.set_timer(self.QUIET_S, self._typing_paused)
                else:
                    self._quiet.reset()
                return
            self._stop_waiting()
            self._shown = shown
        super().bindings_changed(screen)

    def typed(self) -> None:
        """A key changed the filter box: a rebuild waiting for typing to pause waits on."""
        if self._quiet is not None:
            self._quiet.reset()

    def _stop_waiting(self) -> None:
        if self._quiet is not None:
            self._quiet.stop()
            self._quiet = None

    def _typing_paused(self) -> None:
        self._quiet = None
        if self.is_attached:
            self._shown = self._keys(self.screen)
            super().bindings_changed(self.screen)


class FilterBox(Input):
    """The `/` box: each change of its text filters the list at once, in the same pass as
    the key that made it (Textual's ``Input.Changed`` message would reach the list a message
    later, and the box and the list would be drawn in two frames)."""

    def watch_value(self, value: str) -> None:
        screen = self.screen
        if isinstance(screen, ListView):
            screen.filter_changed(value)
        for footer in screen.query(ConsoleFooter):
            footer.typed()


class DataView(Screen[None]):
    """A view that fetches data in the background and shows it."""

    VIEW_NAME: ClassVar[str] = ""
    TITLE_KEY: ClassVar[str] = ""
    REFRESH_S: ClassVar[float | None] = None   # None: the session's refresh interval
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "back"),
        Binding("ctrl+r", "reload", "refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._timer: Timer | None = None
        self._failures = 0
        self._due = False
        self.data: Any = None
        self.last_error: GovCloudError | None = None
        self.loads = 0
        self._status: str | None = None

    # --- to override ----------------------------------------------------------------------

    def fetch(self, api: ApiClient) -> Any:
        """Read what the view shows (worker thread)."""
        return None

    def show(self, data: Any) -> None:
        """Show ``data`` (UI thread)."""

    def compose_body(self) -> ComposeResult:
        yield from ()

    def view_title(self) -> str:
        """``TITLE_KEY``'s label, else the registered view's title (both languages are in
        its ``ViewSpec``), else ``VIEW_NAME``'s label."""
        lang = self.session.lang
        if self.TITLE_KEY:
            return label(self.TITLE_KEY, lang)
        spec = next((v for v in views() if v.name == self.VIEW_NAME), None)
        return spec.title_in(lang) if spec is not None else label(self.VIEW_NAME, lang)

    def site_changed(self) -> None:
        """The site in view changed (number keys); by default fetch again."""
        self.reload()

    # --- plumbing -------------------------------------------------------------------------

    @property
    def session(self) -> Any:
        return self.app.session  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(self.view_title())
        yield from self.compose_body()
        yield Static(id="status-line")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.set_status(label("loading", self.session.lang), "dim")
        self.reload()

    def set_status(self, text: str, style: str = "") -> None:
        line = self.query_one("#status-line", Static)
        error = style == "error"
        if text == self._status and error == line.has_class("error"):
            return
        self._status = text
        # the line's height is fixed by the stylesheet (1 line, 3 for an error): a layout
        # pass is needed only when that changes, not for each count a filter key shows
        # as text, never markup ("[red]" in a server's answer is shown as typed), with control
        # characters escaped; the line breaks of an error and its hint stay
        line.update(Text(printable_lines(text)), layout=error != line.has_class("error"))
        line.set_class(error, "error")

    def interval(self) -> float:
        return self.REFRESH_S if self.REFRESH_S is not None else float(self.session.refresh_s)

    def reload(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._due = False
        self._fetch()

    @work(thread=True, exclusive=True, exit_on_error=False, group="view-fetch",
          description="fetch the view's data")
    def _fetch(self) -> None:
        started = time.perf_counter()
        try:
            data = self.fetch(self.session.api)
        except GovCloudError as exc:
            self.post_message(DataFailed(exc))
            return
        except Exception as exc:
            log.exception("view %s: fetch failed", self.VIEW_NAME)
            self.post_message(DataFailed(PermanentError(
                f"unexpected {type(exc).__name__}: {exc}",
                hint="this is a bug in the console; its log has the traceback")))
            return
        self.post_message(DataLoaded(data, time.perf_counter() - started))

    def _schedule(self, delay: float) -> None:
        # a fetch that finishes after a reload started another one schedules too: one timer
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.is_current:
            self._fetch()
        else:
            self._due = True

    def on_screen_resume(self) -> None:
        if self._due:
            self.reload()

    @on(DataLoaded)
    def _loaded(self, message: DataLoaded) -> None:
        self._failures = 0
        self.last_error = None
        self.data = message.data
        self.loads += 1
        try:
            self.show(message.data)
        finally:
            self._schedule(self.interval())

    @on(DataFailed)
    def _failed(self, message: DataFailed) -> None:
        self._failures += 1
        self.last_error = message.error
        delay = min(MAX_RETRY_S, 2.0 ** self._failures)
        err = message.error
        lang = self.session.lang
        text = f"✖ {err.message}"
        if err.hint:
            text += f"\n  {label('hint', lang)}: {err.hint}"
        text += "\n  " + label("retry_in", lang).format(s=f"{delay:.0f}")
        self.set_status(text, "error")
        self._schedule(delay)

    def action_reload(self) -> None:
        self.set_status(label("loading", self.session.lang), "dim")
        self.reload()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()


class ListView(DataView):
    """A view whose body is one keyed list, with `/` to filter it and Enter to drill in."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "filter", key_display="/"),
    ]

    def columns(self) -> Sequence[Column]:
        raise NotImplementedError

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]] | RowSet:
        """``(key, cells, sort values)`` for ``data`` (or a ``RowSet`` built ahead)."""
        raise NotImplementedError

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        return None

    def drill(self, key: str) -> None:
        """Enter on the row ``key``: push a screen. A view that overrides it offers Enter
        in its footer and help; one that does not, does not."""

    @property
    def drills(self) -> bool:
        """Whether Enter opens something here (``drill`` is overridden)."""
        return type(self).drill is not ListView.drill

    def default_sort(self) -> tuple[int | None, bool]:
        return None, False

    def compose_body(self) -> ComposeResult:
        yield from self.compose_above()
        self.table = VirtualTable(self.columns(), row_style=self.row_style, id="list")
        column, reverse = self.default_sort()
        self.table.sort_column, self.table.sort_reverse = column, reverse
        yield self.table
        yield FilterBox(placeholder=label("filter_prompt", self.session.lang), id="filter",
                        compact=True)

    def compose_above(self) -> ComposeResult:
        yield from ()

    AUTO_FOCUS = "#list"  # focused whenever the screen becomes active

    def show(self, data: Any) -> None:
        self.table.set_rows(self.rows(data))
        self.show_above(data)
        self.update_count()

    def show_above(self, data: Any) -> None:
        """Show the parts of ``data`` above the list (default: none)."""

    def site_changed(self) -> None:
        if self.data is not None:
            self.show(self.data)
        self.reload()

    def update_count(self) -> None:
        t = self.table
        text = f"{t.row_count:,} of {t.total:,} {label('rows', self.session.lang)}"
        if t.filter.active:
            text += f" — {label('filter', self.session.lang)}: {t.filter.describe()}"
        if t.filter.error:
            text += f" ({t.filter.error})"
        self.set_status(text)

    filter_wanted = False  # `/` pressed and the filter not yet submitted or cleared

    def action_filter(self) -> None:
        # The box is always there (a box that appears would miss keys typed right after `/`)
        self.filter_wanted = True
        self.set_focus(self.query_one("#filter", Input))

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.filter_wanted:  # the screen's auto focus must not take the box's keys
            self.set_focus(self.query_one("#filter", Input))

    def on_key(self, event: events.Key) -> None:
        """A key typed right after `/` may have been handed to the list before the box took
        the focus (Textual gives each key to the widget focused when it arrived); it bubbles
        up here, and goes into the box instead."""
        box = self.query_one("#filter", Input)
        if self.filter_wanted and event.is_printable and event.character:
            box.insert_text_at_cursor(event.character)
            self.set_focus(box)
            event.stop()
            event.prevent_default()

    def filter_changed(self, text: str) -> None:
        """The `/` box now holds ``text`` (called as it changes)."""
        if text != self.table.filter.text:
            self.table.apply_filter(text)
            self.update_count()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.filter_wanted = False
        self.table.focus()

    def clear_filter(self) -> bool:
        box = self.query_one("#filter", Input)
        if not box.value and not box.has_focus:
            return False
        self.filter_wanted = False
        box.value = ""  # filters again (FilterBox)
        self.table.focus()
        return True

    def action_back(self) -> None:
        if self.clear_filter():
            return
        super().action_back()

    @on(VirtualTable.Selected)
    def _selected(self, event: VirtualTable.Selected) -> None:
        self.drill(event.key)
