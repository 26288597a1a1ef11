"""govcloud.domain.text: control characters escaped on output, found on input; identifiers."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govcloud.domain.text import (
    CONTROL,
    check_identifier,
    check_text,
    control_characters,
    printable,
    safe_json,
)
from govcloud.errors import InvalidInput

HOSTILE = "\x1b[2J\x1b]0;pwned\x07ok\rX\x08\x7f\x9b31m\u202eevil\u2066\n"


def test_printable_escapes_every_terminal_control_visibly() -> None:
    shown = printable(HOSTILE)
    assert shown == ("\\x1b[2J\\x1b]0;pwned\\x07ok\\rX\\x08\\x7f\\x9b31m\\u202eevil\\u2066\\n")
    assert CONTROL.search(shown) is None


def test_printable_leaves_plain_text_alone() -> None:
    for text in ("广东省公安厅 Public Security", "C:\\tmp [red]x[/] café 👍", ""):
        assert printable(text) is text or printable(text) == text
    assert printable(None) == ""
    assert printable(42) == "42"


def test_the_class_covers_every_control_format_and_separator_character() -> None:
    """Every Cc, Cf, Zl, Zp and Cs code point of this Python's Unicode tables is escaped, and
    nothing assigned outside them (newer Unicode's Cf may be unassigned here)."""
    for cp in range(0x110000):
        ch = chr(cp)
        category = unicodedata.category(ch)
        matched = CONTROL.match(ch) is not None
        if category in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            assert matched, f"U+{cp:04X} ({category}) is not escaped"
        elif matched:
            assert category == "Cn", f"U+{cp:04X} ({category}) is escaped needlessly"


@given(st.text())
def test_printable_output_never_holds_a_control_character(text: str) -> None:
    assert CONTROL.search(printable(text)) is None


def test_input_check_names_the_characters_and_allows_newlines_only_in_free_text() -> None:
    with pytest.raises(InvalidInput, match=r"U\+001B at position 1"):
        check_text("\x1b[2Jhi", "reason")
    with pytest.raises(InvalidInput, match="control characters"):
        check_text("two\nlines", "reason")
    assert check_text("two\nlines\tand a tab", "justification", multiline=True)
    assert control_characters("a\rb", multiline=True) == [(1, "\r")]


@pytest.mark.parametrize("value", ["gd-psd", "gd-tax-w1", "li.wei", "ci@x", "PROD",
                                   "0f9c1c2e-8b7d-4c1e-9a57-5d2f4e1c7b11"])
def test_identifiers_accepted(value: str) -> None:
    assert check_identifier(value, "code") == value


@pytest.mark.parametrize("value", ["..", ".", "../principals", "../../sync?x=", "a/b", "a?b",
                                   "a#b", "a%2Fb", "a b", "", "-x", "gd\n", "x" * 129,
                                   "\x1b[2J"])
def test_identifiers_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_identifier(value, "department code")
    assert CONTROL.search(info.value.message) is None


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_safe_json_round_trips_and_holds_no_raw_control_but_layout(data: object) -> None:
    for indent in (None, 2):
        encoded = safe_json(data, indent=indent)
        assert json.loads(encoded) == data
        assert [c for c in CONTROL.findall(encoded) if c != "\n"] == []
