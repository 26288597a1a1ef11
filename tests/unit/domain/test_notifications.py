"""What a department reads and who reads it (govcloud.domain.notifications): subjects and
bodies in Chinese and English, hostile text made one bounded line, the catalogue's names,
the contacts' addresses that may be envelope recipients."""

from __future__ import annotations

import datetime as dt

import pytest

from govcloud.domain.catalogue import Contact, Department, DepartmentKind
from govcloud.domain.notifications import (
    MAX_DETAIL,
    MAX_SUBJECT,
    Channel,
    DepartmentNames,
    Event,
    EventKind,
    names_of,
    one_line,
    payload,
    recipients,
    render,
    subject,
    usable_address,
)
from govcloud.errors import InvalidInput

AT = dt.datetime(2026, 12, 1, 8, 30, tzinfo=dt.UTC)
PSD = DepartmentNames("gd-psd", "广东省公安厅", "Public Security Department")
CHINA = dt.timezone(dt.timedelta(hours=8))


def event(kind: EventKind = EventKind.REQUEST_DONE, ref: str = "12", **extra: object) -> Event:
    values: dict[str, object] = {"actor": "boss", "system": "case", **extra}
    return Event(kind, "gd-psd", ref, AT, **values)  # type: ignore[arg-type]


def test_a_request_done_reads_in_chinese_then_english() -> None:
    message = render(event(), PSD, zone=CHINA)
    assert message.subject == ("[政务云] 广东省公安厅：资源申请 #12已交付（case） / "
                               "[GovCloud] Public Security Department: request #12 is "
                               "delivered (case)")
    zh, en = message.body.split("\n\n" + "-" * 40 + "\n\n")
    assert zh.startswith("广东省公安厅：\n\n资源申请 #12已交付。\n")
    assert "  业务系统：case\n" in zh and "  操作人：boss\n" in zh
    assert "  时间：2026-12-01 16:30 (UTC+08:00)\n" in zh
    assert en.startswith("To Public Security Department:\n\nrequest #12 is delivered.\n")
    assert "  Department: Public Security Department (gd-psd)\n" in en
    assert "  Time: 2026-12-01 16:30 (UTC+08:00)\n" in en
    assert en.rstrip().endswith("Questions go to the cloud bureau.")


def test_one_language_only_and_the_order_given() -> None:
    en_only = render(event(), PSD, languages=["en"])
    assert en_only.subject.startswith("[GovCloud] ") and "政务云" not in en_only.body
    en_first = render(event(), PSD, languages=["en", "zh"])
    assert en_first.subject.startswith("[GovCloud]") and " / [政务云]" in en_first.subject
    with pytest.raises(InvalidInput, match="languages"):
        render(event(), PSD, languages=["fr"])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="languages"):
        render(event(), PSD, languages=[])


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_has_its_words_in_both_languages(kind: EventKind) -> None:
    message = render(event(kind, window=(AT, AT + dt.timedelta(hours=4))), PSD)
    zh, en = (subject(event(kind), PSD, lang) for lang in ("zh", "en"))
    assert zh.startswith("[政务云] 广东省公安厅：") and en.startswith("[GovCloud] Public Security")
    assert zh != en and message.subject == f"{zh} / {en}"
    assert "计划窗口：2026-12-01 08:30 (UTC+00:00) – 2026-12-01 12:30 (UTC+00:00)" in message.body


def test_hostile_text_cannot_add_a_header_or_a_line() -> None:
    evil = event(EventKind.REQUEST_REJECTED, system="app\r\nBcc: evil@example.org",
                 detail="no\r\n\r\nFrom: boss@example.org\u202egnp.exe\x1b[2J\u2028done",
                 actor="x\ny")
    message = render(evil, PSD)
    assert "\r" not in message.subject and "\n" not in message.subject
    assert "（app Bcc: evil@example.org）" in message.subject
    for line in message.body.split("\n"):  # every field stays on its own labelled line
        assert "Bcc:" not in line or line.startswith(("  业务系统：", "  System: "))
        assert "From:" not in line or line.startswith(("  说明：", "  Detail: "))
    assert "  说明：no From: boss@example.org gnp.exe [2J done\n" in message.body
    assert "\u202e" not in message.body and "\x1b" not in message.body
    assert "  By: x y\n" in message.body


