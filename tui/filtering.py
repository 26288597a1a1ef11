"""The `/` filter of every list, k9s-style: plain text matches as a case-insensitive
substring, text with regular-expression characters (or written ``/.../``) as a regular
expression, and a leading ``!`` inverts the match. Pure: no Textual here."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_REGEX_CHARS = re.compile(r"[\\^$.|?*+()\[\]{}]")

Predicate = Callable[[str], bool]
UNSEEN = "?"  # what a character outside ASCII becomes in a quick haystack


def quick_haystack(search: str) -> str:
    """``search`` (lower-cased) as a quick filter scans it: every character outside ASCII
    replaced by ``UNSEEN``, in a new string of one byte a character. A plain-ASCII needle
    without ``UNSEEN`` is in it exactly when it is in ``search``: such a needle can match
    only where ``search`` is ASCII, and that is kept as it was. (Half the memory of a string
    holding a Chinese name, which Python stores two bytes a character, and made in the
    order the rows are shown, so one pass over every row reads memory in sequence.)"""
    return search.encode("ascii", "replace").decode("ascii")


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
    needle: str | None = None          # the lower-cased text of a substring filter
    regex: re.Pattern[str] | None = None

    @property
    def quick(self) -> bool:
        """Whether ``select`` may be given quick haystacks (``quick_haystack``) instead of
        the search strings: a plain-text filter of ASCII characters other than ``UNSEEN``
        (a text that fails to compile as a regular expression may hold one)."""
        n = self.needle
        return n is not None and n.isascii() and UNSEEN not in n

    def select(self, haystacks: Sequence[str]) -> list[bool]:
        """``match`` over many haystacks at once (no call per row for substrings): the rows'
        search strings, or their quick haystacks when ``quick``."""
        if self.needle is not None:
            n = self.needle
            return [n not in h for h in haystacks] if self.inverted else \
                [n in h for h in haystacks]
        if self.regex is not None:
            search = self.regex.search
            return [search(h) is None for h in haystacks] if self.inverted else \
                [search(h) is not None for h in haystacks]
        return [True] * len(haystacks)

    def narrows(self, previous: Filter) -> bool:
        """Whether every row this filter keeps was kept by ``previous`` (a substring that
        grew), so only those rows need testing."""
        if not previous.active:
            return True
        return (self.needle is not None and previous.needle is not None
                and not self.inverted and not previous.inverted
                and previous.needle in self.needle)

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
    regex: re.Pattern[str] | None = None
    pattern_text = body[1:-1] if len(body) > 2 and body[0] == body[-1] == "/" else None
    if pattern_text is not None or _REGEX_CHARS.search(body):
        try:
            regex = re.compile(pattern_text if pattern_text is not None else body,
                               re.IGNORECASE)
            predicate = lambda hay: regex.search(hay) is not None  # noqa: E731
            kind = "regex"
        except re.error as exc:
            error = f"not a valid regular expression ({exc}); matching as text"
    if kind == "substring":
        needle = body.lower()
        predicate = lambda hay: needle in hay  # noqa: E731
    else:
        needle = None
    if inverted:
        inner = predicate
        predicate = lambda hay: not inner(hay)  # noqa: E731
    return Filter(text, kind, inverted, predicate, error, needle=needle,
                  regex=regex if kind == "regex" else None)
