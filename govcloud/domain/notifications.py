"""Notifications to the departments (docs/notifications.md): what happened (an :class:`Event`),
who is told (:func:`recipients`) and what they read (:func:`render`), in Chinese and English.

An event names its department by code; the names shown are the catalogue's
(:class:`DepartmentNames`). Every value an event carries may hold what someone typed (a
rejection's reason, a cloud's error): :func:`one_line` makes it one bounded line of plain text
before it goes into a subject or a body, so a CR/LF can never start a new mail header and a
bidi override can never turn a sentence around. Delivery (retries, signatures, addresses) is
``govcloud.domain.notify_delivery``'s.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from govcloud.domain.catalogue import Department
from govcloud.domain.text import CONTROL
from govcloud.errors import InvalidInput

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
MAX_SUBJECT = 120  # characters of one language's subject
MAX_FIELD = 200  # a name, a system, a site, an actor
MAX_DETAIL = 500  # a reason or an error
ELLIPSIS = "…"
_SPACES = re.compile(r"\s+")


class EventKind(StrEnum):
    """What a department is told about."""

    CHANGE_SCHEDULED = "change.scheduled"
    CHANGE_STARTED = "change.started"
    CHANGE_DONE = "change.done"
    CHANGE_FAILED = "change.failed"
    DRILL_SCHEDULED = "drill.scheduled"
    DRILL_DONE = "drill.done"
    DRILL_FAILED = "drill.failed"
    REQUEST_APPROVED = "request.approved"
    REQUEST_REJECTED = "request.rejected"
    REQUEST_DONE = "request.done"
    REQUEST_FAILED = "request.failed"
    HOST_DRAIN_STARTED = "host.drain_started"
    HOST_DRAIN_DONE = "host.drain_done"

    @property
    def subject_kind(self) -> str:
        """What the event is about: change, drill, request or host."""
        return self.value.split(".", 1)[0]

    @property
    def bad_news(self) -> bool:
        return self in (EventKind.CHANGE_FAILED, EventKind.DRILL_FAILED,
                        EventKind.REQUEST_REJECTED, EventKind.REQUEST_FAILED)


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryState(StrEnum):
    """A message's state in the outbox: waiting to be (re)tried, delivered, or given up."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


def one_line(value: object, limit: int = MAX_FIELD) -> str:
    """``value`` as one line of plain text of at most ``limit`` characters: NFC-normalised,
    every control or invisible format character (CR, LF, tab, bidi overrides, zero-width
    characters, U+2028) and every run of white space made one space, cut with an ellipsis."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", value if isinstance(value, str) else str(value))
    text = _SPACES.sub(" ", CONTROL.sub(" ", text)).strip()
    if len(text) > limit:
        text = text[:max(0, limit - 1)].rstrip() + ELLIPSIS
    return text


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a department's service. ``ref`` names the thing: a
    request's, drill's or change's id, a host's name. ``detail`` is a reason or an error;
    ``window`` a change's planned window (start, end)."""

    kind: EventKind
    department: str
    ref: str
    at: dt.datetime
    actor: str | None = None
    system: str | None = None
    site: str | None = None
    detail: str | None = None
    window: tuple[dt.datetime, dt.datetime] | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", EventKind(self.kind))
        except ValueError:
            raise InvalidInput(f"unknown event kind {one_line(self.kind, 40)!r}",
                               hint="kinds: " + ", ".join(k.value for k in EventKind)) from None
        if not one_line(self.department, 64) or one_line(self.department, 64) != self.department:
            raise InvalidInput(f"an event's department must be a code, not "
                               f"{one_line(self.department, 64)!r}",
                               hint="pass the catalogue's department code")
        if self.at.tzinfo is None:
            raise InvalidInput("an event's time must carry its zone",
                               hint="use an aware datetime (UTC)")

    def to_json(self) -> dict[str, Any]:
        """The event as stored and sent: every text field bounded and made one line."""
        return {
            "kind": self.kind.value, "department": self.department,
            "ref": one_line(self.ref, MAX_FIELD), "at": self.at.isoformat(),
            "actor": one_line(self.actor) or None, "system": one_line(self.system) or None,
            "site": one_line(self.site) or None,
            "detail": one_line(self.detail, MAX_DETAIL) or None,
            "window": None if self.window is None else
            {"start": self.window[0].isoformat(), "end": self.window[1].isoformat()}}


