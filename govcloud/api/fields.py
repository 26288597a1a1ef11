"""Field types shared by the API's request models and routes: what a hostile string may not be.

* ``Identifier`` — a path parameter naming a thing (department code, wave id, host, site,
  principal, server id): ``govcloud.domain.text.IDENTIFIER``, so ``..``, ``/``, ``?``, ``%`` or
  a control character never reaches a route's code (422 before it runs).
* ``PlainLine`` — one line of text (a name, a code, a reason): no control or invisible format
  character at all (no ESC, CR, newline, tab, BEL, bidi override...).
* ``FreeText`` — free text (a justification, a note): newlines and tabs allowed, nothing else.

They are ``Annotated`` types, so a length bound composes with them where a model declares the
field, e.g. ``reason: Annotated[PlainLine, Field(max_length=500)]``. A refused value is a 422
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


PlainLine = Annotated[str, AfterValidator(_plain_line)]
FreeText = Annotated[str, AfterValidator(_free_text)]
Identifier = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=128,
                                 description="a name or id: a letter or digit, then letters, "
                                             "digits, '.', '_', '@' or '-'")]
