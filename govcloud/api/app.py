"""The control plane's HTTP API: ``make_app`` builds a FastAPI app around what it is given.

No module-level engine or connections: the composition root (``govcloud serve``, the demo,
tests) makes the engine, settings and cloud connections and passes them in. Routes live in
``routes_*`` modules, mounted under ``/api/v1``; the OpenAPI document is served at
``/api/v1/openapi.json``. Every govcloud error leaves as its ``http_status`` with the body
``{"error": {"message": ..., "hint": ..., "type": ...}}``, which every route declares
(``govcloud.api.contract``); a request body over ``settings.max_request_bytes`` is refused
with 413 before it is read (``govcloud.api.body_limit``).
"""

from __future__ import annotations

import importlib
import importlib.util
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
from govcloud.api.body_limit import BodyLimit
from govcloud.api.contract import ERROR_RESPONSES, declared_query
from govcloud.api.deps import Clock, Clouds, ConnectionsFactory, error_body
from govcloud.errors import GovCloudError, InvalidInput, NotFound, PermanentError
from govcloud.services.inventory import CatalogueCache
from govcloud.settings import Settings
from govcloud.store.tables import utcnow

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
DEFAULT_CATALOGUE = Path("tenants")
# Routers mounted when their module exists (some are built by other work in progress).
ROUTER_MODULES = (
    "govcloud.api.routes_core",
    "govcloud.api.routes_principals",
    "govcloud.api.routes_tenancy",
    "govcloud.api.routes_inventory",
    "govcloud.api.routes_fleet",      # hosts, one server, usage (the console, issue 4)
    "govcloud.api.routes_requests",   # issue 5
    "govcloud.api.routes_migrate",    # issue 6
    "govcloud.api.routes_health",     # issue 7
)
METRICS_MODULE = "monitors.exporter"  # serves /metrics outside API_PREFIX


def _settings_connections(settings: Settings) -> ConnectionsFactory:
    def factory() -> Mapping[str, Any]:
        from govcloud.cloud.connect import connect

        return {site.name: connect(site, clouds_yaml=settings.clouds_yaml)
                for site in settings.site_list()}

    return factory


def _json_error(exc: GovCloudError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
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


def make_app(*, engine: Engine, settings: Settings,
             clouds: ConnectionsFactory | Mapping[str, Any] | None = None,
             clock: Clock = utcnow, catalogue_dir: Path | None = None,
             workers: Callable[[Any], Callable[[], None] | None] | None = None) -> FastAPI:
    """The API app.

    ``clouds`` gives the sites' openstacksdk connections: a mapping ``{site: Connection}``, a
    function returning one (called on first use), or None to connect to every configured site
    from ``clouds.yaml``. ``catalogue_dir`` is the department catalogue (default ``tenants``).
    ``workers``, when given, is called with ``app.state`` at startup and may return a function
    that stops them at shutdown. With ``settings.audit_key_file`` the audit log is keyed
    (every entry carries its MAC); with ``settings.audit_anchor_file`` as well, signed
    checkpoints of its head are appended there while the app runs.
    """
    if clouds is None:
        factory = _settings_connections(settings)
    elif callable(clouds):
        factory = clouds
    else:
        fixed = dict(clouds)
        factory = lambda: fixed  # noqa: E731

    checkpoints = None
    if settings.audit_key_file is not None:
        from govcloud.services.audit_anchor import CheckpointWriter, open_key

        engine, key = open_key(engine, settings.audit_key_file)
        if settings.audit_anchor_file is not None:
            checkpoints = CheckpointWriter(
                engine=engine, key=key, anchor_file=settings.audit_anchor_file,
                interval_s=settings.audit_checkpoint_interval_s,
                every_entries=settings.audit_checkpoint_entries, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop_checkpoints = checkpoints.start() if checkpoints is not None else None
        stop = workers(app.state) if workers is not None else None
        try:
            yield
        finally:
            if stop is not None:
                stop()
            if stop_checkpoints is not None:
                stop_checkpoints()
            app.state.clouds.close()

    app = FastAPI(title="govcloud control plane", version=__version__,
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url=f"{API_PREFIX}/docs",
                  redoc_url=None, lifespan=lifespan)
    app.state.engine = engine
    app.state.audit_checkpoints = checkpoints
    app.state.settings = settings
    app.state.clock = clock
    app.state.clouds = Clouds(factory)
    app.state.catalogue_dir = catalogue_dir or DEFAULT_CATALOGUE
    app.state.catalogue_cache = CatalogueCache(app.state.catalogue_dir,
                                               [s.name for s in settings.site_list()])
    app.state.apply_lock = threading.Lock()
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    for name in ROUTER_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        app.include_router(module.router, prefix=API_PREFIX, responses=ERROR_RESPONSES,
                           dependencies=[Depends(declared_query)])
    if importlib.util.find_spec(METRICS_MODULE) is not None:  # issue 7: /metrics
        importlib.import_module(METRICS_MODULE).install(app)
    return app
