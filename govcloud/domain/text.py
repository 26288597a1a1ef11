"""Hostile strings: control characters found on input, and escaped on output.

Every string a person or a cloud gave us (a department's name, a request's reason, a server's
metadata, an error a site answered) may hold characters that a terminal, the console or a
report would act on rather than show: ESC starts an escape sequence (clear the screen, retitle
the window, fake colours), CR and backspace overwrite what was printed, BEL rings, U+202E turns
the text after it around. ``printable`` shows each of them as a visible escape instead:

* C0 controls, DEL and the C1 controls (U+0000–U+001F, U+007F–U+009F): ``\\x1b``, ``\\n``,
  ``\\r``, ``\\t``, ``\\x07``, ``\\x9b`` — as Python writes them;
* invisible format characters (Unicode category Cf: the bidi overrides and isolates U+202A–
  U+202E and U+2066–U+2069, the marks U+200E/U+200F/U+061C, zero-width spaces and joiners,
  the BOM, tag characters), the line and paragraph separators U+2028/U+2029 and lone
  surrogates: ``\\u202e``, ``\\U000e0041``.

Everything else — Chinese, accents, emoji, a backslash — is left as it is (a backslash is not
doubled, so the text ``\\x1b`` typed by someone reads the same as an escaped ESC; it is never an
ESC). Input checks use ``control_characters`` (the same set): names, codes and one-line reasons
allow none; free text (``multiline=True``) allows newlines and tabs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from govcloud.errors import InvalidInput

# Unicode categories Cc, Cf, Zl, Zp and Cs (tests/unit/test_text.py checks this against
# unicodedata for every code point, so a new Python's Unicode tables cannot slip past it).
_CLASS = (
    "\x00-\x1f\x7f-\x9f"          # C0, DEL, C1
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ud800-\udfff"               # lone surrogates (surrogateescape'd bytes)
    "\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
CONTROL = re.compile(f"[{_CLASS}]")
_FREE_TEXT_OK = frozenset("\n\t")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: object) -> str:
    """``value`` as text that is safe to show on a terminal, in the console or in a report:
    every control or invisible format character escaped (see the module's docstring).
    None becomes ``""``; other non-strings go through ``str`` first."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if CONTROL.search(text) is None:  # the usual case: no copy
        return text
    return CONTROL.sub(_escape, text)


def printable_lines(text: str) -> str:
    """``text`` with each of its lines made ``printable``: the newlines between lines stay
    (for output that is several lines by design: a table, an error with its list of
    problems); a value that must not add lines goes through ``printable`` first."""
    if CONTROL.search(text) is None:
        return text
    return "\n".join(printable(line) for line in text.split("\n"))


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0A:  # a line break of the indented layout (JSON escapes those in strings)
        return "\n"
    if code > 0xFFFF:  # as a surrogate pair, the only way JSON spells it
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def safe_json(data: Any, *, indent: int | None = 2) -> str:
    """``data`` as JSON (non-ASCII text kept readable) in which no control or invisible
    format character appears raw: JSON escapes C0 itself; DEL, C1, the bidi overrides and
    the rest are written ``\\u....`` too. ``json.loads`` gives back exactly ``data``."""
    encoded = json.dumps(data, indent=indent, ensure_ascii=False, default=str)
    return CONTROL.sub(_json_escape, encoded)


def control_characters(text: str, *, multiline: bool = False) -> list[tuple[int, str]]:
    """The control and invisible format characters in ``text`` with their positions;
    ``multiline`` allows newlines and tabs (free text such as a justification)."""
    return [(m.start(), m.group()) for m in CONTROL.finditer(text)
            if not (multiline and m.group() in _FREE_TEXT_OK)]


def describe_controls(found: list[tuple[int, str]]) -> str:
    """``U+001B at position 7, U+0007 at position 20`` (at most three, then a count)."""
    shown = ", ".join(f"U+{ord(ch):04X} at position {i + 1}" for i, ch in found[:3])
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return shown + more


def check_text(text: str, what: str, *, multiline: bool = False) -> str:
    """``text`` unchanged, or InvalidInput naming the first control characters in it."""
    found = control_characters(text, multiline=multiline)
    if found:
        allowed = "newlines and tabs are allowed, nothing else" if multiline else \
            "it must be one line of plain text"
        raise InvalidInput(f"{what} contains control characters ({describe_controls(found)})",
                           hint=f"retype it without control or invisible characters; {allowed}")
    return text


# An identifier that goes into a URL path or names a thing: a letter or digit, then letters,
# digits, '.', '_', '@' or '-' (department codes, wave ids, host and site names, principals,
# server ids). '..', '/', '?', '#', '%' and spaces can never be one.
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
IDENTIFIER_PATTERN = IDENTIFIER.pattern


def check_identifier(value: str, what: str) -> str:
    """``value`` when it is an identifier (``IDENTIFIER``), else InvalidInput."""
    if not IDENTIFIER.fullmatch(value):
        raise InvalidInput(f"'{printable(value)}' is not a valid {what}",
                           hint=f"a {what} starts with a letter or digit and holds only "
                                "letters, digits, '.', '_', '@' and '-' (at most 128)")
    return value
