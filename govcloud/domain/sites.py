"""Sites: the datacentres govcloud manages, each one OpenStack region reached via clouds.yaml."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from govcloud.domain.rbac import GLOBAL, Action, Principal, Target, can
from govcloud.errors import InvalidInput

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_CITY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # a city code, as a principal's (rbac)


class SiteRole(StrEnum):
    """What a site is for, in the "two places, three centres" layout."""

    PRODUCTION = "production"
    SAME_CITY_DR = "same-city-dr"
    REMOTE_DR = "remote-dr"
    CITY = "city"


@dataclass(frozen=True, slots=True)
class Site:
    """One datacentre: its name in govcloud, and where its OpenStack region is.

    ``city`` is given for, and only for, a city site that belongs to one prefecture city (a
    city cloud, or a city's region of a shared one): that city's operators operate it, and its
    tenants are that city's (docs/city-clouds.md).
    """

    name: str
    cloud: str
    region: str
    role: SiteRole
    city: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise InvalidInput(
                f"invalid site name {self.name!r}",
                hint="use letters, digits, '-', '_' or '.', at most 63 characters (e.g. PROD)",
            )
        for field in ("cloud", "region"):
            if not getattr(self, field).strip():
                raise InvalidInput(f"site {self.name}: {field} must not be empty")
        if self.city is not None:
            if self.role is not SiteRole.CITY:
                raise InvalidInput(f"site {self.name}: a city is given only for a city site",
                                   hint="set role: city, or leave the city out")
            if not _CITY.fullmatch(self.city):
                raise InvalidInput(f"site {self.name}: invalid city code {self.city!r}",
                                   hint="a city's code from the catalogue, e.g. guangzhou")


def city_sites(sites: Iterable[Site], city: str) -> tuple[Site, ...]:
    """The sites of ``city``: the city sites that name it."""
    return tuple(s for s in sites if s.role is SiteRole.CITY and s.city == city)


def site_target(site: Site) -> Target:
    """What an action on a whole site (its hosts, its capacity) is aimed at, for RBAC: a city
    site of one city is that city's (its city-operators may act on it); every other site is
    the whole cloud's."""
    if site.role is SiteRole.CITY and site.city is not None:
        return Target(city=site.city)
    return GLOBAL


def sites_within(principal: Principal, action: Action, sites: Iterable[Site]
                 ) -> tuple[Site, ...]:
    """The sites on which ``principal`` may ``action``: every one for the roles over the whole
    cloud, its city's sites for a city-operator, none for a department-viewer."""
    return tuple(s for s in sites if can(principal, action, site_target(s)))


def default_sites(cloud: str = "govcloud-sim") -> tuple[Site, ...]:
    """The three centres of the embedded default (the simulator's regions)."""
    return (
        Site("PROD", cloud, "PROD", SiteRole.PRODUCTION),
        Site("DR-LOCAL", cloud, "DR-LOCAL", SiteRole.SAME_CITY_DR),
        Site("DR-REMOTE", cloud, "DR-REMOTE", SiteRole.REMOTE_DR),
    )


def check_sites(sites: Iterable[Site]) -> tuple[Site, ...]:
    """Validate a set of sites as a whole; returns them in a stable order (role, then name).

    Rules: at least one site; names unique; at most one production site; no two sites on the
    same cloud and region.
    """
    result = tuple(sites)
    if not result:
        raise InvalidInput("no sites configured", hint="configure at least one site under `sites`")
    names = [s.name for s in result]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"duplicate site names: {', '.join(dupes)}")
    production = [s.name for s in result if s.role is SiteRole.PRODUCTION]
    if len(production) > 1:
        raise InvalidInput(
            f"more than one production site: {', '.join(sorted(production))}",
            hint="exactly one site is the production datacentre; mark the others as DR or city",
        )
    seen: dict[tuple[str, str], str] = {}
    for s in result:
        other = seen.setdefault((s.cloud, s.region), s.name)
        if other != s.name:
            raise InvalidInput(
                f"sites {other} and {s.name} both point at cloud {s.cloud!r} region {s.region!r}"
            )
    order = list(SiteRole)
    return tuple(sorted(result, key=lambda s: (order.index(s.role), s.name)))