@dataclass(frozen=True, slots=True)
class DepartmentNames:
    """How a message names the department: the catalogue's names (its code when the
    catalogue does not list it)."""

    code: str
    name_zh: str
    name_en: str

    @classmethod
    def unknown(cls, code: str) -> DepartmentNames:
        return cls(code, code, code)

    def name(self, lang: Language) -> str:
        return one_line(self.name_zh if lang == "zh" else self.name_en) or one_line(self.code)


@dataclass(frozen=True, slots=True)
class Message:
    """What a person reads: a subject (one line) and a body (plain text)."""

    subject: str
    body: str


# --- the words ------------------------------------------------------------------------------

_THING: dict[str, dict[Language, str]] = {
    "request": {"zh": "资源申请 #{ref}", "en": "request #{ref}"},
    "drill": {"zh": "容灾演练 #{ref}", "en": "DR drill #{ref}"},
    "change": {"zh": "变更 #{ref}", "en": "change #{ref}"},
    "host": {"zh": "主机 {ref}", "en": "host {ref}"},
}
_WHAT: dict[EventKind, dict[Language, str]] = {
    EventKind.CHANGE_SCHEDULED: {"zh": "已排期", "en": "is scheduled"},
    EventKind.CHANGE_STARTED: {"zh": "已开始实施", "en": "has started"},
    EventKind.CHANGE_DONE: {"zh": "已完成", "en": "is done"},
    EventKind.CHANGE_FAILED: {"zh": "实施失败", "en": "failed"},
    EventKind.DRILL_SCHEDULED: {"zh": "已批准并安排", "en": "is approved and scheduled"},
    EventKind.DRILL_DONE: {"zh": "已完成，结果通过", "en": "is done: passed"},
    EventKind.DRILL_FAILED: {"zh": "未通过", "en": "failed"},
    EventKind.REQUEST_APPROVED: {"zh": "已批准", "en": "is approved"},
    EventKind.REQUEST_REJECTED: {"zh": "被驳回", "en": "was rejected"},
    EventKind.REQUEST_DONE: {"zh": "已交付", "en": "is delivered"},
    EventKind.REQUEST_FAILED: {"zh": "交付失败", "en": "failed"},
    EventKind.HOST_DRAIN_STARTED: {"zh": "开始维护，其上的云主机正在迁移",
                                   "en": "is going into maintenance: its servers are moving"},
    EventKind.HOST_DRAIN_DONE: {"zh": "已进入维护，迁移结束",
                                "en": "is in maintenance: the moves are over"},
}
_LABELS: dict[str, dict[Language, str]] = {
    "department": {"zh": "部门", "en": "Department"},
    "system": {"zh": "业务系统", "en": "System"},
    "site": {"zh": "站点", "en": "Site"},
    "actor": {"zh": "操作人", "en": "By"},
    "detail": {"zh": "说明", "en": "Detail"},
    "window": {"zh": "计划窗口", "en": "Window"},
    "at": {"zh": "时间", "en": "Time"},
}
_TAG: dict[Language, str] = {"zh": "[政务云]", "en": "[GovCloud]"}
_FOOTER: dict[Language, str] = {
    "zh": "此邮件由政务云控制平台自动发送，请勿直接回复。如有疑问请联系云管理局。",
    "en": "Sent by the government cloud's control plane; please do not reply. "
          "Questions go to the cloud bureau.",
}
_SEP = "-" * 40


def _when(value: dt.datetime, zone: dt.tzinfo) -> str:
    local = value.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def headline(event: Event, lang: Language) -> str:
    """``request #12 is delivered`` / ``资源申请 #12 已交付`` (the ref made one line)."""
    thing = _THING[event.kind.subject_kind][lang].format(ref=one_line(event.ref, 64))
    what = _WHAT[event.kind][lang]
    return f"{thing} {what}" if lang == "en" else f"{thing}{what}"


def subject(event: Event, names: DepartmentNames, lang: Language) -> str:
    """One language's subject: tag, department, what happened (at most ``MAX_SUBJECT``)."""
    sep = "：" if lang == "zh" else ": "
    system = one_line(event.system, 40)
    what = headline(event, lang)
    if system:
        what += f"（{system}）" if lang == "zh" else f" ({system})"
    return one_line(f"{_TAG[lang]} {names.name(lang)}{sep}{what}", MAX_SUBJECT)


