"""The control plane's HTTP API: ``make_app`` builds a FastAPI app around what it is given.

No module-level engine or connections: the caller (``govcloud serve``, the demo, tests) makes
the engine and settings; ``govcloud.services.plane.build_plane`` builds the plane around them
once, and the app stores it on ``app.state.plane`` for the routes (``deps.get_plane``).
Routes live in ``routes_*`` modules, mounted under ``/api/v1``; the OpenAPI document is served at
``/api/v1/openapi.json``. Every govcloud error leaves as its ``http_status`` with the body
``{"error": {"message": ..., "hint": ..., "type": ...}}``, which every route declares
(``govcloud.api.contract``); a request body over ``settings.max_request_bytes`` is refused
with 413 before it is read (``govcloud.api.body_limit``).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from govcloud import __version__
from govcloud.api import (
    routes_alerts,
    routes_changes,
    routes_core,
    routes_dr,
    routes_dr_drill,
    routes_dr_failover,
    routes_dr_protect,
    routes_fleet,
    routes_health,
    routes_hosts,
    routes_inventory,
    routes_lifecycle,
    routes_migrate,
    routes_notifications,
    routes_principals,
    routes_replicas,
    routes_reports,
    routes_requests,
    routes_tenancy,
)
from govcloud.api.body_limit import BodyLimit
from govcloud.api.contract import ERROR_RESPONSES, declared_query
from govcloud.api.deps import error_body
from govcloud.errors import GovCloudError, InvalidInput, NotFound, PermanentError
from govcloud.services.plane import Clock, ConnectionsFactory, Plane, build_plane, utcnow
from govcloud.settings import Settings
from monitors import exporter

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
ROUTERS = (
    routes_core,
    routes_principals,
    routes_tenancy,
    routes_inventory,
    routes_fleet,      # hosts, one server, usage (the console, issue 4)
    routes_requests,   # issue 5
    routes_hosts,      # issue 21: compute hosts' maintenance (before the legacy /hosts)
    routes_migrate,    # issue 6
    routes_health,     # issue 7
    routes_dr,         # issue 19
    routes_dr_drill,   # issue 19: drills
    routes_dr_failover,  # issue 19: failover, reprotect, failback
    routes_dr_protect, # issue 19: protection cycles on demand
    routes_reports,    # issue 20
    routes_notifications,  # issue 21
    routes_changes,    # issue 21: change requests and the calendar
    routes_lifecycle,  # issue 21: scale, resize, retire a system
    routes_replicas,   # issue 22: replicas, worker leases, the database's role
    routes_alerts,     # issue 20: Alertmanager's and Prometheus' alerts, for the scorecard
)
Workers = Callable[[Plane], Callable[[], None] | None]


# a 503 (a temporary error: the database failing over, a site's API down) says when to retry
RETRY_AFTER_S = 2


def _json_error(exc: GovCloudError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    if exc.http_status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    return JSONResponse(error_body(exc), status_code=exc.http_status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GovCloudError)
    async def govcloud_error(_request: Request, exc: GovCloudError) -> JSONResponse:
        if exc.http_status >= 500:
            log.warning("request failed: %s", exc.message)
        return _json_error(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return _json_error(InvalidInput(f"invalid request: {problems}",
                                        hint=f"see the OpenAPI document at "
                                             f"{API_PREFIX}/openapi.json"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err: GovCloudError = NotFound(f"no such API path ({exc.detail})",
                                          hint=f"the endpoints are listed in "
                                               f"{API_PREFIX}/openapi.json")
        elif 400 <= exc.status_code < 500:  # e.g. a body that is not UTF-8 JSON (400)
            err = InvalidInput(f"bad request: {exc.detail}",
                               hint=f"see the OpenAPI document at {API_PREFIX}/openapi.json")
            err.http_status = exc.status_code
        else:
            err = PermanentError(str(exc.detail))
            err.http_status = exc.status_code
        return _json_error(err)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in a request")
        return _json_error(PermanentError(
            f"unexpected {type(exc).__name__} in the server",
            hint="this is a bug in govcloud; the server log has the traceback"))


def make_app(plane: Plane | None = None, *, engine: Engine | None = None,
             settings: Settings | None = None,
             clouds: ConnectionsFactory | Mapping[str, Any] | None = None,
             clock: Clock = utcnow, catalogue_dir: Path | None = None,
             workers: Workers | None = None) -> FastAPI:
    """The API app of ``plane`` — or of the plane ``build_plane`` makes of ``engine``,
    ``settings``, ``clouds``, ``clock`` and ``catalogue_dir`` (see there).

    ``workers``, when given, is called with the plane at startup and may return a function
    that stops them at shutdown. With ``settings.audit_anchor_file`` (and a key), signed
    checkpoints of the audit log's head are appended there while the app runs.
    """
    if plane is None:
        if engine is None or settings is None:
            raise TypeError("make_app needs a plane, or an engine and settings")
        plane = build_plane(engine=engine, settings=settings, clouds=clouds, clock=clock,
                            catalogue_dir=catalogue_dir)
    built = plane

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        checkpoints = built.audit_checkpoints
        stop_checkpoints = checkpoints.start() if checkpoints is not None else None
        stop = workers(built) if workers is not None else None
        try:
            yield
        finally:
            if stop is not None:
                stop()
            if stop_checkpoints is not None:
                stop_checkpoints()
            built.clouds.close()

    app = FastAPI(title="govcloud control plane", version=__version__,
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url=f"{API_PREFIX}/docs",
                  redoc_url=None, lifespan=lifespan)
    app.state.plane = plane  # the only thing app.state holds (``deps.get_plane``)
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=plane.settings.max_request_bytes)
    for module in ROUTERS:
        app.include_router(module.router, prefix=API_PREFIX, responses=ERROR_RESPONSES,
                           dependencies=[Depends(declared_query)])
    exporter.install(app, plane)  # /metrics, outside API_PREFIX
    _share_openapi(app)
    return app


_OPENAPI: dict[tuple[Any, ...], dict[str, Any]] = {}
_OPENAPI_LOCK = threading.Lock()


def _share_openapi(app: FastAPI) -> None:
    """Build the OpenAPI document once per process for apps with the same routes: building
    it takes seconds (pydantic schemas of every model), and tests build many apps."""
    key = (app.title, app.version, tuple(
        (getattr(r, "path", ""), tuple(sorted(getattr(r, "methods", None) or ())))
        for r in app.routes))
    build = app.openapi

    def openapi() -> dict[str, Any]:
        with _OPENAPI_LOCK:
            if key not in _OPENAPI:
                _OPENAPI[key] = build()
            return copy.deepcopy(_OPENAPI[key])

    app.openapi = openapi  # type: ignore[method-assign]
