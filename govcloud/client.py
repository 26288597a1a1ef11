"""The CLI's client of the control-plane API, and where it finds the server and its token.

The server URL and token come from ``--server``/``--token``, else ``GOVCLOUD_SERVER`` /
``GOVCLOUD_TOKEN``, else a named context (``--context NAME``, or the current one) in
``$XDG_CONFIG_HOME/govcloud/contexts.yaml`` (kubectl-style; the file is kept 0600 because it
holds tokens). Error answers become govcloud errors with the server's message and hint.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import yaml
from pydantic import BaseModel

from govcloud.api import models
from govcloud.client_failover import Failover, Switch, split_servers
from govcloud.config_files import config_dir
from govcloud.domain.text import printable
from govcloud.errors import (
    ConflictError,
    Forbidden,
    GovCloudError,
    InvalidInput,
    NotFound,
    PermanentError,
    TemporaryError,
    TooLarge,
    error_types,
)

SERVER_ENV = "GOVCLOUD_SERVER"
TOKEN_ENV = "GOVCLOUD_TOKEN"
DEFAULT_TIMEOUT = 300.0  # an apply of the whole province takes a while

M = TypeVar("M", bound=BaseModel)


def as_json(answer: BaseModel) -> Any:
    """A parsed answer as the server sent it: the same keys in the same order (what
    ``--json`` prints). The server leaves out the fields a service did not return
    (``exclude_unset``), and so does this."""
    return answer.model_dump(mode="json", by_alias=True, exclude_unset=True)


def contexts_file() -> Path:
    return config_dir() / "contexts.yaml"


@dataclass(frozen=True, slots=True)
class Context:
    """A named control plane: ``server`` is its URL, or several replicas' URLs
    comma-separated (the client fails over between them)."""

    name: str
    server: str
    token: str | None = None

    @property
    def servers(self) -> list[str]:
        return split_servers(self.server)


class Contexts:
    """The contexts file: ``current`` and ``contexts: {name: {server, token}}``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or contexts_file()
        self.current: str | None = None
        self.contexts: dict[str, Context] = {}
        if self.path.is_file():
            self._read()

    def _read(self) -> None:
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"cannot read the contexts file {self.path}: {exc}",
                               hint="fix or delete it, then `govcloud context add`") from None
        if not isinstance(data, dict) or not isinstance(data.get("contexts", {}), dict):
            raise InvalidInput(f"the contexts file {self.path} is not a mapping with "
                               "'contexts'", hint="fix or delete it")
        self.current = data.get("current")
        for name, value in (data.get("contexts") or {}).items():
            if not isinstance(value, dict) or not value.get("server"):
                raise InvalidInput(f"context {name!r} in {self.path} has no server",
                                   hint=f"`govcloud context add {name} --server URL`")
            servers = value.get("servers")
            listed = [str(s) for s in servers] if isinstance(servers, list) and servers \
                else [str(value["server"])]
            self.contexts[str(name)] = Context(str(name), ",".join(listed), value.get("token"))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"current": self.current,
                "contexts": {c.name: _stored(c) for c in self.contexts.values()}}
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(data, f, sort_keys=True, allow_unicode=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def add(self, context: Context, *, use: bool = False) -> None:
        """Add or replace ``context`` (and make it current with ``use``, or when it is the
        first)."""
        self.contexts[context.name] = context
        if use or self.current is None:
            self.current = context.name
        self.save()

    def use(self, name: str) -> Context:
        context = self.get(name)
        self.current = name
        self.save()
        return context

    def get(self, name: str) -> Context:
        if name not in self.contexts:
            known = ", ".join(sorted(self.contexts)) or "none"
            raise NotFound(f"no context named {name!r} (known: {known})",
                           hint="`govcloud context add NAME --server URL --token TOKEN`")
        return self.contexts[name]


def _stored(context: Context) -> dict[str, Any]:
    """A context as the file keeps it: ``server`` (the first replica, as before) and, when it
    names several, ``servers`` (all of them, in order)."""
    servers = context.servers
    out: dict[str, Any] = {"server": servers[0], "token": context.token}
    if len(servers) > 1:
        out["servers"] = servers
    return out


def resolve(*, server: str | None = None, token: str | None = None,
            context: str | None = None) -> tuple[str, str | None]:
    """The server URL and token to use: flags, then environment, then the context."""
    server = server or os.environ.get(SERVER_ENV) or None
    token = token or os.environ.get(TOKEN_ENV) or None
    if server is None or token is None:
        contexts = Contexts()
        name = context or contexts.current
        if name is not None:
            chosen = contexts.get(name)
            server = server or chosen.server
            token = token or chosen.token
        elif context is not None:
            contexts.get(context)
    if server is None:
        raise InvalidInput("no control-plane server given",
                           hint=f"pass --server URL, set {SERVER_ENV}, or add a context "
                                "(`govcloud context add NAME --server URL --token TOKEN`); "
                                "`govcloud demo` writes one named demo")
    return server.rstrip("/"), token


# The server's statuses (docs/api.md, "Errors"): bad input (400, 413, 422) exits 2, a bug in
# the server (500) exits 1; other 5xx (a proxy's 502/504, 503) may pass, so they exit 75.
_ERRORS: dict[int, type[GovCloudError]] = {
    401: Forbidden, 403: Forbidden, 404: NotFound, 409: ConflictError, 422: InvalidInput,
    400: InvalidInput, 413: TooLarge, 500: PermanentError, 503: TemporaryError,
}


def error_from(response: httpx.Response) -> GovCloudError:
    """The govcloud error an error answer stands for, with the server's message and hint."""
    message, hint = f"the server answered HTTP {response.status_code}", None
    named: type[GovCloudError] | None = None
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or message)
            hint = error.get("hint")
            named = error_types().get(str(error.get("type")))
    except ValueError:
        text = " ".join(response.text.split())[:300]
        if text:
            message = f"{message}: {text}"
    cls = _ERRORS.get(response.status_code,
                      TemporaryError if response.status_code >= 500 else PermanentError)
    if named is not None and named.http_status == response.status_code:
        cls = named  # the class the server raised (InsufficientCapacity: exit 6, not 3)
    return cls(message, hint=hint)


