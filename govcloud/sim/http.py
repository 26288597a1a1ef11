"""The simulator's HTTP layer: a threaded server, a tiny router, OpenStack-shaped errors.

URL layout on one loopback port:

    /identity/...                      Keystone v3 (shared by all regions)
    /{REGION}/compute/...              Nova
    /{REGION}/placement/...            Placement
    /{REGION}/image/...                Glance
    /{REGION}/network/...              Neutron
    /{REGION}/volume/...               Cinder v3
    /_sim/...                          control: faults, summary (loopback, no auth)
    /clouds/{CLOUD}/...                another cloud, the same layout under this prefix,
                                       with its own Keystone (:class:`CloudsApp`)

Each service module registers handlers on the shared :class:`Router`. A handler gets a
:class:`Request` and the path parameters and returns a :class:`Response` (or raises
:class:`ApiError`, which the service's error formatter turns into that service's body).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

SERVICES = ("compute", "placement", "image", "network", "volume")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}

# Nova and Cinder name the error body after the fault (nova/api/openstack/wsgi.py).
_NOVA_FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


class ApiError(Exception):
    """An error answered with the service's own error body.

    ``kind`` is used where a service names its error types (Neutron: ``NetworkNotFound``;
    Placement: ``placement.concurrent_update``).
    """

    def __init__(self, status: int, message: str, *, kind: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.headers = headers or {}


def bad_request(message: str, **kw: Any) -> ApiError:
    return ApiError(400, message, **kw)


def not_found(message: str, **kw: Any) -> ApiError:
    return ApiError(404, message, **kw)


def forbidden(message: str, **kw: Any) -> ApiError:
    return ApiError(403, message, **kw)


def conflict(message: str, **kw: Any) -> ApiError:
    return ApiError(409, message, **kw)


def error_body(service: str, err: ApiError, request_id: str) -> tuple[bytes, str]:
    """Render ``err`` the way ``service`` does; returns (body, content type)."""
    title = _TITLES.get(err.status, "Error")
    if service == "identity":
        doc: Any = {"error": {"code": err.status, "message": err.message, "title": title}}
    elif service in ("compute", "volume"):
        if err.status == 401:
            doc = {"error": {"code": 401, "title": title, "message": err.message}}
        else:
            name = _NOVA_FAULT_NAMES.get(err.status, "computeFault")
            doc = {name: {"code": err.status, "message": err.message}}
            if err.status in (413, 429) and "Retry-After" in err.headers:  # as their Fault
                doc[name]["retryAfter"] = err.headers["Retry-After"]
    elif service == "placement":
        entry = {"status": err.status, "title": title, "detail": err.message,
                 "request_id": request_id}
        if err.kind:
            entry["code"] = err.kind
        doc = {"errors": [entry]}
    elif service == "network":
        if err.status == 401:
            doc = {"error": {"code": 401, "title": title, "message": err.message}}
        else:
            doc = {"NeutronError": {"type": err.kind or title.replace(" ", ""),
                                    "message": err.message, "detail": ""}}
    elif service == "image":
        text = f"{err.status} {title}\n\n{err.message}\n\n   "
        return text.encode(), "text/plain; charset=UTF-8"
    else:
        doc = {"error": {"code": err.status, "message": err.message, "title": title}}
    return json.dumps(doc).encode(), "application/json"


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-able, or bytes, or None
    headers: dict[str, str] = field(default_factory=dict)


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(status=status, body=body, headers=dict(headers))


def no_content() -> Response:
    return Response(status=204)


class Request:
    """What a handler sees of one HTTP request."""

    def __init__(self, *, method: str, path: str, query: dict[str, list[str]],
                 headers: dict[str, str], body: bytes, region: str | None, service: str,
                 base_url: str) -> None:
        self.method = method
        self.path = path  # the part after /{REGION}/{service}
        self.query = query
        self.headers = headers  # lower-cased names
        self.body = body
        self.region = region
        self.service = service
        self.base_url = base_url  # e.g. http://127.0.0.1:8774/PROD/compute
        self.auth: Any = None  # set by the dispatcher: keystone token context
        self.microversion: tuple[int, int] = (0, 0)
        self.response_headers: dict[str, str] = {}  # e.g. the negotiated microversion
        self.request_id = "req-" + str(uuid.uuid4())

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        if not self.body:
            raise bad_request("Malformed request body: the body is empty.")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request(f"Malformed request body: {exc}") from None

    def json_object(self, key: str | None = None) -> dict[str, Any]:
        doc = self.json()
        if not isinstance(doc, dict):
            raise bad_request("Malformed request body: expected a JSON object.")
        if key is None:
            return doc
        inner = doc.get(key)
        if not isinstance(inner, dict):
            raise bad_request(f"Malformed request body: missing '{key}' object.")
        return inner

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def int_arg(self, name: str, default: int | None = None, *, minimum: int = 0) -> int | None:
        raw = self.arg(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_request(f"Invalid input for query parameters {name}. "
                              f"Value: {raw}. '{raw}' is not an integer") from None
        if value < minimum:
            raise bad_request(f"Invalid input for query parameters {name}. Value: {raw}. "
                              f"{raw} is less than the minimum of {minimum}")
        return value

    def mv_at_least(self, major: int, minor: int) -> bool:
        return self.microversion >= (major, minor)


Handler = Callable[..., Response]


@dataclass
class Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    auth: bool = True


class Router:
    """Per-service route tables; patterns like ``/servers/{server_id}/action``."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Route]] = {}
        # service → what answers a path (or method) no route takes, first match wins
        self.fallbacks: dict[str, list[Route]] = {}

    def fallback(self, service: str, prefix: str, handler: Handler, *,
                 auth: bool = True) -> None:
        """``handler`` answers any method on a path under ``prefix`` that no route takes
        (instead of the 404 or 405 error body)."""
        regex = "^" + re.escape(prefix.rstrip("/")) + "(/|$)"
        self.fallbacks.setdefault(service, []).append(Route("*", re.compile(regex), handler,
                                                            auth))

    def add(self, service: str, method: str, pattern: str, handler: Handler, *,
            auth: bool = True) -> None:
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern.rstrip("/")) + "/?$"
        self.routes.setdefault(service, []).append(
            Route(method, re.compile(regex), handler, auth))

    def route(self, service: str, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        for r in self.routes.get(service, []):
            m = r.regex.match(path)
            if m:
                if r.method == method or (method == "HEAD" and r.method == "GET"):
                    return r, m.groupdict()
                allowed = True
        for r in self.fallbacks.get(service, []):
            if r.regex.match(path):
                return r, {}
        if allowed:
            raise ApiError(405, "The method specified is not allowed for this resource.")
        raise not_found("The resource could not be found.")


@dataclass
class Faults:
    """Realism knobs; all off by default."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0  # probability of a random 503 per request
    down: set[str] = field(default_factory=set)  # regions whose connections are dropped

    def to_dict(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms, "jitter_ms": self.jitter_ms,
                "error_rate": self.error_rate, "down": sorted(self.down)}


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: Any) -> None:
        self.app = app
        super().__init__(address, _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server: SimHTTPServer
    server_version = "govcloud-sim"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        self.server.app.handle(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class App:
    """Dispatch: fault knobs, auth, microversions, routing and error rendering."""

    def __init__(self, *, router: Router, authenticate: Callable[[str | None], Any],
                 negotiate: Callable[[Request], None], faults: Faults,
                 regions: list[str], lock: threading.RLock,
                 control: Callable[[Request], Response] | None = None) -> None:
        self.router = router
        self.authenticate = authenticate
        self.negotiate = negotiate
        self.faults = faults
        self.regions = regions
        self.lock = lock
        self.control = control
        self.rng = random.Random()
        self.requests = 0

    def handle(self, h: _Handler, *, mount: str = "") -> None:
        """Answer one request; ``mount`` is the prefix this cloud is served under (its
        part of the path is taken off before routing and kept in the base URLs)."""
        self.requests += 1
        split = urlsplit(h.path)
        path = split.path[len(mount):] if mount else split.path
        parts = path.split("/", 3)
        # ['', 'PROD', 'compute', 'rest'] or ['', 'identity', 'v3', ...]
        region: str | None = None
        if len(parts) > 1 and parts[1] in self.regions:
            region = parts[1]
            service = parts[2] if len(parts) > 2 else ""
            rest = "/" + parts[3] if len(parts) > 3 else "/"
            prefix = f"/{region}/{service}"
        elif len(parts) > 1 and parts[1] in ("identity", "_sim"):
            service = parts[1]
            rest = path[len(service) + 1:] or "/"
            prefix = f"/{service}"
        else:
            service, rest, prefix = "", path, ""

        if service != "_sim":
            if region is not None and region in self.faults.down:
                # A datacentre that is down: the connection dies without an answer.
                h.close_connection = True
                with contextlib.suppress(OSError):
                    h.connection.shutdown(socket.SHUT_RDWR)
                return
            delay = self.faults.latency_ms
            if self.faults.jitter_ms:
                delay += self.rng.uniform(0, self.faults.jitter_ms)
            if delay > 0:
                time.sleep(delay / 1000.0)

        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        req = Request(method=h.command, path=rest.rstrip("/") or "/",
                      query=parse_qs(split.query, keep_blank_values=True), headers=headers,
                      body=body, region=region, service=service,
                      base_url=h.server.base_url + mount + prefix)
        try:
            resp = self._dispatch(req)
        except ApiError as err:
            payload, ctype = error_body(service, err, req.request_id)
            resp = Response(status=err.status, body=payload,
                            headers={"Content-Type": ctype, **err.headers})
        except Exception:  # the simulator must keep serving whatever happens
            log.exception("unhandled error on %s %s", h.command, h.path)
            fault = ApiError(500, "The server has either erred or is incapable of performing "
                                  "the requested operation.")
            payload, ctype = error_body(service, fault, req.request_id)
            resp = Response(status=500, body=payload, headers={"Content-Type": ctype})
        self._write(h, req, resp)

    def _dispatch(self, req: Request) -> Response:
        if req.service == "_sim":
            if self.control is None:
                raise not_found("no control API")
            return self.control(req)
        if req.region is not None and req.service not in SERVICES:
            raise not_found("The resource could not be found.")
        if not req.service:
            raise not_found("The resource could not be found.")
        if self.faults.error_rate and self.rng.random() < self.faults.error_rate:
            raise ApiError(503, "The server is currently unavailable. Please try again at a "
                                "later time. (injected fault)")
        route, params = self.router.route(req.service, req.method, req.path)
        with self.lock:
            if route.auth:
                req.auth = self.authenticate(req.header("x-auth-token"))
                if req.auth is None:
                    raise ApiError(401, "The request you have made requires authentication.",
                                   headers={"WWW-Authenticate": "Keystone uri=\"/identity\""})
            self.negotiate(req)
            return route.handler(req, **params)

    def _write(self, h: _Handler, req: Request, resp: Response) -> None:
        headers = {**req.response_headers, **resp.headers}
        body = resp.body
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", "application/json")
        headers.setdefault("X-Openstack-Request-Id", req.request_id)
        if req.service == "compute":
            headers.setdefault("X-Compute-Request-Id", req.request_id)
        try:
            h.send_response(resp.status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            if req.method != "HEAD" and resp.status not in (204, 304):
                h.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True


class CloudsApp:
    """Several clouds on one port: the first at the root, each other one under
    ``/clouds/{name}`` — every cloud its own :class:`App` (own Keystone, state and lock)."""

    PREFIX = "/clouds/"

    def __init__(self, root: App, others: dict[str, App]) -> None:
        self.root = root
        self.others = others

    def handle(self, h: _Handler) -> None:
        if h.path.startswith(self.PREFIX):
            name = h.path[len(self.PREFIX):].split("/", 1)[0].split("?", 1)[0]
            app = self.others.get(name)
            if app is not None:
                app.handle(h, mount=self.PREFIX + name)
                return
        self.root.handle(h)


# --- microversions -------------------------------------------------------------------------

_MV_RE = re.compile(r"^(\d+)\.(\d+)$")


def parse_microversion(req: Request, *, service_type: str, legacy_header: str | None,
                       minimum: tuple[int, int], maximum: tuple[int, int]) -> tuple[int, int]:
    """Read ``OpenStack-API-Version: <service_type> X.Y`` (or the legacy header).

    Returns the minimum when none is asked for; ``latest`` means the maximum. Raises the
    400/406 errors the services answer for a malformed or unsupported version.
    """
    raw: str | None = None
    header = req.header("openstack-api-version")
    if header:
        for item in header.split(","):
            bits = item.strip().split()
            if len(bits) == 2 and bits[0].lower() == service_type:
                raw = bits[1]
    if raw is None and legacy_header:
        raw = req.header(legacy_header)
    if raw is None:
        return minimum
    if raw.lower() == "latest":
        return maximum
    m = _MV_RE.match(raw.strip())
    if not m:
        raise bad_request(f"API Version String {raw} is of invalid format. Must be of format "
                          "MajorNum.MinorNum.")
    version = (int(m.group(1)), int(m.group(2)))
    if not minimum <= version <= maximum:
        raise ApiError(406, f"Version {raw} is not supported by the API. Minimum is "
                            f"{minimum[0]}.{minimum[1]} and maximum is "
                            f"{maximum[0]}.{maximum[1]}.")
    return version


def mv_str(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"
