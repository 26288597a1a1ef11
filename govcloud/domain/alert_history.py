"""The history of Prometheus' alerts (issue 20): what Alertmanager (its webhook, JSON
version 4) or Prometheus itself (Alertmanager's API v2, ``POST /api/v2/alerts``) tells
govcloud, kept as **episodes** — one alert firing from ``startsAt`` until ``endsAt`` — and the
scorecard's figures over a month of them. Pure: the store keeps the episodes, the service
decides who may post them.

An alert is known by its **fingerprint**, the hash of its labels (as Alertmanager's own), and
an episode by that fingerprint and the alert's ``startsAt``: both senders send the same alert
again and again while it fires (Alertmanager at each group or repeat interval, Prometheus
every minute), and once more, or a few times, when it is resolved. Recording an episode is
therefore idempotent: a repeat changes nothing, a resolution sets its end once, and an end is
never taken back (a late "firing" repeat does not reopen it; an alert firing again after its
resolution has a new ``startsAt``, so it is a new episode).

Hostile strings: label names are Prometheus' (``[a-zA-Z_][a-zA-Z0-9_]*``), label values one
line of at most ``MAX_VALUE`` characters without control characters (refused otherwise, the
whole post with them); of the annotations only ``summary`` is kept, its control characters
shown as visible escapes and cut to ``MAX_SUMMARY``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from govcloud.domain.text import control_characters, describe_controls, printable
from govcloud.errors import InvalidInput

MAX_ALERTS = 1000  # alerts in one post (Alertmanager's max_alerts caps its own)
MAX_LABELS = 64
MAX_NAME = 128
MAX_VALUE = 1024
MAX_SUMMARY = 512
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE = dt.timedelta(days=1)  # a startsAt further ahead of our clock is refused
KEPT = ("alertname", "department", "site", "severity")  # columns of their own


class Source:
    ALERTMANAGER = "alertmanager"
    PROMETHEUS = "prometheus"


@dataclass(frozen=True, slots=True)
class Episode:
    """One alert firing from ``started`` until ``ended`` (None: still firing, as far as
    govcloud was told)."""

    fingerprint: str
    started: dt.datetime
    ended: dt.datetime | None
    alertname: str
    labels: Mapping[str, str]
    summary: str = ""
    source: str = Source.ALERTMANAGER

    def label(self, name: str) -> str:
        return self.labels.get(name, "")

    @property
    def labels_json(self) -> str:
        return json.dumps(dict(sorted(self.labels.items())), ensure_ascii=False,
                          separators=(",", ":"))


def fingerprint(labels: Mapping[str, str]) -> str:
    """The hash of an alert's labels (name and value, sorted by name): 16 hex digits."""
    text = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _where(index: int) -> str:
    return f"alert {index + 1}"


def check_labels(labels: Mapping[str, str], index: int = 0) -> dict[str, str]:
    """The labels unchanged, or InvalidInput naming the alert and the label at fault."""
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"{_where(index)} has {len(labels)} labels, more than {MAX_LABELS}",
                           hint="drop labels in Prometheus' relabelling before sending")
    for name, value in labels.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidInput(f"{_where(index)}: labels must be text",
                               hint="labels are a JSON object of strings")
        if len(name) > MAX_NAME or not LABEL_NAME.fullmatch(name):
            raise InvalidInput(f"{_where(index)}: '{printable(name[:MAX_NAME])}' is not a "
                               "label name",
                               hint=f"a label name matches {LABEL_NAME.pattern} (at most "
                                    f"{MAX_NAME} characters)")
        if len(value) > MAX_VALUE:
            raise InvalidInput(f"{_where(index)}: label {name} is longer than {MAX_VALUE} "
                               "characters", hint="shorten the label's value in the rule")
        found = control_characters(value)
        if found:
            raise InvalidInput(f"{_where(index)}: label {name} contains control characters "
                               f"({describe_controls(found)})",
                               hint="a label value is one line of plain text")
    if not labels.get("alertname"):
        raise InvalidInput(f"{_where(index)} has no alertname label",
                           hint="every alert Prometheus sends has one")
    return dict(labels)


def _summary(annotations: Mapping[str, str] | None) -> str:
    text = (annotations or {}).get("summary", "")
    return printable(text[:MAX_SUMMARY]) if isinstance(text, str) else ""


def _check_times(starts: dt.datetime, ends: dt.datetime | None, received: dt.datetime,
                 index: int) -> None:
    if starts.tzinfo is None or (ends is not None and ends.tzinfo is None):
        raise InvalidInput(f"{_where(index)}: startsAt and endsAt need a time zone",
                           hint="RFC 3339 times, as Alertmanager sends (…Z)")
    if not EARLIEST <= starts <= received + FUTURE:
        raise InvalidInput(f"{_where(index)}: startsAt {starts.isoformat()} is not a time "
                           "the alert can have started at",
                           hint="check the sender's clock")


def is_unset(ends: dt.datetime | None) -> bool:
    """Alertmanager writes an end it does not know as 0001-01-01T00:00:00Z."""
    return ends is None or ends < EARLIEST


