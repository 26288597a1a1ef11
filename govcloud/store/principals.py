"""Principals and their API tokens.

A token is ``gct_`` followed by ``secrets.token_urlsafe(32)`` (256 random bits). It is shown
once, when it is issued; the store keeps only its SHA-256, so a copy of the database does not
give anyone a working token. A token stops working when it expires or is revoked; a new one
can be issued with ``rotate_token``.

A principal names the person behind it. A token issued with ``pending=True`` (the API does so
for the privileged roles, ``Role.privileged``, when it adds a principal or rotates its token)
leaves the principal ``pending``: the token does not work until ``approve`` records a
bureau-admin who is another person than its issuer (``rbac.may_approve_principal``). The first
bureau-admin comes from ``bootstrap_admin`` with direct database access, approved by no one;
``approve_unattended`` approves a pending principal the same way, but only while no
bureau-admin of another person than the issuer exists who could.

The repositories do not audit: the service that calls them appends the audit entry in the
same transaction (``govcloud.store.audit``), with the principal's name, role and scope as the
summary — never the token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, Table, bindparam
from sqlalchemy import select as core_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from govcloud.domain.rbac import Principal, Role, may_approve_principal, same_person
from govcloud.errors import ConflictError, Forbidden, InvalidInput, NotFound
from govcloud.store.audit import lock_for_write
from govcloud.store.tables import PrincipalRow, utcnow

TOKEN_PREFIX = "gct_"
DEFAULT_TOKEN_TTL = timedelta(days=90)
_MAX_TOKEN_LENGTH = 256
# Serialises bootstraps on PostgreSQL (held until the bootstrapping transaction ends).
_PG_BOOTSTRAP_LOCK = 0x60C1B007


def new_token() -> str:
    """A fresh API token: the ``gct_`` prefix and 32 random bytes, URL-safe base64."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the store keeps of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class PrincipalRecord:
    """A principal with its token's lifetime, as the store knows it (never the token)."""

    principal: Principal
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    issued_by: str | None = None         # who issued the token (None: database access)
    issued_by_person: str | None = None  # and the person behind that principal
    approved_by: str | None = None         # who approved it (None: needed no approval)
    approved_at: datetime | None = None    # None: pending, its token does not work yet

    @property
    def name(self) -> str:
        return self.principal.name

    @property
    def pending(self) -> bool:
        return self.approved_at is None

    def status(self, now: datetime) -> str:
        """``active``, ``pending`` (approval), ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if self.approved_at is None:
            return "pending"
        return "active"

    def to_dict(self, now: datetime) -> dict[str, Any]:
        p = self.principal
        return {"name": p.name, "role": p.role.value, "city": p.city,
                "department": p.department, "person": p.person, "status": self.status(now),
                "created_at": self.created_at.isoformat(), "issued_by": self.issued_by,
                "approved_by": self.approved_by, "approved_at": _iso(self.approved_at),
                "expires_at": _iso(self.expires_at), "revoked_at": _iso(self.revoked_at)}

    def summary(self) -> dict[str, Any]:
        """For an audit entry's before/after: who and what reach, no secrets."""
        p = self.principal
        return {"name": p.name, "role": p.role.value, "city": p.city,
                "department": p.department, "person": p.person,
                "expires_at": _iso(self.expires_at),
                "revoked": self.revoked_at is not None, "pending": self.pending,
                "approved_by": self.approved_by}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as issued: the only time its plaintext exists. ``repr`` does not show it."""

    record: PrincipalRecord
    token: str = field(repr=False)


def _to_record(row: PrincipalRow | Row[Any]) -> PrincipalRecord:
    principal = Principal(name=row.name, role=Role(row.role), city=row.city,
                          department=row.department, person=row.person)
    created = _utc(row.created_at)
    assert created is not None
    return PrincipalRecord(principal=principal, created_at=created,
                           expires_at=_utc(row.expires_at), revoked_at=_utc(row.revoked_at),
                           issued_by=row.issued_by, issued_by_person=row.issued_by_person,
                           approved_by=row.approved_by, approved_at=_utc(row.approved_at))


_PRINCIPAL: Table = PrincipalRow.__table__  # type: ignore[attr-defined]
# the token's holder, read before every request: one statement built once, rows not ORM
# objects (a third of the lookup's CPU was the ORM's)
_BY_TOKEN = core_select(_PRINCIPAL).where(_PRINCIPAL.c.token_hash == bindparam("token_hash"))


class PrincipalRepository:
    """Principals in the store. The caller owns the session and its transaction."""

    def __init__(self, *, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    def _now(self) -> datetime:
        now = _utc(self.clock())
        assert now is not None
        return now

    def _expiry(self, now: datetime, ttl: timedelta | None) -> datetime | None:
        if ttl is None:
            return None
        if ttl <= timedelta(0):
            raise InvalidInput(f"a token's lifetime must be positive, not {ttl}",
                               hint="e.g. 90 days; leave it out for the default")
        return now + ttl

    def _row(self, name: str) -> PrincipalRow | None:
        return self.session.exec(select(PrincipalRow).where(PrincipalRow.name == name)).first()

    def _get_row(self, name: str) -> PrincipalRow:
        row = self._row(name)
        if row is None:
            raise NotFound(f"no principal named {name!r}",
                           hint="`govcloud principals list` shows them")
        return row

    def add(self, principal: Principal, *,
            ttl: timedelta | None = DEFAULT_TOKEN_TTL, issued_by: Principal | None = None,
            pending: bool = False) -> IssuedToken:
        """Create ``principal`` with a new token, valid for ``ttl`` (None: until revoked),
        added by ``issued_by`` (None: with direct database access). With ``pending`` the
        token works only once ``approve`` has been called.

        The plaintext token is in the result and nowhere else; store and show it now."""
        if self._row(principal.name) is not None:
            raise ConflictError(f"a principal named {principal.name!r} already exists",
                                hint="choose another name (`govcloud principals list` shows "
                                     "the names in use; a revoked principal keeps its name), "
                                     "or issue it a new token with `govcloud principals "
                                     "rotate NAME`")
        now = self._now()
        token = new_token()
        row = PrincipalRow(name=principal.name, role=principal.role.value, city=principal.city,
                           department=principal.department, person=principal.person,
                           token_hash=hash_token(token), created_at=now,
                           expires_at=self._expiry(now, ttl),
                           issued_by=None if issued_by is None else issued_by.name,
                           issued_by_person=None if issued_by is None else issued_by.person,
                           approved_at=None if pending else now)
        self.session.add(row)
        try:
            self.session.flush()
        except IntegrityError as exc:  # another writer added the same name meanwhile
            raise ConflictError(f"a principal named {principal.name!r} already exists",
                                hint="roll back and choose another name") from exc
        return IssuedToken(record=_to_record(row), token=token)

    def authenticate(self, token: str) -> Principal | None:
        """The principal holding ``token``, or None (unknown, malformed, expired or revoked)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
            return None
        self.session.flush()  # as the ORM's autoflush would: changes made in this session
        row = self.session.connection().execute(
            _BY_TOKEN, {"token_hash": hash_token(token)}).first()
        if row is None:
            return None
        record = _to_record(row)
        return record.principal if record.status(self._now()) == "active" else None

    def revoke(self, name: str) -> PrincipalRecord:
        """Revoke the principal's token now (revoking twice keeps the first time)."""
        row = self._get_row(name)
        if row.revoked_at is None:
            row.revoked_at = self._now()
            self.session.add(row)
            self.session.flush()
        return _to_record(row)

    def rotate_token(self, name: str, *, ttl: timedelta | None = DEFAULT_TOKEN_TTL,
                     issued_by: Principal | None = None, pending: bool = False) -> IssuedToken:
        """Issue the principal a new token (the old one stops working), valid for ``ttl``,
        by ``issued_by`` (None: with direct database access); with ``pending`` the new token
        works only once ``approve`` has been called (as for ``add``)."""
        row = self._get_row(name)
        now = self._now()
        token = new_token()
        row.token_hash = hash_token(token)
        row.expires_at = self._expiry(now, ttl)
        row.revoked_at = None
        row.issued_by = None if issued_by is None else issued_by.name
        row.issued_by_person = None if issued_by is None else issued_by.person
        row.approved_by = None
        row.approved_at = None if pending else now
        self.session.add(row)
        self.session.flush()
        return IssuedToken(record=_to_record(row), token=token)

    def approve(self, name: str, approver: Principal) -> PrincipalRecord:
        """Approve the pending principal ``name``: its token works from now on.

        ``approver`` must be a bureau-admin and another person than the token's issuer
        (Forbidden otherwise); a principal that is not pending is a ConflictError."""
        row = self._get_row(name)
        record = _to_record(row)
        self._check_approvable(record)
        decision = may_approve_principal(approver, record.issued_by_person)
        if not decision:
            raise Forbidden(decision.reason,
                            hint="another person with a bureau-admin principal must approve it")
        return self._approved(row, approver.name)

    def approve_unattended(self, name: str) -> PrincipalRecord:
        """Approve the pending principal ``name`` with direct database access — only while no
        active bureau-admin of another person than its issuer exists (who must approve it
        through the API instead): the way to the second bureau-admin, as ``bootstrap_admin``
        is to the first. Needs a session from ``write_session``."""
        lock_for_write(self.session, _PG_BOOTSTRAP_LOCK)
        row = self._get_row(name)
        record = _to_record(row)
        self._check_approvable(record)
        issuer = record.issued_by_person
        others = sorted({a.principal.person for a in
                         self.list_principals(role=Role.BUREAU_ADMIN, include_inactive=False)
                         if issuer is None or not same_person(a.principal.person, issuer)})
        if others:
            raise ConflictError(
                f"{name} can be approved by a bureau-admin ({', '.join(others)})",
                hint=f"ask one of them to run `govcloud principals approve {name}`; direct "
                     "database approval is only for when no such person exists")
        return self._approved(row, None)

    def _check_approvable(self, record: PrincipalRecord) -> None:
        if record.revoked_at is not None:
            raise ConflictError(f"principal {record.name} is revoked",
                                hint="add a new principal instead")
        if not record.pending:
            raise ConflictError(f"principal {record.name} is not waiting for approval",
                                hint="`govcloud principals list` shows each one's status")

    def _approved(self, row: PrincipalRow, approver: str | None) -> PrincipalRecord:
        row.approved_at = self._now()
        row.approved_by = approver
        self.session.add(row)
        self.session.flush()
        return _to_record(row)

    def find_principal(self, name: str) -> PrincipalRecord | None:
        row = self._row(name)
        return None if row is None else _to_record(row)

    def get_principal(self, name: str) -> PrincipalRecord:
        return _to_record(self._get_row(name))

    def list_principals(self, *, role: Role | None = None,
                        include_inactive: bool = True) -> list[PrincipalRecord]:
        """Principals by name; ``include_inactive=False`` leaves out expired and revoked ones."""
        query = select(PrincipalRow).order_by(col(PrincipalRow.name))
        if role is not None:
            query = query.where(PrincipalRow.role == role.value)
        records = [_to_record(r) for r in self.session.exec(query)]
        if include_inactive:
            return records
        now = self._now()
        return [r for r in records if r.status(now) == "active"]

    def bootstrap_admin(self, name: str = "admin", *, person: str | None = None,
                        ttl: timedelta | None = DEFAULT_TOKEN_TTL) -> IssuedToken:
        """Create the first bureau-admin — only while no active bureau-admin exists.

        Needs a session from ``write_session`` (two bootstraps at once: one wins, the other
        gets ConflictError). An admin whose token expired or was revoked does not count, so
        that someone with direct database access can always get back in."""
        lock_for_write(self.session, _PG_BOOTSTRAP_LOCK)
        admins = self.list_principals(role=Role.BUREAU_ADMIN, include_inactive=False)
        if admins:
            names = ", ".join(a.name for a in admins)
            raise ConflictError(f"a bureau-admin already exists ({names})",
                                hint="bootstrap only creates the first admin; ask an admin "
                                     "to add principals with `govcloud principals add`")
        return self.add(Principal(name=name, role=Role.BUREAU_ADMIN, person=person or ""),
                        ttl=ttl)
