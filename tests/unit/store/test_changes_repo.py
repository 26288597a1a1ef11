"""Changes and calendar versions in a real database (a fresh SQLite file, and a PostgreSQL
schema when GOVCLOUD_TEST_DATABASE_URL is set): a change comes back as stored (times in UTC
whatever offset they were given in); state moves are conditional, so a second decision on a
moved change is a conflict; one person approves once; links record what ran; a calendar
version moves once from proposed to approved and the one approved last is in force."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from govcloud.domain.calendar import CalendarState
from govcloud.domain.changes import (
    Approval,
    ChangeState,
    ChangeType,
    NewChange,
    OperationKind,
)
from govcloud.errors import ConflictError, NotFound
from govcloud.store import changes_repo as repo
from govcloud.store.engine import write_begin

CST = dt.timezone(dt.timedelta(hours=8))
T = dt.datetime(2027, 1, 5, 1, 0, tzinfo=dt.UTC)
START = dt.datetime(2027, 1, 9, 1, 0, tzinfo=CST)


def new(departments: tuple[str, ...] = ("gd-tax", "gd-edu"), **over: object) -> NewChange:
    fields: dict[str, object] = {
        "kind": OperationKind.TENANCY_APPLY, "type": ChangeType.NORMAL,
        "title": "raise 教育厅 quotas", "departments": departments, "start": START,
        "end": START + dt.timedelta(hours=2), "rollback_plan": "revert\nthe file",
        "sites": ("PROD",), **over}
    return NewChange(**fields)  # type: ignore[arg-type]


def add(db: Engine, change: NewChange | None = None, *,
        state: ChangeState = ChangeState.SUBMITTED) -> int:
    with write_begin(db) as conn:
        return repo.add_change(conn, change or new(), requester="li.wei", person="Li Wei",
                               state=state, approvals_needed=2, policy=None, in_freeze=False,
                               review_by=None, at=T)


def test_a_change_comes_back_as_stored_in_utc(db: Engine) -> None:
    cid = add(db)
    with db.connect() as conn:
        change = repo.get_change(conn, cid)
    assert change.start == START and change.start.utcoffset() == dt.timedelta(0)
    assert change.start.hour == 17  # Friday 17:00 UTC is Saturday 01:00 in Shanghai
    assert (change.kind, change.type, change.state) == (
        OperationKind.TENANCY_APPLY, ChangeType.NORMAL, ChangeState.SUBMITTED)
    assert change.departments == ("gd-edu", "gd-tax") and change.sites == ("PROD",)
    assert change.title == "raise 教育厅 quotas" and change.rollback_plan == "revert\nthe file"
    assert (change.requester, change.requester_person, change.created_at) == (
        "li.wei", "Li Wei", T)
    with db.connect() as conn, pytest.raises(NotFound, match="no change 999"):
        repo.get_change(conn, 999)


def test_lists_filter_by_department_state_kind_and_window(db: Engine) -> None:
    tax = add(db, new(("gd-tax",)))
    edu = add(db, new(("gd-edu",), kind=OperationKind.DR_DRILL))
    later = add(db, new(("gd-edu",), start=START + dt.timedelta(days=30),
                        end=START + dt.timedelta(days=30, hours=1)))
    with write_begin(db) as conn:
        repo.move(conn, tax, expect=ChangeState.SUBMITTED, state=ChangeState.APPROVED)
    with db.connect() as conn:
        def ids(**kw: object) -> list[int]:
            return [c.id for c in repo.list_changes(conn, **kw)]  # type: ignore[arg-type]

        assert ids() == [later, edu, tax]  # newest first
        assert ids(departments=["gd-edu"]) == [later, edu]
        assert ids(departments=[]) == []
        assert ids(states=[ChangeState.APPROVED]) == [tax]
        assert ids(kinds=[OperationKind.DR_DRILL]) == [edu]
        week = (START - dt.timedelta(days=1), START + dt.timedelta(days=6))
        assert ids(between=week) == [edu, tax]
        assert ids(limit=1) == [later]


def test_a_state_moves_once_and_a_second_mover_is_told(db: Engine) -> None:
    cid = add(db)
    with write_begin(db) as conn:
        repo.move(conn, cid, expect=ChangeState.SUBMITTED, state=ChangeState.CANCELLED,
                  decided_by="li.wei", reason="moved", finished_at=T)
    with write_begin(db) as conn, pytest.raises(ConflictError,
                                                match=f"change {cid} is cancelled now"):
        repo.move(conn, cid, expect=ChangeState.SUBMITTED, state=ChangeState.APPROVED)
    with db.connect() as conn:
        change = repo.get_change(conn, cid)
    assert (change.state, change.reason) == (ChangeState.CANCELLED, "moved")


def test_one_person_approves_once_however_the_name_is_written(db: Engine) -> None:
    cid = add(db)
    with write_begin(db) as conn:
        repo.add_approval(conn, cid, Approval("admin", "Chen Jing", "bureau-admin", T))
    with write_begin(db) as conn, pytest.raises(ConflictError, match="already approved"):
        repo.add_approval(conn, cid, Approval("admin-2", "chen  JING", "bureau-admin", T))
    with write_begin(db) as conn:
        repo.add_approval(conn, cid, Approval("wang", "Wang Fang", "bureau-admin",
                                              T + dt.timedelta(minutes=1)))
    with db.connect() as conn:
        change = repo.get_change(conn, cid)
    assert [(a.by, a.person) for a in change.approvals] == [("admin", "Chen Jing"),
                                                            ("wang", "Wang Fang")]
    assert change.approved


def test_links_record_what_ran_under_a_change(db: Engine) -> None:
    cid = add(db, state=ChangeState.APPROVED)
    with write_begin(db) as conn:
        first = repo.add_link(conn, cid, kind="tenancy-apply", ref="tenancy-apply gd-tax",
                              actor="admin", at=T)
        second = repo.add_link(conn, cid, kind="tenancy-apply", ref="x" * 300, actor="admin",
                               at=T)
        assert repo.running_links(conn, cid) == 2
        repo.finish_link(conn, first, ok=True, at=T, detail="applied: PROD: 1 quota set")
        repo.finish_link(conn, second, ok=False, at=T, detail="boom" * 2000)
        repo.finish_link(conn, first, ok=False, at=T, detail="late")  # only once
        assert repo.running_links(conn, cid) == 0
    with db.connect() as conn:
        links = repo.get_change(conn, cid).links
        listed = repo.list_changes(conn)[0]
    assert [(k.id, k.state) for k in links] == [(first, "done"), (second, "failed")]
    assert links[0].detail == "applied: PROD: 1 quota set" and len(links[1].ref) == 255
    assert len(links[1].detail or "") == 4000
    assert listed.links == ()  # lists leave the links out


def test_a_calendar_version_is_approved_once_and_the_last_approved_is_in_force(
        db: Engine) -> None:
    with write_begin(db) as conn:
        assert repo.current_calendar(conn) is None
        repo.add_calendar(conn, "2027.1", "version: '2027.1'\n", by="ops", person="Zhao Lei",
                          at=T)
        repo.add_calendar(conn, "2027.2", "version: '2027.2'\n", by="ops", person="Zhao Lei",
                          at=T + dt.timedelta(hours=1))
    with write_begin(db) as conn, pytest.raises(ConflictError, match="already exists"):
        repo.add_calendar(conn, "2027.1", "other", by="ops", person="Zhao Lei", at=T)
    with write_begin(db) as conn:
        assert repo.current_calendar(conn) is None  # proposed is not in force
        repo.approve_calendar(conn, "2027.2", by="admin", person="Chen Jing",
                              at=T + dt.timedelta(hours=2))
        approved = repo.approve_calendar(conn, "2027.1", by="admin", person="Chen Jing",
                                         at=T + dt.timedelta(hours=3))
    assert (approved.state, approved.approved_by_person) == (CalendarState.APPROVED,
                                                             "Chen Jing")
    assert approved.digest == repo.document_digest("version: '2027.1'\n")
    with write_begin(db) as conn, pytest.raises(ConflictError, match="already approved"):
        repo.approve_calendar(conn, "2027.1", by="admin", person="Chen Jing", at=T)
    with db.connect() as conn:
        in_force = repo.current_calendar(conn)
        assert in_force is not None and in_force.version == "2027.1"  # approved last
        assert [c.version for c in repo.list_calendars(conn)] == ["2027.2", "2027.1"]
        with pytest.raises(NotFound, match="no calendar version 'x'"):
            repo.get_calendar(conn, "x")