def webhook_episode(*, status: str, labels: Mapping[str, str],
                    annotations: Mapping[str, str] | None, starts: dt.datetime,
                    ends: dt.datetime | None, received: dt.datetime,
                    index: int = 0) -> Episode:
    """One alert of an Alertmanager webhook post: ``status`` ``firing`` or ``resolved``
    (a resolved alert's ``endsAt`` is its end; a firing alert's is ignored)."""
    checked = check_labels(labels, index)
    _check_times(starts, None if is_unset(ends) else ends, received, index)
    end: dt.datetime | None = None
    if status == "resolved":
        if is_unset(ends) or ends is None or ends < starts:
            raise InvalidInput(f"{_where(index)} is resolved but its endsAt is missing or "
                               "before its startsAt", hint="a resolved alert says when it ended")
        end = ends
    elif status != "firing":
        raise InvalidInput(f"{_where(index)}: status '{printable(status[:32])}' is neither "
                           "firing nor resolved", hint="Alertmanager's webhook, version 4")
    return Episode(fingerprint(checked), starts, end, checked["alertname"], checked,
                   _summary(annotations), Source.ALERTMANAGER)


def prometheus_episode(*, labels: Mapping[str, str], annotations: Mapping[str, str] | None,
                       starts: dt.datetime | None, ends: dt.datetime | None,
                       received: dt.datetime, index: int = 0) -> Episode:
    """One alert of Prometheus' ``POST /api/v2/alerts``: resolved when its ``endsAt`` has
    passed (Prometheus sends a firing alert with an ``endsAt`` ahead, which it moves on at
    every resend, and a resolved one with the time it resolved)."""
    checked = check_labels(labels, index)
    if starts is None:
        raise InvalidInput(f"{_where(index)} has no startsAt",
                           hint="Prometheus sends when the alert fired")
    _check_times(starts, None if is_unset(ends) else ends, received, index)
    end = None if is_unset(ends) or ends is None or ends > received else max(ends, starts)
    return Episode(fingerprint(checked), starts, end, checked["alertname"], checked,
                   _summary(annotations), Source.PROMETHEUS)


def merged(episodes: Iterable[Episode]) -> list[Episode]:
    """The episodes of one post, one per (fingerprint, start): of repeats the one with an
    end wins (the earliest end, as the store keeps the first it was told)."""
    out: dict[tuple[str, dt.datetime], Episode] = {}
    for e in episodes:
        key = (e.fingerprint, e.started)
        held = out.get(key)
        if held is None or (held.ended is None and e.ended is not None) or \
                (held.ended is not None and e.ended is not None and e.ended < held.ended):
            out[key] = e
    return list(out.values())


def new_end(stored: dt.datetime | None, told: dt.datetime | None) -> dt.datetime | None:
    """The end to store when an episode stored with ``stored`` is told ``told``: set once,
    never taken back or moved (None: leave it as it is)."""
    return told if stored is None and told is not None else None


# --- over a month, for the scorecard ------------------------------------------------------------

HOUR_S = Decimal(3600)
# labels that say which Prometheus or control-plane instance saw an alert, not what it is
# about: every instance exports the same figures, so one problem fires once per instance
REPLICA_LABELS = frozenset({"instance", "datacentre", "prometheus", "replica"})


def coalesced(episodes: Iterable[Episode]) -> list[Episode]:
    """The episodes as the scorecard counts them: those of one alert seen from several
    instances (the same labels but ``REPLICA_LABELS``) that overlap are one, from the first
    start to the last end (open while any is)."""
    by_alert: dict[tuple[tuple[str, str], ...], list[Episode]] = defaultdict(list)
    for e in episodes:
        key = tuple(sorted((k, v) for k, v in e.labels.items() if k not in REPLICA_LABELS))
        by_alert[key].append(e)
    out: list[Episode] = []
    for key, items in by_alert.items():
        items.sort(key=lambda e: e.started)
        held: Episode | None = None
        for e in items:
            if held is not None and (held.ended is None or e.started <= held.ended):
                end = None if held.ended is None or e.ended is None else max(held.ended, e.ended)
                held = Episode(held.fingerprint, held.started, end, held.alertname,
                               dict(key), held.summary, held.source)
                continue
            if held is not None:
                out.append(held)
            held = Episode(e.fingerprint, e.started, e.ended, e.alertname, dict(key),
                           e.summary, e.source)
        if held is not None:
            out.append(held)
    return out


@dataclass(frozen=True, slots=True)
class Fired:
    """One alertname's episodes overlapping a window, their durations clipped to it."""

    alertname: str
    episodes: int
    began: int  # of them, those that began in the window
    open_at_end: int  # still firing at the window's end
    total: dt.timedelta
    longest: dt.timedelta
    departments: tuple[str, ...]
    sites: tuple[str, ...]


def clipped(e: Episode, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """How long ``e`` fired inside [start, end) (an open one until ``end``)."""
    stop = end if e.ended is None else min(e.ended, end)
    return max(stop - max(e.started, start), dt.timedelta(0))


def fired(episodes: Iterable[Episode], start: dt.datetime, end: dt.datetime) -> list[Fired]:
    """Per alertname (sorted), the episodes that fired at some moment of [start, end), those
    of several instances coalesced."""
    by_name: dict[str, list[Episode]] = defaultdict(list)
    for e in coalesced(episodes):
        if e.started < end and (e.ended is None or e.ended > start):
            by_name[e.alertname].append(e)
    out = []
    for name, items in sorted(by_name.items()):
        spans = [clipped(e, start, end) for e in items]
        out.append(Fired(name, len(items), sum(1 for e in items if e.started >= start),
                         sum(1 for e in items if e.ended is None or e.ended > end),
                         sum(spans, dt.timedelta(0)), max(spans),
                         tuple(sorted({e.label("department") for e in items} - {""})),
                         tuple(sorted({e.label("site") for e in items} - {""}))))
    return out


def hours(delta: dt.timedelta) -> Decimal:
    return Decimal(int(delta.total_seconds())) / HOUR_S
