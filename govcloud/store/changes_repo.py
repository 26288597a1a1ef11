"""Change requests and the change calendar: their SQL (tables in ``tables_changes``).

A change is one ``change_request`` row, the departments it affects (``change_department``),
its approvals (``change_approval``, one per person: the key is ``rbac.person_key``, so two
spellings of a name cannot approve twice) and the operations run under it (``change_link``).
State moves are conditional updates (``move``): two callers deciding on one change at once
cannot both succeed. Calendar versions are inserted as proposed and moved once to approved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from govcloud.domain.calendar import CalendarState
from govcloud.domain.changes import (
    Approval,
    Change,
    ChangeState,
    ChangeType,
    Link,
    NewChange,
    OperationKind,
)
from govcloud.domain.rbac import person_key
from govcloud.errors import ConflictError, NotFound
from govcloud.store.inventory import CHUNK, aware, table
from govcloud.store.tables_changes import (  # noqa: F401  (registers the tables)
    ChangeApprovalRow,
    ChangeCalendarRow,
    ChangeDepartmentRow,
    ChangeLinkRow,
    ChangeRow,
)

MAX_LIST = 500
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def no_change(change_id: int) -> NotFound:
    return NotFound(f"no change {change_id}", hint="list them: `govcloud change list`")


# --- changes ---------------------------------------------------------------------------------

def add_change(conn: Connection, new: NewChange, *, requester: str, person: str,
               state: ChangeState, approvals_needed: int, policy: str | None,
               in_freeze: bool, review_by: dt.datetime | None, at: dt.datetime) -> int:
    """Store a new change with its departments; its id. Times are stored in UTC (SQLite
    keeps a time's digits, not its offset)."""
    tbl = table("change_request")
    change_id = int(conn.execute(insert(tbl).values(
        kind=new.kind.value, type=new.type.value, title=new.title,
        sites_json=json.dumps(list(new.sites)), window_start=new.start.astimezone(dt.UTC),
        window_end=new.end.astimezone(dt.UTC),
        rollback_plan=new.rollback_plan, requester=requester, requester_person=person,
        state=state.value, approvals_needed=approvals_needed, policy=policy,
        in_freeze=in_freeze, review_by=review_by, created_at=at,
        approved_at=at if state is ChangeState.APPROVED else None)
        .returning(tbl.c.id)).scalar_one())
    conn.execute(insert(table("change_department")),
                 [{"change_id": change_id, "department": d}
                  for d in dict.fromkeys(new.departments)])
    return change_id


def _change(r: Any, departments: Sequence[str], approvals: Sequence[Approval],
            links: Sequence[Link]) -> Change:
    return Change(
        id=r.id, kind=OperationKind(r.kind), type=ChangeType(r.type), title=r.title,
        departments=tuple(departments), start=aware(r.window_start) or EPOCH,
        end=aware(r.window_end) or EPOCH, rollback_plan=r.rollback_plan,
        requester=r.requester, requester_person=r.requester_person,
        state=ChangeState(r.state), created_at=aware(r.created_at) or EPOCH,
        approvals_needed=r.approvals_needed, approvals=tuple(approvals),
        sites=tuple(json.loads(r.sites_json)), policy=r.policy, review_by=aware(r.review_by),
        in_freeze=bool(r.in_freeze), reason=r.reason, links=tuple(links))


def _load(conn: Connection, rows: Sequence[Any], *, links: bool) -> list[Change]:
    ids = [r.id for r in rows]
    departments: dict[int, list[str]] = {i: [] for i in ids}
    approvals: dict[int, list[Approval]] = {i: [] for i in ids}
    linked: dict[int, list[Link]] = {i: [] for i in ids}
    dep, app, lnk = table("change_department"), table("change_approval"), table("change_link")
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        for d in conn.execute(select(dep).where(dep.c.change_id.in_(chunk))
                              .order_by(dep.c.change_id, dep.c.department)):
            departments[d.change_id].append(d.department)
        for a in conn.execute(select(app).where(app.c.change_id.in_(chunk))
                              .order_by(app.c.change_id, app.c.at)):
            approvals[a.change_id].append(Approval(a.approver, a.person, a.role,
                                                   aware(a.at) or EPOCH))
        if links:
            for k in conn.execute(select(lnk).where(lnk.c.change_id.in_(chunk))
                                  .order_by(lnk.c.change_id, lnk.c.id)):
                linked[k.change_id].append(_link(k))
    return [_change(r, departments[r.id], approvals[r.id], linked[r.id]) for r in rows]


def _link(k: Any) -> Link:
    return Link(k.id, k.kind, k.ref, k.actor, aware(k.at) or EPOCH, k.state,
                aware(k.finished_at), k.detail)


def find_change(conn: Connection, change_id: int, *, lock: bool = False) -> Change | None:
    """The change with its departments, approvals and links, or None. ``lock``: hold its
    row until the transaction ends (PostgreSQL; SQLite's writer holds the file)."""
    tbl = table("change_request")
    query = select(tbl).where(tbl.c.id == change_id)
    row = conn.execute(query.with_for_update() if lock else query).first()
    return _load(conn, [row], links=True)[0] if row is not None else None


def get_change(conn: Connection, change_id: int, *, lock: bool = False) -> Change:
    found = find_change(conn, change_id, lock=lock)
    if found is None:
        raise no_change(change_id)
    return found


def list_changes(conn: Connection, *, departments: Collection[str] | None = None,
                 states: Collection[ChangeState] | None = None,
                 kinds: Collection[OperationKind] | None = None,
                 between: tuple[dt.datetime, dt.datetime] | None = None,
                 limit: int = 100) -> list[Change]:
    """Changes newest first: those affecting any of ``departments`` (None: all), in
    ``states``, of ``kinds``, whose window overlaps ``between``."""
    tbl, dep = table("change_request"), table("change_department")
    query = select(tbl).order_by(tbl.c.id.desc()).limit(max(1, min(limit, MAX_LIST)))
    if departments is not None:
        query = query.where(tbl.c.id.in_(select(dep.c.change_id)
                                         .where(dep.c.department.in_(sorted(departments)))))
    if states is not None:
        query = query.where(tbl.c.state.in_(sorted(s.value for s in states)))
    if kinds is not None:
        query = query.where(tbl.c.kind.in_(sorted(k.value for k in kinds)))
    if between is not None:
        query = query.where(and_(tbl.c.window_start < between[1],
                                 tbl.c.window_end > between[0]))
    return _load(conn, list(conn.execute(query)), links=False)


def move(conn: Connection, change_id: int, *, expect: ChangeState, state: ChangeState,
         **values: Any) -> None:
    """Move the change from ``expect`` to ``state`` (setting ``values`` too); a
    ConflictError when it was not in ``expect`` any more (someone else moved it)."""
    tbl = table("change_request")
    done = conn.execute(update(tbl).where(and_(tbl.c.id == change_id,
                                               tbl.c.state == expect.value))
                        .values(state=state.value, **values)).rowcount
    if not done:
        current = get_change(conn, change_id)
        raise ConflictError(f"change {change_id} is {current.state.value} now, not "
                            f"{expect.value}", hint="show it again and decide on what it is")


def set_in_freeze(conn: Connection, change_id: int) -> None:
    tbl = table("change_request")
    conn.execute(update(tbl).where(tbl.c.id == change_id).values(in_freeze=True))


def add_approval(conn: Connection, change_id: int, approval: Approval) -> None:
    """One more approval; the same person twice is a ConflictError (the caller's transaction
    is then rolled back with it)."""
    try:
        conn.execute(insert(table("change_approval")).values(
            change_id=change_id, person_key=person_key(approval.person)[:128],
            person=approval.person, approver=approval.by, role=approval.role,
            at=approval.at))
    except IntegrityError:
        raise ConflictError(f"{approval.person} already approved change {change_id}",
                            hint="a second approval is another person's") from None


def add_link(conn: Connection, change_id: int, *, kind: str, ref: str, actor: str,
             at: dt.datetime) -> int:
    tbl = table("change_link")
    return int(conn.execute(insert(tbl).values(
        change_id=change_id, kind=kind, ref=ref[:255], actor=actor, at=at, state="running")
        .returning(tbl.c.id)).scalar_one())


def finish_link(conn: Connection, link_id: int, *, ok: bool, at: dt.datetime,
                detail: str | None) -> None:
    tbl = table("change_link")
    conn.execute(update(tbl).where(and_(tbl.c.id == link_id,
                                        tbl.c.state.in_(("running", "waiting"))))
                 .values(state="done" if ok else "failed", finished_at=at,
                         detail=detail[-4000:] if detail else None))


def running_links(conn: Connection, change_id: int) -> int:
    """How many operations under the change have not ended (running, or waiting for its
    window to open again)."""
    tbl = table("change_link")
    return int(conn.execute(select(func.count()).select_from(tbl).where(
        and_(tbl.c.change_id == change_id,
             tbl.c.state.in_(("running", "waiting"))))).scalar_one())


# --- the links of operations that outlive a call: found again, held, resumed ---------------

OPEN_LINKS = ("running", "waiting")


@dataclass(frozen=True, slots=True)
class OpenLink:
    """An operation's link that has not ended: ``running``, or ``waiting`` for its change's
    window (a run stopped at a safe step, or one planned for a window not open yet)."""

    id: int
    change_id: int
    kind: str
    ref: str
    actor: str
    state: str


def _open(r: Any) -> OpenLink:
    return OpenLink(r.id, r.change_id, r.kind, r.ref, r.actor, r.state)


def find_open_link(conn: Connection, kind: str, ref: str) -> OpenLink | None:
    """The newest link of operation ``ref`` (of ``kind``) still running or waiting."""
    tbl = table("change_link")
    row = conn.execute(select(tbl).where(and_(
        tbl.c.kind == kind, tbl.c.ref == ref[:255], tbl.c.state.in_(OPEN_LINKS)))
        .order_by(tbl.c.id.desc()).limit(1)).first()
    return _open(row) if row is not None else None


def get_open_link(conn: Connection, link_id: int) -> OpenLink | None:
    tbl = table("change_link")
    row = conn.execute(select(tbl).where(and_(tbl.c.id == link_id,
                                              tbl.c.state.in_(OPEN_LINKS)))).first()
    return _open(row) if row is not None else None


def set_link_state(conn: Connection, link_id: int, state: str, *,
                   detail: str | None = None) -> bool:
    """Move an open link to ``running`` or ``waiting`` (with why, in ``detail``); False
    when it had ended already."""
    tbl = table("change_link")
    return bool(conn.execute(update(tbl).where(and_(tbl.c.id == link_id,
                                                    tbl.c.state.in_(OPEN_LINKS)))
                             .values(state=state, detail=detail[-4000:] if detail else None))
                .rowcount)


def set_link_ref(conn: Connection, link_id: int, ref: str) -> None:
    """Name the operation once it has its id (a drain is made after its gate)."""
    tbl = table("change_link")
    conn.execute(update(tbl).where(tbl.c.id == link_id).values(ref=ref[:255]))


def waiting_links(conn: Connection, limit: int = MAX_LIST) -> list[OpenLink]:
    """The links waiting for their change's window, oldest first."""
    tbl = table("change_link")
    return [_open(r) for r in conn.execute(
        select(tbl).where(tbl.c.state == "waiting").order_by(tbl.c.id).limit(limit))]


def running_in(conn: Connection, departments: Collection[str], *,
               other_than: int) -> list[tuple[OpenLink, list[str]]]:
    """The running links of changes other than ``other_than`` that affect any of
    ``departments``, each with the departments it shares (oldest first)."""
    tbl, dep = table("change_link"), table("change_department")
    wanted = sorted(set(departments))
    if not wanted:
        return []
    rows = list(conn.execute(
        select(tbl, dep.c.department).join(dep, dep.c.change_id == tbl.c.change_id)
        .where(and_(tbl.c.state == "running", tbl.c.change_id != other_than,
                    dep.c.department.in_(wanted)))
        .order_by(tbl.c.id, dep.c.department)))
    found: dict[int, tuple[OpenLink, list[str]]] = {}
    for r in rows:
        found.setdefault(r.id, (_open(r), []))[1].append(r.department)
    return list(found.values())


# --- the calendar ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StoredCalendar:
    version: str
    state: CalendarState
    document: str
    digest: str
    proposed_by: str
    proposed_by_person: str
    proposed_at: dt.datetime
    approved_by: str | None = None
    approved_by_person: str | None = None
    approved_at: dt.datetime | None = None


def document_digest(document: str) -> str:
    return "sha256:" + hashlib.sha256(document.encode("utf-8")).hexdigest()


def _calendar(r: Any) -> StoredCalendar:
    return StoredCalendar(r.version, CalendarState(r.state), r.document, r.digest,
                          r.proposed_by, r.proposed_by_person, aware(r.proposed_at) or EPOCH,
                          r.approved_by, r.approved_by_person, aware(r.approved_at))


def add_calendar(conn: Connection, version: str, document: str, *, by: str, person: str,
                 at: dt.datetime) -> StoredCalendar:
    """Store a calendar version as proposed; a version already stored is a ConflictError."""
    tbl = table("change_calendar")
    if conn.execute(select(tbl.c.state).where(tbl.c.version == version)).first():
        raise ConflictError(f"calendar version {version} already exists",
                            hint="a calendar is never edited: give the new one a new version")
    conn.execute(insert(tbl).values(
        version=version, document=document, digest=document_digest(document),
        state=CalendarState.PROPOSED.value, proposed_by=by, proposed_by_person=person,
        proposed_at=at))
    return get_calendar(conn, version)


def approve_calendar(conn: Connection, version: str, *, by: str, person: str,
                     at: dt.datetime) -> StoredCalendar:
    """Move a proposed version to approved, once; an approved one is a ConflictError."""
    tbl = table("change_calendar")
    done = conn.execute(update(tbl).where(and_(tbl.c.version == version,
                                               tbl.c.state == CalendarState.PROPOSED.value))
                        .values(state=CalendarState.APPROVED.value, approved_by=by,
                                approved_by_person=person, approved_at=at)).rowcount
    if not done:
        current = get_calendar(conn, version)
        raise ConflictError(f"calendar version {version} is already {current.state.value}",
                            hint="an approved calendar is never changed; propose a new version")
    return get_calendar(conn, version)


def get_calendar(conn: Connection, version: str) -> StoredCalendar:
    tbl = table("change_calendar")
    row = conn.execute(select(tbl).where(tbl.c.version == version)).first()
    if row is None:
        raise NotFound(f"no calendar version {version!r}",
                       hint="list them: `govcloud calendar show`")
    return _calendar(row)


def list_calendars(conn: Connection) -> list[StoredCalendar]:
    """Every stored version, newest proposal first."""
    tbl = table("change_calendar")
    return [_calendar(r) for r in conn.execute(
        select(tbl).order_by(tbl.c.proposed_at.desc(), tbl.c.version.desc()))]


def current_calendar(conn: Connection) -> StoredCalendar | None:
    """The version in force: the one approved last, or None before any is approved."""
    tbl = table("change_calendar")
    row = conn.execute(select(tbl).where(tbl.c.state == CalendarState.APPROVED.value)
                       .order_by(tbl.c.approved_at.desc(), tbl.c.version.desc())
                       .limit(1)).first()
    return _calendar(row) if row is not None else None
