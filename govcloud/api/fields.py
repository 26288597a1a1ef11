"""Field types of the API's request models: what a hostile string may not be.

* ``PlainLine`` — one line of text (a name, a code, a reason): no control or invisible format
  character at all (no ESC, CR, newline, tab, BEL, bidi override...).
* ``FreeText`` — free text (a justification, a note): newlines and tabs allowed, nothing else.

They are ``Annotated`` types; with a length bound, put the bound first and the check after it:
``Annotated[str, Field(max_length=500), PLAIN_LINE]`` (``Name``, ``Line`` and ``Text`` below are
built so, with the bounds of ``govcloud.domain.limits``). A refused value is a 422 naming the
field and the characters' positions (``docs/security.md``, hostile strings). ``IsoTime`` is a
time given as ISO 8601 text.

Pydantic only, no FastAPI: the API client's models use these, and the ``govcloud`` CLI and the
console start without importing the server's framework. Path and query parameter types
(``Identifier``, ``Id``, ``name_query``...) are the routes', in ``govcloud.api.contract``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from govcloud.domain.limits import MAX_ITEMS, MAX_LINE, MAX_NAME, MAX_TEXT
from govcloud.domain.text import control_characters, describe_controls


def _plain_line(value: str) -> str:
    found = control_characters(value)
    if found:
        raise ValueError(f"contains control characters ({describe_controls(found)}); "
                         "it must be one line of plain text")
    return value


def _free_text(value: str) -> str:
    found = control_characters(value, multiline=True)
    if found:
        raise ValueError(f"contains control characters ({describe_controls(found)}); "
                         "newlines and tabs are allowed, nothing else")
    return value


# The checks alone, to follow a length bound in one Annotated (the bound is then checked
# first, by pydantic-core, and its message says "characters"):
# ``Annotated[str, Field(max_length=500), PLAIN_LINE]``.
PLAIN_LINE = AfterValidator(_plain_line)
FREE_TEXT = AfterValidator(_free_text)
PlainLine = Annotated[str, PLAIN_LINE]
FreeText = Annotated[str, FREE_TEXT]

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME), PLAIN_LINE]
"""A name, code or id in a body (1 to ``MAX_NAME`` characters, no control characters): an
empty one is bad input (422), never looked up as a thing that is not there (404)."""
Line = Annotated[str, Field(max_length=MAX_LINE), PLAIN_LINE]
"""One line of text in a body: a reason, a fingerprint (at most ``MAX_LINE``; no control
characters)."""
Text = Annotated[str, Field(max_length=MAX_TEXT), FREE_TEXT]
"""Free text in a body: a justification, a note (at most ``MAX_TEXT``; newlines and tabs
but no other control characters)."""
Names = Annotated[list[Name], Field(min_length=1, max_length=MAX_ITEMS)]
"""A non-empty list of names (at most ``MAX_ITEMS``)."""


def _iso_8601(value: Any) -> Any:
    """Times are ISO 8601 text (``2026-12-01T08:00:00Z``), never a bare number of seconds."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time, e.g. "
                             "2026-12-01T08:00:00+00:00") from None
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_8601)]
"""A time given as ISO 8601 text."""
