"""The audit log's hash chain: the canonical form of an entry, its hash, and verification.

Every entry records who did what to which target, a summary of the target before and after,
the time, its sequence number and the hash of the entry before it (``prev_hash``; the first
entry's is ``GENESIS_HASH``). Its own ``hash`` is the SHA-256 of the canonical JSON of all of
that (keys sorted, no spaces, UTF-8, times in UTC with microseconds). Editing, deleting,
reordering or inserting an entry therefore breaks the chain at that entry, and
``verify_chain`` names the first entry where it breaks and the most likely kind of tampering.

What a chain cannot show by itself: someone who can write the database may recompute every
hash from some entry to the end, append an entry, or cut entries off the end. Against the first
two, every entry carries a MAC made with the audit key, which lives outside the database
(``govcloud.domain.audit_signing``; ``verify_chain(key=...)``). Against the last, keep the head
(``seq`` and ``hash``: the server's signed checkpoints) somewhere else and pass it back as the
``anchor``: a chain that no longer reaches it, or reaches it with another hash, fails.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from govcloud.domain.audit_signing import AuditKey
from govcloud.errors import InvalidInput

GENESIS_HASH = "0" * 64

Summary = Mapping[str, Any]


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)  # made once: json.dumps with options makes one


def canonical_json(value: Any) -> str:
    """The one JSON spelling of ``value``: sorted keys, no spaces, non-ASCII kept, no NaN."""
    try:
        return _CANONICAL.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"an audit summary must be plain JSON: {exc}",
                           hint="summaries hold strings, numbers, booleans, lists and "
                                "objects; convert dates and enums to strings") from None


def _normalised(summary: Summary | None) -> tuple[dict[str, Any] | None, str | None]:
    """``summary`` as it reads back from its canonical JSON (tuples become lists, and so on),
    and that JSON."""
    if summary is None:
        return None, None
    text = canonical_json(dict(summary))
    value = json.loads(text)
    assert isinstance(value, dict)
    return value, text


def canonical_time(at: datetime) -> str:
    """An aware time as UTC ISO 8601 with microseconds, e.g. 2026-12-01T08:00:00.000000+00:00."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(f"audit time {at.isoformat()} has no time zone",
                           hint="pass an aware datetime, e.g. datetime.now(UTC)")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of the audit log, as stored."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Summary | None
    after: Summary | None
    prev_hash: str
    hash: str
    mac: str | None = None  # HMAC of ``hash`` with the audit key (None: written without one)

    def canonical(self) -> str:
        return canonical_form(seq=self.seq, at=self.at, actor=self.actor, action=self.action,
                              target=self.target, before=self.before, after=self.after,
                              prev_hash=self.prev_hash)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json`` output and the API)."""
        return {"seq": self.seq, "at": canonical_time(self.at), "actor": self.actor,
                "action": self.action, "target": self.target,
                "before": self.before, "after": self.after,
                "prev_hash": self.prev_hash, "hash": self.hash, "mac": self.mac}


def canonical_form(*, seq: int, at: datetime, actor: str, action: str, target: str,
                   before: Summary | None, after: Summary | None, prev_hash: str) -> str:
    """The canonical JSON that an entry's hash is taken over (everything but the hash)."""
    return canonical_json({
        "seq": seq,
        "at": canonical_time(at),
        "actor": actor,
        "action": action,
        "target": target,
        "before": None if before is None else dict(before),
        "after": None if after is None else dict(after),
        "prev_hash": prev_hash,
    })


def entry_hash(*, seq: int, at: datetime, actor: str, action: str, target: str,
               before: Summary | None, after: Summary | None, prev_hash: str) -> str:
    """SHA-256 (hex) of the entry's canonical JSON, UTF-8 encoded."""
    text = canonical_form(seq=seq, at=at, actor=actor, action=action, target=target,
                          before=before, after=after, prev_hash=prev_hash)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal(*, seq: int, at: datetime, actor: str, action: str, target: str,
         before: Summary | None, after: Summary | None, prev_hash: str) -> AuditEntry:
    """A new entry chained to ``prev_hash``, with its summaries normalised and its hash set."""
    return seal_stored(seq=seq, at=at, actor=actor, action=action, target=target,
                       before=before, after=after, prev_hash=prev_hash).entry


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed entry with its summaries' canonical JSON, as the store writes them."""

    entry: AuditEntry
    before_json: str | None
    after_json: str | None


