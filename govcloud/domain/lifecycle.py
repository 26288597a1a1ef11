"""A system's life after provisioning (pure): scaling it, and the parts every lifecycle
request shares — its kind, the change it runs under, the system as it stands (its members in
every site) and a retirement's phases. Resizing is ``govcloud.domain.lifecycle_resize``.

A *system* is a department's provisioning request that is done, with the servers it and the
system's scale-outs made since (its *members*, one per site its DR level requires, named
``<system>-<prefix>-<n>``). Every lifecycle request is a provisioning request of another
``kind``: submitted, approved by the bureau (four eyes), reserved at approval and run by the
job worker like provisioning (docs/lifecycle.md).

Scaling keeps the DR policy's rule that every copy has the system's shape: a group of the
system holds, after the change, the members numbered 1..N in *every* site the DR level
requires. A scale-out adds the missing numbers, a scale-in removes the numbers above N
(highest first); ``--site`` may name only some sites when the others hold 1..N already (a
repair), never to leave the copies of different sizes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from govcloud.domain.limits import MAX_ITEMS, MAX_TEXT
from govcloud.domain.provisioning import (
    MAX_COUNT,
    CopyKind,
    PlannedServer,
    RequestSpec,
    ServerGroupSpec,
    SiteTarget,
)
from govcloud.domain.text import control_characters, describe_controls
from govcloud.errors import InvalidInput


class RequestKind(StrEnum):
    PROVISION = "provision"
    SCALE = "scale"
    RESIZE = "resize"
    RETIRE = "retire"


# the requests whose servers are the system's members (a resize changes them in place, a
# retirement deletes them)
MEMBER_KINDS = (RequestKind.PROVISION.value, RequestKind.SCALE.value)
LIFECYCLE_KINDS = (RequestKind.SCALE, RequestKind.RESIZE, RequestKind.RETIRE)
# a member row's statuses that are no longer a server of the system
GONE = frozenset({"deleted", "failed", "pending"})

CHANGE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
_CHANGE = re.compile(CHANGE_PATTERN)
MAX_GRACE_DAYS = 365
MAX_KEEP_DAYS = 3650


def parse_change(value: Any) -> str | None:
    """The change id a lifecycle request runs under (None: none given)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _CHANGE.fullmatch(value.strip()):
        raise InvalidInput(f"change id {str(value)[:80]!r} is not valid",
                           hint="a change id: letters, digits and ._:- (at most 64), e.g. "
                                "42, as `govcloud change list` shows it")
    return value.strip()


def justification(value: Any, default: str) -> str:
    """The request's justification: ``value`` (free text, bounded) or ``default``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if not isinstance(value, str):
        raise InvalidInput("the justification must be text", hint="say why, in a sentence")
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"the justification is {len(text)} characters long, at most "
                           f"{MAX_TEXT} are allowed", hint="shorten it")
    found = control_characters(text, multiline=True)
    if found:
        raise InvalidInput(f"the justification contains control characters "
                           f"({describe_controls(found)})",
                           hint="retype it without control or invisible characters")
    return text


# --- the system as it stands --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Member:
    """One server of the system in one site, as the requests that made it recorded it and
    the inventory last saw it (``flavor``, ``status`` and ``host``: None when not synced)."""

    site: str
    kind: CopyKind
    name: str
    server_id: str
    request_id: int
    ordinal: int
    key: str
    flavor: str | None = None
    status: str | None = None
    host: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "kind": self.kind.value, "name": self.name,
                "server_id": self.server_id, "request": self.request_id,
                "ordinal": self.ordinal, "key": self.key, "flavor": self.flavor,
                "status": self.status, "host": self.host}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Member:
        return cls(str(d["site"]), CopyKind(d["kind"]), str(d["name"]), str(d["server_id"]),
                   int(d["request"]), int(d["ordinal"]), str(d["key"]), d.get("flavor"),
                   d.get("status"), d.get("host"))


def split_name(system: str, name: str) -> tuple[str, int] | None:
    """A member's group prefix and number (``case-app-3`` of ``case``: ("app", 3))."""
    head = f"{system}-"
    if not name.startswith(head):
        return None
    prefix, _, number = name[len(head):].rpartition("-")
    if not prefix or not number.isdigit():
        return None
    return prefix, int(number)


