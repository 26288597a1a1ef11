"""The audit key's decisions: which keys are accepted, which MACs and checkpoints verify, and
which anchor-file lines are refused as checkpoints."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from govcloud.domain.audit_signing import (
    KEY_BYTES,
    MAX_CHECKPOINT_LINE,
    AuditKey,
    Checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from govcloud.domain.limits import text_digest
from govcloud.errors import InvalidInput

KEY = AuditKey(bytes(range(KEY_BYTES)))
OTHER = AuditKey(bytes(KEY_BYTES))
HASH = "ab" * 32
AT = datetime(2026, 12, 1, 8, 0, 30, 123456, tzinfo=UTC)


def good() -> dict[str, Any]:
    return json.loads(sign_checkpoint(KEY, seq=7, entry_hash=HASH, at=AT).to_json())


@pytest.mark.parametrize("size", [0, KEY_BYTES - 1, KEY_BYTES + 1])
def test_a_key_is_exactly_32_bytes(size: int) -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        AuditKey(b"k" * size)


def test_key_text_round_trips_and_tolerates_case_and_white_space() -> None:
    text = KEY.to_text()
    assert text == bytes(range(KEY_BYTES)).hex() + "\n"
    assert AuditKey.from_text(f"  {text.upper()}  ").key_id == KEY.key_id


@pytest.mark.parametrize("text", ["", "00" * 31, "00" * 33, "zz" + "00" * 31,
                                  "00" * 16 + " " + "00" * 16])
def test_key_text_that_is_not_64_hex_digits_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="64 hex digits"):
        AuditKey.from_text(text, source="keyfile")


def test_the_key_never_shows_in_its_repr_and_its_id_names_it() -> None:
    assert bytes(range(KEY_BYTES)).hex() not in repr(KEY)
    assert KEY.key_id in repr(KEY)
    assert len(KEY.key_id) == 16
    assert KEY.key_id != OTHER.key_id
    assert AuditKey(bytes(range(KEY_BYTES))).key_id == KEY.key_id  # stable across loads


def test_an_entry_mac_verifies_only_with_its_key_and_its_hash() -> None:
    mac = KEY.entry_mac(HASH)
    assert KEY.entry_mac_ok(HASH, mac)
    assert not KEY.entry_mac_ok(HASH, None)  # an entry written without the key
    assert not KEY.entry_mac_ok("cd" * 32, mac)  # the entry was rewritten
    assert not OTHER.entry_mac_ok(HASH, mac)  # made with another key
    assert not KEY.entry_mac_ok(HASH, mac[:-1] + ("0" if mac[-1] != "0" else "1"))


def test_a_checkpoint_is_signed_at_whole_seconds_and_verifies() -> None:
    checkpoint = sign_checkpoint(KEY, seq=7, entry_hash=HASH, at=AT)
    assert checkpoint.at == "2026-12-01T08:00:30+00:00"
    assert checkpoint.key_id == KEY.key_id
    assert checkpoint.signed_by(KEY)
    assert not checkpoint.signed_by(OTHER)


@pytest.mark.parametrize("change", [{"seq": 8}, {"hash": "cd" * 32},
                                    {"at": "2026-12-01T08:00:31+00:00"}])
def test_a_checkpoint_edited_in_any_field_is_no_longer_signed(change: dict[str, Any]) -> None:
    edited = Checkpoint(**{**good(), **change})
    assert not edited.signed_by(KEY)


def test_a_checkpoint_claiming_another_key_id_is_not_signed_by_this_key() -> None:
    assert not Checkpoint(**{**good(), "key_id": OTHER.key_id}).signed_by(KEY)


def test_a_checkpoint_line_round_trips() -> None:
    checkpoint = sign_checkpoint(KEY, seq=7, entry_hash=HASH, at=AT)
    assert parse_checkpoint(checkpoint.to_json()) == checkpoint
    assert checkpoint.to_dict() == json.loads(checkpoint.to_json())


@pytest.mark.parametrize(("change", "message"), [
    ({"seq": -1}, "seq must be"),
    ({"seq": True}, "seq must be"),  # a bool is not a sequence number
    ({"seq": 7.0}, "seq must be"),
    ({"hash": "AB" * 32}, "64 lower-case hex"),
    ({"mac": "ab" * 31}, "64 lower-case hex"),
    ({"hash": None}, "64 lower-case hex"),
    ({"key_id": "ab" * 7}, "key_id must be"),
    ({"key_id": "AB" * 8}, "key_id must be"),
    ({"at": "yesterday"}, "ISO 8601"),
    ({"at": 20261201}, "ISO 8601"),
    ({"at": "2026-12-01T08:00:30.123456+00:00:00.123456"}, "ISO 8601"),  # valid, too long
    ({"extra": 1}, "exactly seq, hash, at"),
])
def test_a_line_that_is_not_a_checkpoint_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_checkpoint(json.dumps({**good(), **change}), where="line 3")


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "not JSON"),
    ("[1, 2]", "not a checkpoint"),
    ("{}", "not a checkpoint"),
    (" " * (MAX_CHECKPOINT_LINE + 1), "characters long"),
])
def test_malformed_lines_are_refused_naming_where(line: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_checkpoint(line, where="anchor line 9")
    assert "anchor line 9" in caught.value.message


def test_a_missing_field_is_refused() -> None:
    data = good()
    del data["mac"]
    with pytest.raises(InvalidInput, match="exactly seq, hash, at"):
        parse_checkpoint(json.dumps(data))


def test_free_text_is_kept_as_its_digest_and_length_in_characters() -> None:
    assert text_digest(None) is None
    assert text_digest("公安厅") == {
        "sha256": hashlib.sha256("公安厅".encode()).hexdigest(), "length": 3}
    assert text_digest("") == {"sha256": hashlib.sha256(b"").hexdigest(), "length": 0}


def test_free_text_with_a_lone_surrogate_still_has_a_digest() -> None:
    digest = text_digest("a\udc80")
    plain = text_digest("a")
    assert digest is not None and plain is not None and digest["length"] == 2
    assert digest["sha256"] != plain["sha256"]  # the surrogate is not dropped from the digest
