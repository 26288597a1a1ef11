"""Monthly statements and closing a month (issue 20).

A month's statements are built from the stored hourly rollups, the hours each site was read
in (gaps) and the approved price sheets, one per department (the catalogue's, and any
department the rollups name), and rolled up per city and for the province
(``govcloud.domain.statements``). Who sees what: ``statement.view`` on each department — a
department-viewer its own, a city-operator its city's, the bureau, its auditors and the
operator every one (and the usage of projects no department owns).

Closing a month (``statement.close``, bureau-admin) freezes every department's statement in
one transaction with its audit entry (``statements.close``, the month's seal): all of it is
stored, or nothing is. A closed month is served as frozen. Closing it again rebuilds it and
compares: identical, it says so; different, the rebuild is refused (``MonthClosed``, naming
each department that would change, and audited as ``statements.rebuild-refused``), never
written. A backfill of a closed month is refused too (``services.metering``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from typing import Any

from sqlalchemy import Connection, Engine

from govcloud.domain.catalogue import Department
from govcloud.domain.metering import UNASSIGNED, Month, UsageRow, gaps
from govcloud.domain.prices import check_sheets
from govcloud.domain.rating import StatementLine, rate_month
from govcloud.domain.rbac import GLOBAL, Action, Principal, Target, can, require
from govcloud.domain.statements import (
    NO_DEPARTMENT,
    DepartmentInfo,
    MonthClosed,
    department_statement,
    differences,
    month_digest,
    rollup,
    statement_digest,
)
from govcloud.errors import InvalidInput, NotFound
from govcloud.services.inventory import rbac_city
from govcloud.services.prices import approved_sheets
from govcloud.store import metering_repo
from govcloud.store import statements_repo as repo
from govcloud.store.audit import AuditLog, append_committed, write_session

Clock = Callable[[], dt.datetime]
FORMATS = ("csv", "xlsx", "pdf")
_MEDIA = {"csv": "text/csv; charset=utf-8",
          "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
          "pdf": "application/pdf"}


def department_infos(catalogue: Iterable[Department] | None) -> dict[str, DepartmentInfo]:
    if catalogue is None:
        return {}
    return {d.code: DepartmentInfo(d.code, d.description, rbac_city(d), d.dr_level)
            for d in catalogue}


def _info(infos: dict[str, DepartmentInfo], code: str) -> DepartmentInfo:
    known = infos.get(code)
    if known is not None:
        return known
    return DepartmentInfo(code, NO_DEPARTMENT if code == UNASSIGNED else code, None, 1)


def build_month(conn: Connection, month: Month, infos: dict[str, DepartmentInfo], *,
                sites: Collection[str], clock: Clock,
                priced: bool = True) -> dict[str, dict[str, Any]]:
    """Every department's statement for ``month`` from what the store holds now (without
    ``priced``, usage and gaps only: no sheet need cover the month)."""
    rows = metering_repo.usage_days(conn, month)  # rated per day: the same lines as hourly
    hours = metering_repo.site_hours(conn, month.start, month.end)
    sheets = check_sheets(approved_sheets(conn)) if priced else ()
    month_gaps = gaps(month, sites, hours, until=clock())
    rating = rate_month(month, rows if priced else (), sheets,
                        {c: i.dr_level for c, i in infos.items()})
    currency = next((s.currency for s in sheets if s.version in rating.sheets), "")
    own_rows: dict[str, list[UsageRow]] = defaultdict(list)
    own_lines: dict[str, list[StatementLine]] = defaultdict(list)
    for r in rows:
        own_rows[r.department].append(r)
    for line in rating.lines:
        own_lines[line.department].append(line)
    return {code: department_statement(month, _info(infos, code), own_rows[code],
                                       own_lines[code], month_gaps, currency=currency)
            for code in sorted(set(infos) | set(own_rows))}


def _visible(principal: Principal, docs: Iterable[dict[str, Any]], *,
             department: str | None, city: str | None) -> list[dict[str, Any]]:
    if department is not None:
        docs = [d for d in docs if d["department"] == department]
    if city is not None:
        docs = [d for d in docs if d["city"] == city]
    everything = bool(can(principal, Action.STATEMENT_VIEW, GLOBAL))
    return [d for d in docs if everything or (d["department"] != UNASSIGNED and can(
        principal, Action.STATEMENT_VIEW, Target.of(d["department"], d["city"])))]


def statements(engine: Engine, principal: Principal, month: Month, *,
               catalogue: Iterable[Department] | None, sites: Collection[str], clock: Clock,
               department: str | None = None, city: str | None = None,
               priced: bool = True) -> dict[str, Any]:
    """The month's statements the principal may see (of ``department`` or ``city`` when
    given), with their rollups; a closed month's as frozen. Without ``priced`` (the usage
    report) an open month is not rated, so it needs no price sheet."""
    infos = department_infos(catalogue)
    if department is not None:
        known = infos.get(department)
        require(principal, Action.STATEMENT_VIEW,
                Target.of(department, known.city if known else None))
    elif city is not None:
        require(principal, Action.STATEMENT_VIEW, Target(city=city))
    else:
        require(principal, Action.STATEMENT_VIEW, Target.of(principal.department, None)
                if principal.department else Target(city=principal.city)
                if principal.city else GLOBAL)
    with engine.connect() as conn:
        closed = repo.closed_month(conn, month)
        docs = (repo.frozen_statements(conn, month,
                                       None if department is None else [department])
                if closed is not None else
                build_month(conn, month, infos, sites=sites, clock=clock, priced=priced))
    shown = _visible(principal, docs.values(), department=department, city=city)
    if department is not None and not shown:
        raise NotFound(f"no statement of department {department} for {month}",
                       hint="check the code: govcloud departments")
    return {"month": str(month), "closed": closed.as_dict() if closed else None,
            "statements": shown, **rollup(shown),
            "gaps": shown[0]["gaps"] if shown else []}


def export(report: dict[str, Any], fmt: str, *, what: str) -> dict[str, Any]:
    """The report as a file: ``fmt`` csv, xlsx or pdf; ``what`` usage or statement."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt[:20]!r}", hint="formats: " + ", ".join(FORMATS))
    # the renderers (openpyxl, reportlab) load with the first export, not with the server
    from govcloud.reports import statements as render

    content = {"csv": render.to_csv, "xlsx": render.to_xlsx,
               "pdf": render.to_pdf}[fmt](report, what=what)
    scope = "-".join(x for x in (report["month"], what) if x)
    return {"filename": f"govcloud-{scope}.{fmt}", "media_type": _MEDIA[fmt],
            "size": len(content), "digest": "sha256:" + hashlib.sha256(content).hexdigest(),
            "content_base64": base64.b64encode(content).decode("ascii")}