def api_path(*segments: str | int) -> str:
    """The API path of ``segments``: ``api_path("departments", code)`` is
    ``/departments/<code>`` with the code percent-quoted whole (``/``, ``?``, ``#``, ``%`` and
    spaces too), so a value can never name another endpoint or add a query. Every call that
    puts a value in a path goes through here. An empty, ``.`` or ``..`` segment is refused
    (InvalidInput): a URL resolver would drop it or climb to the parent."""
    out = []
    for segment in segments:
        text = str(segment)
        if text in ("", ".", ".."):
            raise InvalidInput(f"'{printable(text)}' cannot be part of an API path",
                               hint="give a name or id (letters, digits, '.', '_', '-')")
        out.append(quote(text, safe=""))
    return "/" + "/".join(out)


# What a path handed to ApiClient.request may hold: quoted segments, nothing that a resolver
# would normalise ('.', '..', '//') and no query or fragment (those go in ``params``).
_SAFE_PATH = re.compile(r"(/[A-Za-z0-9._~%@!$&'()*+,;=:-]+)+")
_DOT_SEGMENT = re.compile(r"(^|/)\.{1,2}(/|$)")


def _checked_path(path: str) -> str:
    if not _SAFE_PATH.fullmatch(path) or _DOT_SEGMENT.search(path):
        raise InvalidInput(f"refusing to call the API path '{printable(path)}'",
                           hint="a value in a path must go through govcloud.client.api_path")
    return path


