"""Provisioning requests: their format, their lifecycle and the DR policy table (pure).

A request asks for one *system* of a department: some groups of servers (name prefix, flavor,
image, count, network, volume sizes), a justification and a DR level. The DR level defaults to
the department's and may only be raised. The policy table turns the level into the sites that
get a copy (primary, standby, cold copy), by site role, so that it holds for any site names.

Lifecycle::

    submitted → approved | rejected | cancelled
    approved  → provisioning | cancelled
    provisioning → done | failed
    done → retired    (the system's retirement deleted its servers: docs/lifecycle.md)

``transition`` refuses every other move with a ``ConflictError`` that names the state the
request is in; the service audits each accepted move with who and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from govcloud.domain.limits import MAX_ITEMS, MAX_NAME, MAX_TEXT
from govcloud.domain.sites import Site, SiteRole
from govcloud.domain.text import control_characters, describe_controls
from govcloud.errors import ConflictError, InvalidInput

MAX_COUNT = 500            # servers in one group of one request
MAX_SERVERS = 2000         # servers in one request, over all groups and before copies
MAX_VOLUMES = 8            # volumes per server
MAX_VOLUME_GB = 16384
DR_LEVELS = range(1, 7)
# The request format's names and fields, also for the API's description of it
# (``govcloud.api.models.bodies.RequestSpecBody``); ``parse_request`` is what checks them.
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,40}[a-z0-9]$"   # a system, a server group's name_prefix
DEPARTMENT_PATTERN = r"^[a-z][a-z0-9-]*$"           # a department code
REQUEST_FIELDS = ("department", "system", "dr_level", "servers", "justification", "playbooks")
SERVER_FIELDS = ("name_prefix", "flavor", "image", "count", "network", "volumes")
_NAME = re.compile(NAME_PATTERN)
_DEPARTMENT = re.compile(DEPARTMENT_PATTERN)


class RequestState(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    PROVISIONING = "provisioning"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETIRED = "retired"  # a done request whose system was retired (its servers are gone)

    @property
    def final(self) -> bool:
        return self in (RequestState.REJECTED, RequestState.DONE, RequestState.FAILED,
                        RequestState.CANCELLED, RequestState.RETIRED)

    @property
    def holds_reservation(self) -> bool:
        """Approved and provisioning requests hold capacity and quota; the others do not."""
        return self in (RequestState.APPROVED, RequestState.PROVISIONING)


TRANSITIONS: Mapping[RequestState, frozenset[RequestState]] = {
    RequestState.SUBMITTED: frozenset({RequestState.APPROVED, RequestState.REJECTED,
                                       RequestState.CANCELLED}),
    RequestState.APPROVED: frozenset({RequestState.PROVISIONING, RequestState.CANCELLED}),
    # cancelled while provisioning: only a lifecycle request that waits (a retirement in
    # its grace period, one waiting for its change's window: services.lifecycle_cancel)
    RequestState.PROVISIONING: frozenset({RequestState.DONE, RequestState.FAILED,
                                          RequestState.CANCELLED}),
    RequestState.REJECTED: frozenset(),
    RequestState.DONE: frozenset({RequestState.RETIRED}),
    RequestState.FAILED: frozenset(),
    RequestState.CANCELLED: frozenset(),
    RequestState.RETIRED: frozenset(),
}


def transition(request_id: int | str, current: RequestState | str,
               target: RequestState | str) -> RequestState:
    """The new state, or a ConflictError when ``current`` cannot move to ``target``."""
    now, to = RequestState(current), RequestState(target)
    if to not in TRANSITIONS[now]:
        allowed = ", ".join(sorted(TRANSITIONS[now])) or "nothing (it is final)"
        raise ConflictError(f"request {request_id} is {now} and cannot become {to}",
                            hint=f"from {now} a request can become: {allowed}")
    return to


# --- the request format -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ServerGroupSpec:
    """Some identical servers of a system: ``count`` servers named ``<prefix>-<n>``."""

    name_prefix: str
    flavor: str
    image: str
    count: int
    network: str | tuple[tuple[str, str], ...]  # one name, or (site, name) pairs
    volumes: tuple[int, ...] = ()

    def network_for(self, site: str) -> str | None:
        """The network in ``site``: the one name everywhere, or that site's entry."""
        if isinstance(self.network, str):
            return self.network
        return dict(self.network).get(site)

    def to_dict(self) -> dict[str, Any]:
        network = self.network if isinstance(self.network, str) else dict(self.network)
        return {"name_prefix": self.name_prefix, "flavor": self.flavor, "image": self.image,
                "count": self.count, "network": network, "volumes": list(self.volumes)}


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """What a request asks for (``dr_level`` None: the department's own)."""

    department: str
    system: str
    servers: tuple[ServerGroupSpec, ...]
    justification: str
    dr_level: int | None = None
    playbooks: tuple[str, ...] = ()  # post-provision playbooks, by configured name

    @property
    def server_count(self) -> int:
        return sum(g.count for g in self.servers)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"department": self.department, "system": self.system,
                               "dr_level": self.dr_level,
                               "justification": self.justification,
                               "servers": [g.to_dict() for g in self.servers]}
        if self.playbooks:
            out["playbooks"] = list(self.playbooks)
        return out


