"""Lose-a-site what-if: if one datacentre fails, whose load must move where, and does it fit?

The DR policy table says, by a department's DR level (GB/T 20988, 1–6), where its load goes
when its primary site (production, or a city cloud) is lost:

| DR level | on losing the primary site |
| --- | --- |
| 5–6 | fails over to the same-city DR site (DR-LOCAL) |
| 3–4 | fails over to the remote DR site (DR-REMOTE) |
| 1–2 | no failover: restored later, listed as not protected |

Where the ``dr_city_sites`` setting says so, a city's own tenants whose load must move go to
their city's site (a city cloud, or the city's region of a shared one) instead of the DR site
the table names, when that site is not the one lost (``city_dr``; docs/city-clouds.md).

Losing a DR site moves nothing (production keeps serving); the departments whose DR copies
lived there are listed as having lost their copies. A department's load already in the
receiving site (its standbys) is credited against what it needs there, unless
``credit_standbys=False``. Only placed servers count: a cold copy is shelved and offloaded (on no
host, holding nothing), so it is no credit, and the capacity it needs on recovery is counted
in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from govcloud.domain.capacity import Resources
from govcloud.domain.inventory import ServerInfo
from govcloud.domain.sites import Site, SiteRole
from govcloud.errors import InvalidInput, NotFound

DR_LEVELS = range(1, 7)
PRIMARY_ROLES = frozenset({SiteRole.PRODUCTION, SiteRole.CITY})


@dataclass(frozen=True, slots=True)
class Load:
    """What a department runs in a site: its placed servers and the resources they hold."""

    servers: int = 0
    resources: Resources = Resources()

    def __add__(self, other: Load) -> Load:
        return Load(self.servers + other.servers, self.resources + other.resources)

    def to_dict(self) -> dict[str, Any]:
        return {"servers": self.servers, **self.resources.to_dict()}


def department_loads(servers: Iterable[ServerInfo],
                     department_of: Mapping[str, str]) -> dict[str, Load]:
    """Sum the placed servers of one site per department.

    ``department_of`` maps project ids to department codes; a project not in it is counted
    under its own id (so nothing silently disappears). Servers on no host (failed to
    schedule, or shelved and offloaded: a cold copy) hold nothing and are left out.
    """
    loads: dict[str, Load] = {}
    for server in servers:
        if not server.placed:
            continue
        key = department_of.get(server.project_id, server.project_id)
        loads[key] = loads.get(key, Load()) + Load(1, server.resources())
    return loads


@dataclass(frozen=True, slots=True)
class FailoverRule:
    """For DR levels ``min_level``..``max_level``: the role of the site load fails over to,
    or None when there is no failover (restored later)."""

    min_level: int
    max_level: int
    target: SiteRole | None
    note: str = ""

    def covers(self, level: int) -> bool:
        return self.min_level <= level <= self.max_level


DR_POLICY: tuple[FailoverRule, ...] = (
    FailoverRule(5, 6, SiteRole.SAME_CITY_DR, "fails over to the same-city DR site"),
    FailoverRule(3, 4, SiteRole.REMOTE_DR, "fails over to the remote DR site"),
    FailoverRule(1, 2, None, "no failover: restored later"),
)


def check_policy(policy: Sequence[FailoverRule]) -> None:
    """Every DR level 1–6 must be covered by exactly one rule."""
    for level in DR_LEVELS:
        rules = [r for r in policy if r.covers(level)]
        if len(rules) != 1:
            raise InvalidInput(f"DR policy: level {level} is covered by {len(rules)} rules",
                               hint="cover each DR level 1–6 exactly once")


def rule_for(level: int, policy: Sequence[FailoverRule] = DR_POLICY) -> FailoverRule:
    if level not in DR_LEVELS:
        raise InvalidInput(f"DR level {level} is outside 1–6 (GB/T 20988)")
    for rule in policy:
        if rule.covers(level):
            return rule
    raise InvalidInput(f"DR policy has no rule for level {level}")


@dataclass(frozen=True, slots=True)
class Move:
    """A department's load leaving the lost site for ``target``.

    ``need`` is what it needs there beyond its ``standby`` load already running in the target:
    max(0, load − standby) per resource (with ``credit_standbys`` off, need = load).
    """

    department: str
    dr_level: int
    source: str
    target: str
    load: Load
    standby: Resources
    need: Resources

    def to_dict(self) -> dict[str, Any]:
        return {"department": self.department, "dr_level": self.dr_level,
                "source": self.source, "target": self.target, "load": self.load.to_dict(),
                "standby": self.standby.to_dict(), "need": self.need.to_dict()}


@dataclass(frozen=True, slots=True)
class Stranded:
    """Load of the lost site that does not move: not protected, or only a DR copy."""

    department: str
    dr_level: int | None
    load: Load
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"department": self.department, "dr_level": self.dr_level,
                "load": self.load.to_dict(), "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Receiving:
    """One site taking load: is its free capacity enough, and what is short if not."""

    site: str
    free: Resources
    incoming: Resources  # Σ need of the moves into this site
    departments: tuple[str, ...]

    @property
    def shortfall(self) -> Resources:
        return self.incoming.shortfall(self.free)

    @property
    def fits(self) -> bool:
        return self.shortfall.is_zero

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "fits": self.fits, "free": self.free.to_dict(),
                "incoming": self.incoming.to_dict(), "shortfall": self.shortfall.to_dict(),
                "departments": list(self.departments)}


@dataclass(frozen=True, slots=True)
class WhatIfVerdict:
    """The answer to "what if ``lost_site`` fails?"."""

    lost_site: str
    moves: tuple[Move, ...]
    receiving: tuple[Receiving, ...]
    not_protected: tuple[Stranded, ...]  # primary load with no failover (or nowhere to go)
    copies_lost: tuple[Stranded, ...]  # DR copies that lived in a lost DR site

    @property
    def fits(self) -> bool:
        """Every receiving site can take what moves to it."""
        return all(r.fits for r in self.receiving)

    @property
    def lost_load(self) -> Load:
        total = Load()
        for load in (*(m.load for m in self.moves), *(s.load for s in self.not_protected),
                     *(s.load for s in self.copies_lost)):
            total = total + load
        return total

    def to_dict(self) -> dict[str, Any]:
        return {"lost_site": self.lost_site, "fits": self.fits,
                "lost_load": self.lost_load.to_dict(),
                "receiving": [r.to_dict() for r in self.receiving],
                "moves": [m.to_dict() for m in self.moves],
                "not_protected": [s.to_dict() for s in self.not_protected],
                "copies_lost": [s.to_dict() for s in self.copies_lost]}


def lose_site(lost: str, *, sites: Sequence[Site], free: Mapping[str, Resources],
              loads: Mapping[str, Mapping[str, Load]], dr_levels: Mapping[str, int],
              policy: Sequence[FailoverRule] = DR_POLICY,
              credit_standbys: bool = True,
              city_dr: Mapping[str, str] | None = None) -> WhatIfVerdict:
    """Work out what losing the site named ``lost`` means.

    ``free``: each surviving site's free capacity (use the headroom: up and enabled hosts);
    ``loads``: site → department → load; ``dr_levels``: department → DR level. When several
    sites share the target role, the first one in ``sites`` order receives the load.
    ``city_dr``: department → city, for the departments that fail over to their city's site
    (the ``dr_city_sites`` setting; empty or None: none).
    """
    check_policy(policy)
    by_name = {s.name: s for s in sites}
    if lost not in by_name:
        raise NotFound(f"no site named {lost!r}",
                       hint=f"choose one of {', '.join(by_name) or '(none configured)'}")
    lost_site = by_name[lost]
    lost_loads = loads.get(lost, {})
    if lost_site.role not in PRIMARY_ROLES:
        copies = tuple(
            Stranded(dept, dr_levels.get(dept), load,
                     f"DR copy in {lost} ({lost_site.role.value}) lost; primary keeps serving")
            for dept, load in sorted(lost_loads.items()))
        return WhatIfVerdict(lost, (), (), (), copies)

    moves: list[Move] = []
    stranded: list[Stranded] = []
    for dept, load in sorted(lost_loads.items()):
        level = dr_levels.get(dept)
        if level is None:
            stranded.append(Stranded(dept, None, load, "no DR level known"))
            continue
        rule = rule_for(level, policy)
        if rule.target is None:
            stranded.append(Stranded(dept, level, load, rule.note or "no failover"))
            continue
        target = _city_site(sites, (city_dr or {}).get(dept), lost) or next(
            (s for s in sites if s.role is rule.target and s.name != lost), None)
        if target is None:
            stranded.append(Stranded(dept, level, load,
                                     f"no {rule.target.value} site to fail over to"))
            continue
        standby = loads.get(target.name, {}).get(dept, Load()).resources \
            if credit_standbys else Resources()
        moves.append(Move(dept, level, lost, target.name, load, standby,
                          load.resources.shortfall(standby)))

    receiving: list[Receiving] = []
    for site in sites:
        into = [m for m in moves if m.target == site.name]
        if not into:
            continue
        if site.name not in free:
            raise InvalidInput(f"no free-capacity figure for receiving site {site.name}",
                               hint="read every surviving site before asking the what-if")
        incoming = Resources()
        for m in into:
            incoming = incoming + m.need
        receiving.append(Receiving(site.name, free[site.name], incoming,
                                   tuple(m.department for m in into)))
    return WhatIfVerdict(lost, tuple(moves), tuple(receiving), tuple(stranded), ())


def _city_site(sites: Sequence[Site], city: str | None, lost: str) -> Site | None:
    """The site of ``city`` that survives losing ``lost`` (None: no city, or none)."""
    if city is None:
        return None
    return next((s for s in sites if s.role is SiteRole.CITY and s.city == city
                 and s.name != lost), None)
