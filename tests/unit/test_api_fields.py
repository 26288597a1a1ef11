"""govcloud.api.fields: the control-character checks compose with a length bound, and the
identifier pattern is the one the client and the CLI use."""

from __future__ import annotations

import re
from typing import Annotated

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from govcloud.api.fields import FREE_TEXT, PLAIN_LINE, FreeText, PlainLine
from govcloud.domain.text import IDENTIFIER_PATTERN

Reason = TypeAdapter(Annotated[str, Field(max_length=20), PLAIN_LINE])
Note = TypeAdapter(Annotated[str, Field(max_length=20), FREE_TEXT])


@pytest.mark.parametrize("value", ["a\x1b[2J", "a\nb", "tab\there", "bell\x07", "x\u202e",
                                   "c1\x9b", "del\x7f"])
def test_one_line_refuses_every_control_character(value: str) -> None:
    with pytest.raises(ValidationError, match="control characters"):
        Reason.validate_python(value)
    with pytest.raises(ValidationError, match="control characters"):
        TypeAdapter(PlainLine).validate_python(value)


def test_free_text_allows_newlines_and_tabs_only() -> None:
    assert Note.validate_python("a\nb\tc") == "a\nb\tc"
    assert TypeAdapter(FreeText).validate_python("重复\n") == "重复\n"
    with pytest.raises(ValidationError, match=r"U\+000D"):
        Note.validate_python("a\rb")


def test_the_length_bound_is_checked_first_and_in_characters() -> None:
    with pytest.raises(ValidationError, match="at most 20 characters"):
        Reason.validate_python("\x1b" * 30)
    assert Reason.validate_python("广东省公安厅 ok") == "广东省公安厅 ok"


@pytest.mark.parametrize("value,ok", [("gd-psd", True), ("gd-tax-w1", True), ("li.wei", True),
                                      ("..", False), ("../principals", False), ("a?b", False),
                                      ("gd\n", False), ("", False), ("x" * 129, False)])
def test_identifier_pattern(value: str, ok: bool) -> None:
    assert (re.fullmatch(IDENTIFIER_PATTERN.strip("^$"), value) is not None) is ok
