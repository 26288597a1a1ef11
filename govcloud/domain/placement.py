"""Placement of a request in each of its target sites, with reasons (pure).

For every site the DR policy names, three checks, each explaining itself when it fails:

1. **quota** — the department project's Nova quota (cores, ram, instances): limit − in use −
   what other approved requests already reserved there must cover the request (the limit no
   higher than the catalogue's, ``capped``);
2. **capacity** — the site's headroom under allocation ratios and reserved amounts (Placement's
   ``(total − reserved) × ratio − used`` on hosts that are up and enabled), minus what other
   requests reserved in the site, must cover the request;
3. **fit** — each server must land on one host (a flavor never spans hosts); with the
   anti-affinity policy the members of the system in one site need distinct hosts. Servers are
   placed largest first on the host with the most free RAM, as Nova's default weigher spreads.

A quota limit of −1 is unlimited, as in Nova.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from govcloud.domain.capacity import MEMORY_MB, FlavorSpec, Host, Resources, site_capacity
from govcloud.domain.catalogue import SiteQuota
from govcloud.domain.provisioning import CopyKind, RequestSpec, SiteTarget

ANTI_AFFINITY = "anti-affinity"
SOFT_ANTI_AFFINITY = "soft-anti-affinity"


@dataclass(frozen=True, slots=True)
class Quota:
    """One Nova quota of the department's project in a site (limit −1: unlimited)."""

    limit: int
    in_use: int = 0

    def room(self, reserved: int) -> int | None:
        """What is left after use and reservations; None when unlimited."""
        return None if self.limit < 0 else self.limit - self.in_use - reserved


@dataclass(frozen=True, slots=True)
class Demand:
    """What a request needs in one site: resources for Placement and Nova quota units."""

    resources: Resources = Resources()
    instances: int = 0

    def __add__(self, other: Demand) -> Demand:
        return Demand(self.resources + other.resources, self.instances + other.instances)

    def __sub__(self, other: Demand) -> Demand:
        return Demand(self.resources - other.resources, self.instances - other.instances)

    @property
    def cores(self) -> int:
        return self.resources.vcpu

    @property
    def ram_mb(self) -> int:
        return self.resources.ram_mb

    def to_dict(self) -> dict[str, int]:
        return {**self.resources.to_dict(), "instances": self.instances}


@dataclass(frozen=True, slots=True)
class SiteInput:
    """What placement knows of one site: its hosts, flavors, the department's quotas there and
    what other approved requests hold (``reserved``)."""

    site: str
    hosts: Sequence[Host]
    flavors: Mapping[str, FlavorSpec]
    quotas: Mapping[str, Quota]          # Nova names: cores, ram, instances
    reserved_capacity: Demand = Demand()  # every department's reservations in the site
    reserved_quota: Demand = Demand()     # this department's reservations in the site
    project_id: str | None = None
    headroom: Resources | None = None     # the hosts' headroom, when already summed
    fit_index: FitIndex | None = None     # ``FitIndex(hosts)``, when already built
    # a scale-out's system already there: its members in the site's server group (which
    # exists then) and the hosts the running ones are on (anti-affinity keeps new ones off)
    group_members: int = 0
    members_on: Mapping[str, int] = field(default_factory=dict)

    def site_headroom(self) -> Resources:
        if self.headroom is not None:
            return self.headroom
        return site_capacity(self.site, self.hosts).headroom


@dataclass(frozen=True, slots=True)
class SitePlacement:
    site: str
    kind: CopyKind
    demand: Demand
    problems: tuple[str, ...] = ()
    hosts: Mapping[str, int] = field(default_factory=dict)  # host → servers placed there
    quotas: tuple[str, ...] = ()  # the catalogue quota fields that do not cover the request
    short: bool = False  # the site's capacity or per-host fit does not cover it

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "kind": self.kind.value, "demand": self.demand.to_dict(),
                "ok": self.ok, "problems": list(self.problems),
                "hosts_used": len(self.hosts)}


