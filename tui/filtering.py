"""The `/` filter of every list, k9s-style: plain text matches as a case-insensitive
substring, text with regular-expression characters (or written ``/.../``) as a regular
expression, and a leading ``!`` inverts the match. Pure: no Textual here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_REGEX_CHARS = re.compile(r"[\\^$.|?*+()\[\]{}]")

Predicate = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Filter:
    """A compiled filter; ``text`` as typed, ``kind`` 'all', 'substring' or 'regex', and
    ``error`` when the text looked like a regex but did not compile (then it is a
    substring)."""

    text: str
    kind: str
    inverted: bool
    match: Predicate
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.kind != "all"

    def describe(self) -> str:
        if not self.active:
            return ""
        return f"{'NOT ' if self.inverted else ''}{self.kind} {self.text.lstrip('!')!r}"


def _everything(_text: str) -> bool:
    return True


def compile_filter(text: str) -> Filter:
    """The filter for ``text``; haystacks passed to ``match`` must be lower-cased already
    (the tables keep one lower-cased search string per row)."""
    raw = text.strip()
    inverted = raw.startswith("!")
    body = raw[1:].strip() if inverted else raw
    if not body:
        return Filter(text, "all", False, _everything)
    error = None
    kind = "substring"
    predicate: Predicate
    pattern_text = body[1:-1] if len(body) > 2 and body[0] == body[-1] == "/" else None
    if pattern_text is not None or _REGEX_CHARS.search(body):
        try:
            regex = re.compile(pattern_text if pattern_text is not None else body,
                               re.IGNORECASE)
            predicate = lambda hay: regex.search(hay) is not None  # noqa: E731
            kind = "regex"
        except re.error as exc:
            error = f"not a valid regular expression ({exc}); matching as text"
            needle = body.lower()
            predicate = lambda hay: needle in hay  # noqa: E731
    else:
        needle = body.lower()
        predicate = lambda hay: needle in hay  # noqa: E731
    if inverted:
        inner = predicate
        return Filter(text, kind, True, lambda hay: not inner(hay), error)
    return Filter(text, kind, False, predicate, error)
