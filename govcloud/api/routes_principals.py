"""Principals (``/principals``) and the audit log (``/audit``, ``/audit/verify``).

Managing principals is the bureau-admin's (``principal.manage``); every change is audited in
the same transaction, target ``principal:NAME``, never with the token. Every principal names
the person behind it. A token issued to a privileged role (bureau-admin, operator, ci) — a new
principal's, or one rotated by another person than the principal's — leaves the principal
``pending`` until a bureau-admin who is another person than its issuer approves it
(``POST /principals/{name}/approve``); only then does the token work. A city-operator's city
and a department-viewer's department must exist in the catalogue.

The audit log is read with ``audit.view``: a principal whose role reaches only part of the
cloud sees only the entries about its departments (``AuditFilter(departments=...)``);
verifying the whole chain needs ``audit.view`` on the whole cloud.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Engine

from govcloud.api.contract import Identifier, cursor, name_query
from govcloud.api.deps import (
    Clock,
    get_catalogue,
    get_clock,
    get_engine,
    get_settings,
    require,
)
from govcloud.api.fields import IsoTime
from govcloud.api.models import (
    AuditPage,
    AuditVerification,
    NewToken,
    PrincipalAnswer,
    PrincipalList,
    answers,
)
from govcloud.api.models.bodies import NewPrincipal, Rotation
from govcloud.domain.audit_signing import checkpoint_from
from govcloud.domain.catalogue import Catalogue
from govcloud.domain.limits import MAX_LINE
from govcloud.domain.rbac import Action, Principal, Role
from govcloud.errors import InvalidInput
from govcloud.services import principals
from govcloud.services.access import visible_codes
from govcloud.services.audit_anchor import verify_log
from govcloud.services.inventory import rbac_city
from govcloud.services.principals import MAX_PAGE
from govcloud.settings import Settings

router = APIRouter()

Engine_ = Annotated[Engine, Depends(get_engine)]
Clock_ = Annotated[Clock, Depends(get_clock)]
Admin = Annotated[Principal, Depends(require(Action.PRINCIPAL_MANAGE))]
Auditor = Annotated[Principal, Depends(require(Action.VIEW_AUDIT, scoped=True))]
GlobalAuditor = Annotated[Principal, Depends(require(Action.VIEW_AUDIT))]


def _ttl(days: float | None) -> timedelta | None:
    return None if days is None else timedelta(days=days)


def _check_scope(principal: Principal, catalogue: Catalogue) -> None:
    """A city-operator's city and a department-viewer's department exist in the catalogue."""
    if principal.department is not None and catalogue.find(principal.department) is None:
        raise InvalidInput(f"no department {principal.department!r} in the catalogue",
                           hint="`govcloud departments list` shows the codes")
    if principal.city is not None:
        cities = sorted({c for d in catalogue if (c := rbac_city(d)) is not None})
        if principal.city not in cities:
            raise InvalidInput(f"no city {principal.city!r} in the catalogue",
                               hint="cities with tenants: " + (", ".join(cities) or "none"))


@router.post("/principals", **answers(NewToken), tags=["principals"], status_code=201,
             summary="add a principal; the answer holds its token, shown this once (a "
                     "privileged role's token works once another person approves it)")
def add_principal(body: NewPrincipal, admin: Admin, engine: Engine_, clock: Clock_,
                  catalogue: Annotated[Catalogue, Depends(get_catalogue)]) -> dict[str, Any]:
    principal = Principal(name=body.name, role=body.role, city=body.city,
                          department=body.department, person=body.person)
    _check_scope(principal, catalogue)
    return principals.add_principal(engine, principal, admin=admin, ttl=_ttl(body.ttl_days),
                                    clock=clock)


@router.post("/principals/{name}/approve", **answers(PrincipalAnswer), tags=["principals"],
             summary="approve a pending principal's token (a bureau-admin who is another "
                     "person than its issuer)")
def approve_principal(name: Identifier, admin: Admin, engine: Engine_,
                      clock: Clock_) -> dict[str, Any]:
    return principals.approve_principal(engine, name, admin=admin, clock=clock)


@router.post("/principals/{name}/rotate", **answers(NewToken), tags=["principals"],
             summary="issue the principal a new token, shown this once (the old one stops "
                     "working; a privileged role's works once another person approves it)")
def rotate_principal(name: Identifier, admin: Admin, engine: Engine_, clock: Clock_,
                     body: Rotation | None = None) -> dict[str, Any]:
    body = body or Rotation()
    return principals.rotate_token(engine, name, admin=admin, ttl=_ttl(body.ttl_days),
                                   clock=clock)


@router.get("/principals", **answers(PrincipalList),
            tags=["principals"], summary="every principal (never a token)")
def list_principals(_admin: Admin, engine: Engine_, clock: Clock_,
                    role: Role | None = None, active_only: bool = False) -> dict[str, Any]:
    return principals.list_principals(engine, role=role, active_only=active_only, clock=clock)


@router.delete("/principals/{name}", **answers(PrincipalAnswer), tags=["principals"],
               summary="revoke the principal's token (the principal stays, inactive)")
def revoke_principal(name: Identifier, admin: Admin, engine: Engine_,
                     clock: Clock_) -> dict[str, Any]:
    return principals.revoke_principal(engine, name, admin=admin, clock=clock)


@router.get("/audit", **answers(AuditPage), tags=["audit"],
            summary="audit entries, oldest first (or newest first), one page at a time")
def list_audit(principal: Auditor, engine: Engine_, clock: Clock_,
               catalogue: Annotated[Catalogue, Depends(get_catalogue)],
               actor: Annotated[str | None, name_query()] = None,
               action: Annotated[str | None, name_query()] = None,
               target: Annotated[str | None, Query(max_length=MAX_LINE)] = None,
               department: Annotated[str | None, name_query()] = None,
               since: Annotated[IsoTime | None, Query()] = None,
               until: Annotated[IsoTime | None, Query()] = None,
               after_seq: Annotated[int | None, cursor("entries after this seq")] = None,
               before_seq: Annotated[int | None, cursor("entries before this seq")] = None,
               limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
               newest_first: bool = False) -> dict[str, Any]:
    departments: list[str] | None = visible_codes(principal, catalogue, Action.VIEW_AUDIT)
    if department is not None:
        departments = ([department] if departments is None or department in departments
                       else [])
    return principals.list_audit(engine, departments=departments, actor=actor, action=action,
                                 target=target, since=since, until=until, after_seq=after_seq,
                                 before_seq=before_seq, limit=limit,
                                 newest_first=newest_first, clock=clock)


_HEX64 = r"^[0-9a-f]{64}$"


@router.get("/audit/verify", **answers(AuditVerification), tags=["audit"],
            summary="check the whole hash chain, every entry's MAC and that the chain still "
                    "reaches a signed checkpoint; names the first bad entry")
def verify_audit(
        _principal: GlobalAuditor, engine: Engine_, settings: Annotated[
            Settings, Depends(get_settings)],
        anchor_seq: Annotated[int | None, Query(ge=0, le=2**62)] = None,
        anchor_hash: Annotated[str | None, Query(pattern=_HEX64)] = None,
        anchor_at: Annotated[str | None, Query(max_length=40)] = None,
        anchor_key_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{16}$")] = None,
        anchor_mac: Annotated[str | None, Query(pattern=_HEX64)] = None) -> dict[str, Any]:
    """The ``anchor_*`` parameters are a checkpoint from an anchor file (all or none); without
    them the server's own newest checkpoint is used."""
    given = (anchor_seq, anchor_hash, anchor_at, anchor_key_id, anchor_mac)
    checkpoint = None
    if any(v is not None for v in given):
        if any(v is None for v in given):
            raise InvalidInput("a checkpoint needs all of anchor_seq, anchor_hash, anchor_at, "
                               "anchor_key_id and anchor_mac")
        checkpoint = checkpoint_from(dict(zip(("seq", "hash", "at", "key_id", "mac"), given,
                                              strict=True)), where="the anchor")
    return verify_log(engine, checkpoint=checkpoint, anchor_file=settings.audit_anchor_file)
