"""The console's pure parts: the `/` filter (narrowing as a substring grows, the rows of a
shorter filter shown again on backspace), cell-width padding of Chinese text, ages, the view
registry and the header text."""

from __future__ import annotations

import datetime as dt

import pytest
from rich.cells import cell_len

from tui import registry
from tui.filtering import compile_filter, quick_haystack
from tui.format import age, bar, fit
from tui.registry import ViewSpec, find_view, register_view, views
from tui.views.reports import amount, month_of, shift
from tui.widgets.header import header_text
from tui.widgets.table import Column, VirtualTable, build_rows

NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("text", "hay", "expected"), [
    ("psd", "prod gd-psd-portal-001 active", True),
    ("PSD", "prod gd-psd-portal-001 active", True),
    ("!psd", "prod gd-psd-portal-001 active", False),
    ("!psd", "prod gd-tax-portal-001 active", True),
    ("^prod .*error", "prod x error", True),
    ("^prod .*error", "dr-local x error", False),
    ("/tax|psd/", "gd-tax-001", True),
    ("公安", "广东省公安厅 gd-psd", True),
    ("", "anything", True),
    ("!", "anything", True),
])
def test_filter_matches(text: str, hay: str, expected: bool) -> None:
    assert compile_filter(text).match(hay) is expected


def test_filter_kinds_and_bad_regex() -> None:
    assert compile_filter("abc").kind == "substring"
    assert compile_filter("a.c").kind == "regex"
    assert not compile_filter("  ").active
    bad = compile_filter("gd-(psd")
    assert bad.error is not None and bad.kind == "substring"
    assert bad.match("x gd-(psd y") and not bad.match("gd-psd")
    assert compile_filter("!tax").describe() == "NOT substring 'tax'"


@pytest.mark.parametrize("text", ["广东省公安厅", "gd-psd", "广东省人力资源和社会保障厅 HRSS", ""])
@pytest.mark.parametrize("width", [1, 5, 8, 12, 30])
def test_fit_pads_and_cuts_to_cells(text: str, width: int) -> None:
    out = fit(text, width)
    assert cell_len(out) == width
    right = fit(text, width, right=True)
    assert cell_len(right) == width
    if cell_len(text) <= width:
        assert out.rstrip() == text.rstrip() and right.lstrip() == text


def test_chinese_columns_line_up() -> None:
    rows = [("广东省公安厅", "6"), ("gd-tax", "4"), ("深圳市", "5")]
    lines = [fit(a, 14) + " " + fit(b, 3, right=True) for a, b in rows]
    assert {cell_len(line) for line in lines} == {18}


def test_age_is_coarse() -> None:
    assert age((NOW - dt.timedelta(seconds=20)).isoformat(), NOW) == "<1m"
    assert age((NOW - dt.timedelta(minutes=5)).isoformat(), NOW) == "5m"
    assert age((NOW - dt.timedelta(hours=3)).isoformat(), NOW) == "3h"
    assert age(None, NOW) == "never"


def test_bar_width_and_colour() -> None:
    b = bar(95, 100, 10)
    assert b.plain == "██████████"[:10] and len(b.plain) == 10
    assert b.style == "bold red"
    assert bar(10, 100, 10).style == "green"
    assert bar(0, 0, 4).plain == "░░░░"


def test_registry_finds_names_aliases_and_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_VIEWS", dict(registry._VIEWS))  # leave the real one be
    register_view(ViewSpec(name="zz-test-view", title=("T", "测"), factory=object,
                           aliases=("zzt",), order=999))
    assert find_view(":zz-test-view").name == "zz-test-view"  # type: ignore[union-attr]
    assert find_view("zzt").name == "zz-test-view"  # type: ignore[union-attr]
    assert find_view("zz-t").name == "zz-test-view"  # type: ignore[union-attr]
    assert find_view("nope") is None
    assert views()[-1].name == "zz-test-view"
    with pytest.raises(ValueError, match="already name"):
        register_view(ViewSpec(name="other", title=("O", "O"), factory=object,
                               aliases=("zzt",)))


