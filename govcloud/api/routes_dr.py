"""Disaster recovery: ``GET /dr/posture`` — every system's protection judged against its DR
level, with the totals per department, per city and over everything shown — and
``GET /dr/systems/{department}/{system}``, one system's copy servers, their recent recovery
points and its drills (docs/dr.md).

The posture is the plane's held one (``services.dr_posture_held``: judged again in the
background when the store changed or it is a minute old; ``at`` says when), narrowed to the
caller's departments; the whole province's answer (megabytes) is encoded through the model
once per held posture and sent as it is.

RBAC: open to every principal who may view departments somewhere, narrowed to the departments
it may see (``services.access.scope_of``): a department-viewer sees its own department, a
city-operator its city's, the bureau and operators all. A department or city it may not see is
answered as absent (404), as one that does not exist; so is a system of a department it may not
see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from govcloud.api.contract import Identifier, name_query
from govcloud.api.deps import get_catalogue, get_plane, require
from govcloud.api.models import DrPosture, DrSystemDetail, answers
from govcloud.domain.rbac import Action, Principal
from govcloud.domain.recovery import DrillRecord, PointRecord
from govcloud.services import access
from govcloud.services.dr_posture import Posture, SystemPosture, Totals
from govcloud.services.dr_system import CopyServer, find_system, system_detail

router = APIRouter(tags=["dr"])


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(value: Any) -> float | None:
    return value.total_seconds() if value is not None else None


def _system(row: SystemPosture) -> dict[str, Any]:
    plan, verdict, drill = row.plan, row.verdict, row.last_drill
    return {
        "department": row.department, "system": row.system, "city": row.city,
        "level": row.level, "verdict": verdict.status.value, "reasons": list(verdict.reasons),
        "target_rpo_s": _seconds(plan.rpo) if plan else None,
        "target_rto_s": _seconds(plan.rto) if plan else None,
        "drill_every_months": plan.drill_every_months if plan else None,
        "members": len(row.members),
        "copies": [{"site": c.site, "kind": c.kind.value, "state": c.state.value,
                    "recovery_point": _time(c.recovery_point), "rpo_s": _seconds(c.rpo),
                    "replication": c.replication.value}
                   for c in verdict.copies],
        "last_drill": None if drill is None else _drill(drill),
        "drill": {"state": verdict.drill.state.value, "due_at": _time(verdict.drill.due_at)},
    }


def _drill(d: DrillRecord) -> dict[str, Any]:
    return {"at": d.at.isoformat(), "site": d.site, "result": d.result.value,
            "rto_s": _seconds(d.rto)}


def _totals(t: Totals) -> dict[str, int]:
    return {"systems": t.systems, "compliant": t.compliant, "at_risk": t.at_risk,
            "non_compliant": t.non_compliant}


def posture_json(posture: Posture) -> dict[str, Any]:
    return {"at": posture.at.isoformat(), "systems": [_system(s) for s in posture.systems],
            "departments": {d: _totals(t) for d, t in posture.departments.items()},
            "cities": {c: _totals(t) for c, t in posture.cities.items()},
            "province": _totals(posture.province)}


def _encoded(posture: Posture) -> bytes:
    """The answer as FastAPI would send it through ``answers(DrPosture)``."""
    model = DrPosture.model_validate(posture_json(posture))
    return model.model_dump_json(exclude_unset=True).encode()


@router.get("/dr/posture", **answers(DrPosture),
            summary="DR posture: each system's verdict, copies, RPO and last drill; totals")
def posture(request: Request,
            principal: Annotated[Principal, Depends(require(Action.VIEW_DEPARTMENT,
                                                            scoped=True))],
            department: Annotated[str | None, name_query("only this department")] = None,
            city: Annotated[str | None, name_query("only the departments of this city")] = None
            ) -> Any:
    plane = get_plane(request)
    catalogue = get_catalogue(plane)
    departments = access.scope_of(principal, catalogue, Action.VIEW_DEPARTMENT,
                                  department=department, city=city)
    if departments is None:  # the whole province: its answer is encoded once per posture
        return Response(plane.dr_posture.encoded(_encoded), media_type="application/json")
    return posture_json(plane.dr_posture.posture(departments))


def _point(p: PointRecord) -> dict[str, Any]:
    return {"taken_at": p.taken_at.isoformat(), "kind": p.kind.value, "status": p.status.value,
            "size_bytes": p.size_bytes, "error": p.error}


def _server(s: CopyServer) -> dict[str, Any]:
    return {"site": s.site, "member": s.member, "expected_flavor": s.expected_flavor,
            "server_id": s.server_id, "status": s.status, "flavor": s.flavor,
            "state": s.state.value, "detail": s.detail, "points": [_point(p) for p in s.points]}


@router.get("/dr/systems/{department}/{system}", **answers(DrSystemDetail),
            summary="one system's DR detail: copy servers, recent recovery points, drills")
def system(request: Request, department: Identifier, system: Identifier,
           principal: Annotated[Principal, Depends(require(Action.VIEW_DEPARTMENT,
                                                           scoped=True))]) -> dict[str, Any]:
    plane = get_plane(request)
    scope = access.scope_of(principal, get_catalogue(plane), Action.VIEW_DEPARTMENT,
                            department=department)
    posture = plane.dr_posture.posture(scope)
    detail = system_detail(plane.engine, find_system(posture, department, system))
    return {"at": posture.at.isoformat(), "system": _system(detail.row),
            "servers": [_server(s) for s in detail.servers],
            "drills": [_drill(d) for d in detail.drills]}
