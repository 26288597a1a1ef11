"""A virtual table: only the rows in view are rendered (Textual's line API), so 30,000 rows
scroll, sort and filter without building 30,000 widgets or DataTable rows.

Rows are keyed; ``set_rows`` compares the new rows with the old by key and only re-derives
what changed (the table is updated by diff, never cleared and refilled), keeps the cursor on
the same key, and repaints only if something visible changed. The `/` filter
(``tui.filtering``) runs over one lower-cased search string per row — for a plain ASCII
text, over its quick copy (``quick_haystack``), made in the order the rows are shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import compress
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from govcloud.domain.text import printable
from tui.filtering import Filter, compile_filter, quick_haystack
from tui.format import fit


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    right: bool = False


@dataclass(slots=True)
class Row:
    cells: tuple[str, ...]
    sort: tuple[Any, ...]
    search: str              # the cells joined and lower-cased: what `/` matches
    style: str | None
    quick: str = ""          # ``search`` as a quick filter scans it (``quick_haystack``)
    # the cells laid out in their columns, made when first shown: runs of text, each plain
    # ASCII or not (see ``VirtualTable._line_segments``)
    line: tuple[str, ...] | None = None


RowStyle = Callable[[tuple[str, ...]], str | None]
SEEN_FILTERS = 32  # views of earlier filters kept (each a tuple of keys and one of strings)
Item = tuple[str, Sequence[str]] | tuple[str, Sequence[str], Sequence[Any]]


def make_row(item: Item, row_style: RowStyle | None, *, quick: bool = True) -> Row:
    """The row of ``item``; without ``quick``, its quick haystack is left to be made later
    (``build_rows`` makes them in the rows' order)."""
    cells = tuple(item[1])
    sort = tuple(item[2]) if len(item) > 2 else cells
    search = " ".join(cells).lower()
    return Row(cells, sort, search, row_style(cells) if row_style else None,
               (search if search.isascii() else quick_haystack(search)) if quick else "")


def sorted_keys(rows: Mapping[str, Row], column: int | None, reverse: bool) -> list[str]:
    keys = list(rows)
    if column is not None:
        keys.sort(key=lambda k: _sortable(rows[k].sort[column]), reverse=reverse)
    return keys


@dataclass(frozen=True, slots=True)
class RowSet:
    """Rows built ahead, off the UI thread (``build_rows``), with their order for one sort:
    ``set_rows`` then takes them without any per-row work."""

    rows: dict[str, Row]
    order: list[str]
    sort: tuple[int | None, bool]
    haystacks: list[str] | None = None  # the rows' quick haystacks in ``order``

    def where(self, keep: Callable[[str], bool]) -> RowSet:
        """The rows whose key ``keep`` accepts, in the same order (the same row objects)."""
        order = [k for k in self.order if keep(k)]
        rows = self.rows
        return RowSet({k: rows[k] for k in order}, order, self.sort,
                      [rows[k].quick for k in order])


def build_rows(items: Iterable[Item], *, row_style: RowStyle | None = None,
               sort: tuple[int | None, bool] = (None, False)) -> RowSet:
    """The rows of ``items`` (``(key, cells[, sort values])``) and their order by ``sort``
    (column, reverse); pure, so a worker thread can build them."""
    rows = {item[0]: make_row(item, row_style, quick=False) for item in items}
    order = sorted_keys(rows, *sort)
    haystacks = []
    for k in order:  # made one after another: one pass of a filter reads memory in sequence
        row = rows[k]
        row.quick = quick_haystack(row.search)
        if row.search.isascii():  # the same text: one string kept, not two
            row.search = row.quick
        haystacks.append(row.quick)
    return RowSet(rows, order, sort, haystacks)


class VirtualTable(ScrollView, can_focus=True):
    """Keyed rows with a cursor, sort (``s`` next column, ``S`` reverse) and a filter."""

    DEFAULT_CSS = """
    VirtualTable { height: 1fr; }
    VirtualTable > .virtual-table--header { text-style: bold; background: $primary 30%; }
    VirtualTable > .virtual-table--cursor { background: $accent; color: $text; }
    VirtualTable:blur > .virtual-table--cursor { background: $accent 50%; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"virtual-table--header", "virtual-table--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,j", "cursor(1)", "down", show=False),
        Binding("up,k", "cursor(-1)", "up", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "page down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "page up", show=False),
        Binding("home,g", "jump(0)", "first", show=False),
        Binding("end,G", "jump(-1)", "last", show=False),
        Binding("enter", "select", "drill in"),
        Binding("s", "sort(1)", "sort"),
        Binding("S", "sort(-1)", "reverse sort", show=False),
    ]

    class Selected(Message):
        """Enter on a row."""

        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

    class Changed(Message):
        """The visible rows changed (filter, sort or data)."""

        def __init__(self, table: VirtualTable) -> None:
            super().__init__()
            self.table = table

    def __init__(self, columns: Sequence[Column], *, row_style: RowStyle | None = None,
                 id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        # a column is at least as wide as its label (a Chinese label takes two cells a
        # character: "灾备" must not be cut to "灾…" in a column sized for "DR")
        self.columns = [c if cell_len(c.label) <= c.width else replace(c, width=cell_len(c.label))
                        for c in columns]
        self.row_style = row_style
        self._rows: dict[str, Row] = {}
        # tuples, not lists: a tuple of strings is left alone by the garbage collector once it
        # has looked at it, a list of 60,000 keys is read through by every collection
        self._order: tuple[str, ...] = ()        # every key, sorted
        self._order_quick: tuple[str, ...] = ()  # their quick haystacks, in that order
        self._view: tuple[str, ...] = ()         # the keys shown (filtered), sorted
        self._view_quick: tuple[str, ...] = ()   # their quick haystacks (to narrow a filter)
        self._styles: tuple[Style, Style, Style] | None = None
        self.cursor = 0
        self.sort_column: int | None = None
        self.sort_reverse = False
        self.filter: Filter = compile_filter("")
        # the rows shown for the filters typed since the rows or their order last changed
        # (filter text → keys, quick haystacks): a backspace shows them again at once
        self._seen: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._line_width = sum(c.width + 1 for c in self.columns)

    # --- data ---------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._view)

    @property
    def total(self) -> int:
        return len(self._rows)

    @property
    def keys(self) -> list[str]:
        """The keys shown, in order."""
        return list(self._view)

    @property
    def cursor_key(self) -> str | None:
        return self._view[self.cursor] if 0 <= self.cursor < len(self._view) else None

    def cells(self, key: str) -> tuple[str, ...]:
        return self._rows[key].cells

    def set_rows(self, rows: Sequence[Item] | RowSet) -> int:
        """Replace the rows by diff: ``(key, cells)`` or ``(key, cells, sort values)``, or a
        ``RowSet`` built ahead. A row whose cells did not change keeps its laid-out line.
        Returns how many rows were added, changed or removed (0: nothing repainted)."""
        old = self._rows
        prepared = rows if isinstance(rows, RowSet) else None
        changed = 0
        if isinstance(rows, RowSet) and not old:
            new, changed = rows.rows, len(rows.rows)  # the first rows: nothing to compare
        elif isinstance(rows, RowSet):
            # taken as built; a row whose cells did not change keeps its laid-out line
            new, kept = rows.rows, 0
            for key, row in new.items():
                prev = old.get(key)
                if prev is None:
                    changed += 1
                elif prev is row:
                    kept += 1
                elif prev.cells == row.cells:
                    kept += 1
                    if row.line is None:
                        row.line = prev.line
                else:
                    changed += 1
            changed += len(old) - kept
        else:
            new = {}
            style = self.row_style
            for item in rows:
                key, cells = item[0], tuple(item[1])
                prev = old.get(key)
                if prev is not None and prev.cells == cells:
                    new[key] = prev
                    continue
                changed += 1
                new[key] = make_row(item, style)
            changed += sum(1 for k in old if k not in new)
        if changed == 0 and list(old) == list(new):
            return 0
        keep = self.cursor_key
        self._rows = new
        if prepared is not None and prepared.sort == (self.sort_column, self.sort_reverse):
            self._set_order(prepared.order, prepared.haystacks)
        else:
            self._resort()
        self._refilter(keep)
        return max(changed, 1)

    def _set_order(self, keys: list[str], haystacks: list[str] | None = None) -> None:
        rows = self._rows
        self._order = tuple(keys)
        self._order_quick = tuple(haystacks if haystacks is not None else
                                  [rows[k].quick for k in keys])
        self._seen.clear()  # the views of earlier filters are of other rows

    def _resort(self) -> None:
        self._set_order(sorted_keys(self._rows, self.sort_column, self.sort_reverse))

    def _refilter(self, keep: str | None, *, narrow: bool = False,
                  repaint: bool = True) -> None:
        """Recompute the rows shown; ``narrow``: only the rows shown now can match (a longer
        substring filters the rows the shorter one kept, not every row)."""
        if narrow:
            keys, quick = self._view, self._view_quick
        else:
            keys, quick = self._order, self._order_quick
        before = self._view
        seen = self._seen.get(self.filter.text) if self.filter.active else None
        if seen is not None:
            self._view, self._view_quick = seen
        elif self.filter.active:
            rows = self._rows
            flags = self.filter.select(quick if self.filter.quick else
                                       [rows[k].search for k in keys])
            if False not in flags:  # every row kept (a first letter often keeps them all)
                self._view, self._view_quick = tuple(keys), tuple(quick)
            else:
                self._view = tuple(compress(keys, flags))
                self._view_quick = tuple(compress(quick, flags))
            if len(self._seen) >= SEEN_FILTERS:
                self._seen.pop(next(iter(self._seen)))
            self._seen[self.filter.text] = (self._view, self._view_quick)
        else:
            self._view, self._view_quick = keys, quick
        old_cursor = self.cursor
        if keep is not None and (self.cursor >= len(self._view)
                                 or self._view[self.cursor] != keep):
            # look for the row only if the filter keeps it (a row gone is not looked for
            # through every row shown)
            row = self._rows.get(keep)
            try:
                if row is None or not self.filter.select([row.search])[0]:
                    raise ValueError(keep)
                self.cursor = self._view.index(keep)
            except ValueError:
                self.cursor = min(self.cursor, max(0, len(self._view) - 1))
        else:
            self.cursor = min(self.cursor, max(0, len(self._view) - 1))
        self._set_virtual_size(Size(self._line_width, len(self._view) + 1))
        self._scroll_cursor_into_view()
        if repaint or self._window_changed(before, old_cursor):
            self.refresh()
        self.post_message(self.Changed(self))

    def _set_virtual_size(self, size: Size) -> None:
        """A new row count: the scroll bar follows in the same frame. (Setting
        ``virtual_size`` would ask for a layout of the whole screen, and the scroll bar would
        be redrawn one frame later; the table's own size does not change.)"""
        if size == self.virtual_size:
            return
        if not self.is_mounted or not self.container_size:
            self.virtual_size = size
            return
        self.set_reactive(VirtualTable.virtual_size, size)
        self._scroll_update(size)  # Textual's own step after a layout: the scroll bars

    def _window_changed(self, before: tuple[str, ...], old_cursor: int) -> bool:
        """Whether the rows in view (or the cursor) differ from ``before``'s: only then is
        the table repainted."""
        if old_cursor != self.cursor:
            return True
        top = int(self.scroll_offset.y)
        end = top + max(1, self.size.height)
        return before[top:end] != self._view[top:end]

    def apply_filter(self, text: str) -> Filter:
        """Filter the rows by ``text`` (see ``tui.filtering``); the cursor stays on its row
        when that row still shows."""
        previous, self.filter = self.filter, compile_filter(text)
        self._refilter(self.cursor_key, narrow=self.filter.narrows(previous), repaint=False)
        return self.filter

    def sort_by(self, column: int | None, *, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        keep = self.cursor_key
        self._resort()
        self._refilter(keep)

    def move_to(self, key: str) -> bool:
        if key not in self._rows:
            return False
        try:
            self.cursor = self._view.index(key)
        except ValueError:
            return False
        self._scroll_cursor_into_view()
        self.refresh()
        return True

    # --- actions ------------------------------------------------------------------------

    def _scroll_cursor_into_view(self) -> None:
        height = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        if not self._view:
            return
        self.cursor = max(0, min(len(self._view) - 1, self.cursor + delta))
        self._scroll_cursor_into_view()
        self.refresh()

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        if self._view:
            self.action_cursor((len(self._view) if where < 0 else -len(self._view)) * 2)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Enter is offered only where it opens something (a screen whose ``drills`` is
        false — a list with no detail — hides it from the footer and the help)."""
        if action == "select":
            return bool(getattr(self.screen, "drills", True))
        return True

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.Selected(self, key))

    def action_sort(self, direction: int) -> None:
        if direction < 0:
            self.sort_by(self.sort_column if self.sort_column is not None else 0,
                         reverse=not self.sort_reverse)
            return
        nxt = 0 if self.sort_column is None else (self.sort_column + 1) % len(self.columns)
        self.sort_by(nxt)

    # --- rendering ----------------------------------------------------------------------

    def _header_text(self) -> str:
        parts = []
        for i, c in enumerate(self.columns):
            mark = ("▼" if self.sort_reverse else "▲") if i == self.sort_column else ""
            parts.append(fit(c.label + mark, c.width, right=c.right))
        return " ".join(parts)

    def _line_segments(self, cells: tuple[str, ...]) -> tuple[str, ...]:
        """The row laid out in its columns (one space between them), as runs of text: the
        cells that are plain ASCII together, each other cell on its own. Measuring a run's
        width in cells (Textual does, several times a frame, for every line drawn) is then a
        length for ASCII, and a cache hit for a department's Chinese name, not a pass over
        every character of a line that holds one wide character."""
        # a cell is shown with its control characters escaped: a server's name holding ESC
        # or a reason holding CR must not act on the terminal (govcloud.domain.text)
        runs: list[str] = []
        ascii_run = ""
        for i, c in enumerate(self.columns):
            text = fit(printable(cells[i]) if i < len(cells) else "", c.width, right=c.right)
            if i:
                text = " " + text
            if text.isascii():
                ascii_run += text
                continue
            if ascii_run:
                runs.append(ascii_run)
                ascii_run = ""
            runs.append(text)
        if ascii_run or not runs:
            runs.append(ascii_run)
        return tuple(runs)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None

    def _line_styles(self) -> tuple[Style, Style, Style]:
        """(base, header, cursor) — computed once, not per line (rich_style is costly)."""
        if self._styles is None:
            base = self.rich_style
            self._styles = (base,
                            base + self.get_component_rich_style("virtual-table--header"),
                            self.get_component_rich_style("virtual-table--cursor"))
        return self._styles

    def on_focus(self) -> None:
        self._styles = None

    def on_blur(self) -> None:
        self._styles = None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base, header, cursor = self._line_styles()
        if y == 0:
            line = fit(self._header_text(), max(width + int(scroll_x), self._line_width))
            strip = Strip([Segment(line, header)])
            return strip.crop(int(scroll_x), int(scroll_x) + width)
        index = int(scroll_y) + y - 1
        if index >= len(self._view):
            return Strip.blank(width, base)
        row = self._rows[self._view[index]]
        style = base
        if row.style:
            style = style + _parse_style(row.style)
        if index == self.cursor:
            style = style + cursor
        if row.line is None:
            row.line = self._line_segments(row.cells)
        # every run is as wide as its columns: the line's width is known, not measured
        segments = [Segment(run, style) for run in row.line]
        length = self._line_width - 1  # no separator after the last column
        end = int(scroll_x) + width
        if end > length:
            segments.append(Segment(" " * (end - length), style))
            length = end
        strip = Strip(segments, length)
        return strip if not scroll_x and end == length else \
            strip.crop(int(scroll_x), end)

    def on_resize(self) -> None:
        self._scroll_cursor_into_view()


_parse_style = lru_cache(maxsize=64)(Style.parse)


def _sortable(value: Any) -> tuple[int, Any]:
    """Numbers before text, each in its natural order; None last."""
    if value is None:
        return (2, 0)
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value).lower())
