"""``/principals`` and ``/audit``."""

from __future__ import annotations

from typing import Any

from govcloud.api.models.common import ApiModel, Time


class PrincipalRecord(ApiModel):
    """A principal as an admin sees it (never its token)."""

    name: str
    role: str
    city: str | None
    department: str | None
    person: str | None
    status: str  # active, pending, expired or revoked
    created_at: Time
    issued_by: str | None
    approved_by: str | None
    approved_at: Time | None
    expires_at: Time | None
    revoked_at: Time | None


class NewToken(ApiModel):
    """A principal and its new token, shown this once."""

    principal: PrincipalRecord
    token: str
    pending: bool


class PrincipalAnswer(ApiModel):
    principal: PrincipalRecord


class PrincipalList(ApiModel):
    principals: list[PrincipalRecord]


class AuditEntry(ApiModel):
    seq: int
    at: Time
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None  # the action's own summary: an open mapping
    after: dict[str, Any] | None
    prev_hash: str
    hash: str
    mac: str | None


class AuditCursor(ApiModel):
    """Where the next page starts: one of the two."""

    after_seq: int | None = None
    before_seq: int | None = None


class AuditPage(ApiModel):
    entries: list[AuditEntry]
    next: AuditCursor | None


class ChainHead(ApiModel):
    seq: int
    hash: str


class Checkpoint(ApiModel):
    seq: int
    hash: str
    at: str
    key_id: str
    mac: str


class AuditVerification(ApiModel):
    ok: bool
    checked: int
    head: ChainHead
    seq: int | None
    kind: str | None
    reason: str
    description: str
    keyed: bool
    checkpoint: Checkpoint | None