@dataclass(frozen=True, slots=True)
class Placement:
    sites: tuple[SitePlacement, ...]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sites)

    @property
    def problems(self) -> list[str]:
        return [p for s in self.sites for p in s.problems]

    def explain(self) -> str:
        return "; ".join(self.problems) if self.problems else "fits in every site"

    def advice(self, department: str) -> str:
        """What would make the request fit, naming the limits that stop it: the catalogue
        quota fields to raise (``tenants/<department>.yaml``, then ``govcloud tenants
        apply``), the sites short of capacity."""
        quotas = [f"quotas.{s.site}.{name}" for s in self.sites for name in s.quotas]
        short = [s.site for s in self.sites if s.short]
        members = any("server_group_members" in s.quotas for s in self.sites)
        parts = []
        if quotas:
            parts.append(f"raise {', '.join(quotas)} in tenants/{department}.yaml and run "
                         "`govcloud tenants apply`"
                         + (" (or split the system into smaller ones)" if members else ""))
        if short:
            parts.append(f"free capacity in {', '.join(short)} (or wait for other requests to "
                         "finish)")
        parts.append("ask for less")
        return "; or ".join(parts) + "; the request stays submitted"

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "sites": [s.to_dict() for s in self.sites],
                "explanation": self.explain()}


@lru_cache(maxsize=1024)
def one_server(flavor: FlavorSpec) -> tuple[Resources, Mapping[str, int]]:
    """What one server of ``flavor`` asks of Placement, as resources and by resource class
    (worked out once per flavor: a batch of approvals places the same few flavors again and
    again; the mapping is read-only)."""
    one = flavor.request()
    return one, MappingProxyType(one.by_class())


# the quotas placement checks: Nova's name → the catalogue's field
CHECKED_QUOTAS = {"cores": "cores", "ram": "ram_mb", "instances": "instances",
                  "server_groups": "server_groups",
                  "server_group_members": "server_group_members"}


def catalogue_limits(quota: SiteQuota) -> dict[str, int]:
    """A catalogue entry's quotas in one site by the names placement checks (Nova's)."""
    return {nova: quota.get(name) for nova, name in CHECKED_QUOTAS.items()}


def capped(quotas: Mapping[str, Quota], limits: Mapping[str, int]) -> dict[str, Quota]:
    """``quotas`` (as last read from the cloud) with each limit no higher than ``limits``
    (what govcloud applies: the catalogue's): a quota lowered in the catalogue binds
    approvals at once, whatever the stored snapshot still says; an unlimited one (−1) is
    bound too. Quotas ``limits`` does not name stay as they are."""
    out = dict(quotas)
    for name, limit in limits.items():
        quota = out.get(name)
        if quota is not None and (quota.limit < 0 or quota.limit > limit):
            out[name] = Quota(limit, quota.in_use)
    return out


def demand_of(spec: RequestSpec, flavors: Mapping[str, FlavorSpec]) -> Demand:
    """The resources and instances of one copy of the system (flavors must all be known)."""
    vcpu = ram_mb = disk_gb = instances = 0
    for group in spec.servers:
        one, _ = one_server(flavors[group.flavor])
        vcpu += one.vcpu * group.count
        ram_mb += one.ram_mb * group.count
        disk_gb += one.disk_gb * group.count
        instances += group.count
    return Demand(Resources(vcpu, ram_mb, disk_gb), instances)


def _gib(mb: int) -> str:
    return f"{mb / 1024:,.0f} GiB RAM"


def _gib_n(mb: int) -> str:
    return f"{mb / 1024:,.0f} GiB"


def _vcpu(n: int) -> str:
    return f"{n:,} vCPU"


def _disk(n: int) -> str:
    return f"{n:,} GB disk"