def test_everything_is_bounded() -> None:
    long = event(system="s" * 5000, detail="d" * 50_000, ref="9" * 1000)
    message = render(long, DepartmentNames("gd-psd", "长" * 1000, "L" * 1000))
    zh, en = message.subject.split(" / ")
    assert len(zh) <= MAX_SUBJECT and len(en) <= MAX_SUBJECT and zh.endswith("…")
    assert len(message.body) < 6000
    assert len(long.to_json()["detail"]) == MAX_DETAIL
    assert one_line("a  \t b\n\nc", 4) == "a b…"
    assert one_line("ｅ\u0301", 10) == "ｅ́"  # NFC: composed where Unicode composes


def test_the_department_is_named_from_the_catalogue_or_by_its_code() -> None:
    entry = Department("gd-psd", "广东省公安厅", "Public Security Department",
                       DepartmentKind.DEPARTMENT, "guangzhou", 6, {}, ())
    assert names_of(entry, "gd-psd") == PSD
    gone = names_of(None, "gd-old")
    assert render(event(), gone).subject.startswith("[政务云] gd-old：")


def test_an_event_is_checked() -> None:
    with pytest.raises(InvalidInput, match="unknown event kind"):
        Event("request.exploded", "gd-psd", "1", AT)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="department must be a code"):
        Event(EventKind.REQUEST_DONE, "gd-psd\r\nX: y", "1", AT)
    with pytest.raises(InvalidInput, match="zone"):
        Event(EventKind.REQUEST_DONE, "gd-psd", "1", dt.datetime(2026, 1, 1))


def test_the_payload_holds_the_event_and_each_language() -> None:
    doc = payload(event(detail="quota"), PSD, languages=["zh", "en"])
    assert doc["event"] == {"kind": "request.done", "department": "gd-psd", "ref": "12",
                            "at": "2026-12-01T08:30:00+00:00", "actor": "boss",
                            "system": "case", "site": None, "detail": "quota", "window": None}
    assert doc["department"] == {"code": "gd-psd", "name_zh": "广东省公安厅",
                                 "name_en": "Public Security Department"}
    assert set(doc["texts"]) == {"zh", "en"}
    assert doc["subject"] == f"{doc['texts']['zh']['subject']} / {doc['texts']['en']['subject']}"


@pytest.mark.parametrize(("address", "usable"), [
    ("ops@psd.gd-gov.example", True),
    ("王@部门.中国", True),
    ("a@b.cn\r\nBcc: evil@x.org", False),
    ("a@b.cn, evil@x.org", False),
    ("Boss <boss@x.org>", False),
    ('"quoted"@x.org', False),
    ("no-at-sign.example", False),
    ("a@b", False),
    ("a@" + "b" * 250 + ".cn", False),
])
def test_which_contact_addresses_may_be_recipients(address: str, usable: bool) -> None:
    assert (usable_address(address) is not None) is usable


def test_recipients_are_each_address_once_and_each_webhook_once() -> None:
    contacts = [c.email for c in (Contact("王", "+86 20 8000 1", "Ops@PSD.example.cn"),
                                  Contact("朱", "+86 20 8000 2", "ops@psd.example.cn"),
                                  Contact("坏", "+86 20 8000 3", "x@y.cn\nBcc: z@w.cn"))]
    who = recipients(contacts, ["https://a.example/h", "https://a.example/h"], email=True)
    assert who.emails == ("Ops@PSD.example.cn",)
    assert who.webhooks == ("https://a.example/h",)
    assert who.skipped == ("x@y.cn Bcc: z@w.cn",)
    assert who.pairs() == [(Channel.EMAIL, "Ops@PSD.example.cn"),
                           (Channel.WEBHOOK, "https://a.example/h")]
    assert recipients(contacts, [], email=False).emails == ()
