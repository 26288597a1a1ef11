"""The audit hash chain: canonical form, hashing, and detection of every single tampering."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from govcloud.domain.audit import (
    GENESIS,
    GENESIS_HASH,
    AuditEntry,
    ChainAnchor,
    Tampering,
    canonical_form,
    canonical_json,
    entry_hash,
    recomputed_hash,
    seal,
    seal_stored,
    verify_chain,
)
from govcloud.errors import InvalidInput

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def chain(n: int, texts: list[str] | None = None) -> list[AuditEntry]:
    texts = texts or ["x"]
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        word = texts[seq % len(texts)]
        e = seal(seq=seq, at=T0 + timedelta(seconds=seq), actor=f"user-{seq % 3}",
                 action="tenancy.apply", target=f"department:{word}",
                 before={"quota": {"cores": seq}} if seq % 2 else None,
                 after={"quota": {"cores": seq + 1}, "note": word}, prev_hash=prev)
        entries.append(e)
        prev = e.hash
    return entries


def head_of(entries: list[AuditEntry]) -> ChainAnchor:
    return ChainAnchor(entries[-1].seq, entries[-1].hash)


# --- canonical form --------------------------------------------------------------------------

def test_the_canonical_form_is_pinned() -> None:
    """Changing the canonical form would invalidate every stored chain: it must not drift."""
    beijing = timezone(timedelta(hours=8))
    text = canonical_form(seq=1, at=datetime(2026, 12, 1, 16, 0, tzinfo=beijing),
                          actor="admin", action="principal.add", target="principal:li.wei",
                          before=None, after={"role": "operator", "名": "李伟"},
                          prev_hash=GENESIS_HASH)
    assert text == (
        '{"action":"principal.add","actor":"admin","after":{"role":"operator","名":"李伟"},'
        '"at":"2026-12-01T08:00:00.000000+00:00","before":null,"prev_hash":"' + "0" * 64 + '",'
        '"seq":1,"target":"principal:li.wei"}')
    assert entry_hash(seq=1, at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC), actor="admin",
                      action="principal.add", target="principal:li.wei", before=None,
                      after={"名": "李伟", "role": "operator"}, prev_hash=GENESIS_HASH) == \
        hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_seal_normalises_summaries_and_time() -> None:
    e = seal(seq=1, at=datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=1))), actor="a",
             action="x.y", target="t", before={"tags": ("a", "b")}, after=None,
             prev_hash=GENESIS_HASH)
    assert e.before == {"tags": ["a", "b"]}
    assert e.at == datetime(2026, 1, 1, 8, tzinfo=UTC) and e.at.tzinfo is UTC
    assert e.to_dict()["at"] == "2026-01-01T08:00:00.000000+00:00"
    assert verify_chain([e]).ok


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)


@given(before=st.none() | st.dictionaries(st.text(max_size=4), _JSON, max_size=4),
       after=st.none() | st.dictionaries(st.text(max_size=4), _JSON, max_size=4))
def test_the_stored_summaries_are_the_canonical_json_of_the_sealed_ones(
        before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    s = seal_stored(seq=3, at=T0, actor="a", action="x.y", target="t", before=before,
                    after=after, prev_hash=GENESIS_HASH)
    assert s.entry == seal(seq=3, at=T0, actor="a", action="x.y", target="t", before=before,
                           after=after, prev_hash=GENESIS_HASH)
    for text, value in ((s.before_json, s.entry.before), (s.after_json, s.entry.after)):
        assert text == (None if value is None else canonical_json(value))
    # its hash is the one taken over canonical_form (seal_stored puts that text together
    # from the summaries' JSON; verification recomputes it from the whole entry)
    assert s.entry.hash == recomputed_hash(s.entry) == entry_hash(
        seq=3, at=T0, actor="a", action="x.y", target="t", before=s.entry.before,
        after=s.entry.after, prev_hash=GENESIS_HASH)


@settings(max_examples=200)
@given(actor=st.text(min_size=1).filter(str.strip), action=st.text(min_size=1).filter(str.strip),
       target=st.text(min_size=1).filter(str.strip), seq=st.integers(1, 2**63 - 1),
       prev=st.text(max_size=70), micro=st.integers(0, 999_999), hours=st.integers(-14, 14))
def test_a_sealed_hash_is_the_hash_of_canonical_form_for_any_names_and_times(
        actor: str, action: str, target: str, seq: int, prev: str, micro: int,
        hours: int) -> None:
    at = datetime(2026, 12, 1, 8, 0, 0, micro, tzinfo=timezone(timedelta(hours=hours)))
    s = seal_stored(seq=seq, at=at, actor=actor, action=action, target=target,
                    before={"ä": [1, 2.5, None]}, after=None, prev_hash=prev)
    assert s.entry.hash == recomputed_hash(s.entry)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"at": datetime(2026, 1, 1)}, "time zone"),  # naive on purpose
    ({"seq": 0}, "positive"),
    ({"actor": " "}, "actor"),
    ({"after": {"when": datetime(2026, 1, 1, tzinfo=UTC)}}, "plain JSON"),
    ({"after": {"x": float("nan")}}, "plain JSON"),
])
def test_bad_entries_are_refused(kwargs: dict[str, Any], match: str) -> None:
    base: dict[str, Any] = {"seq": 1, "at": T0, "actor": "a", "action": "b", "target": "c",
                            "before": None, "after": None, "prev_hash": GENESIS_HASH}
    with pytest.raises(InvalidInput, match=match):
        seal(**{**base, **kwargs})


# --- intact chains ---------------------------------------------------------------------------

@given(n=st.integers(0, 30), texts=st.lists(st.text(min_size=1, max_size=8), min_size=1))
def test_an_intact_chain_verifies(n: int, texts: list[str]) -> None:
    entries = chain(n, texts)
    result = verify_chain(entries, anchor=head_of(entries) if entries else None)
    assert result.ok, result.describe()
    assert result.checked == n
    assert result.head == (head_of(entries) if entries else GENESIS)
    assert result.seq is None and result.kind is None
    assert "intact" in result.describe()


def test_a_chain_can_start_from_a_checkpoint() -> None:
    entries = chain(10)
    start = ChainAnchor(entries[3].seq, entries[3].hash)
    assert verify_chain(entries[4:], after=start).ok
    wrong = verify_chain(entries[4:], after=ChainAnchor(4, "f" * 64))
    assert not wrong.ok and wrong.seq == 5


# --- every single tampering, anywhere ---------------------------------------------------------

CONTENT_FIELDS = ["at", "actor", "action", "target", "before", "after", "hash"]


def _changed(entry: AuditEntry, field: str, value: str) -> AuditEntry:
    new: Any
    if field == "at":
        new = entry.at + timedelta(microseconds=1)
    elif field in ("before", "after"):
        new = {"forged": value}
    elif field in ("hash", "prev_hash"):
        new = hashlib.sha256(value.encode() + getattr(entry, field).encode()).hexdigest()
    else:
        new = getattr(entry, field) + value
    return dataclasses.replace(entry, **{field: new})


def expect(entries: list[AuditEntry], seq: int, kind: Tampering,
           anchor: ChainAnchor | None = None) -> None:
    result = verify_chain(entries, anchor=anchor)
    assert not result.ok
    assert (result.seq, result.kind) == (seq, kind), result.reason
    assert result.checked == seq - 1
    assert result.head.seq == seq - 1
    assert str(seq) in result.describe()


@given(n=st.integers(1, 25), data=st.data())
def test_an_edit_is_found_at_the_edited_entry(n: int, data: st.DataObject) -> None:
    entries = chain(n)
    k = data.draw(st.integers(1, n))
    fields = CONTENT_FIELDS + (["prev_hash"] if k < n else [])
    field = data.draw(st.sampled_from(fields))
    entries[k - 1] = _changed(entries[k - 1], field, data.draw(st.text(min_size=1)))
    expect(entries, k, Tampering.EDITED)


@given(n=st.integers(2, 25), data=st.data())
def test_a_rewritten_entry_is_found_when_anchored(n: int, data: st.DataObject) -> None:
    """The editor also recomputes the entry's hash: the next entry or the anchor gives it away."""
    entries = chain(n)
    anchor = head_of(entries)
    k = data.draw(st.integers(1, n))
    e = _changed(entries[k - 1], data.draw(st.sampled_from(CONTENT_FIELDS[:-1])), "!")
    entries[k - 1] = seal(seq=e.seq, at=e.at, actor=e.actor, action=e.action, target=e.target,
                          before=e.before, after=e.after, prev_hash=e.prev_hash)
    expect(entries, k, Tampering.EDITED, anchor=anchor)
    if k <= n - 2:  # two later entries vouch for the original without any anchor
        expect(entries, k, Tampering.EDITED)