def close_month(engine: Engine, principal: Principal, month: Month, *,
                catalogue: Iterable[Department] | None, sites: Collection[str],
                clock: Clock) -> dict[str, Any]:
    """Freeze ``month``'s statements (bureau-admin, once the month is over); closing a
    closed month again checks that a rebuild gives the same statements."""
    require(principal, Action.STATEMENT_CLOSE, GLOBAL)
    if clock() < month.end:
        raise InvalidInput(f"{month} is not over yet", hint="close a month once it has ended")
    infos = department_infos(catalogue)
    with write_session(engine) as session:
        conn = session.connection()
        docs = build_month(conn, month, infos, sites=sites, clock=clock)
        closed = repo.closed_month(conn, month)
        if closed is not None:
            diff = differences(repo.frozen_statements(conn, month), docs)
            session.rollback()
            if diff:
                _refused(engine, principal, month, diff, clock)
            return {"closed": closed.as_dict(), "already_closed": True, "differences": []}
        digests = {code: statement_digest(doc) for code, doc in docs.items()}
        seal = month_digest(digests)
        total = rollup(list(docs.values()))["province"]["total"]
        sealed = repo.close(conn, month, docs, digest=seal, total=total, by=principal.name,
                            person=principal.person, at=clock())
        AuditLog(session=session, clock=clock).append(
            actor=principal.name, action="statements.close", target=f"month:{month}",
            after={**sealed.as_dict(), "statements": digests})
        session.commit()
    return {"closed": sealed.as_dict(), "already_closed": False, "differences": []}


def _refused(engine: Engine, principal: Principal, month: Month, diff: list[str],
             clock: Clock) -> None:
    append_committed(engine, actor=principal.name, action="statements.rebuild-refused",
                     target=f"month:{month}", after={"differences": diff[:100]}, clock=clock)
    shown = "; ".join(diff[:10]) + (f"; and {len(diff) - 10} more" if len(diff) > 10 else "")
    raise MonthClosed(f"{month} is closed and a rebuild would change {len(diff)} "
                      f"statement(s): {shown}",
                      hint="a closed month is never rewritten; the frozen statements stand "
                           "(the refusal is in the audit log, statements.rebuild-refused)")


def is_closed(engine: Engine, month: Month) -> bool:
    with engine.connect() as conn:
        return repo.closed_month(conn, month) is not None
