"""Principals and tokens in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from govcloud.domain.rbac import Principal, Role
from govcloud.errors import ConflictError, Forbidden, GovCloudError, InvalidInput, NotFound
from govcloud.store.audit import write_session
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade
from govcloud.store.principals import (
    TOKEN_PREFIX,
    PrincipalRepository,
    hash_token,
    new_token,
)
from tests.databases import T0, Clock


@pytest.fixture
def clock() -> Clock:
    """Stands where a test puts it (``clock.now = ...``)."""
    return Clock(step=timedelta(0))


def repo(session: Session, clock: Clock) -> PrincipalRepository:
    return PrincipalRepository(session=session, clock=clock)


def add(engine: Engine, clock: Clock, principal: Principal, **kwargs: object) -> str:
    with write_session(engine) as session:
        issued = repo(session, clock).add(principal, **kwargs)  # type: ignore[arg-type]
        session.commit()
    return issued.token


def authenticate(engine: Engine, clock: Clock, token: str) -> Principal | None:
    with Session(engine) as session:
        return repo(session, clock).authenticate(token)


def test_tokens_are_high_entropy_and_prefixed() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    for token in tokens:
        assert re.fullmatch(r"gct_[A-Za-z0-9_-]{43}", token)  # 32 bytes, URL-safe base64
    assert hash_token("gct_x") == hashlib.sha256(b"gct_x").hexdigest()


def test_only_the_hash_of_the_token_is_stored(engine: Engine, clock: Clock) -> None:
    with write_session(engine) as session:
        issued = repo(session, clock).add(Principal("li.wei", Role.OPERATOR))
        session.commit()
    assert issued.token.startswith(TOKEN_PREFIX)
    assert issued.token not in repr(issued)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM principal")).mappings().all()
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(issued.token.encode()).hexdigest()
    secret = issued.token.removeprefix(TOKEN_PREFIX)
    assert not any(secret in str(v) for v in rows[0].values())


def test_authenticate_returns_the_principal(engine: Engine, clock: Clock) -> None:
    gz = Principal("gz-ops", Role.CITY_OPERATOR, city="guangzhou")
    viewer = Principal("psd-viewer", Role.DEPARTMENT_VIEWER, department="gd-psd")
    gz_token, viewer_token = add(engine, clock, gz), add(engine, clock, viewer)
    assert authenticate(engine, clock, gz_token) == gz
    assert authenticate(engine, clock, viewer_token) == viewer
    for bad in ("", "gct_", gz_token + "x", gz_token[:-1], "Bearer " + gz_token,
                TOKEN_PREFIX + "a" * 5000, new_token()):
        assert authenticate(engine, clock, bad) is None


def test_tokens_expire(engine: Engine, clock: Clock) -> None:
    token = add(engine, clock, Principal("ci-pipeline", Role.CI), ttl=timedelta(hours=1))
    forever = add(engine, clock, Principal("robot", Role.CI), ttl=None)
    default = add(engine, clock, Principal("ops", Role.OPERATOR))
    clock.now = T0 + timedelta(minutes=59)
    assert authenticate(engine, clock, token) is not None
    clock.now = T0 + timedelta(hours=1)
    assert authenticate(engine, clock, token) is None
    clock.now = T0 + timedelta(days=89, hours=23)
    assert authenticate(engine, clock, default) is not None
    clock.now = T0 + timedelta(days=90)
    assert authenticate(engine, clock, default) is None
    clock.now = T0 + timedelta(days=3650)
    assert authenticate(engine, clock, forever) is not None
    with Session(engine) as session:
        statuses = {r.name: r.status(clock.now) for r in repo(session, clock).list_principals()}
    assert statuses == {"ci-pipeline": "expired", "ops": "expired", "robot": "active"}


def test_a_token_lifetime_must_be_positive(engine: Engine, clock: Clock) -> None:
    with write_session(engine) as session, pytest.raises(InvalidInput, match="positive"):
        repo(session, clock).add(Principal("x", Role.CI), ttl=timedelta(0))


def test_revoke(engine: Engine, clock: Clock) -> None:
    token = add(engine, clock, Principal("li.wei", Role.OPERATOR))
    clock.now = T0 + timedelta(minutes=5)
    with write_session(engine) as session:
        record = repo(session, clock).revoke("li.wei")
        session.commit()
    assert record.revoked_at == clock.now
    assert record.status(clock.now) == "revoked"
    assert authenticate(engine, clock, token) is None
    clock.now = T0 + timedelta(minutes=10)
    with write_session(engine) as session:
        again = repo(session, clock).revoke("li.wei")
        session.commit()
    assert again.revoked_at == T0 + timedelta(minutes=5)  # the first revocation stands
    with write_session(engine) as session, pytest.raises(NotFound, match="nobody"):
        repo(session, clock).revoke("nobody")


def test_rotate_replaces_the_token(engine: Engine, clock: Clock) -> None:
    old = add(engine, clock, Principal("li.wei", Role.OPERATOR))
    with write_session(engine) as session:
        repo(session, clock).revoke("li.wei")
        issued = repo(session, clock).rotate_token("li.wei", ttl=timedelta(days=1))
        session.commit()
    assert issued.token != old
    assert authenticate(engine, clock, old) is None
    assert authenticate(engine, clock, issued.token) == Principal("li.wei", Role.OPERATOR)
    assert issued.record.expires_at == T0 + timedelta(days=1)
    assert issued.record.revoked_at is None


def test_names_are_unique(engine: Engine, clock: Clock) -> None:
    add(engine, clock, Principal("li.wei", Role.OPERATOR))
    with write_session(engine) as session, pytest.raises(ConflictError, match="li.wei") as info:
        repo(session, clock).add(Principal("li.wei", Role.CI))
    assert info.value.hint


def test_list_and_get(engine: Engine, clock: Clock) -> None:
    add(engine, clock, Principal("zhang", Role.BUREAU_AUDITOR))
    add(engine, clock, Principal("gz-ops", Role.CITY_OPERATOR, city="guangzhou"))
    add(engine, clock, Principal("admin", Role.BUREAU_ADMIN))
    with write_session(engine) as session:
        repo(session, clock).revoke("zhang")
        session.commit()
    with Session(engine) as session:
        r = repo(session, clock)
        assert [p.name for p in r.list_principals()] == ["admin", "gz-ops", "zhang"]
        assert [p.name for p in r.list_principals(include_inactive=False)] == ["admin", "gz-ops"]
        assert [p.name for p in r.list_principals(role=Role.CITY_OPERATOR)] == ["gz-ops"]
        record = r.get_principal("gz-ops")
        assert record.principal.city == "guangzhou"
        assert record.created_at == T0 and record.expires_at == T0 + timedelta(days=90)
        assert record.to_dict(clock.now) == {
            "name": "gz-ops", "role": "city-operator", "city": "guangzhou", "department": None,
            "person": "gz-ops", "status": "active", "created_at": T0.isoformat(),
            "issued_by": None, "approved_by": None, "approved_at": T0.isoformat(),
            "expires_at": (T0 + timedelta(days=90)).isoformat(), "revoked_at": None}
        assert "token" not in str(record.summary())
        assert r.find_principal("nobody") is None
        with pytest.raises(NotFound):
            r.get_principal("nobody")


# --- bootstrap -------------------------------------------------------------------------------

def bootstrap(engine: Engine, clock: Clock, name: str = "admin") -> str:
    with write_session(engine) as session:
        issued = repo(session, clock).bootstrap_admin(name)
        session.commit()
    return issued.token


def test_bootstrap_creates_the_first_admin_only_once(engine: Engine, clock: Clock) -> None:
    token = bootstrap(engine, clock)
    assert authenticate(engine, clock, token) == Principal("admin", Role.BUREAU_ADMIN)
    with pytest.raises(ConflictError, match="already exists") as info:
        bootstrap(engine, clock, "second-admin")
    assert "principals add" in (info.value.hint or "")
    with Session(engine) as session:
        assert [p.name for p in repo(session, clock).list_principals()] == ["admin"]


def test_bootstrap_counts_only_active_admins(engine: Engine, clock: Clock) -> None:
    add(engine, clock, Principal("ops", Role.OPERATOR))  # not an admin: does not count
    bootstrap(engine, clock, "first")
    with write_session(engine) as session:
        repo(session, clock).revoke("first")
        session.commit()
    token = bootstrap(engine, clock, "recovered")  # the way back in, with database access
    assert authenticate(engine, clock, token) is not None
    add(engine, clock, Principal("short", Role.BUREAU_ADMIN), ttl=timedelta(hours=1))
    with pytest.raises(ConflictError):
        bootstrap(engine, clock, "third")


def test_concurrent_bootstraps_make_one_admin(engine: Engine, clock: Clock) -> None:
    n = 6
    start = threading.Barrier(n)
    outcomes: list[str] = []

    def work(i: int) -> None:
        start.wait()
        try:
            bootstrap(engine, clock, f"admin-{i}")
            outcomes.append("created")
        except GovCloudError as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ConflictError"] * (n - 1) + ["created"]
    with Session(engine) as session:
        assert len(repo(session, clock).list_principals(role=Role.BUREAU_ADMIN)) == 1


def test_bootstrap_outside_a_write_session_is_refused_on_sqlite(tmp_path: object,
                                                                clock: Clock) -> None:
    url = f"sqlite:///{tmp_path}/plain.db"
    upgrade(url)
    eng = make_engine(url)
    try:
        with Session(eng) as session, pytest.raises(RuntimeError, match="write_session"):
            repo(session, clock).bootstrap_admin()
    finally:
        eng.dispose()


# --- persons and approval (issue 17, item 2) -----------------------------------------------

ALICE = Principal("alice", Role.BUREAU_ADMIN, person="Alice Chen")
BOB = Principal("bob", Role.BUREAU_ADMIN, person="Bob Li")


def test_a_pending_token_works_only_once_another_person_approves(engine: Engine,
                                                                 clock: Clock) -> None:
    token = add(engine, clock, Principal("ops", Role.OPERATOR, person="Zhao"),
                issued_by=ALICE, pending=True)
    assert authenticate(engine, clock, token) is None
    with write_session(engine) as session:
        r = repo(session, clock)
        assert r.get_principal("ops").status(clock.now) == "pending"
        for same in (ALICE, Principal("alice-2", Role.BUREAU_ADMIN, person=" alice  CHEN")):
            with pytest.raises(Forbidden, match="issuer and approver must differ"):
                r.approve("ops", same)
        with pytest.raises(Forbidden, match="only a bureau-admin"):
            r.approve("ops", Principal("ops-2", Role.OPERATOR, person="Bob Li"))
        clock.now += timedelta(minutes=5)
        record = r.approve("ops", BOB)
        session.commit()
    assert record.approved_by == "bob" and record.approved_at == clock.now
    assert record.issued_by == "alice" and record.issued_by_person == "Alice Chen"
    assert authenticate(engine, clock, token) == Principal("ops", Role.OPERATOR, person="Zhao")
    with write_session(engine) as session, pytest.raises(ConflictError, match="not waiting"):
        repo(session, clock).approve("ops", BOB)


def test_a_rotation_can_leave_the_principal_pending(engine: Engine, clock: Clock) -> None:
    old = add(engine, clock, Principal("ci-x", Role.CI, person="Zhao"))
    with write_session(engine) as session:
        issued = repo(session, clock).rotate_token("ci-x", issued_by=ALICE, pending=True)
        session.commit()
    assert authenticate(engine, clock, old) is None
    assert authenticate(engine, clock, issued.token) is None
    with write_session(engine) as session:
        repo(session, clock).approve("ci-x", BOB)
        session.commit()
    assert authenticate(engine, clock, issued.token) is not None


def test_unattended_approval_only_while_no_other_person_could(engine: Engine,
                                                              clock: Clock) -> None:
    """The second bureau-admin's way in (direct database access), and nothing more."""
    admin = Principal("admin", Role.BUREAU_ADMIN)
    bootstrap(engine, clock)
    second = add(engine, clock, Principal("second", Role.BUREAU_ADMIN, person="Bob Li"),
                 issued_by=admin, pending=True)
    with write_session(engine) as session:
        repo(session, clock).approve_unattended("second")
        session.commit()
    assert authenticate(engine, clock, second) is not None
    add(engine, clock, Principal("third", Role.BUREAU_ADMIN, person="Carol"),
        issued_by=admin, pending=True)
    with write_session(engine) as session:
        with pytest.raises(ConflictError, match=r"can be approved by a bureau-admin \(Bob Li\)"):
            repo(session, clock).approve_unattended("third")
        assert repo(session, clock).get_principal("third").pending


def test_existing_principals_and_requests_get_a_person(database_url: str) -> None:
    """The 0009 migration: person = the principal's name, approved when created; a request's
    requester_person = its requester."""
    upgrade(database_url, "0008_flavors")
    eng = make_engine(database_url)
    try:
        with eng.begin() as conn:
            conn.execute(text(
                "INSERT INTO principal (name, role, token_hash, created_at) "
                "VALUES ('old.admin', 'bureau-admin', :h, :t)"), {"h": "0" * 64, "t": T0})
            conn.execute(text(
                "INSERT INTO provision_request (department, system, dr_level, state, "
                "requester, spec_json, created_at, updated_at) VALUES ('gd-psd', 's', 1, "
                "'submitted', 'old.ops', '{}', :t, :t)"), {"t": T0})
        upgrade(database_url, "0009_principal_person")
        with eng.connect() as conn:
            row = conn.execute(text("SELECT person, approved_at FROM principal")).one()
            person = conn.execute(text("SELECT requester_person FROM provision_request")
                                  ).scalar_one()
        assert row[0] == "old.admin" and row[1] is not None
        assert person == "old.ops"
    finally:
        eng.dispose()
