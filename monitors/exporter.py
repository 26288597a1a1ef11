"""Serving ``/metrics``: on the control plane's own port (``install``), and optionally on a
port of its own (``MetricsServer``, ``govcloud serve --metrics-port``) with TLS.

Both ask for a credential (a bearer token or basic auth) unless ``metrics_auth`` is ``none``
(``govcloud.services.metrics_auth``). Each endpoint has its own collector and rendering
(``monitors.collector.Exposition``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from govcloud.api.server import ServerThread
from govcloud.errors import InvalidInput
from govcloud.services.metrics import MetricsSnapshots
from govcloud.services.metrics_auth import MetricsGuard
from govcloud.services.plane import Plane
from monitors.collector import Exposition, GovcloudCollector

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
# the text format generate_latest writes (0.0.4), understood by every Prometheus version
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def make_exposition(snapshots: MetricsSnapshots,
                    clock: Callable[[], float] = time.time) -> Exposition:
    """govcloud's collector over ``snapshots``, and its rendering (no work done now).
    The collector is also registered in a ``CollectorRegistry`` of its own, which checks at
    registration that its families are well-formed and unique. ``clock``: the plane's (the
    ages and RPOs of a scrape are counted on the clock the store's times were written by)."""
    collector = GovcloudCollector(snapshots.current, clock=clock)
    CollectorRegistry(auto_describe=True).register(collector)
    exposition = Exposition(collector)
    snapshots.on_held(exposition.prepare)  # a snapshot from the worker process
    return exposition


def metrics_endpoint(snapshots: MetricsSnapshots, guard: MetricsGuard,
                     clock: Callable[[], float] = time.time) -> Any:
    """The ``/metrics`` handler over ``snapshots``, behind ``guard`` (the credentials)."""
    exposition = make_exposition(snapshots, clock)

    def metrics(request: Request) -> Response:
        if not guard.allows(request.headers.get("authorization")):
            return Response("unauthorised: /metrics needs a bearer token or basic auth "
                            "(docs/metrics.md)\n", status_code=401, media_type="text/plain",
                            headers={"WWW-Authenticate": guard.challenge()})
        return Response(exposition.render(), media_type=CONTENT_TYPE)

    return metrics


def announce(where: str, guard: MetricsGuard) -> None:
    """Say at start what ``/metrics`` at ``where`` asks for — loudly when it is open."""
    if guard.open:
        log.warning("/metrics on %s is OPEN: anyone who reaches the port reads the sites, "
                    "the departments and their quota use (metrics_auth: none)", where)
    elif not guard.configured:
        log.warning("/metrics on %s refuses every scrape: no credential is configured "
                    "(metrics_token_file, metrics_token or metrics_user/metrics_password)",
                    where)
    else:
        log.info("/metrics on %s asks for %s", where, guard.describe())


def _clock(plane: Plane) -> Callable[[], float]:
    return lambda: plane.clock().timestamp()


def install(app: Any, plane: Plane) -> None:
    """Serve ``plane``'s ``/metrics`` on the API app (outside ``/api/v1``, not in the
    OpenAPI document)."""
    guard = MetricsGuard(plane.settings)
    announce("the API port", guard)
    app.add_route(METRICS_PATH, metrics_endpoint(plane.metrics, guard, _clock(plane)),
                  methods=["GET"], include_in_schema=False)


class MetricsServer:
    """``/metrics`` on a port of its own (uvicorn in a daemon thread), with TLS when the
    ``metrics_tls_cert`` and ``metrics_tls_key`` settings are set."""

    def __init__(self, plane: Plane, *, host: str = "127.0.0.1", port: int = 0) -> None:
        settings = plane.settings
        self.guard = MetricsGuard(settings)
        announce("its own port", self.guard)
        app = Starlette(routes=[Route(METRICS_PATH,
                                      metrics_endpoint(plane.metrics, self.guard,
                                                       _clock(plane)),
                                      methods=["GET"])])
        tls: dict[str, Any] = {}
        if settings.metrics_tls_cert is not None:
            if settings.metrics_tls_key is None:
                raise InvalidInput("metrics_tls_cert is set but metrics_tls_key is not",
                                   hint="set both (see docs/metrics.md)")
            tls = {"ssl_certfile": str(settings.metrics_tls_cert),
                   "ssl_keyfile": str(settings.metrics_tls_key)}
        self.tls = bool(tls)
        self.server = ServerThread(app, host=host, port=port, lifespan="off",
                                   name="govcloud-metrics", **tls)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.server.server.config.host}:{self.server.port}{METRICS_PATH}"

    def start(self, timeout: float = 30.0) -> MetricsServer:
        self.server.start(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.stop(timeout)