class ApiClient:
    """A small synchronous client of ``/api/v1`` with a bearer token. ``server`` may name
    several replicas, comma-separated: the client moves to the next one when the one in use
    cannot be reached, and calls ``on_switch(old, new)`` (``govcloud.client_failover``);
    ``server`` is always the one in use."""

    def __init__(self, server: str, token: str | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None,
                 retries: int | None = None, on_switch: Switch | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        self._failover = Failover(self._http, split_servers(server), retries=retries,
                                  on_switch=on_switch, sleep=sleep)

    @property
    def server(self) -> str:
        """The replica in use."""
        return self._failover.server

    @property
    def server_urls(self) -> list[str]:
        """Every replica this client may use, in order."""
        return list(self._failover.servers)

    @classmethod
    def from_options(cls, *, server: str | None = None, token: str | None = None,
                     context: str | None = None, on_switch: Switch | None = None
                     ) -> ApiClient:
        url, tok = resolve(server=server, token=token, context=context)
        return cls(url, tok, on_switch=on_switch)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, params: Any = None,
                json: Any = None) -> Any:
        """Call ``path`` (built with ``api_path`` when it holds a value; anything a URL
        resolver would rewrite, or a query in the path, is refused before sending)."""
        _checked_path(path)
        response = self._failover.send(method, path, params=params, json=json)
        if response.status_code >= 400:
            raise error_from(response)
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=_clean(params))

    def _get_as_media(self, path: str, media_type: str, params: dict[str, Any]
                      ) -> httpx.Response:
        _checked_path(path)
        response = self._failover.send("GET", path, params=_clean(params),
                                       headers={"Accept": media_type})
        if response.status_code >= 400:
            raise error_from(response)
        return response

    def get_text(self, path: str, media_type: str, **params: Any) -> str:
        """``GET path`` asking for a text answer of ``media_type`` (a Markdown report);
        errors as ``request``'s."""
        return self._get_as_media(path, media_type, params).text

    def get_bytes(self, path: str, media_type: str, **params: Any) -> bytes:
        """``GET path`` asking for a binary answer of ``media_type`` (a PDF report); errors as
        ``request``'s."""
        return self._get_as_media(path, media_type, params).content

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.request("POST", path, params=_clean(params), json=body)

    def delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params=_clean(params))

    # --- typed: the answer parsed into its model (govcloud.api.models) -------------------

    def get_as(self, model: type[M], path: str, **params: Any) -> M:
        """``GET path``, the answer parsed into ``model`` (the route's response model)."""
        return model.model_validate(self.get(path, **params))

    def post_as(self, model: type[M], path: str, body: Any = None, **params: Any) -> M:
        return model.model_validate(self.post(path, body, **params))

    def delete_as(self, model: type[M], path: str, **params: Any) -> M:
        return model.model_validate(self.delete(path, **params))

    def whoami(self) -> models.WhoAmI:
        return self.get_as(models.WhoAmI, "/whoami")

    def status(self) -> models.Status:
        return self.get_as(models.Status, "/status")

    def replicas_status(self) -> models.ControlPlaneStatus:
        return self.get_as(models.ControlPlaneStatus, "/status/replicas")

    def sync_status(self) -> models.SyncStatus:
        return self.get_as(models.SyncStatus, "/sync/status")

    def sync(self, *, full: bool = False, sites: list[str] | None = None
             ) -> models.SyncAnswer:
        return self.post_as(models.SyncAnswer, "/sync", {"full": full, "sites": sites})

    def capacity(self, *, site: str | None = None, flavor: str | None = None,
                 what_if_lose: str | None = None,
                 fit: list[str] | None = None) -> models.Capacity:
        return self.get_as(models.Capacity, "/capacity", site=site, flavor=flavor,
                           what_if_lose=what_if_lose, fit=fit)

    def servers(self, *, department: str | None = None, site: str | None = None,
                status: str | None = None, limit: int | None = None,
                cursor: str | None = None, changed_since: str | None = None
                ) -> models.ServerPage:
        return self.get_as(models.ServerPage, "/servers", department=department, site=site,
                           status=status, limit=limit, cursor=cursor,
                           changed_since=changed_since)

    def server_detail(self, site: str, server_id: str) -> models.ServerDetail:
        return self.get_as(models.ServerDetail, api_path("servers", site, server_id))

    def hypervisors(self, *, site: str | None = None) -> models.Hypervisors:
        return self.get_as(models.Hypervisors, "/hypervisors", site=site)

    def usage(self) -> models.Usage:
        return self.get_as(models.Usage, "/usage")

    def probes(self) -> models.Probes:
        return self.get_as(models.Probes, "/health/probes")

    def departments(self) -> models.DepartmentList:
        return self.get_as(models.DepartmentList, "/departments")

    def department(self, code: str) -> models.DepartmentView:
        return self.get_as(models.DepartmentView, api_path("departments", code))

    def requests(self, *, state: list[str] | None = None, department: str | None = None,
                 limit: int | None = None) -> models.RequestList:
        return self.get_as(models.RequestList, "/requests", state=state,
                           department=department, limit=limit)

    def provision_request(self, request_id: int, *, after_event: int | None = None
                          ) -> models.RequestDetail:
        return self.get_as(models.RequestDetail, api_path("requests", request_id),
                           after_event=after_event)

    def waves(self, *, department: str | None = None) -> models.WaveList:
        return self.get_as(models.WaveList, "/migrate/waves", department=department)

    def wave(self, wave_id: str, *, gate: int | None = None) -> models.WaveDetail:
        return self.get_as(models.WaveDetail, api_path("migrate", "waves", wave_id),
                           gate=gate)

    def wave_events(self, wave_id: str, *, after: int = 0) -> models.WaveEvents:
        return self.get_as(models.WaveEvents,
                           api_path("migrate", "waves", wave_id, "events"), after=after)

    def hosts(self, *, department: str | None = None) -> models.HostList:
        return self.get_as(models.HostList, "/hosts", department=department)

    def principals(self, *, role: str | None = None) -> models.PrincipalList:
        return self.get_as(models.PrincipalList, "/principals", role=role)

    def audit(self, **params: Any) -> models.AuditPage:
        return self.get_as(models.AuditPage, "/audit", **params)

    def audit_verify(self, **anchor: Any) -> models.AuditVerification:
        """``anchor``: ``anchor_seq``, ``anchor_hash``, ``anchor_at``, ``anchor_key_id`` and
        ``anchor_mac`` of a checkpoint the chain must still reach (or none)."""
        return self.get_as(models.AuditVerification, "/audit/verify", **anchor)

    # --- principals ----------------------------------------------------------------------

    def add_principal(self, name: str, *, role: str, person: str, city: str | None,
                      department: str | None, ttl_days: float | None) -> models.NewToken:
        """A new principal and its token (``ttl_days`` None: it never expires)."""
        return self.post_as(models.NewToken, "/principals",
                            {"name": name, "role": role, "person": person, "city": city,
                             "department": department, "ttl_days": ttl_days})

    def approve_principal(self, name: str) -> models.PrincipalAnswer:
        return self.post_as(models.PrincipalAnswer, api_path("principals", name, "approve"))

    def rotate_token(self, name: str, *, ttl_days: float | None) -> models.NewToken:
        return self.post_as(models.NewToken, api_path("principals", name, "rotate"),
                            {"ttl_days": ttl_days})

    def revoke_principal(self, name: str) -> models.PrincipalAnswer:
        return self.delete_as(models.PrincipalAnswer, api_path("principals", name))

    # --- tenancy -------------------------------------------------------------------------

    def tenancy_plan(self, *, departments: list[str] | None = None) -> models.TenancyPlan:
        return self.get_as(models.TenancyPlan, "/tenants/plan", department=departments or None)

    def tenancy_apply(self, *, departments: list[str] | None = None,
                      change: int | None = None) -> models.TenancyApplied:
        return self.post_as(models.TenancyApplied, "/tenants/apply",
                            department=departments or None, change=change)

    # --- provisioning requests -----------------------------------------------------------

    def submit_request(self, spec: Any) -> models.Submitted:
        """Submit a request file's data as it was read (the server checks it)."""
        return self.post_as(models.Submitted, "/requests", spec)

    def decide_request(self, request_id: int, verb: str, *, reason: str | None = None
                       ) -> models.ProvisionRequest:
        """``verb``: approve (no body), reject or cancel (with ``reason``)."""
        body = None if verb == "approve" else {"reason": reason}
        return self.post_as(models.ProvisionRequest, api_path("requests", request_id, verb),
                            body)

    # --- legacy hosts and the inventory --------------------------------------------------

    def import_hosts(self, text: str, *, name: str) -> models.Imported:
        return self.post_as(models.Imported, "/hosts/import", {"text": text, "name": name})

    def host_key(self, host: str) -> models.HostKey:
        return self.get_as(models.HostKey, api_path("hosts", host, "key"))

    def trust_host(self, host: str, *, fingerprint: str, replace: bool = False
                   ) -> models.TrustedKey:
        return self.post_as(models.TrustedKey, api_path("hosts", host, "trust"),
                            {"fingerprint": fingerprint, "replace": replace})

    def inventory(self) -> models.AnsibleInventory:
        return self.get_as(models.AnsibleInventory, "/inventory")

    # --- migration -----------------------------------------------------------------------

    def survey(self, department: str, *, hosts: list[str] | None = None
               ) -> models.SurveyAnswer:
        return self.post_as(models.SurveyAnswer, "/migrate/survey",
                            {"department": department, "hosts": hosts})

    def plan_waves(self, department: str, *, first_window: str | None = None,
                   max_hosts: int | None = None, window_hours: float | None = None,
                   every_days: int | None = None) -> models.PlanAnswer:
        """Plan the department's waves; an option left None is the server's default."""
        body = _clean({"department": department, "max_hosts": max_hosts,
                       "window_hours": window_hours, "every_days": every_days,
                       "first_window": first_window})
        return self.post_as(models.PlanAnswer, "/migrate/plan", body)

    def signoff(self, department: str, *, note: str | None = None) -> models.SignedOff:
        return self.post_as(models.SignedOff, "/migrate/signoff",
                            {"department": department, "note": note})

    def override_wave(self, wave_id: str, *, reason: str) -> models.Overridden:
        return self.post_as(models.Overridden, api_path("migrate", "waves", wave_id, "override"),
                            {"reason": reason})

    def run_wave(self, wave_id: str, *, hook: str | None = None,
                 outside_window_reason: str | None = None,
                 change: int | None = None,
                 trust_on_first_use: str | None = None) -> models.RunStarted:
        """Run (or resume) a wave; with ``outside_window_reason`` although its window is
        not open (audited with that reason); under ``change`` (docs/changes.md), or planned
        for its window when it has not opened; with ``trust_on_first_use`` (a reason)
        trusting the first key of a target whose cloud shows none (audited)."""
        body: dict[str, Any] = {"hook": hook}
        if outside_window_reason is not None:
            body |= {"outside_window": True, "reason": outside_window_reason}
        if change is not None:
            body["change"] = change
        if trust_on_first_use is not None:
            body["trust_on_first_use"] = trust_on_first_use
        return self.post_as(models.RunStarted, api_path("migrate", "waves", wave_id, "run"),
                            body)

    def rollback(self, target: str, *, change: int | None = None) -> models.RunStarted:
        """Roll back a wave or one host (``target``: a wave id or a host name)."""
        body: dict[str, Any] = {"target": target}
        if change is not None:
            body["change"] = change
        return self.post_as(models.RunStarted, "/migrate/rollback", body)

    def cancel_wave(self, wave_id: str) -> models.WaveCancelled:
        return self.post_as(models.WaveCancelled,
                            api_path("migrate", "waves", wave_id, "cancel"))

    def dr_posture(self, *, department: str | None = None, city: str | None = None
                   ) -> models.DrPosture:
        return self.get_as(models.DrPosture, "/dr/posture", department=department, city=city)

    def dr_system(self, department: str, system: str) -> models.DrSystemDetail:
        return self.get_as(models.DrSystemDetail, api_path("dr", "systems", department, system))

    def dr_protect(self, *, department: str | None = None, system: str | None = None,
                   paths: list[str] | None = None) -> models.DrProtectRun:
        body = {k: v for k, v in (("department", department), ("system", system),
                                  ("paths", paths)) if v is not None}
        return self.post_as(models.DrProtectRun, "/dr/protect", body)

    def dr_adopt(self, department: str, system: str, servers: list[str], *,
                 level: int | None = None) -> models.DrAdopted:
        body: dict[str, object] = {"department": department, "system": system,
                                   "servers": servers}
        if level is not None:
            body["level"] = level
        return self.post_as(models.DrAdopted, "/dr/adopt", body)

    def dr_protect_run(self, run_id: str, *, after: int = 0) -> models.DrProtectRun:
        return self.get_as(models.DrProtectRun, f"/dr/protect/{quote(run_id, safe='')}",
                           after=after)

    def list_price_sheets(self) -> models.PriceSheetList:
        return self.get_as(models.PriceSheetList, "/reports/prices")

    def propose_price_sheet(self, document: str) -> models.PriceSheetAnswer:
        return self.post_as(models.PriceSheetAnswer, "/reports/prices", {"document": document})

    def approve_price_sheet(self, version: str) -> models.PriceSheetAnswer:
        return self.post_as(models.PriceSheetAnswer,
                            api_path("reports", "prices", version, "approve"))

    def statements(self, what: str, month: str, *, department: str | None = None,
                   city: str | None = None) -> models.StatementReport:
        """``what`` is ``statements`` or ``usage``: a month's report as the caller may see it."""
        return self.get_as(models.StatementReport, api_path("reports", what, month),
                           department=department, city=city)

    def statements_file(self, what: str, month: str, fmt: str, *,
                        department: str | None = None,
                        city: str | None = None) -> models.ReportFile:
        return self.get_as(models.ReportFile, api_path("reports", what, month, "export"),
                           format=fmt, department=department, city=city)

    def scorecard(self, month: str) -> models.Scorecard:
        return self.get_as(models.Scorecard, api_path("reports", "scorecard", month))

    def close_month(self, month: str) -> models.MonthClosed:
        return self.post_as(models.MonthClosed, api_path("reports", "statements", month,
                                                         "close"))

    def notifications(self, *, state: str | None = None, department: str | None = None,
                      limit: int = 100, before: int | None = None) -> models.NotificationList:
        return self.get_as(models.NotificationList, "/notifications", state=state,
                           department=department, limit=limit, before=before)

    def retry_notification(self, notification_id: int) -> models.Notification:
        return self.post_as(models.Notification,
                            api_path("notifications", notification_id, "retry"))

    def backfill(self, start: str, end: str, *, site: str | None = None) -> models.Backfilled:
        """Fill the metering's hours from ``start`` to ``end`` (ISO 8601 times)."""
        return self.post_as(models.Backfilled, api_path("reports", "backfill"),
                            _clean({"from": start, "to": end, "site": site}))

    def openapi(self) -> dict[str, Any]:
        """The server's OpenAPI document (a JSON Schema document, not a govcloud answer)."""
        document = self.get("/openapi.json")
        return document if isinstance(document, dict) else {}


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}