def _block(event: Event, names: DepartmentNames, lang: Language, zone: dt.tzinfo) -> str:
    sep = "：" if lang == "zh" else ": "
    hello = f"{names.name(lang)}：" if lang == "zh" else f"To {names.name(lang)}:"
    lines = [hello, "", headline(event, lang) + ("。" if lang == "zh" else "."), ""]
    fields: list[tuple[str, str]] = [
        ("department", f"{names.name(lang)} ({one_line(names.code, 64)})"),
        ("system", one_line(event.system)), ("site", one_line(event.site)),
        ("actor", one_line(event.actor)), ("detail", one_line(event.detail, MAX_DETAIL))]
    if event.window is not None:
        fields.append(("window", f"{_when(event.window[0], zone)} – "
                                 f"{_when(event.window[1], zone)}"))
    fields.append(("at", _when(event.at, zone)))
    lines += [f"  {_LABELS[key][lang]}{sep}{value}" for key, value in fields if value]
    lines += ["", _FOOTER[lang]]
    return "\n".join(lines)


def render(event: Event, names: DepartmentNames, *,
           languages: Sequence[Language] = LANGUAGES,
           zone: dt.tzinfo = dt.UTC) -> Message:
    """The message of ``event`` in ``languages`` (in that order, at least one): the subjects
    joined by `` / ``, the bodies one after the other. Times are shown in ``zone``."""
    langs = list(dict.fromkeys(languages))
    if not langs or any(lang not in LANGUAGES for lang in langs):
        raise InvalidInput(f"languages must be some of {', '.join(LANGUAGES)}, not {langs}",
                           hint="e.g. notify_languages: [zh, en]")
    subjects = [subject(event, names, lang) for lang in langs]
    bodies = [_block(event, names, lang, zone) for lang in langs]
    return Message(" / ".join(subjects), f"\n\n{_SEP}\n\n".join(bodies) + "\n")


def texts(event: Event, names: DepartmentNames, *, languages: Sequence[Language] = LANGUAGES,
          zone: dt.tzinfo = dt.UTC) -> dict[str, dict[str, str]]:
    """Each language's own subject and body, for receivers that pick one."""
    return {lang: {"subject": m.subject, "body": m.body}
            for lang in dict.fromkeys(languages)
            for m in [render(event, names, languages=[lang], zone=zone)]}


def payload(event: Event, names: DepartmentNames, *, languages: Sequence[Language] = LANGUAGES,
            zone: dt.tzinfo = dt.UTC) -> dict[str, Any]:
    """What the outbox keeps for a message and a webhook receives: the event, the
    department's names, the message in every language together and each on its own."""
    message = render(event, names, languages=languages, zone=zone)
    return {"event": event.to_json(),
            "department": {"code": names.code, "name_zh": one_line(names.name_zh),
                           "name_en": one_line(names.name_en)},
            "subject": message.subject, "body": message.body,
            "texts": texts(event, names, languages=languages, zone=zone)}


# --- who is told ----------------------------------------------------------------------------

_ADDRESS = re.compile(r"^[^@\s<>,;:\"()\[\]\\]{1,64}@[A-Za-z0-9\u00a0-\uffff.-]{1,189}"
                      r"\.[A-Za-z0-9\u00a0-\uffff-]{2,63}$")
MAX_ADDRESS = 254


def usable_address(address: str) -> str | None:
    """``address`` as an envelope recipient, or None when it could not safely be one (control
    characters, spaces, several addresses, quoting or comments, over 254 characters)."""
    text = unicodedata.normalize("NFC", address.strip())
    if len(text) > MAX_ADDRESS or CONTROL.search(text) or not _ADDRESS.fullmatch(text):
        return None
    return text


@dataclass(frozen=True, slots=True)
class Recipients:
    """Who gets a department's message, per channel, and the contacts' addresses left out
    (not usable as a recipient)."""

    emails: tuple[str, ...]
    webhooks: tuple[str, ...]
    skipped: tuple[str, ...] = ()

    def pairs(self) -> list[tuple[Channel, str]]:
        return [(Channel.EMAIL, e) for e in self.emails] + \
            [(Channel.WEBHOOK, u) for u in self.webhooks]


def recipients(contacts: Iterable[str], webhooks: Iterable[str], *,
               email: bool) -> Recipients:
    """The contacts' addresses (when e-mail is configured; each once, whatever its case) and
    the webhook URLs (each once)."""
    emails: dict[str, str] = {}
    skipped: list[str] = []
    for address in contacts if email else ():
        usable = usable_address(address)
        if usable is None:
            skipped.append(one_line(address, 80))
        else:
            emails.setdefault(usable.lower(), usable)
    return Recipients(tuple(emails.values()), tuple(dict.fromkeys(webhooks)), tuple(skipped))


def names_of(department: Department | None, code: str) -> DepartmentNames:
    """The catalogue entry's names (the code when the catalogue does not list it)."""
    if department is None:
        return DepartmentNames.unknown(code)
    return DepartmentNames(code, department.name_zh or code, department.name_en or code)
