"""Principals as the API sees them: who holds a bearer token (``authenticate``); adding,
approving, rotating, listing and revoking principals and their tokens; reading the audit log.

Each change is one write transaction holding the change and its audit entry. Who may call
these is the caller's check (``principal.manage`` on the whole cloud, ``audit.view`` for the
log, with the departments the caller may see).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.domain.rbac import Principal, Role, same_person
from govcloud.store.audit import MAX_PAGE, AuditFilter, AuditLog, write_session
from govcloud.store.engine import autocommit_reads
from govcloud.store.principals import DEFAULT_TOKEN_TTL, IssuedToken, PrincipalRepository
from govcloud.store.tables import utcnow

__all__ = ["DEFAULT_TOKEN_TTL", "MAX_PAGE", "add_principal", "approve_principal",
           "authenticate", "list_audit", "list_principals", "revoke_principal",
           "rotate_token"]

Clock = Callable[[], datetime]


def authenticate(engine: Engine, token: str, *,
                 clock: Callable[[], datetime] = utcnow) -> Principal | None:
    """The active principal holding ``token`` at ``clock()``, or None (unknown, malformed,
    expired or revoked). One read, in no transaction of its own (``autocommit_reads``): it
    runs before every request."""
    with Session(autocommit_reads(engine)) as session:
        return PrincipalRepository(session=session, clock=clock).authenticate(token)


def _issued(issued: IssuedToken, now: datetime) -> dict[str, Any]:
    return {"principal": issued.record.to_dict(now), "token": issued.token,
            "pending": issued.record.pending}


def add_principal(engine: Engine, principal: Principal, *, admin: Principal,
                  ttl: timedelta | None, clock: Clock = utcnow) -> dict[str, Any]:
    """Add ``principal`` with a new token (shown this once); a privileged role's token is
    pending until another person approves it."""
    with write_session(engine) as session:
        issued = PrincipalRepository(session=session, clock=clock).add(
            principal, ttl=ttl, issued_by=admin, pending=principal.role.privileged)
        AuditLog(session=session, clock=clock).append(
            actor=admin.name, action="principal.add", target=f"principal:{principal.name}",
            after={**issued.record.summary(), "issued_by_person": admin.person})
        session.commit()
    return _issued(issued, clock())


def approve_principal(engine: Engine, name: str, *, admin: Principal,
                      clock: Clock = utcnow) -> dict[str, Any]:
    with write_session(engine) as session:
        repo = PrincipalRepository(session=session, clock=clock)
        before = repo.get_principal(name)
        after = repo.approve(name, admin)
        AuditLog(session=session, clock=clock).append(
            actor=admin.name, action="principal.approve", target=f"principal:{name}",
            before=before.summary(),
            after={**after.summary(), "approved_by_person": admin.person,
                   "issued_by": before.issued_by, "issued_by_person": before.issued_by_person})
        session.commit()
    return {"principal": after.to_dict(clock())}


def rotate_token(engine: Engine, name: str, *, admin: Principal, ttl: timedelta | None,
                 clock: Clock = utcnow) -> dict[str, Any]:
    """A new token for ``name`` (the old one stops working)."""
    with write_session(engine) as session:
        repo = PrincipalRepository(session=session, clock=clock)
        before = repo.get_principal(name)
        # one's own token, rotated: the same person holds it, so no one else need approve
        own = same_person(admin.person, before.principal.person)
        issued = repo.rotate_token(name, ttl=ttl, issued_by=admin,
                                   pending=before.principal.role.privileged and not own)
        AuditLog(session=session, clock=clock).append(
            actor=admin.name, action="principal.rotate", target=f"principal:{name}",
            before=before.summary(),
            after={**issued.record.summary(), "issued_by_person": admin.person})
        session.commit()
    return _issued(issued, clock())


def list_principals(engine: Engine, *, role: Role | None, active_only: bool,
                    clock: Clock = utcnow) -> dict[str, Any]:
    with Session(engine) as session:
        records = PrincipalRepository(session=session, clock=clock).list_principals(
            role=role, include_inactive=not active_only)
    now = clock()
    return {"principals": [r.to_dict(now) for r in records]}


def revoke_principal(engine: Engine, name: str, *, admin: Principal,
                     clock: Clock = utcnow) -> dict[str, Any]:
    """Revoke the principal's token (the principal stays, inactive); audited once."""
    with write_session(engine) as session:
        repo = PrincipalRepository(session=session, clock=clock)
        before = repo.get_principal(name)
        after = repo.revoke(name)
        if before.revoked_at is None:
            AuditLog(session=session, clock=clock).append(
                actor=admin.name, action="principal.revoke", target=f"principal:{name}",
                before=before.summary(), after=after.summary())
        session.commit()
    return {"principal": after.to_dict(clock())}


def list_audit(engine: Engine, *, departments: Sequence[str] | None, actor: str | None,
               action: str | None, target: str | None, since: datetime | None,
               until: datetime | None, after_seq: int | None, before_seq: int | None,
               limit: int, newest_first: bool, clock: Clock = utcnow) -> dict[str, Any]:
    """One page of audit entries of ``departments`` (None: all), with the cursor of the
    next page when this one is full."""
    where = AuditFilter(actor=actor, action=action, target=target,
                        departments=None if departments is None else list(departments),
                        since=since, until=until)
    with Session(engine) as session:
        entries = AuditLog(session=session, clock=clock).list_entries(
            where, after_seq=after_seq, before_seq=before_seq, limit=limit,
            newest_first=newest_first)
    more = len(entries) == limit
    last = entries[-1].seq if entries else None
    return {"entries": [e.to_dict() for e in entries],
            "next": None if not more or last is None else
            ({"before_seq": last} if newest_first else {"after_seq": last})}
