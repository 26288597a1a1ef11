"""Helpers shared by the Nova modules: policy errors, schema-style 400s, links, paging, and
the context (``NovaContext``, ``NovaRegionExtra``) every route group receives.

This is the bottom of the Nova modules: it imports none of them, so they never import each
other in a circle (the import-linter contract "sim nova modules are layered" keeps it so).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from govcloud.sim.http import ApiError, Request, bad_request, forbidden
from govcloud.sim.model import Server, now
from govcloud.sim.state import Cloud, RegionState

MAX_LIMIT = 1000  # [api] max_limit
PREFIX = "/v2.1"

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                      r"[0-9a-fA-F]{12}$")
_ISO_CACHE: dict[dt.datetime, str] = {}
_ISO_US_CACHE: dict[dt.datetime, str] = {}
NO_HOST_FAULT = "No valid host was found. There are not enough hosts available."


@dataclass
class NovaRegionExtra:
    """Nova-only state a region needs beyond the shared model."""

    aggregates: dict[int, dict[str, Any]] = field(default_factory=dict)
    aggregate_seq: int = 0
    service_ids: dict[str, int] = field(default_factory=dict)  # uuid → legacy integer id
    service_seq: int = 0
    # sorted server listing caches (see nova_servers)
    order_key: tuple[int, int, int] | None = None
    order: list[Any] = field(default_factory=list)
    order_pos: dict[str, int] = field(default_factory=dict)
    all_order_key: tuple[int, int, int] | None = None
    all_order: list[Any] = field(default_factory=list)
    all_order_pos: dict[str, int] = field(default_factory=dict)
    view_cache: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # id → rendered view

    def legacy_service_id(self, service_id: str) -> int:
        sid = self.service_ids.get(service_id)
        if sid is None:
            self.service_seq += 1
            sid = self.service_ids[service_id] = self.service_seq
        return sid


class ServerLookup(Protocol):
    """What the other route groups use of ``nova_servers.ServerRoutes``."""

    def get(self, req: Request, region: RegionState, server_id: str) -> Server: ...

    def check_lock(self, req: Request, s: Server) -> None: ...


class NovaContext(Protocol):
    """What a route group sees of ``nova.NovaAPI``, so it needs no import of it."""

    @property
    def cloud(self) -> Cloud: ...

    @property
    def servers(self) -> ServerLookup: ...

    @property
    def moves(self) -> object: ...

    def region(self, req: Request) -> RegionState: ...

    def extra(self, region: RegionState) -> NovaRegionExtra: ...


def record(s: Server, req: Request, action: str) -> None:
    """Append an instance action (``os-instance-actions``) to the server's log."""
    log = getattr(s, "instance_actions", None)
    if log is None:
        log = []
        s.instance_actions = log  # type: ignore[attr-defined]
    log.append({"action": action, "instance_uuid": s.id, "request_id": req.request_id,
                "user_id": req.auth.user_id, "project_id": req.auth.project_id,
                "start_time": iso_naive_us(now()), "message": None})


def sanitize_hostname(name: str) -> str:
    host = re.sub(r"[ _.]", "-", name.lower())
    host = re.sub(r"[^\w-]+", "", host, flags=re.ASCII).strip("-")
    return host[:63] or "server"


def policy(rule: str) -> ApiError:
    """Nova's answer when oslo.policy says no."""
    return forbidden(f"Policy doesn't allow {rule} to be performed.")


def require_admin(req: Request, rule: str) -> None:
    if not req.auth.is_admin:
        raise policy(rule)


def require_member(req: Request, rule: str) -> None:
    """Writes need member (or admin) on the project; a reader gets the policy 403."""
    roles = req.auth.roles
    if "admin" not in roles and "member" not in roles:
        raise policy(rule)


def invalid(field: str, value: Any, reason: str) -> ApiError:
    """The message Nova's JSON-schema validation produces for a request body."""
    return bad_request(f"Invalid input for field/attribute {field}. Value: {_show(value)}. "
                       f"{reason}")


def invalid_query(field: str, value: Any, reason: str) -> ApiError:
    return bad_request(f"Invalid input for query parameters {field}. Value: {_show(value)}. "
                       f"{reason}")


def additional(keys: list[str] | set[str]) -> ApiError:
    keys = sorted(keys)
    if len(keys) == 1:
        what = f"('{keys[0]}' was unexpected)"
    else:
        what = "(" + ", ".join(f"'{k}'" for k in keys) + " were unexpected)"
    return bad_request(f"Additional properties are not allowed {what}")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return repr(value)


def body_object(req: Request, key: str) -> dict[str, Any]:
    """``body[key]`` as a dict, with Nova's schema errors when it is not."""
    doc = req.json()
    if not isinstance(doc, dict):
        raise bad_request(f"Invalid input for field/attribute body. Value: {doc!r}. "
                          f"{doc!r} is not of type 'object'")
    if key not in doc:
        raise bad_request(f"Invalid input for field/attribute {key}. Value: {doc!r}. "
                          f"'{key}' is a required property")
    inner = doc[key]
    if not isinstance(inner, dict):
        raise invalid(key, inner, f"{_show(inner)!r} is not of type 'object'")
    return inner


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(_UUID_RE.match(value))