@dataclass(frozen=True, slots=True)
class SystemView:
    """A system as it stands: its provisioning request, the sites its DR level requires
    (primary first), its shape (the groups and their counts, as the last scale left them)
    and its members."""

    department: str
    system: str
    dr_level: int
    request_id: int
    targets: tuple[SiteTarget, ...]
    shape: RequestSpec
    members: tuple[Member, ...]

    @property
    def sites(self) -> list[str]:
        return [t.site for t in self.targets]

    def kind_of(self, site: str) -> CopyKind:
        return next(t.kind for t in self.targets if t.site == site)

    def group(self, prefix: str | None) -> ServerGroupSpec:
        """The group ``prefix`` (None: the system's only one); InvalidInput naming the
        groups otherwise."""
        names = [g.name_prefix for g in self.shape.servers]
        if prefix is None:
            if len(names) == 1:
                return self.shape.servers[0]
            raise InvalidInput(f"{self.department}/{self.system} has {len(names)} server "
                               f"groups ({', '.join(names)}): say which to scale",
                               hint="pass --group PREFIX (API: \"group\")")
        for g in self.shape.servers:
            if g.name_prefix == prefix:
                return g
        raise InvalidInput(f"{self.department}/{self.system} has no server group "
                           f"{prefix!r} (groups: {', '.join(names)})",
                           hint="name one of its groups")

    def numbered(self, prefix: str, site: str) -> dict[int, Member]:
        """The group's members in ``site`` by number."""
        out = {}
        for m in self.members:
            parsed = split_name(self.system, m.name)
            if m.site == site and parsed is not None and parsed[0] == prefix:
                out[parsed[1]] = m
        return out

    def by_name(self) -> dict[str, list[Member]]:
        """Every member name with its servers, primary site first."""
        order = {s: i for i, s in enumerate(self.sites)}
        out: dict[str, list[Member]] = {}
        for m in sorted(self.members, key=lambda m: (m.name, order.get(m.site, 99))):
            out.setdefault(m.name, []).append(m)
        return out


# --- scaling --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """Scale group ``group`` (None: the only one) to ``servers`` in ``sites`` (empty: every
    site the DR level requires)."""

    servers: int
    group: str | None = None
    sites: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"servers": self.servers, "group": self.group, "sites": list(self.sites)}


def scale_spec(servers: Any, group: Any = None, sites: Any = None) -> ScaleSpec:
    """A scale's parameters, checked (a count of 1..``MAX_COUNT``, a group prefix, site
    names)."""
    if isinstance(servers, bool) or not isinstance(servers, int) or \
            not 1 <= servers <= MAX_COUNT:
        raise InvalidInput(f"servers must be a whole number from 1 to {MAX_COUNT}, not "
                           f"{str(servers)[:40]!r}",
                           hint="the number of servers of the group in each site after the "
                                "change; to remove the whole system, retire it")
    if group is not None and (not isinstance(group, str) or not group.strip()
                              or len(group) > 64 or control_characters(group)):
        raise InvalidInput("group must be a server group's name prefix (e.g. app)",
                           hint="`govcloud system show DEPT SYSTEM` lists its groups")
    chosen: tuple[str, ...] = ()
    if sites:
        if not isinstance(sites, (list, tuple)) or len(sites) > MAX_ITEMS or not all(
                isinstance(s, str) and 0 < len(s) <= 64 and not control_characters(s)
                for s in sites):
            raise InvalidInput("sites must be a list of site names",
                               hint="e.g. --site PROD --site DR-LOCAL")
        chosen = tuple(dict.fromkeys(sites))
    return ScaleSpec(servers, group.strip() if isinstance(group, str) else None, chosen)


@dataclass(frozen=True, slots=True)
class ScalePlan:
    """What a scale does: the servers it adds (its own ordinals, per site) and the members it
    removes (highest number first), and the system's shape afterwards."""

    group: str
    count: int
    adds: tuple[PlannedServer, ...]
    removes: tuple[Member, ...]
    shape: RequestSpec

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "count": self.count,
                "adds": [{"site": p.site, "kind": p.kind.value, "ordinal": p.ordinal,
                          "name": p.name, "flavor": p.flavor, "image": p.image,
                          "network": p.network, "volumes": list(p.volumes)}
                         for p in self.adds],
                "removes": [m.to_dict() for m in self.removes],
                "shape": self.shape.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], shape: RequestSpec) -> ScalePlan:
        adds = tuple(PlannedServer(a["site"], CopyKind(a["kind"]), int(a["ordinal"]),
                                   a["name"], a["flavor"], a["image"], a["network"],
                                   tuple(int(v) for v in a.get("volumes", ())))
                     for a in d.get("adds", ()))
        removes = tuple(Member.from_dict(m) for m in d.get("removes", ()))
        return cls(str(d["group"]), int(d["count"]), adds, removes, shape)

    def added_in(self, site: str) -> list[PlannedServer]:
        return [p for p in self.adds if p.site == site]