def _quota_problems(site: SiteInput, demand: Demand,
                    department: str) -> tuple[list[str], list[str]]:
    """The quota problems, and the catalogue fields of the quotas that fall short."""
    problems: list[str] = []
    short: list[str] = []
    reserved = site.reserved_quota
    for name, need, unit, held in (
            ("cores", demand.cores, "cores", reserved.cores),
            ("ram", demand.ram_mb, "GiB RAM", reserved.ram_mb),
            ("instances", demand.instances, "instances", reserved.instances)):
        quota = site.quotas.get(name)
        if quota is None:
            problems.append(f"{site.site}: no {name} quota known for {department} (run "
                            "`govcloud sync` after tenancy apply)")
            continue
        room = quota.room(held)
        if room is not None and need > room:
            short.append(CHECKED_QUOTAS[name])
            if name == "ram":  # Nova counts MiB; shown in GiB, as capacity is everywhere
                problems.append(
                    f"{site.site}: {department} quota has {_gib(max(room, 0))} left (limit "
                    f"{_gib_n(quota.limit)}, in use {_gib_n(quota.in_use)}, reserved "
                    f"{_gib_n(held)}), request needs {_gib(need)}")
                continue
            problems.append(
                f"{site.site}: {department} quota has {max(room, 0):,} {unit} left "
                f"(limit {quota.limit:,}, in use {quota.in_use:,}, reserved {held:,}), "
                f"request needs {need:,}")
    groups = site.quotas.get("server_groups")
    if groups is not None and 0 <= groups.limit <= groups.in_use and not site.group_members:
        short.append("server_groups")
        problems.append(
            f"{site.site}: {department} has no server group left (quota server_groups "
            f"{groups.limit}, in use {groups.in_use}); the system needs one")
    members = site.quotas.get("server_group_members")
    in_group = demand.instances + site.group_members
    if members is not None and 0 <= members.limit < in_group:
        short.append("server_group_members")
        problems.append(
            f"{site.site}: {department} quota server_group_members allows {members.limit} "
            f"servers in one server group, the request puts {in_group} servers of "
            "the system in it")
    return problems, short


def _capacity_problems(site: SiteInput, demand: Demand) -> list[str]:
    free = site.site_headroom() - site.reserved_capacity.resources
    problems = []
    for have, need, fmt in ((free.vcpu, demand.cores, _vcpu), (free.ram_mb, demand.ram_mb, _gib),
                            (free.disk_gb, demand.resources.disk_gb, _disk)):
        if need > have:
            problems.append(f"{site.site}: {fmt(max(have, 0))} free after ratio and "
                            f"reservations, request needs {fmt(need)}")
    return problems


class FitIndex:
    """The schedulable hosts of a site ordered by free RAM, with their free amount and largest
    unit per resource class: built once per inventory snapshot, so that placing a server looks
    at the few best hosts rather than at every host of the site. It picks the same hosts as
    trying every host for every server (tests/unit/test_provisioning_domain.py checks)."""

    def __init__(self, hosts: Sequence[Host]) -> None:
        rows = []
        for host in hosts:
            if not host.schedulable:
                continue
            free = {rc: inv.free(int(host.usages.get(rc, 0)))
                    for rc, inv in host.inventories.items()}
            unit = {rc: (inv.max_unit if inv.max_unit is not None else inv.total)
                    for rc, inv in host.inventories.items()}
            rows.append((host.hostname, free, unit))
        self.size = len(rows)
        self.free = {name: free for name, free, _ in rows}
        self.unit = {name: unit for name, _, unit in rows}
        # most free RAM first; ties: the greater name first (max), or the smaller (soft)
        self._by_ram = sorted(rows, key=lambda r: (r[1].get(MEMORY_MB, 0), r[0]), reverse=True)
        self._by_ram_soft = sorted(rows, key=lambda r: (-r[1].get(MEMORY_MB, 0), r[0]))

    @staticmethod
    def _fits(free: Mapping[str, int], unit: Mapping[str, int], need: Mapping[str, int]) -> bool:
        for rc, amount in need.items():  # (a loop: all() over a generator costs twice this)
            if free.get(rc, 0) < amount or unit.get(rc, 0) < amount:
                return False
        return True

    def best(self, need: Mapping[str, int], used: Mapping[str, int],
             now: Mapping[str, Mapping[str, int]], group_policy: str) -> str | None:
        """The host the next server goes to, as ``_fit_problems`` picks it: ``used`` counts
        this placement's servers per host, ``now`` holds those hosts' free amounts after
        them (every other host is as indexed)."""
        order = self._by_ram_soft if group_policy == SOFT_ANTI_AFFINITY else self._by_ram
        first = None
        for name, free, unit in order:
            if name not in used and self._fits(free, unit, need):
                first = name
                break
        if group_policy == ANTI_AFFINITY or (group_policy == SOFT_ANTI_AFFINITY and first):
            return first
        taken = [h for h in used if self._fits(now[h], self.unit[h], need)]
        if group_policy == SOFT_ANTI_AFFINITY:
            return min(taken, key=lambda h: (used[h], -now[h].get(MEMORY_MB, 0), h),
                       default=None)
        if first is not None:
            taken.append(first)
        return max(taken, key=lambda h: ((now[h] if h in now else self.free[h])
                                         .get(MEMORY_MB, 0), h), default=None)


