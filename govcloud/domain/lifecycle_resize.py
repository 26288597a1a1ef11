"""Resizing a system (pure): which members, in which order, what it reserves and whether the
new flavor fits.

A resize gives some or all members a new flavor, **one server at a time** — each member in
its primary site, then its copies (standby, cold) — so the system's other members keep
serving. Members already of the new flavor are left out (a resize asked again after a partial
failure does the rest).

What it reserves in a site, worked out from Nova's and Placement's semantics:

* **capacity** — while a server is being resized its source host's allocation (held by the
  migration) and its destination's (held by the server, of the new flavor) both count until
  the resize is confirmed; after it the site holds the growth ``new − old``. With one server
  at a time the most the site ever holds beyond today is the growth of the members done
  before plus the whole new flavor of the one in flight: the peak of that over the steps. A
  cold copy is shelved and holds nothing: it is unshelved (its old flavor), resized (old and
  new at once), confirmed and shelved again, so its peak is ``old + new`` of one server;
* **quota** — Nova checks a resize's growth in cores and RAM (``max(0, new − old)`` summed);
  instances do not change. A shelved cold copy still counts against the quota (Nova's
  default counting), so its growth counts too.

The reservation books the capacity peak (against both the site and the department's quota
ledger rows, so concurrent approvals never over-commit); the department's quota is checked
against the growth, which is what Nova will check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from govcloud.domain.capacity import FlavorSpec, Resources
from govcloud.domain.lifecycle import Member, SystemView, split_name
from govcloud.domain.limits import MAX_ITEMS, MAX_NAME
from govcloud.domain.placement import ANTI_AFFINITY, Demand, FitIndex, one_server
from govcloud.domain.provisioning import CopyKind
from govcloud.domain.text import control_characters
from govcloud.errors import InvalidInput

_FLAVOR = re.compile(rf"^[^\s/]{{1,{MAX_NAME}}}$")


@dataclass(frozen=True, slots=True)
class ResizeSpec:
    """Give ``members`` (names; empty: all of them) the flavor ``flavor``."""

    flavor: str
    members: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"flavor": self.flavor, "members": list(self.members)}


def resize_spec(flavor: Any, members: Any = None) -> ResizeSpec:
    """A resize's parameters, checked for shape (which flavors and members exist is the
    system's and the sites' to say: ``plan_resize``)."""
    if not isinstance(flavor, str) or not _FLAVOR.fullmatch(flavor.strip()) or \
            control_characters(flavor):
        raise InvalidInput(f"flavor {str(flavor)[:80]!r} is not a flavor name",
                           hint="e.g. --flavor gc.c4m8 (`govcloud capacity --flavor` lists "
                                "them)")
    names: tuple[str, ...] = ()
    if members:
        if not isinstance(members, (list, tuple)) or len(members) > MAX_ITEMS or not all(
                isinstance(m, str) and 0 < len(m.strip()) <= MAX_NAME
                and not control_characters(m) for m in members):
            raise InvalidInput(f"members must be a list of at most {MAX_ITEMS} member names",
                               hint="e.g. --members case-app-1 case-app-2 (`govcloud system "
                                    "show DEPT SYSTEM` lists them)")
        names = tuple(dict.fromkeys(m.strip() for m in members))
    return ResizeSpec(flavor.strip(), names)


@dataclass(frozen=True, slots=True)
class ResizeStep:
    """One server to resize (``ordinal``: its place in the order, from 1)."""

    ordinal: int
    site: str
    kind: CopyKind
    name: str
    server_id: str
    key: str
    old_flavor: str
    new_flavor: str

    def to_dict(self) -> dict[str, Any]:
        return {"ordinal": self.ordinal, "site": self.site, "kind": self.kind.value,
                "name": self.name, "server_id": self.server_id, "key": self.key,
                "old_flavor": self.old_flavor, "new_flavor": self.new_flavor}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ResizeStep:
        return cls(int(d["ordinal"]), str(d["site"]), CopyKind(d["kind"]), str(d["name"]),
                   str(d["server_id"]), str(d["key"]), str(d["old_flavor"]),
                   str(d["new_flavor"]))


def _order(view: SystemView, name: str) -> tuple[str, int, str]:
    parsed = split_name(view.system, name)
    return (parsed[0], parsed[1], name) if parsed else (name, 0, name)


def _chosen(view: SystemView, members: Sequence[str]) -> list[str]:
    """The member names ``members`` names (a full name, or ``<prefix>-<n>``); all when
    empty."""
    known = view.by_name()
    if not members:
        return sorted(known, key=lambda n: _order(view, n))
    out, unknown = [], []
    for m in members:
        name = m if m in known else f"{view.system}-{m}"
        if name in known:
            out.append(name)
        else:
            unknown.append(m)
    if unknown:
        some = sorted(known, key=lambda n: _order(view, n))[:10]
        raise InvalidInput(f"{view.department}/{view.system} has no member "
                           f"{', '.join(repr(u) for u in unknown[:5])} (members: "
                           f"{', '.join(some)}{' ...' if len(known) > 10 else ''})",
                           hint="name members as `govcloud system show DEPT SYSTEM` lists them")
    return sorted(dict.fromkeys(out), key=lambda n: _order(view, n))


def plan_resize(view: SystemView, spec: ResizeSpec) -> tuple[ResizeStep, ...]:
    """The servers to resize, one at a time: each chosen member in its primary site, then
    its copies; those already of ``spec.flavor`` are left out (InvalidInput when that is all
    of them). A member whose flavor the inventory does not know is resized (its old flavor
    is then the group's)."""
    steps: list[ResizeStep] = []
    groups = {g.name_prefix: g.flavor for g in view.shape.servers}
    by_name = view.by_name()
    for name in _chosen(view, spec.members):
        parsed = split_name(view.system, name)
        fallback = groups.get(parsed[0], "") if parsed else ""
        for m in by_name[name]:
            old = m.flavor or fallback
            if old == spec.flavor:
                continue
            steps.append(ResizeStep(len(steps) + 1, m.site, m.kind, m.name, m.server_id,
                                    m.key, old, spec.flavor))
    if not steps:
        raise InvalidInput(f"every chosen member of {view.department}/{view.system} is "
                           f"{spec.flavor} already: nothing to resize",
                           hint="ask for another flavor, or other members")
    return tuple(steps)


def _growth(old: Resources, new: Resources) -> Resources:
    return Resources(max(0, new.vcpu - old.vcpu), max(0, new.ram_mb - old.ram_mb),
                     max(0, new.disk_gb - old.disk_gb))


def _peak(current: Resources, step: Resources) -> Resources:
    return Resources(max(current.vcpu, step.vcpu), max(current.ram_mb, step.ram_mb),
                     max(current.disk_gb, step.disk_gb))


@dataclass(frozen=True, slots=True)
class ResizeDemand:
    """What a resize needs in one site: the capacity peak (what is reserved) and the quota
    growth (what Nova checks)."""

    peak: Demand
    growth: Demand


def resize_demand(steps: Sequence[ResizeStep],
                  flavors: Mapping[str, FlavorSpec]) -> ResizeDemand:
    """The demand of ``steps`` (one site's, in order) with the site's ``flavors``."""
    done = Resources()   # what the running members resized so far added
    peak = Resources()
    growth = Resources()
    for step in steps:
        old, _ = one_server(flavors[step.old_flavor])
        new, _ = one_server(flavors[step.new_flavor])
        growth = growth + Resources(new.vcpu - old.vcpu, new.ram_mb - old.ram_mb, 0)
        if step.kind is CopyKind.COLD:  # unshelved (old), resized (old and new), shelved
            peak = _peak(peak, old + new)
            continue
        peak = _peak(peak, done + new)
        done = done + (new - old)
    quota = Resources(max(0, growth.vcpu), max(0, growth.ram_mb), 0)
    return ResizeDemand(Demand(peak), Demand(quota))


def fit_problem(site: str, steps: Sequence[ResizeStep], flavors: Mapping[str, FlavorSpec],
                index: FitIndex, members: Sequence[Member], group_policy: str) -> str | None:
    """Whether the new flavor fits somewhere: a running member needs a host other than the
    system's members' (anti-affinity; never its own: Nova does not resize on the same host)
    with room for the new flavor; a cold copy needs a host for its old flavor (unshelving)
    and another for the new one. None when it fits, else why not."""
    used: dict[str, int] = {}
    for m in members:
        if m.site == site and m.host and m.host in index.free:
            used[m.host] = used.get(m.host, 0) + 1
    if group_policy != ANTI_AFFINITY:
        used = {}  # soft: another member's host will do (its own never: checked by Nova)
    for step in steps:
        _, need = one_server(flavors[step.new_flavor])
        if step.kind is CopyKind.COLD:
            _, old = one_server(flavors[step.old_flavor])
            first = index.best(old, {}, {}, ANTI_AFFINITY)
            second = None if first is None else index.best(
                need, {first: 1}, {first: dict(index.free[first])}, ANTI_AFFINITY)
            if second is None:
                return (f"{site}: no two hosts with room to unshelve {step.name} "
                        f"({step.old_flavor}) and resize it to {step.new_flavor}")
            continue
        if index.best(need, used, {h: dict(index.free[h]) for h in used},
                      ANTI_AFFINITY) is None:
            return (f"{site}: no host with room for {step.name} as {step.new_flavor} that "
                    "holds no member of the system (anti-affinity; Nova never resizes on "
                    "the same host)")
    return None