def new_uuid() -> str:
    return str(uuid.uuid4())


def iso(t: dt.datetime | None) -> str | None:
    """2026-11-28T02:56:35Z (created/updated)."""
    if t is None:
        return None
    s = _ISO_CACHE.get(t)
    if s is None:
        s = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        if len(_ISO_CACHE) < 200_000:
            _ISO_CACHE[t] = s
    return s


def iso_naive_us(t: dt.datetime | None) -> str | None:
    """2026-11-28T02:56:35.000000 (launched_at, service updated_at, ...)."""
    if t is None:
        return None
    s = _ISO_US_CACHE.get(t)
    if s is None:
        s = t.strftime("%Y-%m-%dT%H:%M:%S.%f")
        if len(_ISO_US_CACHE) < 200_000:
            _ISO_US_CACHE[t] = s
    return s


def parse_time(raw: str, name: str) -> dt.datetime:
    """An ISO 8601 date-time from a query parameter, as an aware UTC datetime."""
    text = raw.strip().replace(" ", "+") if raw else raw
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        raise invalid_query(name, raw, f"'{raw}' is not a 'date-time'") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def bool_arg(req: Request, name: str, default: bool | None = None) -> bool | None:
    """oslo's bool_from_string(strict=True); ``?all_tenants`` alone means true."""
    raw = req.arg(name)
    if raw is None:
        return default
    low = raw.strip().lower()
    if low in ("", "1", "t", "true", "on", "y", "yes"):
        return True
    if low in ("0", "f", "false", "off", "n", "no"):
        return False
    raise bad_request(f"Unrecognized value '{raw}', acceptable values are: '0', '1', 'f', "
                      "'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'")


def limit_and_marker(req: Request) -> tuple[int, str | None]:
    raw = req.arg("limit")
    limit = MAX_LIMIT
    if raw is not None:
        if not re.fullmatch(r"[0-9]+", raw):
            raise invalid_query("limit", raw, f"'{raw}' does not match '^[0-9]*$'")
        limit = min(MAX_LIMIT, int(raw))
    return limit, req.arg("marker")


def next_link(req: Request, collection: str, marker: str) -> dict[str, str]:
    """Nova's ``*_links`` next entry: the same query with the marker replaced."""
    from urllib.parse import urlencode

    params = [(k, v) for k, vs in req.query.items() if k != "marker" for v in vs]
    params.append(("marker", marker))
    return {"rel": "next",
            "href": f"{req.base_url}{PREFIX}/{collection}?{urlencode(params)}"}


def links(req: Request, collection: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{req.base_url}{PREFIX}/{collection}/{ident}"},
            {"rel": "bookmark", "href": f"{req.base_url}/{collection}/{ident}"}]


def check_keys(doc: dict[str, Any], allowed: set[str]) -> None:
    extra = set(doc) - allowed
    if extra:
        raise additional(extra)


def str_field(doc: dict[str, Any], key: str, *, required: bool = False, min_len: int = 0,
              max_len: int = 255, nullable: bool = False) -> str | None:
    if key not in doc:
        if required:
            raise invalid(key, None, f"'{key}' is a required property")
        return None
    value = doc[key]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise invalid(key, value, f"{value!r} is not of type 'string'")
    if len(value) < min_len:
        raise invalid(key, value, f"'{value}' is too short")
    if len(value) > max_len:
        raise invalid(key, value, f"'{value}' is too long")
    return value


def int_field(doc: dict[str, Any], key: str, *, minimum: int | None = None,
              maximum: int | None = None, required: bool = False,
              default: int | None = None) -> int | None:
    """Nova's integer params accept ints and integer strings."""
    if key not in doc:
        if required:
            raise invalid(key, None, f"'{key}' is a required property")
        return default
    value = doc[key]
    if isinstance(value, bool):
        raise invalid(key, value, f"{value!r} is not of type 'integer', 'string'")
    if isinstance(value, str):
        if not re.fullmatch(r"\s*-?[0-9]+\s*", value):
            raise invalid(key, value, f"'{value}' does not match '^-?[0-9]+$'")
        value = int(value)
    if not isinstance(value, int):
        raise invalid(key, value, f"{value!r} is not of type 'integer', 'string'")
    if minimum is not None and value < minimum:
        raise invalid(key, value, f"{value} is less than the minimum of {minimum}")
    if maximum is not None and value > maximum:
        raise invalid(key, value, f"{value} is greater than the maximum of {maximum}")
    return value


def metadata_field(doc: dict[str, Any], key: str = "metadata") -> dict[str, str]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise invalid(key, value, f"{value!r} is not of type 'object'")
    for k, v in value.items():
        if not 1 <= len(k) <= 255:
            raise invalid(key, value, f"'{k}' does not match any of the regexes: "
                                      "'^[a-zA-Z0-9-_:. ]{1,255}$'")
        if not isinstance(v, str):
            raise invalid(f"{key}.{k}", v, f"{v!r} is not of type 'string'")
        if len(v) > 255:
            raise invalid(f"{key}.{k}", v, f"'{v}' is too long")
    return dict(value)
