"""What the principal use cases decide, in a real database: a privileged principal's token is
pending until another person approves it (a principal of the issuer's own person may not, nor
a role below bureau-admin); an unprivileged one works at once; rotating one's own token needs
no approval, rotating another's privileged one does; a revocation is audited once; the audit
log pages with a cursor only when a page is full. (The store: tests/integration/
test_principals_store.py; through the API: tests/integration/control/.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from govcloud.domain.rbac import Principal
from govcloud.errors import ConflictError, Forbidden
from govcloud.services.principals import (
    add_principal,
    approve_principal,
    authenticate,
    list_audit,
    list_principals,
    revoke_principal,
    rotate_token,
)
from tests.databases import Clock

BOSS = Principal("boss", "bureau-admin")
DEPUTY = Principal("deputy", "bureau-admin", person="li.wei")
BOSS_TOO = Principal("boss-2", "bureau-admin", person="boss")  # boss's other principal
TTL = timedelta(days=30)


def audit(engine: Engine, clock: Clock, action: str) -> list[dict[str, object]]:
    page = list_audit(engine, departments=None, actor=None, action=action, target=None,
                      since=None, until=None, after_seq=None, before_seq=None, limit=100,
                      newest_first=False, clock=clock)
    return list(page["entries"])


@pytest.mark.parametrize(("role", "pending"), [("operator", True), ("ci", True),
                                               ("bureau-admin", True),
                                               ("bureau-auditor", False)])
def test_a_privileged_principals_token_waits_for_approval(db: Engine, role: str,
                                                          pending: bool) -> None:
    clock = Clock()
    out = add_principal(db, Principal("new", role), admin=BOSS, ttl=TTL, clock=clock)
    assert out["pending"] is pending
    holder = authenticate(db, out["token"], clock=clock)
    assert (holder is None) is pending


def test_another_person_approves_and_the_issuers_person_may_not(db: Engine) -> None:
    clock = Clock()
    token = add_principal(db, Principal("ops", "operator"), admin=BOSS, ttl=TTL,
                          clock=clock)["token"]
    with pytest.raises(Forbidden) as err:  # the issuer's other principal
        approve_principal(db, "ops", admin=BOSS_TOO, clock=clock)
    assert "issuer and approver must differ, as persons" in err.value.message
    with pytest.raises(Forbidden):  # not a bureau-admin
        approve_principal(db, "ops", admin=Principal("carol", "operator"), clock=clock)
    assert authenticate(db, token, clock=clock) is None
    approve_principal(db, "ops", admin=DEPUTY, clock=clock)
    holder = authenticate(db, token, clock=clock)
    assert holder is not None and holder.name == "ops"
    [entry] = audit(db, clock, "principal.approve")
    assert entry["after"]["approved_by_person"] == "li.wei"  # type: ignore[index]
    assert entry["after"]["issued_by_person"] == "boss"  # type: ignore[index]
    with pytest.raises(ConflictError):  # no longer pending
        approve_principal(db, "ops", admin=DEPUTY, clock=clock)


def test_rotating_ones_own_token_needs_no_approval_anothers_does(db: Engine) -> None:
    clock = Clock()
    add_principal(db, BOSS_TOO, admin=DEPUTY, ttl=TTL, clock=clock)
    add_principal(db, Principal("ops", "operator"), admin=DEPUTY, ttl=TTL, clock=clock)
    approve_principal(db, "ops", admin=BOSS, clock=clock)
    own = rotate_token(db, "boss-2", admin=BOSS, ttl=TTL, clock=clock)  # boss's person
    assert own["pending"] is False
    theirs = rotate_token(db, "ops", admin=BOSS, ttl=TTL, clock=clock)
    assert theirs["pending"] is True
    assert authenticate(db, theirs["token"], clock=clock) is None
    add_principal(db, Principal("auditor", "bureau-auditor"), admin=BOSS, ttl=TTL, clock=clock)
    assert rotate_token(db, "auditor", admin=BOSS, ttl=TTL, clock=clock)["pending"] is False


def test_a_revocation_is_audited_once_and_the_token_stops(db: Engine) -> None:
    clock = Clock()
    token = add_principal(db, Principal("auditor", "bureau-auditor"), admin=BOSS, ttl=TTL,
                          clock=clock)["token"]
    revoke_principal(db, "auditor", admin=BOSS, clock=clock)
    revoke_principal(db, "auditor", admin=BOSS, clock=clock)
    assert len(audit(db, clock, "principal.revoke")) == 1
    assert authenticate(db, token, clock=clock) is None
    names = [p["name"] for p in list_principals(db, role=None, active_only=True,
                                                 clock=clock)["principals"]]
    assert "auditor" not in names
    assert "auditor" in [p["name"] for p in list_principals(
        db, role=None, active_only=False, clock=clock)["principals"]]


def test_the_audit_log_pages_with_a_cursor_only_when_a_page_is_full(db: Engine) -> None:
    clock = Clock()
    for i in range(3):
        add_principal(db, Principal(f"a{i}", "bureau-auditor"), admin=BOSS, ttl=TTL,
                      clock=clock)

    def page(limit: int, newest_first: bool, **cursor: int) -> dict[str, object]:
        return list_audit(db, departments=None, actor=None, action="principal.add",
                          target=None, since=None, until=None,
                          after_seq=cursor.get("after_seq"),
                          before_seq=cursor.get("before_seq"), limit=limit,
                          newest_first=newest_first, clock=clock)

    first = page(2, False)
    seqs = [e["seq"] for e in first["entries"]]  # type: ignore[attr-defined]
    assert first["next"] == {"after_seq": seqs[-1]}
    rest = page(2, False, after_seq=seqs[-1])
    assert len(rest["entries"]) == 1 and rest["next"] is None  # type: ignore[arg-type]
    newest = page(2, True)
    newest_seqs = [e["seq"] for e in newest["entries"]]  # type: ignore[attr-defined]
    assert newest_seqs == sorted(newest_seqs, reverse=True)
    assert newest["next"] == {"before_seq": newest_seqs[-1]}
