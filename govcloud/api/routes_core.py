"""``/health`` (no token needed) and ``/whoami``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from govcloud import __version__
from govcloud.api.deps import CurrentPrincipal
from govcloud.api.models import Liveness, WhoAmI, answers
from govcloud.domain.rbac import GLOBAL, Action, Principal, Target, can

router = APIRouter(tags=["core"])


@router.get("/health", **answers(Liveness),
            summary="liveness: the server answers (no token needed)")
def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/whoami", **answers(WhoAmI), summary="the principal holding the token")
def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
    return {"name": principal.name, "person": principal.person,
            "role": principal.role.value, "city": principal.city,
            "department": principal.department, "scope": principal.scope,
            "actions": _actions(principal)}


def _actions(principal: Principal) -> dict[str, list[str]]:
    """What the principal's role grants: ``global`` on the whole cloud, ``scope`` on its own
    city or department (the console shows or hides its views and keys by these)."""
    own = Target.of(principal.department or "-", principal.city)
    return {"global": [a.value for a in Action if can(principal, a, GLOBAL)],
            "scope": [a.value for a in Action if can(principal, a, own)]}
