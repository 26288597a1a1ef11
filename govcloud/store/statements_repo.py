"""Closed months: their seal (``month_close``) and every department's frozen statement
(``closed_statement``), written together in the caller's one transaction and never updated;
and what the operator scorecard reads of the month (requests' times, drills held)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select
from sqlalchemy.exc import IntegrityError

from govcloud.domain.metering import Month
from govcloud.domain.provisioning import RequestState
from govcloud.domain.scorecard import RequestTimes
from govcloud.domain.statements import canonical, statement_digest
from govcloud.errors import ConflictError, PermanentError
from govcloud.store.inventory import CHUNK, aware, table
from govcloud.store.tables_metering import (  # noqa: F401  (registers the tables)
    ClosedStatementRow,
    MonthCloseRow,
)


@dataclass(frozen=True, slots=True)
class ClosedMonth:
    month: str
    closed_at: dt.datetime
    closed_by: str
    closed_by_person: str
    digest: str
    departments: int
    total: str

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month, "closed_at": self.closed_at.isoformat(),
                "closed_by": self.closed_by, "closed_by_person": self.closed_by_person,
                "digest": self.digest, "departments": self.departments, "total": self.total}


def closed_month(conn: Connection, month: Month) -> ClosedMonth | None:
    tbl = table("month_close")
    r = conn.execute(select(tbl).where(tbl.c.month == str(month))).first()
    if r is None:
        return None
    at = aware(r.closed_at)
    assert at is not None  # the column is NOT NULL
    return ClosedMonth(r.month, at, r.closed_by, r.closed_by_person, r.digest,
                       r.departments, r.total)


def frozen_statements(conn: Connection, month: Month,
                      departments: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
    """The closed month's statements (of ``departments`` when given), each checked against
    the digest stored with it."""
    tbl = table("closed_statement")
    query = select(tbl.c.department, tbl.c.document, tbl.c.digest).where(
        tbl.c.month == str(month))
    if departments is not None:
        query = query.where(tbl.c.department.in_(sorted(departments)))
    out: dict[str, dict[str, Any]] = {}
    for r in conn.execute(query.order_by(tbl.c.department)):
        doc = json.loads(r.document)
        if statement_digest(doc) != r.digest:
            raise PermanentError(f"the frozen statement of {r.department or '-'} for {month} "
                                 "does not match its digest",
                                 hint="the store was changed outside govcloud: check the "
                                      "audit log (govcloud audit verify)")
        out[r.department] = doc
    return out


def close(conn: Connection, month: Month, statements: Mapping[str, Mapping[str, Any]], *,
          digest: str, total: str, by: str, person: str, at: dt.datetime) -> ClosedMonth:
    """Store the month's seal and its statements (the caller commits, with the audit entry);
    a month closed already is a primary key conflict, which rolls everything back."""
    values = [{"month": str(month), "department": code,
               "document": canonical(doc).decode("utf-8"), "digest": statement_digest(doc)}
              for code, doc in sorted(statements.items())]
    sealed = ClosedMonth(str(month), at, by, person, digest, len(values), total)
    try:
        conn.execute(insert(table("month_close")).values(
            month=sealed.month, closed_at=at, closed_by=by, closed_by_person=person,
            digest=digest, departments=sealed.departments, total=total))
        for i in range(0, len(values), CHUNK):
            conn.execute(insert(table("closed_statement")), values[i:i + CHUNK])
    except IntegrityError:  # another close of the month committed first
        raise ConflictError(f"{month} was closed meanwhile by another request",
                            hint="read it: govcloud report statement --month "
                                 f"{month}") from None
    return sealed


_FINAL = [s.value for s in RequestState if s.final]


def request_times(conn: Connection, month: Month) -> list[RequestTimes]:
    """Every request that was open at some moment of ``month``: when it was submitted, and
    when it was done (its last update, for a request in state ``done``)."""
    req = table("provision_request")
    rows = conn.execute(select(req.c.state, req.c.created_at, req.c.updated_at).where(and_(
        req.c.created_at < month.end,
        or_(req.c.state.not_in(_FINAL), req.c.updated_at >= month.start))))
    out = []
    for state, created, updated in rows:
        final = state in _FINAL
        out.append(RequestTimes(aware(created) or month.start,
                                aware(updated) if state == RequestState.DONE.value else None,
                                final))
    return out


def drills(conn: Connection, month: Month) -> list[str]:
    """The result of every drill held in ``month`` (``passed``, ``failed``)."""
    tbl = table("dr_drill")
    return [r[0] for r in conn.execute(select(tbl.c.result).where(and_(
        tbl.c.at >= month.start, tbl.c.at < month.end)))]
