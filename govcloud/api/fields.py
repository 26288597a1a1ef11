"""Field types shared by the API's request models and routes: what a hostile string may not be.

* ``Identifier`` — a path parameter naming a thing (department code, wave id, host, site,
  principal, server id): ``govcloud.domain.text.IDENTIFIER``, so ``..``, ``/``, ``?``, ``%`` or
  a control character never reaches a route's code (422 before it runs).
* ``PlainLine`` — one line of text (a name, a code, a reason): no control or invisible format
  character at all (no ESC, CR, newline, tab, BEL, bidi override...).
* ``FreeText`` — free text (a justification, a note): newlines and tabs allowed, nothing else.

They are ``Annotated`` types; with a length bound, put the bound first and the check after it:
``Annotated[str, Field(max_length=500), PLAIN_LINE]`` (``govcloud.api.contract``'s ``Name``,
``Line`` and ``Text`` are built so). A refused value is a 422
naming the field and the characters' positions (``docs/security.md``, hostile strings).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator

from govcloud.domain.text import IDENTIFIER_PATTERN, control_characters, describe_controls


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
Identifier = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=128,
                                 description="a name or id: a letter or digit, then letters, "
                                             "digits, '.', '_', '@' or '-'")]