@given(n=st.integers(1, 25), data=st.data())
def test_a_deletion_is_found_at_the_missing_seq(n: int, data: st.DataObject) -> None:
    entries = chain(n)
    anchor = head_of(entries)
    k = data.draw(st.integers(1, n))
    del entries[k - 1]
    expect(entries, k, Tampering.DELETED, anchor=anchor)
    if k < n:  # a gap shows without an anchor; only cutting off the end needs one
        expect(entries, k, Tampering.DELETED)
    else:
        assert verify_chain(entries).ok


@given(n=st.integers(2, 25), data=st.data())
def test_swapped_contents_are_found_at_the_first_swapped_seq(n: int, data: st.DataObject) -> None:
    """As in the database: two rows exchange everything but their seq (the primary key)."""
    entries = chain(n)
    i = data.draw(st.integers(1, n - 1))
    j = data.draw(st.integers(i + 1, n))
    a, b = entries[i - 1], entries[j - 1]
    entries[i - 1] = dataclasses.replace(b, seq=a.seq)
    entries[j - 1] = dataclasses.replace(a, seq=b.seq)
    expect(entries, i, Tampering.REORDERED)


@given(n=st.integers(2, 25), data=st.data())
def test_moved_entries_are_found_where_the_order_breaks(n: int, data: st.DataObject) -> None:
    """As in an export read in stored order: whole entries change places."""
    entries = chain(n)
    i = data.draw(st.integers(1, n - 1))
    j = data.draw(st.integers(i + 1, n))
    entries[i - 1], entries[j - 1] = entries[j - 1], entries[i - 1]
    expect(entries, i, Tampering.REORDERED)


