"""The audit log's key: a MAC on every entry, and signed checkpoints of the chain's head.

A hash chain shows edits in the middle of the log, but someone who can write the database can
recompute every hash after an entry they changed, append an entry of their own, or cut entries
off the end. Two things held *outside* the database close that:

* **Entry MACs.** Each entry carries ``mac`` = HMAC-SHA256(key, "govcloud-audit-entry-v1\\n" +
  its hash). The hash covers everything the entry says and the hash before it, so a writer
  without the key can neither append an entry nor rewrite one (even with its hash recomputed)
  without the verifier seeing a missing or wrong MAC.
* **Checkpoints.** The server signs (seq, hash, time) of the head every so often and appends
  it to an anchor file (JSON lines) that auditors copy away. A chain that no longer reaches the
  newest checkpoint, or reaches it with another hash, was cut off or rewritten; that is the one
  tampering entry MACs cannot show (deleting the newest entries leaves valid MACs behind).

The key is 32 random bytes, written as 64 hex digits in a file of its own (mode 0600), never in
the database. This module is pure: it signs and checks; reading the key file is the store's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from govcloud.errors import InvalidInput

KEY_BYTES = 32
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ENTRY = b"govcloud-audit-entry-v1\n"
_CHECKPOINT = "govcloud-audit-checkpoint-v1\n"
MAX_CHECKPOINT_LINE = 1024  # a checkpoint line is ~250 bytes; anything longer is not one


class AuditKey:
    """The audit key. Its bytes never appear in a repr, a log line or an error."""

    __slots__ = ("_key", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise InvalidInput(f"an audit key is {KEY_BYTES} bytes, not {len(key)}",
                               hint="the key file holds 64 hex digits")
        self._key = key
        # names the key (in checkpoints and messages) without revealing it
        self.key_id = hmac.new(key, b"govcloud-audit-key-id", hashlib.sha256).hexdigest()[:16]

    @classmethod
    def from_text(cls, text: str, *, source: str = "the audit key") -> AuditKey:
        value = text.strip().lower()
        if not _HEX64.fullmatch(value):
            raise InvalidInput(f"{source} is not an audit key (64 hex digits expected)",
                               hint="restore the key file from its backup; never edit it")
        return cls(bytes.fromhex(value))

    def to_text(self) -> str:
        return self._key.hex() + "\n"

    def __repr__(self) -> str:
        return f"AuditKey(key_id={self.key_id})"

    def entry_mac(self, entry_hash: str) -> str:
        """The MAC of an entry, taken over its hash (which covers all it says)."""
        return hmac.new(self._key, _ENTRY + entry_hash.encode("ascii", "replace"),
                        hashlib.sha256).hexdigest()

    def entry_mac_ok(self, entry_hash: str, mac: str | None) -> bool:
        return mac is not None and hmac.compare_digest(self.entry_mac(entry_hash), mac)

    def checkpoint_mac(self, seq: int, entry_hash: str, at: str) -> str:
        text = f"{_CHECKPOINT}{int(seq)}\n{entry_hash}\n{at}"
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Entry ``seq`` had hash ``hash`` at ``at`` (UTC ISO 8601), signed with key ``key_id``."""

    seq: int
    hash: str
    at: str
    key_id: str
    mac: str

    def to_json(self) -> str:
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": self.at,
                           "key_id": self.key_id, "mac": self.mac},
                          sort_keys=True, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at, "key_id": self.key_id,
                "mac": self.mac}

    def signed_by(self, key: AuditKey) -> bool:
        return self.key_id == key.key_id and hmac.compare_digest(
            key.checkpoint_mac(self.seq, self.hash, self.at), self.mac)


def sign_checkpoint(key: AuditKey, *, seq: int, entry_hash: str, at: datetime) -> Checkpoint:
    when = at.isoformat(timespec="seconds")
    return Checkpoint(seq=seq, hash=entry_hash, at=when, key_id=key.key_id,
                      mac=key.checkpoint_mac(seq, entry_hash, when))


def parse_checkpoint(line: str, *, where: str = "checkpoint") -> Checkpoint:
    """One line of an anchor file, checked for shape (not for its signature)."""
    if len(line) > MAX_CHECKPOINT_LINE:
        raise InvalidInput(f"{where} is {len(line)} characters long, not a checkpoint",
                           hint="an anchor file holds one JSON checkpoint per line")
    try:
        data = json.loads(line)
    except ValueError:
        raise InvalidInput(f"{where} is not JSON",
                           hint="an anchor file holds one JSON checkpoint per line") from None
    return checkpoint_from(data, where=where)


def checkpoint_from(data: Any, *, where: str = "checkpoint") -> Checkpoint:
    if not isinstance(data, dict) or set(data) != {"seq", "hash", "at", "key_id", "mac"}:
        raise InvalidInput(f"{where} is not a checkpoint: it must hold exactly seq, hash, at, "
                           "key_id and mac", hint="copy the anchor file's lines unchanged")
    seq, digest, at, key_id, mac = (data[k] for k in ("seq", "hash", "at", "key_id", "mac"))
    if type(seq) is not int or seq < 0:
        raise InvalidInput(f"{where}: seq must be a whole number >= 0")
    if not (isinstance(digest, str) and _HEX64.fullmatch(digest)
            and isinstance(mac, str) and _HEX64.fullmatch(mac)):
        raise InvalidInput(f"{where}: hash and mac must be 64 lower-case hex digits")
    if not (isinstance(key_id, str) and re.fullmatch(r"[0-9a-f]{16}", key_id)):
        raise InvalidInput(f"{where}: key_id must be 16 lower-case hex digits")
    if not isinstance(at, str) or len(at) > 40:
        raise InvalidInput(f"{where}: at must be an ISO 8601 time")
    try:
        datetime.fromisoformat(at)
    except ValueError:
        raise InvalidInput(f"{where}: at must be an ISO 8601 time") from None
    return Checkpoint(seq=seq, hash=digest, at=at, key_id=key_id, mac=mac)