def _problem(where: str, message: str, hint: str) -> InvalidInput:
    return InvalidInput(f"{where}: {message}", hint=hint)


def _refuse_controls(value: str, where: str, *, multiline: bool = False) -> None:
    """Free text (multiline) may have newlines and tabs; names may have no control at all."""
    found = control_characters(value, multiline=multiline)
    if found:
        raise _problem(where, f"contains control characters ({describe_controls(found)})",
                       "retype it without control or invisible characters")


def _text(data: Mapping[str, Any], key: str, where: str, *, pattern: re.Pattern[str] | None,
          hint: str, max_length: int = MAX_NAME) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _problem(f"{where}{key}", "is required and must be text", hint)
    value = value.strip()
    if len(value) > max_length:
        raise _problem(f"{where}{key}", f"is {len(value)} characters long, at most "
                                        f"{max_length} are allowed", hint)
    _refuse_controls(value, f"{where}{key}", multiline=pattern is None)
    if pattern is not None and not pattern.fullmatch(value):
        raise _problem(f"{where}{key}", f"{value!r} is not a valid name", hint)
    return value


def _int(value: Any, where: str, lo: int, hi: int, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _problem(where, f"must be a whole number, not {value!r}", hint)
    if not lo <= value <= hi:
        raise _problem(where, f"{value} is outside {lo}..{hi}", hint)
    return value


def _unknown_keys(data: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    extra = sorted(str(k) for k in data if k not in known)
    if extra:
        raise _problem(where or "request", f"unknown field(s) {', '.join(extra)}",
                       f"the fields are: {', '.join(known)} (docs/provisioning.md)")


def _network(value: Any, where: str) -> str | tuple[tuple[str, str], ...]:
    hint = ("a network name or id present in every target site, or one per site: "
            "{PROD: prod-net, DR-LOCAL: dr-local-net, DR-REMOTE: dr-remote-net}")
    if isinstance(value, str) and value.strip() and len(value.strip()) <= MAX_NAME:
        _refuse_controls(value.strip(), where)
        return value.strip()
    if isinstance(value, Mapping) and 0 < len(value) <= MAX_ITEMS and all(
            isinstance(k, str) and len(k) <= MAX_NAME and isinstance(v, str) and v.strip()
            and len(v.strip()) <= MAX_NAME for k, v in value.items()):
        for site, name in value.items():
            _refuse_controls(site, f"{where} (site key)")
            _refuse_controls(name.strip(), f"{where} ({site!r})")
        return tuple(sorted((k, v.strip()) for k, v in value.items()))
    raise _problem(where, "is required: a name, or a mapping of site to name (names of at "
                          f"most {MAX_NAME} characters)", hint)


def parse_group(data: Any, index: int) -> ServerGroupSpec:
    where = f"servers[{index}]."
    if not isinstance(data, Mapping):
        raise _problem(f"servers[{index}]", "must be a mapping",
                       "each entry has name_prefix, flavor, image, count, network, volumes")
    _unknown_keys(data, SERVER_FIELDS, f"servers[{index}]")
    prefix = _text(data, "name_prefix", where, pattern=_NAME,
                   hint="lower-case letters, digits and '-', 2–42 characters (e.g. web)")
    flavor = _text(data, "flavor", where, pattern=None, hint="a flavor name, e.g. gc.c4m8")
    image = _text(data, "image", where, pattern=None, hint="an image name or id")
    network = _network(data.get("network"), f"{where}network")
    count = _int(data.get("count"), f"{where}count", 1, MAX_COUNT,
                 f"ask for 1 to {MAX_COUNT} servers per group; split larger systems")
    raw_volumes = data.get("volumes", [])
    if raw_volumes is None:
        raw_volumes = []
    if not isinstance(raw_volumes, list):
        raise _problem(f"{where}volumes", "must be a list of sizes in GB", "e.g. volumes: [100]")
    if len(raw_volumes) > MAX_VOLUMES:
        raise _problem(f"{where}volumes", f"at most {MAX_VOLUMES} volumes per server",
                       "use fewer, larger volumes")
    volumes = tuple(_int(v, f"{where}volumes[{i}]", 1, MAX_VOLUME_GB,
                         f"a volume is 1 to {MAX_VOLUME_GB} GB")
                    for i, v in enumerate(raw_volumes))
    return ServerGroupSpec(prefix, flavor, image, count, network, volumes)


def parse_request(data: Any) -> RequestSpec:
    """A request from its YAML/JSON form; every problem names the field and the fix."""
    if not isinstance(data, Mapping):
        raise InvalidInput("a request must be a mapping (department, system, servers, ...)",
                           hint="see docs/examples/request.yaml")
    _unknown_keys(data, REQUEST_FIELDS, "")
    department = _text(data, "department", "", pattern=_DEPARTMENT,
                       hint="a department code from the catalogue, e.g. gd-psd")
    system = _text(data, "system", "", pattern=_NAME,
                   hint="lower-case letters, digits and '-', 2–42 characters")
    justification = _text(data, "justification", "", pattern=None, max_length=MAX_TEXT,
                          hint="say why the capacity is needed (the bureau reads it), in at "
                               f"most {MAX_TEXT} characters")
    level = data.get("dr_level")
    dr_level = None if level is None else _int(level, "dr_level", DR_LEVELS.start,
                                               DR_LEVELS.stop - 1, "DR levels are 1 to 6")
    raw = data.get("servers")
    if not isinstance(raw, list) or not raw:
        raise _problem("servers", "must be a non-empty list", "list at least one server group")
    if len(raw) > MAX_ITEMS:
        raise _problem("servers", f"{len(raw)} server groups (at most {MAX_ITEMS})",
                       "split the system into several requests")
    groups = tuple(parse_group(g, i) for i, g in enumerate(raw))
    prefixes = [g.name_prefix for g in groups]
    dupes = sorted({p for p in prefixes if prefixes.count(p) > 1})
    if dupes:
        raise _problem("servers", f"name_prefix {', '.join(dupes)} is used twice",
                       "give each group its own prefix")
    total = sum(g.count for g in groups)
    if total > MAX_SERVERS:
        raise _problem("servers", f"{total} servers in one request (at most {MAX_SERVERS})",
                       "split the system into several requests")
    raw_books = data.get("playbooks") or []
    if not isinstance(raw_books, list) or len(raw_books) > MAX_ITEMS or not all(
            isinstance(b, str) and b and len(b) <= MAX_NAME for b in raw_books):
        raise _problem("playbooks", f"must be a list of at most {MAX_ITEMS} playbook names "
                                    f"(each at most {MAX_NAME} characters)",
                       "e.g. playbooks: [base-hardening] (names from the provision_playbooks "
                       "setting)")
    for i, book in enumerate(raw_books):
        _refuse_controls(book, f"playbooks[{i}]")
    return RequestSpec(department, system, groups, justification, dr_level,
                       tuple(dict.fromkeys(raw_books)))


def effective_dr_level(spec: RequestSpec, department_level: int) -> int:
    """The request's level: the department's unless raised; lowering it is refused."""
    if spec.dr_level is None:
        return department_level
    if spec.dr_level < department_level:
        raise InvalidInput(
            f"dr_level {spec.dr_level} is below department {spec.department}'s level "
            f"{department_level}",
            hint="a request may only raise its DR level; leave dr_level out to use the "
                 "department's")
    return spec.dr_level


# --- the DR policy table ------------------------------------------------------------------------

class CopyKind(StrEnum):
    PRIMARY = "primary"
    STANDBY = "standby"
    COLD = "cold"


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """DR levels ``min_level..max_level`` get a copy of the system in each site role given."""

    min_level: int
    max_level: int
    copies: tuple[tuple[SiteRole, CopyKind], ...]

    def __post_init__(self) -> None:
        if not (DR_LEVELS.start <= self.min_level <= self.max_level < DR_LEVELS.stop):
            raise InvalidInput(f"DR policy rule {self.min_level}..{self.max_level}: levels "
                               "must satisfy 1 ≤ min_level ≤ max_level ≤ 6")
        kinds = [k for _, k in self.copies]
        if kinds.count(CopyKind.PRIMARY) != 1:
            raise InvalidInput(f"DR policy rule {self.min_level}..{self.max_level}: exactly "
                               "one copy must be the primary")
        roles = [r for r, _ in self.copies]
        if len(set(roles)) != len(roles):
            raise InvalidInput(f"DR policy rule {self.min_level}..{self.max_level}: a site "
                               "role appears twice")

    def to_dict(self) -> dict[str, Any]:
        return {"levels": [self.min_level, self.max_level],
                "copies": [{"site_role": r.value, "kind": k.value} for r, k in self.copies]}


@dataclass(frozen=True, slots=True)
class DrPolicy:
    """The whole table: every level 1..6 is covered by exactly one rule."""

    rules: tuple[PolicyRule, ...]

    def __post_init__(self) -> None:
        for level in DR_LEVELS:
            matching = [r for r in self.rules if r.min_level <= level <= r.max_level]
            if len(matching) != 1:
                raise InvalidInput(f"DR policy: level {level} is covered by {len(matching)} "
                                   "rules (it must be exactly one)",
                                   hint="see the dr_policy setting in docs/provisioning.md")

    def rule_for(self, level: int) -> PolicyRule:
        return next(r for r in self.rules if r.min_level <= level <= r.max_level)

    def targets(self, level: int, sites: Sequence[Site], *,
                city: str | None = None) -> list[SiteTarget]:
        """The sites a system of ``level`` goes to, primary first. A copy in a city site
        goes to the site of the department's ``city`` (a city's own tenant; a city site
        that names no city takes any department's): never another city's."""
        out = []
        for role, kind in self.rule_for(level).copies:
            fitting = [s for s in sites if s.role is role
                       and (role is not SiteRole.CITY or s.city in (None, city))]
            site = min(fitting, key=lambda s: s.city != city, default=None)
            if site is None:
                raise InvalidInput(f"DR level {level} needs a {kind} copy in a {role} site, and "
                                   "no such site is configured",
                                   hint="configure the site, or change the dr_policy setting")
            out.append(SiteTarget(site.name, kind))
        return out

    def to_list(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.rules]


@dataclass(frozen=True, slots=True)
class SiteTarget:
    site: str
    kind: CopyKind


DEFAULT_POLICY = DrPolicy((
    PolicyRule(5, 6, ((SiteRole.PRODUCTION, CopyKind.PRIMARY),
                      (SiteRole.SAME_CITY_DR, CopyKind.STANDBY),
                      (SiteRole.REMOTE_DR, CopyKind.COLD))),
    PolicyRule(3, 4, ((SiteRole.PRODUCTION, CopyKind.PRIMARY),
                      (SiteRole.REMOTE_DR, CopyKind.COLD))),
    PolicyRule(1, 2, ((SiteRole.PRODUCTION, CopyKind.PRIMARY),)),
))


def policy_from_config(rows: Sequence[Mapping[str, Any]]) -> DrPolicy:
    """The table from settings: ``[{levels: [5, 6], copies: [{site_role, kind}, ...]}]``."""
    rules = []
    for i, row in enumerate(rows):
        try:
            lo, hi = (int(x) for x in row["levels"])
            copies = tuple((SiteRole(c["site_role"]), CopyKind(c.get("kind", "primary")))
                           for c in row["copies"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"dr_policy[{i}]: {exc}",
                               hint="each rule is {levels: [lo, hi], copies: [{site_role: "
                                    "production, kind: primary}, ...]}") from None
        rules.append(PolicyRule(lo, hi, copies))
    return DrPolicy(tuple(rules))


# --- auto-approval ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AutoApprove:
    """A department's auto-approval: requests of at most ``max_vcpu`` vCPU in every site, at
    most ``per_month`` of them per calendar month. Capacity and quota are still checked."""

    department: str
    max_vcpu: int
    per_month: int

    @property
    def approver(self) -> str:
        """How the approver is shown on a request it approved."""
        return (f"policy:auto-approve {self.department} (≤ {self.max_vcpu} vCPU per site, "
                f"≤ {self.per_month} per month)")

    def decide(self, vcpu_per_site: int, approved_this_month: int) -> tuple[bool, str]:
        if vcpu_per_site > self.max_vcpu:
            return False, (f"needs {vcpu_per_site} vCPU in a site, above the auto-approval "
                           f"limit of {self.max_vcpu}: waiting for the bureau")
        if approved_this_month >= self.per_month:
            return False, (f"{approved_this_month} requests were auto-approved this month "
                           f"(limit {self.per_month}): waiting for the bureau")
        return True, f"within {self.approver[len('policy:'):]}"


def auto_approve_from_config(values: Mapping[str, Mapping[str, Any]]) -> dict[str, AutoApprove]:
    out = {}
    for code, v in values.items():
        try:
            out[code] = AutoApprove(code, int(v["max_vcpu"]), int(v["per_month"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"auto_approve.{code}: {exc}",
                               hint="each entry is {max_vcpu: N, per_month: M}") from None
    return out


# --- server names and idempotency keys ----------------------------------------------------------

TAG_PREFIX = "govcloud-req"
_INSTALLATION_ID = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True, slots=True)
class Installation:
    """This control-plane installation: one database, however many servers share it. Its
    ``id`` (12 hex digits, made once when the database is created or upgraded to installation
    ids) goes into every idempotency key, so that two installations provisioning in one cloud
    never take each other's servers for their own. Requests up to ``legacy_through`` were
    submitted before installation ids existed: their keys stay as they were made, so their
    servers are still adopted on a retry (docs/provisioning.md, "Idempotency keys")."""

    id: str
    legacy_through: int = 0

    def __post_init__(self) -> None:
        if not _INSTALLATION_ID.fullmatch(self.id):
            raise InvalidInput(f"invalid installation id {self.id!r}",
                               hint="12 lowercase hex digits (the installation table)")

    def predates(self, request_id: int | str) -> bool:
        """Whether request ``request_id`` was submitted before installation ids."""
        return str(request_id).isdigit() and int(request_id) <= self.legacy_through


@dataclass(frozen=True, slots=True)
class PlannedServer:
    """One server to create: where, what, and its idempotency key."""

    site: str
    kind: CopyKind
    ordinal: int          # 1-based within the request and site
    name: str
    flavor: str
    image: str
    network: str
    volumes: tuple[int, ...] = field(default=())

    def key(self, request_id: int | str, *, installation: Installation) -> str:
        return idempotency_key(request_id, self.site, self.ordinal, installation=installation)


def idempotency_key(request_id: int | str, site: str, ordinal: int, *,
                    installation: Installation) -> str:
    """The tag a server of a request carries (also in its metadata):
    ``govcloud-req-<request>-<site>-<ordinal>@<installation>`` — without ``@<installation>``
    for a request submitted before installation ids (``Installation.predates``). A key with
    an installation can never equal one without (its last ``-`` part is not a number)."""
    key = f"{TAG_PREFIX}-{request_id}-{site.lower()}-{ordinal}"
    return key if installation.predates(request_id) else f"{key}@{installation.id}"


def plan_servers(spec: RequestSpec, targets: Sequence[SiteTarget]) -> list[PlannedServer]:
    """Every server of the request in every target site, in a stable order."""
    out = []
    for target in targets:
        ordinal = 0
        for group in spec.servers:
            for n in range(1, group.count + 1):
                ordinal += 1
                name = f"{spec.system}-{group.name_prefix}-{n}"
                out.append(PlannedServer(target.site, target.kind, ordinal, name, group.flavor,
                                         group.image, group.network_for(target.site) or "",
                                         group.volumes))
    return out