def seal_stored(*, seq: int, at: datetime, actor: str, action: str, target: str,
                before: Summary | None, after: Summary | None, prev_hash: str,
                key: AuditKey | None = None) -> Sealed:
    """``seal``, keeping the summaries' canonical JSON (the store writes it as is); with
    ``key``, the entry carries its MAC."""
    if seq < 1:
        raise InvalidInput(f"audit seq must be positive, not {seq}")
    for label, value in (("actor", actor), ("action", action), ("target", target)):
        if not value.strip():
            raise InvalidInput(f"an audit entry needs a non-empty {label}")
    (b, b_json), (a, a_json) = _normalised(before), _normalised(after)
    when = canonical_time(at)
    at_utc = datetime.fromisoformat(when)
    # canonical_form's text, put together from the summaries' canonical JSON instead of
    # encoding them again (keys in sorted order; nested values encode the same either way)
    text = (f'{{"action":{canonical_json(action)},"actor":{canonical_json(actor)},'
            f'"after":{a_json or "null"},"at":"{when}","before":{b_json or "null"},'
            f'"prev_hash":{canonical_json(prev_hash)},"seq":{int(seq)},'
            f'"target":{canonical_json(target)}}}')
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    mac = None if key is None else key.entry_mac(digest)
    return Sealed(AuditEntry(seq=seq, at=at_utc, actor=actor, action=action, target=target,
                             before=b, after=a, prev_hash=prev_hash, hash=digest, mac=mac),
                  b_json, a_json)


def recomputed_hash(entry: AuditEntry) -> str:
    return entry_hash(seq=entry.seq, at=entry.at, actor=entry.actor, action=entry.action,
                      target=entry.target, before=entry.before, after=entry.after,
                      prev_hash=entry.prev_hash)


# --- verification ---------------------------------------------------------------------------

class Tampering(StrEnum):
    EDITED = "edited"          # an entry's content no longer matches its hash
    DELETED = "deleted"        # an entry is missing (a gap in seq, or the chain stops short)
    REORDERED = "reordered"    # an entry sits where another belongs
    INSERTED = "inserted"      # an entry that the chain around it does not account for
    FORGED = "forged"          # an entry without the audit key's MAC: written without the key


@dataclass(frozen=True, slots=True)
class ChainAnchor:
    """A point of the chain known from elsewhere: entry ``seq`` has hash ``hash``."""

    seq: int
    hash: str