def _new_flavor(view: SystemView, group: ServerGroupSpec) -> str:
    """The flavor new servers of ``group`` get: that of its highest-numbered member in the
    primary site as the inventory sees it (after a resize of every member, the new one),
    else the group's own."""
    primary = view.targets[0].site
    members = view.numbered(group.name_prefix, primary)
    for number in sorted(members, reverse=True):
        if members[number].flavor:
            return str(members[number].flavor)
    return group.flavor


def plan_scale(view: SystemView, spec: ScaleSpec) -> ScalePlan:
    """The scale of ``view`` that ``spec`` asks for; InvalidInput when it would leave the
    copies of different sizes, names a site the system is not in, or changes nothing."""
    group = view.group(spec.group)
    unknown = [s for s in spec.sites if s not in view.sites]
    if unknown:
        raise InvalidInput(f"{view.department}/{view.system} is not in "
                           f"{', '.join(unknown)} (its DR level {view.dr_level} puts it in "
                           f"{', '.join(view.sites)})", hint="leave out --site to scale "
                                                             "every site it is in")
    chosen = list(spec.sites) or view.sites
    wanted = set(range(1, spec.servers + 1))
    for site in view.sites:
        if site in chosen:
            continue
        present = set(view.numbered(group.name_prefix, site))
        if present != wanted:
            raise InvalidInput(
                f"DR level {view.dr_level} keeps a copy of the same shape in every site: "
                f"{site} has {len(present)} servers of group {group.name_prefix} and would not "
                f"be scaled to {spec.servers}",
                hint=f"leave out --site, or name {site} too")
    adds: list[PlannedServer] = []
    removes: list[Member] = []
    flavor = _new_flavor(view, group)
    for site in view.sites:
        if site not in chosen:
            continue
        have = view.numbered(group.name_prefix, site)
        kind = view.kind_of(site)
        for ordinal, number in enumerate(sorted(wanted - set(have)), start=1):
            adds.append(PlannedServer(site, kind, ordinal,
                                      f"{view.system}-{group.name_prefix}-{number}", flavor,
                                      group.image, group.network_for(site) or "",
                                      group.volumes))
        removes += [have[n] for n in sorted(set(have) - wanted, reverse=True)]
    if not adds and not removes:
        raise InvalidInput(f"{view.department}/{view.system} already has {spec.servers} "
                           f"servers of group {group.name_prefix} in "
                           f"{', '.join(chosen)}: nothing to change",
                           hint="ask for another number of servers")
    groups = tuple(dataclasses.replace(g, count=spec.servers)
                   if g.name_prefix == group.name_prefix else g for g in view.shape.servers)
    shape = dataclasses.replace(view.shape, servers=groups)
    return ScalePlan(group.name_prefix, spec.servers, tuple(adds), tuple(removes), shape)


# --- retirement --------------------------------------------------------------------------------

class RetirePhase(StrEnum):
    """Where a retirement is: its servers being shut off, the grace period (shut off, the
    worker waits), the final snapshots and the deletion, the snapshots kept (the worker
    waits), then done."""

    SHUTOFF = "shutting-off"
    GRACE = "grace"
    DELETE = "deleting"
    KEEP = "keeping-snapshots"
    RESTORE = "restoring"  # cancelled in its grace period: the servers started again


# a lifecycle request whose change does not let it run now (its window has not opened, or
# closed between two members of a resize, a freeze began): the job worker leaves it alone
# and the change-window worker takes it up again (docs/lifecycle.md, "The change gate")
WAITING_WINDOW = "waiting-window"


@dataclass(frozen=True, slots=True)
class RetireSpec:
    grace_days: float
    keep_days: float

    def to_dict(self) -> dict[str, Any]:
        return {"grace_days": self.grace_days, "keep_days": self.keep_days}


def retire_spec(grace_days: Any, keep_days: Any) -> RetireSpec:
    """A retirement's grace period and snapshot retention, in days (0 allowed: no grace,
    snapshots deleted at once)."""
    for what, value, most in (("grace_days", grace_days, MAX_GRACE_DAYS),
                              ("keep_days", keep_days, MAX_KEEP_DAYS)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                value != value or not 0 <= value <= most:
            raise InvalidInput(f"{what} must be a number of days from 0 to {most}, not "
                               f"{str(value)[:40]!r}",
                               hint="e.g. --grace-days 14 (the servers stay shut off that "
                                    "long before they are deleted)")
    return RetireSpec(float(grace_days), float(keep_days))


def snapshot_name(request_id: int, server_name: str) -> str:
    """The name of a retirement's final snapshot of a server (found again by it on resume)."""
    return f"govcloud-retire-{request_id}-{server_name}"[:255]


def backup_name(request_id: int, volume_id: str) -> str:
    """The name of a retirement's final backup of a member's volume (found again by it)."""
    return f"govcloud-retire-{request_id}-volume-{volume_id}"[:255]
