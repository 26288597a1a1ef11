"""Price sheets (``/reports/prices``): list them, propose one (its YAML text), approve one.

RBAC: listing needs ``prices.view`` on the whole cloud (the bureau, its auditors, the
operator and CI); proposing ``prices.propose`` (the bureau or the operator); approving
``prices.approve`` (a bureau-admin who is another person than the proposer). Each change is
audited, target ``price-sheet:VERSION``. docs/reports.md describes the sheets.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import Engine

from govcloud.api.deps import Clock, CurrentPrincipal, get_clock, get_engine, get_plane
from govcloud.api.fields import Identifier
from govcloud.api.models import PriceSheetAnswer, PriceSheetList, answers
from govcloud.api.models.bodies import NewPriceSheet
from govcloud.services import prices
from govcloud.services.plane import Plane

router = APIRouter(tags=["reports"])

Engine_ = Annotated[Engine, Depends(get_engine)]
Clock_ = Annotated[Clock, Depends(get_clock)]
Plane_ = Annotated[Plane, Depends(get_plane)]


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
