"""Price sheets (``/reports/prices``): list them, propose one (its YAML text), approve one;
monthly statements (``/reports/statements/{month}``, ``/reports/usage/{month}``, each also
``/export`` as CSV, a spreadsheet or a PDF) and closing a month.

RBAC: listing needs ``prices.view`` on the whole cloud (the bureau, its auditors, the
operator and CI); proposing ``prices.propose`` (the bureau or the operator); approving
``prices.approve`` (a bureau-admin who is another person than the proposer). Each change is
audited, target ``price-sheet:VERSION``. Statements need ``statement.view`` on each department
shown (scoped: a department-viewer its own, a city-operator its city's); closing a month
``statement.close`` (bureau-admin); filling the metering's hours from the store
(``/reports/backfill``) ``metering.backfill`` (bureau-admin), audited per site. docs/reports.md
describes them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import Engine

from govcloud.api.contract import Identifier, name_query
from govcloud.api.deps import (
    Clock,
    CurrentPrincipal,
    get_clock,
    get_engine,
    plane_dependency,
)
from govcloud.api.models import (
    Backfilled,
    MonthClosed,
    PriceSheetAnswer,
    PriceSheetList,
    ReportFile,
    Scorecard,
    StatementReport,
    answers,
)
from govcloud.api.models.bodies import BackfillBody, NewPriceSheet
from govcloud.domain.metering import Month
from govcloud.domain.scorecard import Targets
from govcloud.services import metering, prices, scorecard, statements
from govcloud.services.plane import Plane

router = APIRouter(tags=["reports"])

Engine_ = Annotated[Engine, Depends(get_engine)]
Clock_ = Annotated[Clock, Depends(get_clock)]
Plane_ = Annotated[Plane, Depends(plane_dependency)]


def _sites(plane: Plane) -> list[str]:
    return [s.name for s in plane.sites]


@router.get("/reports/prices", **answers(PriceSheetList),
            summary="every price sheet: proposed, approved or effective")
def list_prices(principal: CurrentPrincipal, engine: Engine_,
                clock: Clock_) -> dict[str, Any]:
    return prices.list_sheets(engine, principal, clock=clock)


@router.post("/reports/prices", **answers(PriceSheetAnswer), status_code=201,
             summary="propose a price sheet (its YAML text); it takes effect once another "
                     "person of the bureau approves it")
def propose_prices(body: NewPriceSheet, principal: CurrentPrincipal, plane: Plane_,
                   clock: Clock_) -> dict[str, Any]:
    return prices.propose_sheet(plane.engine, principal, body.document, sites=_sites(plane),
                                clock=clock)


@router.post("/reports/prices/{version}/approve", **answers(PriceSheetAnswer),
             summary="approve a proposed price sheet (a bureau-admin who is another person "
                     "than its proposer); it is never changed afterwards")
def approve_prices(version: Identifier, principal: CurrentPrincipal, plane: Plane_,
                   clock: Clock_) -> dict[str, Any]:
    return prices.approve_sheet(plane.engine, principal, version, sites=_sites(plane),
                                clock=clock)


# --- monthly statements -------------------------------------------------------------------------

MonthPath = Annotated[str, Path(pattern=r"^[0-9]{4}-[0-9]{2}$", max_length=7,
                                description="the month, YYYY-MM (UTC)")]
Name_ = Annotated[str | None, name_query()]
Format_ = Annotated[Literal["csv", "xlsx", "pdf"],
                    Query(alias="format", description="csv, xlsx or pdf")]


def _report(plane: Plane, principal: CurrentPrincipal, month: str, department: str | None,
            city: str | None, *, priced: bool = True) -> dict[str, Any]:
    return statements.statements(plane.engine, principal, Month.parse(month),
                                 catalogue=plane.catalogue_cache.get(), sites=_sites(plane),
                                 clock=plane.clock, department=department, city=city,
                                 priced=priced)


@router.get("/reports/statements/{month}", **answers(StatementReport),
            summary="a month's statements the caller may see: usage, lines, DR surcharge, "
                    "totals per department, city and all shown; a closed month as frozen")
def statement(month: MonthPath, principal: CurrentPrincipal, plane: Plane_,
              department: Name_ = None, city: Name_ = None) -> dict[str, Any]:
    return _report(plane, principal, month, department, city)


@router.get("/reports/usage/{month}", **answers(StatementReport),
            summary="a month's usage (the statements' usage and gaps)")
def usage(month: MonthPath, principal: CurrentPrincipal, plane: Plane_,
          department: Name_ = None, city: Name_ = None) -> dict[str, Any]:
    return _report(plane, principal, month, department, city, priced=False)


@router.get("/reports/statements/{month}/export", **answers(ReportFile),
            summary="a month's statements as a CSV, spreadsheet or PDF file (base64)")
def statement_file(month: MonthPath, principal: CurrentPrincipal, plane: Plane_,
                   fmt: Format_, department: Name_ = None,
                   city: Name_ = None) -> dict[str, Any]:
    return statements.export(_report(plane, principal, month, department, city), fmt,
                             what="statement")


@router.get("/reports/usage/{month}/export", **answers(ReportFile),
            summary="a month's usage as a CSV, spreadsheet or PDF file (base64)")
def usage_file(month: MonthPath, principal: CurrentPrincipal, plane: Plane_,
               fmt: Format_, department: Name_ = None,
               city: Name_ = None) -> dict[str, Any]:
    return statements.export(_report(plane, principal, month, department, city,
                                     priced=False), fmt, what="usage")


@router.post("/reports/statements/{month}/close", **answers(MonthClosed),
             summary="close a month (bureau-admin): freeze its statements, seal them in the "
                     "audit log; again: check a rebuild is identical, refuse it if not")
def close(month: MonthPath, principal: CurrentPrincipal, plane: Plane_) -> dict[str, Any]:
    return statements.close_month(plane.engine, principal, Month.parse(month),
                                  catalogue=plane.catalogue_cache.get(), sites=_sites(plane),
                                  clock=plane.clock)


@router.post("/reports/backfill", **answers(Backfilled),
             summary="fill the metering's hours (at most 31 days, before the current hour) "
                     "that a site was read in but hold no sync reading; gaps stay gaps")
def backfill(body: BackfillBody, principal: CurrentPrincipal, plane: Plane_) -> dict[str, Any]:
    return metering.backfill(plane.engine, principal, body.from_, body.to, sites=plane.sites,
                             site=body.site, clock=plane.clock)


@router.get("/reports/scorecard/{month}", **answers(Scorecard),
            summary="the operator scorecard of a month: availability, request fulfilment, DR, "
                    "capacity, each with its target and met or missed")
def operator_scorecard(month: MonthPath, principal: CurrentPrincipal,
                       plane: Plane_) -> dict[str, Any]:
    s = plane.settings
    targets = Targets(Decimal(str(s.scorecard_availability_pct)),
                      Decimal(str(s.scorecard_fulfilment_hours)),
                      Decimal(str(s.scorecard_headroom_pct)),
                      Decimal(str(s.scorecard_days_to_full)))
    return scorecard.scorecard(plane.engine, principal, Month.parse(month), sites=plane.sites,
                               targets=targets, clock=plane.clock,
                               posture=plane.dr_posture.posture,
                               posture_at=plane.dr_posture.posture_at, cache=plane.snapshot)