def test_header_marks_prod_and_stale_sites() -> None:
    sites = [{"site": "PROD", "role": "production", "health": "ok",
              "data_as_of": (NOW - dt.timedelta(seconds=5)).isoformat()},
             {"site": "DR-LOCAL", "role": "same-city-dr", "health": "stale",
              "data_as_of": (NOW - dt.timedelta(minutes=12)).isoformat()}]
    who = {"name": "ops", "role": "operator", "scope": "all"}
    text = header_text(server="http://x", whoami=who, site="PROD", sites=sites, lang="en",
                       now=NOW, read_only=False, view_title="Servers")
    plain = text.plain
    assert "PROD ▲ PRODUCTION" in plain and "ops (operator)" in plain
    assert "DR-LOCAL  STALE  12m" in plain and "PROD ● <1m" in plain
    assert "2026-11-28 10:00:00 UTC" in plain
    zh = header_text(server="http://x", whoami=who, site="DR-LOCAL", sites=sites, lang="zh",
                     now=NOW, read_only=True, view_title="云主机")
    assert "数据过期" in zh.plain and "只读" in zh.plain and "PRODUCTION" not in zh.plain
    assert "replica" not in plain  # one server: nothing to say
    several = header_text(server="http://b", whoami=who, site=None, sites=sites, lang="en",
                          now=NOW, read_only=False, view_title="Servers",
                          servers=["http://a", "http://b"])
    assert "│ http://b (replica 2/2) │" in several.plain


def _servers(n: int) -> list[tuple[str, tuple[str, ...]]]:
    return [(f"PROD/{i:05d}", ("PROD", f"gd-psd-db-{i:05d}" if i % 3 else f"gd-tax-{i:05d}",
                               "ERROR" if i % 7 == 0 else "ACTIVE")) for i in range(n)]


def test_rows_built_ahead_are_sorted_and_picked_by_key() -> None:
    rows = build_rows(_servers(50), row_style=lambda c: "red" if c[2] == "ERROR" else None,
                      sort=(1, True))
    names = [rows.rows[k].cells[1] for k in rows.order]
    assert names == sorted(names, reverse=True)
    assert rows.rows["PROD/00007"].style == "red"
    assert rows.rows["PROD/00001"].search == "prod gd-psd-db-00001 active"
    some = rows.where(lambda key: key.endswith("1"))
    assert some.order == [k for k in rows.order if k.endswith("1")]
    assert all(some.rows[k] is rows.rows[k] for k in some.order)  # the same rows, no copies


def test_filter_narrows_only_when_a_substring_grows() -> None:
    psd, psd_db = compile_filter("psd"), compile_filter("psd-db")
    assert psd_db.narrows(psd) and psd.narrows(compile_filter(""))
    assert not psd.narrows(psd_db)                    # shorter: every row again
    assert not compile_filter("!psd-db").narrows(psd)  # inverted
    assert not compile_filter("psd.*db").narrows(psd)  # a regex
    assert compile_filter("xpsdx").narrows(psd)


@pytest.mark.anyio
async def test_table_filters_incrementally_and_keeps_built_rows() -> None:
    from textual.app import App, ComposeResult

    table = VirtualTable([Column("site", "SITE", 5), Column("name", "NAME", 20),
                          Column("status", "STATUS", 7)])

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield table

    async with One().run_test(size=(60, 12)) as pilot:
        built = build_rows(_servers(3000), sort=(None, False))
        table.set_rows(built)
        assert table.total == 3000 and table._rows is built.rows  # taken as built
        await pilot.pause()
        shown = table._rows[table.keys[0]]
        assert shown.line is not None                 # laid out when drawn
        for i, text in enumerate(("g", "gd", "gd-p", "gd-psd-db-0001")):
            table.apply_filter(text)
            want = [k for k in built.order if text in built.rows[k].search]
            assert table.keys == want, i
        table.apply_filter("gd-t")                    # not a longer "gd-psd…": every row again
        assert table.row_count == 1000
        table.apply_filter("")
        assert table.row_count == 3000
        # the same cells fetched again: the rows (and their laid-out lines) are kept
        assert table.set_rows(_servers(3000)) == 0
        assert table._rows[table.keys[0]] is shown


