"""Disaster recovery: ``POST /dr/adopt`` adopts production servers no request made as a
system to protect (docs/dr.md, "Adopted systems"); ``POST /dr/protect`` starts one
protection cycle of every matching copy server in the background (audited ``dr.protect``),
``GET /dr/protect/{run}`` follows it: its progress lines and, once done, each copy's outcome
(docs/dr.md, "govcloud dr protect").

RBAC: ``dr.protect`` (operate): operators and the bureau everywhere, a city-operator its
city's departments; a department it may not see is answered as absent (404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from govcloud.api.deps import PlaneDep, get_catalogue, require
from govcloud.api.models import DrAdopted, DrProtectRun, answers
from govcloud.api.models.bodies import AdoptBody, ProtectBody
from govcloud.domain.legacy import check_path
from govcloud.domain.rbac import Action, Principal
from govcloud.errors import NotFound
from govcloud.services import access
from govcloud.services.dr_adopt import adopt_system
from govcloud.services.protection import CycleResult, ProtectRun

router = APIRouter(tags=["dr"])
Operator = Annotated[Principal, Depends(require(Action.DR_PROTECT, scoped=True))]


def _cycle(r: CycleResult) -> dict[str, Any]:
    c, p = r.copy, r.point
    return {"department": c.department, "system": c.system, "site": c.site,
            "kind": c.kind.value, "name": c.name, "server_id": c.server_id,
            "status": "busy" if p is None else p.status.value,
            "point_id": None if p is None else p.id,
            "taken_at": None if p is None else p.taken_at.isoformat(),
            "files": 0 if p is None else len(p.manifest),
            "size_bytes": 0 if p is None else p.size_bytes,
            "artifacts": [] if p is None else [f"{a.kind.value}:{a.site}:{a.id}"
                                               for a in p.artifacts],
            "error": r.skipped if p is None else p.error}


def run_json(run: ProtectRun, after: int = 0) -> dict[str, Any]:
    done = run.done  # read once: the lines and cycles below are complete when it is
    lines = list(run.lines)
    return {"id": run.id, "done": done, "copies": run.copies, "after": len(lines),
            "lines": lines[after:], "cycles": [_cycle(r) for r in run.results] if done else []}


@router.post("/dr/protect", status_code=202, **answers(DrProtectRun),
             summary="Start one protection cycle of every matching copy (dr.protect)")
def protect(plane: PlaneDep, principal: Operator, body: ProtectBody) -> Any:
    departments = access.scope_of(principal, get_catalogue(plane), Action.DR_PROTECT,
                                  department=body.department)
    paths = [check_path(p, "paths", "a data path").rstrip("/") or "/"
             for p in body.paths] if body.paths else None
    run = plane.protector.start(principal, departments=departments, system=body.system,
                                paths=paths)
    return run_json(run)


@router.get("/dr/protect/{run_id}", **answers(DrProtectRun),
            summary="An on-demand protection run: progress lines, then each copy's outcome")
def protect_run(plane: PlaneDep, principal: Operator, run_id: str,
                after: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Any:
    run = plane.protector.get_run(run_id[:64])
    if run.actor != principal.name and \
            access.visible_codes(principal, get_catalogue(plane), Action.DR_PROTECT) is not None:
        raise NotFound(f"no protect run {run_id[:40]!r}",
                       hint="a run is followed by whoever started it, or the bureau")
    return run_json(run, after)


@router.post("/dr/adopt", **answers(DrAdopted),
             summary="Adopt production servers from inventory as a system to protect "
                     "(dr.protect)")
def adopt(plane: PlaneDep, principal: Operator, body: AdoptBody) -> Any:
    dept = access.get_department(principal, get_catalogue(plane), body.department,
                                 Action.DR_PROTECT)
    done = adopt_system(plane.engine, principal, plane.settings.site_list(),
                        department=dept.code, department_level=dept.dr_level,
                        system=body.system, servers=body.servers, level=body.level,
                        now=plane.clock())
    a = done.system
    return {"department": a.department, "system": a.system, "level": a.dr_level,
            "site": done.site, "servers": list(a.members), "adopted_by": a.adopted_by,
            "adopted_at": a.adopted_at.isoformat(), "replaced": done.replaced}
