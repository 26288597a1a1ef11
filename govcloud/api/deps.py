"""FastAPI dependencies: the engine, settings, clouds, clock and the calling principal.

Everything the routes need comes from the app's plane (``govcloud.services.plane.Plane``,
stored once by ``govcloud.api.app.make_app``), never from module globals, so that tests and
the demo can build as many apps as they like.

* ``get_plane`` (``PlaneDep``) — the plane: its services (syncer, prober, metrics,
  provisioning context, snapshot cache) for the routes that use them;
* ``get_engine``, ``get_settings``, ``get_clock``, ``get_clouds`` — parts of the plane;
* ``current_principal`` — the principal holding the ``Authorization: Bearer <token>`` token
  (401 with a hint when it is missing, unknown, expired or revoked);
* ``require(action)`` — a dependency that also checks the principal's role for ``action`` on
  the whole cloud (``can(principal, action, GLOBAL)``). Deciding on one department, or on an
  object the caller named, is the service's: it takes the principal and answers an object of a
  department the caller may not view as absent (404), never 403 (``services.access``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from govcloud.domain.catalogue import Catalogue
from govcloud.domain.rbac import GLOBAL, Action, Principal, Target, can
from govcloud.errors import Forbidden, GovCloudError
from govcloud.services.catalogue import load_catalogue
from govcloud.services.plane import Clock as Clock
from govcloud.services.plane import Clouds as Clouds
from govcloud.services.plane import Plane
from govcloud.services.principals import authenticate
from govcloud.settings import Settings


class Unauthenticated(Forbidden):
    """No token, or one that is unknown, expired or revoked (HTTP 401)."""

    http_status = 401


_TOKEN_HINT = ("pass a valid token: --token, GOVCLOUD_TOKEN or a context "
               "(`govcloud context add`); ask a bureau-admin for a new one if yours "
               "expired or was revoked")


def get_plane(request: Request) -> Plane:
    """The plane the app was made with (``make_app`` stores it once)."""
    plane: Plane = request.app.state.plane
    return plane


# The dependencies that only look something up are ``async def``: FastAPI runs a plain ``def``
# dependency in its thread pool, a hand-off to a worker thread and back for each (seven of a
# ``GET /servers`` before; under a sync that loads the cores every hand-off waits for a
# thread to be scheduled). Those that read the database (``current_principal``) and the
# routes stay ``def``, in the pool, off the event loop.

async def plane_dependency(request: Request) -> Plane:
    """``get_plane``, as a dependency that runs on the event loop."""
    return get_plane(request)


PlaneDep = Annotated[Plane, Depends(plane_dependency)]


async def get_engine(plane: PlaneDep) -> Engine:
    return plane.engine


async def get_settings(plane: PlaneDep) -> Settings:
    return plane.settings


async def get_clock(plane: PlaneDep) -> Clock:
    return plane.clock


async def get_clouds(plane: PlaneDep) -> Clouds:
    return plane.clouds


# Declares the bearer scheme in the OpenAPI document (``security`` of every route that needs a
# token); ``bearer_token`` reads the header itself, to answer 401 with its own message and hint.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="gct_...",
                    description="an API token: `Authorization: Bearer gct_...` (docs/api.md)")


async def bearer_token(request: Request,
                 _declared: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
                 ) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated("no API token given", hint=_TOKEN_HINT)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'",
                              hint=_TOKEN_HINT)
    return token.strip()


def current_principal(request: Request, token: Annotated[str, Depends(bearer_token)],
                      engine: Annotated[Engine, Depends(get_engine)],
                      clock: Annotated[Clock, Depends(get_clock)]) -> Principal:
    """The principal holding the request's bearer token, or 401."""
    principal = authenticate(engine, token, clock=clock)
    if principal is None:
        raise Unauthenticated("the API token is unknown, expired or revoked", hint=_TOKEN_HINT)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def check(principal: Principal, action: Action, target: Target = GLOBAL) -> None:
    """``can``, raising Forbidden (403, the reason as the message) when the answer is no."""
    decision = can(principal, action, target)
    if not decision:
        raise Forbidden(decision.reason,
                        hint="ask a bureau-admin for a principal with the right role or scope")


def may(principal: Principal, action: Action, target: Target = GLOBAL) -> bool:
    return bool(can(principal, action, target))


def require(action: Action, *, scoped: bool = False
            ) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency: the current principal, provided its role grants ``action``.

    ``scoped=False`` checks ``action`` on the whole cloud (principals, sync of every site).
    ``scoped=True`` only checks the role grants ``action`` somewhere (a city-operator or a
    department-viewer may reach part of the cloud); the service the route calls then filters
    or checks each department (``govcloud.services.access``).
    """

    async def dependency(principal: CurrentPrincipal) -> Principal:  # no I/O: on the loop
        if scoped:
            own = Target.of(principal.department or "-", principal.city)
            check(principal, action, own if not may(principal, action) else GLOBAL)
        else:
            check(principal, action)
        return principal

    dependency.__name__ = f"require_{action.name.lower()}"
    return dependency


def error_body(exc: GovCloudError) -> dict[str, Any]:
    """The JSON every error answer carries."""
    return {"error": {"message": exc.message, "hint": exc.hint, "type": type(exc).__name__}}


# --- the department catalogue, as RBAC sees it ---------------------------------------------------

def get_catalogue(plane: PlaneDep) -> Catalogue:
    """The department catalogue (re-read when its files change)."""
    cache = plane.catalogue_cache
    catalogue = cache.get()
    if catalogue is None:  # no catalogue directory: the loader says so, with its hint
        return load_catalogue(Path(plane.catalogue_dir), sites=cache.sites)
    return catalogue