@pytest.mark.anyio
async def test_backspace_shows_the_shorter_filters_rows_again_and_the_cursor_stays() -> None:
    from textual.app import App, ComposeResult

    table = VirtualTable([Column("site", "SITE", 5), Column("name", "NAME", 20),
                          Column("status", "STATUS", 7)])

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield table

    def want(text: str, rows: list[tuple[str, tuple[str, ...]]]) -> list[str]:
        return [k for k, cells in rows if text in " ".join(cells).lower()]

    async with One().run_test(size=(60, 12)) as pilot:
        servers = _servers(3000)
        table.set_rows(build_rows(servers, sort=(None, False)))
        await pilot.pause()
        typed = "gd-psd-db-01"
        for i in range(1, len(typed) + 1):
            table.apply_filter(typed[:i])
        assert table.move_to("PROD/01004")  # far down the rows of "g"
        for i in range(len(typed) - 1, 0, -1):  # backspace to "g": widening
            table.apply_filter(typed[:i])
            assert table.keys == want(typed[:i], servers), typed[:i]
            assert table.cursor_key == "PROD/01004"  # on its row wherever that row is
        table.apply_filter("gd-tax-0000")  # the cursor's row filtered out: the cursor stays
        assert table.keys == want("gd-tax-0000", servers) and table.cursor_key in table.keys
        # new rows: a filter typed before is matched against them, not taken as it was
        renamed = [(k, (c[0], c[1].replace("psd", "edu"), c[2])) for k, c in servers]
        table.set_rows(build_rows(renamed, sort=(None, False)))
        table.apply_filter("gd-psd")
        assert table.keys == []
        table.apply_filter("gd-")
        assert table.keys == want("gd-", renamed) and table.row_count == 3000


# rows whose search strings hold what a quick haystack stands in for: Chinese (two bytes a
# character in Python), a Kelvin sign (lower-cased to an ASCII "k"), and literal "?"
_MIXED = [
    ("PROD/a", ("PROD", "gd-psd-db-001", "广东省公安厅 gd-psd")),
    ("PROD/b", ("PROD", "gd-psd-app-002", "广东省公安厅 gd-psd")),
    ("PROD/c", ("PROD", "gd-tax-db-003", "广东省税务局 gd-tax")),
    ("PROD/d", ("PROD", "what?-db-004", "gd-edu")),
    ("PROD/e", ("PROD", "\u212aelvin-db-005", "gd-edu")),
    ("PROD/f", ("PROD", "公安db-006", "gd-psd")),
    ("PROD/g", ("PROD", "plain-007", "gd-agri")),
    ("PROD/h", ("PROD", "odd(名)-008", "gd-edu")),
]


@pytest.mark.parametrize("typed", [
    "gd-psd-db", "kelvin", "db-00", "公安", "公安厅 gd", "安db", "what?", "d(?", "t?-", "!gd-psd",
    "gd-(psd|tax)", "zz"])
@pytest.mark.anyio
async def test_typing_a_filter_narrows_to_the_rows_of_a_fresh_filter(typed: str) -> None:
    """Each key of a filter typed one at a time (narrowing what the shorter text kept, over
    the quick haystacks where it may) and each backspace (widening) shows the rows a fresh
    filter of that text shows, matched against each row's full search string."""
    from textual.app import App, ComposeResult

    table = VirtualTable([Column("site", "SITE", 5), Column("name", "NAME", 20),
                          Column("dept", "DEPT", 22)])

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield table

    built = build_rows(_MIXED, sort=(1, False))
    assert built.rows["PROD/e"].search.startswith("prod kelvin")  # lower-cased to ASCII
    assert built.haystacks == [built.rows[k].quick for k in built.order]

    def fresh(text: str) -> list[str]:
        f = compile_filter(text)
        return [k for k in built.order if f.match(built.rows[k].search)]

    async with One().run_test(size=(60, 12)) as pilot:
        table.sort_column = 1  # the order the rows were built in: taken as built
        table.set_rows(built)
        await pilot.pause()
        for i in [*range(1, len(typed) + 1), *range(len(typed) - 1, -1, -1)]:
            table.apply_filter(typed[:i])
            assert table.keys == fresh(typed[:i]), typed[:i]
    assert fresh("kelvin") == ["PROD/e"] and fresh("what?") == ["PROD/d"]
    assert fresh("d(") == ["PROD/h"] and fresh("d(?") == []  # "?" is not 名
    assert fresh("公安厅 gd") == ["PROD/b", "PROD/a"]