GENESIS = ChainAnchor(seq=0, hash=GENESIS_HASH)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of a verification.

    ``seq`` is the first position of the chain that is wrong (for a deleted entry, the missing
    seq); ``kind`` the most likely tampering there; ``reason`` says what was seen. ``checked``
    counts the entries that verified before the break; ``head`` is the last verified entry.
    """

    ok: bool
    checked: int
    head: ChainAnchor
    seq: int | None = None
    kind: Tampering | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.ok:
            return (f"audit chain intact: {self.checked} entries, "
                    f"head {self.head.seq} {self.head.hash}")
        return f"audit chain broken at entry {self.seq} ({self.kind}): {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked,
                "head": {"seq": self.head.seq, "hash": self.head.hash},
                "seq": self.seq, "kind": None if self.kind is None else self.kind.value,
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class _Broken:
    seq: int
    kind: Tampering
    reason: str


def _misplaced(entries: Sequence[AuditEntry], i: int, prev: ChainAnchor,
               before_prev: ChainAnchor | None, anchor: ChainAnchor | None) -> _Broken:
    """Entry ``i`` has the right seq but does not chain to ``prev``: say why, as best we can."""
    e = entries[i]
    nxt = entries[i + 1] if i + 1 < len(entries) else None
    # e's own hash is vouched for by its successor, or by the anchor.
    vouched = (nxt is not None and nxt.prev_hash == e.hash) or (
        anchor is not None and anchor.seq == e.seq and anchor.hash == e.hash)
    if before_prev is not None and e.prev_hash == before_prev.hash:
        return _Broken(prev.seq, Tampering.INSERTED,
                       f"entry {prev.seq} is not part of the chain: entry {e.seq} chains "
                       f"straight to entry {before_prev.seq}")
    owner = next((o for j, o in enumerate(entries) if o.hash == e.prev_hash and j != i), None)
    if owner is not None:
        return _Broken(e.seq, Tampering.REORDERED,
                       f"entry {e.seq} chains to the entry stored as {owner.seq}, not to entry "
                       f"{prev.seq}: entries were moved")
    if recomputed_hash(e) == e.hash:
        if vouched and i == 0:
            return _Broken(e.seq, Tampering.EDITED,
                           f"entry {e.seq} was rewritten: it does not chain to the start "
                           f"({prev.seq} {prev.hash})")
        if vouched:
            return _Broken(prev.seq, Tampering.EDITED,
                           f"entry {prev.seq} was rewritten: its hash is not the one entry "
                           f"{e.seq} recorded")
        return _Broken(e.seq, Tampering.INSERTED,
                       f"entry {e.seq} does not chain to entry {prev.seq} (forged prev_hash)")
    if vouched:
        return _Broken(e.seq, Tampering.EDITED,
                       f"entry {e.seq} no longer matches its hash (its prev_hash was changed)")
    return _Broken(e.seq, Tampering.INSERTED,
                   f"entry {e.seq} neither matches its hash nor chains to entry {prev.seq}")


def _check_one(entries: Sequence[AuditEntry], i: int, prev: ChainAnchor,
               before_prev: ChainAnchor | None, present: set[int],
               anchor: ChainAnchor | None, key: AuditKey | None) -> _Broken | None:
    e = entries[i]
    expected = prev.seq + 1
    if e.seq != expected:
        if e.seq < expected or expected in present:
            return _Broken(expected, Tampering.REORDERED,
                           f"entry {e.seq} appears where entry {expected} belongs")
        missing = f"{expected}" if e.seq == expected + 1 else f"{expected}-{e.seq - 1}"
        return _Broken(expected, Tampering.DELETED,
                       f"entry {missing} is missing: {prev.seq} is followed by {e.seq}")
    if e.prev_hash != prev.hash:
        return _misplaced(entries, i, prev, before_prev, anchor)
    if recomputed_hash(e) != e.hash:
        nxt = entries[i + 1] if i + 1 < len(entries) else None
        if nxt is not None and nxt.prev_hash == prev.hash:
            return _Broken(e.seq, Tampering.INSERTED,
                           f"entry {e.seq} is not part of the chain: it does not match its "
                           f"hash and entry {nxt.seq} chains straight to entry {prev.seq}")
        return _Broken(e.seq, Tampering.EDITED,
                       f"entry {e.seq} does not match its hash (its content was changed)")
    if key is not None and not key.entry_mac_ok(e.hash, e.mac):
        made = "carries no MAC" if e.mac is None else "carries a MAC the audit key did not make"
        return _Broken(e.seq, Tampering.FORGED,
                       f"entry {e.seq} {made}: it was written or rewritten without the key")
    if anchor is not None and e.seq == anchor.seq and e.hash != anchor.hash:
        return _Broken(e.seq, Tampering.EDITED,
                       f"entry {e.seq} has hash {e.hash}, not the anchored {anchor.hash} "
                       "(the chain was rewritten from here or before)")
    return None


def verify_chain(entries: Iterable[AuditEntry], *, after: ChainAnchor = GENESIS,
                 anchor: ChainAnchor | None = None,
                 key: AuditKey | None = None) -> VerifyResult:
    """Check an audit chain in storage order (by seq).

    ``after`` is where the chain starts from (the genesis by default; a checkpoint when older
    entries have been archived). ``anchor``, if given, is a head recorded earlier: the chain
    must still reach it with the same hash. ``key``, if given, is the audit key: every entry
    must carry its MAC (``Tampering.FORGED`` otherwise). The seq named on failure is exact for
    every single edit, deletion, reordering or insertion; the kind is the most likely
    explanation of what was seen.
    """
    items = list(entries)
    present = {e.seq for e in items}
    prev, before_prev = after, None
    checked = 0
    broken: _Broken | None = None
    for i, e in enumerate(items):
        broken = _check_one(items, i, prev, before_prev, present, anchor, key)
        if broken is not None:
            break
        before_prev, prev = prev, ChainAnchor(e.seq, e.hash)
        checked += 1
    if broken is None and anchor is not None and prev.seq < anchor.seq:
        broken = _Broken(prev.seq + 1, Tampering.DELETED,
                         f"the chain ends at entry {prev.seq}, but entry {anchor.seq} was "
                         "recorded before (entries were cut off the end)")
    if broken is None:
        return VerifyResult(ok=True, checked=checked, head=prev)
    if broken.seq == prev.seq and before_prev is not None:  # the fault is the entry before
        prev, checked = before_prev, checked - 1
    return VerifyResult(ok=False, checked=checked, head=prev, seq=broken.seq, kind=broken.kind,
                        reason=broken.reason)