@given(n=st.integers(0, 25), data=st.data(), good_link=st.booleans(), good_hash=st.booleans())
def test_an_insertion_is_found_at_the_forged_entry(n: int, data: st.DataObject, good_link: bool,
                                                    good_hash: bool) -> None:
    """A forged row at seq k, the rows from k on renumbered to make room (or none, at the end)."""
    entries = chain(n)
    k = data.draw(st.integers(1, n + 1))
    assume(k <= n or not (good_link and good_hash))  # a well-formed append is just an append
    prev_hash = entries[k - 2].hash if k > 1 else GENESIS_HASH
    if not good_link:
        prev_hash = hashlib.sha256(b"forged" + prev_hash.encode()).hexdigest()
    forged = seal(seq=k, at=T0, actor="mallory", action="principal.add",
                  target="principal:mallory", before=None, after={"role": "bureau-admin"},
                  prev_hash=prev_hash)
    if not good_hash:
        forged = dataclasses.replace(forged, hash="e" * 64)
    shifted = [dataclasses.replace(e, seq=e.seq + 1) for e in entries[k - 1:]]
    # Appended with the right link but a wrong hash, a forged last entry looks exactly like an
    # edited last entry: the seq is still exact, the kind is the likelier one.
    kind = Tampering.EDITED if k == n + 1 and good_link else Tampering.INSERTED
    expect([*entries[:k - 1], forged, *shifted], k, kind)


def test_describe_names_the_entry_and_the_kind() -> None:
    entries = chain(5)
    del entries[2]
    result = verify_chain(entries)
    assert result.describe() == (
        "audit chain broken at entry 3 (deleted): entry 3 is missing: 2 is followed by 4")
    assert result.to_dict() == {"ok": False, "checked": 2,
                                "head": {"seq": 2, "hash": entries[1].hash},
                                "seq": 3, "kind": "deleted", "reason": result.reason}


@settings(max_examples=25)
@given(n=st.integers(4, 10))
def test_several_missing_entries_are_named_as_a_range(n: int) -> None:
    entries = chain(n)
    result = verify_chain([entries[0], entries[-1]])
    assert (result.seq, result.kind) == (2, Tampering.DELETED)
    assert f"entry 2-{n - 1} is missing" in result.reason