def test_quick_haystacks_stand_in_only_for_ascii_text_without_a_question_mark() -> None:
    assert quick_haystack("广东省公安厅 gd-psd") == "?????? gd-psd"
    assert compile_filter("gd-psd").quick and compile_filter("!gd-psd").quick
    assert not compile_filter("公安").quick
    assert not compile_filter("d(?").quick        # not a regex: a text holding "?"
    assert compile_filter("d(?").kind == "substring"
    assert not compile_filter("gd-(psd|tax)").quick


@pytest.mark.anyio
async def test_a_row_is_drawn_as_runs_of_ascii_and_of_wide_text() -> None:
    """A row holding Chinese is drawn as runs (the ASCII cells together, each other cell
    alone), the same text in the same cells as one string would be."""
    from textual.app import App, ComposeResult

    columns = [Column("site", "SITE", 5), Column("name", "NAME", 14),
               Column("dept", "DEPT", 14), Column("n", "N", 4, right=True)]
    table = VirtualTable(columns)

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield table

    rows = [("PROD/a", ("PROD", "gd-psd-db-001", "广东省公安厅 gd-psd", "7")),
            ("PROD/b", ("PROD", "plain", "gd-edu", "12"))]
    async with One().run_test(size=(50, 6)) as pilot:
        table.set_rows(rows)
        await pilot.pause()
        for y, (_key, cells) in enumerate(rows, start=1):
            strip = table.render_line(y)
            whole = " ".join(fit(c, col.width, right=col.right) for c, col in zip(
                cells, columns, strict=True))
            text = "".join(seg.text for seg in strip)
            assert text == fit(whole, table.size.width)
            assert strip.cell_length == table.size.width == cell_len(text)
        wide = [seg.text for seg in table.render_line(1)]
        # site and name, the department (cut: 广东省公安厅 …), the number, the padding
        assert len(wide) == 4 and not wide[1].isascii() and wide[2].isascii()
        assert [seg.text.isascii() for seg in table.render_line(2)] == [True, True]


def test_settling_the_heap_leaves_full_collections_to_it() -> None:
    import gc

    from tui.cache import FULL_COLLECTION_EVERY, settle_heap

    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_threshold() == (*before[:2], FULL_COLLECTION_EVERY)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


@pytest.mark.parametrize(("seconds", "shown"), [
    (None, "-"), (0, "0s"), (-5, "0s"), (59.9, "59s"), (600, "10m"), (5400, "1h30m"),
    (172800, "2d"), (90061, "1d1h1m1s")])
def test_durations_read_as_the_cli_writes_them(seconds: float | None, shown: str) -> None:
    from datetime import timedelta

    from govcloud.domain.protection import format_duration
    from tui.format import duration

    assert duration(seconds) == shown
    if seconds is not None:
        assert format_duration(timedelta(seconds=seconds)) == shown


def test_reports_months_and_amounts() -> None:
    assert month_of(dt.datetime(2027, 1, 1, 7, tzinfo=dt.timezone(dt.timedelta(hours=8)))) \
        == "2026-12"  # 07:00 in Beijing on New Year's Day is still December in UTC
    assert shift("2026-01", -1) == "2025-12" and shift("2026-12", 1) == "2027-01"
    assert shift("2026-11", -23) == "2024-12" and shift("2026-11", 0) == "2026-11"
    assert amount("1234567.5") == ("1,234,567.50", amount("1234567.50")[1])
    assert amount("[red]x\x1b") == ("[red]x\\x1b", amount("nan?")[1])  # shown as sent
