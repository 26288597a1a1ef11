"""Principals as the API sees them: who holds a bearer token."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.domain.rbac import Principal
from govcloud.store.principals import PrincipalRepository
from govcloud.store.tables import utcnow


def authenticate(engine: Engine, token: str, *,
                 clock: Callable[[], datetime] = utcnow) -> Principal | None:
    """The active principal holding ``token`` at ``clock()``, or None (unknown, malformed,
    expired or revoked)."""
    with Session(engine) as session:
        return PrincipalRepository(session=session, clock=clock).authenticate(token)