def _fit_problems(site: SiteInput, spec: RequestSpec,
                  group_policy: str) -> tuple[list[str], dict[str, int]]:
    """Place each server host by host (largest first, most free RAM wins)."""
    index = site.fit_index if site.fit_index is not None else FitIndex(site.hosts)
    now: dict[str, dict[str, int]] = {}  # free amounts of the hosts used so far
    items = sorted(((site.flavors[g.flavor], g.name_prefix, n) for g in spec.servers
                    for n in range(1, g.count + 1)),
                   key=lambda t: (-t[0].vcpus, -t[0].ram_mb, t[1], t[2]))
    used: dict[str, int] = {}
    for host, count in site.members_on.items():  # the system's members already there
        if host in index.free:
            used[host] = count
            now[host] = dict(index.free[host])
    already = sum(used.values())
    for flavor, prefix, n in items:
        _, need = one_server(flavor)
        best = index.best(need, used, now, group_policy)
        if best is None:
            placed = sum(used.values()) - already
            why = ("no host with room left that holds no other member of the system "
                   "(anti-affinity)" if group_policy == ANTI_AFFINITY and placed
                   else "no single host has room for it")
            return ([f"{site.site}: server {spec.system}-{prefix}-{n} ({flavor.name}: "
                     f"{flavor.vcpus} vCPU, {_gib(flavor.ram_mb)}) does not fit: {why}; "
                     f"{placed} of {spec.server_count} servers placed on "
                     f"{index.size} schedulable hosts"], used)
        free = now.setdefault(best, dict(index.free[best]))
        for rc, amount in need.items():
            free[rc] = free.get(rc, 0) - amount
        used[best] = used.get(best, 0) + 1
    for host, count in site.members_on.items():  # only this placement's servers
        if host in used:
            used[host] -= count
            if not used[host]:
                del used[host]
    return [], used


def check_site(site: SiteInput, demand: Demand, department: str, *,
               quota: Demand | None = None) -> tuple[list[str], list[str], bool]:
    """The quota and capacity checks of ``demand`` in one site (``quota``: what to check
    against the quota when it differs from what the site's capacity must hold, e.g. a
    resize's growth beside its peak): the problems, the catalogue quota fields short, and
    whether the site's capacity is short."""
    problems, quotas = _quota_problems(site, quota if quota is not None else demand,
                                       department)
    capacity = _capacity_problems(site, demand)
    return problems + capacity, quotas, bool(capacity)


def place(spec: RequestSpec, targets: Sequence[SiteTarget], inputs: Mapping[str, SiteInput],
          *, group_policy: str = ANTI_AFFINITY) -> Placement:
    """Check every target site; the result says per site what is missing and why."""
    out = []
    for target in targets:
        site = inputs[target.site]
        unknown = sorted({g.flavor for g in spec.servers if g.flavor not in site.flavors})
        if unknown:
            out.append(SitePlacement(target.site, target.kind, Demand(), (
                f"{target.site}: unknown flavor {', '.join(unknown)}",)))
            continue
        demand = demand_of(spec, site.flavors)
        problems, quotas = _quota_problems(site, demand, spec.department)
        capacity = _capacity_problems(site, demand)
        problems += capacity
        hosts: dict[str, int] = {}
        fit: list[str] = []
        if not problems:
            fit, hosts = _fit_problems(site, spec, group_policy)
            problems += fit
        out.append(SitePlacement(target.site, target.kind, demand, tuple(problems), hosts,
                                 quotas=tuple(quotas), short=bool(capacity or fit)))
    return Placement(tuple(out))
