"""Host maintenance, the pure part (docs/hosts.md): a drain's states, how each server moves
(live, or cold when it is shut off), and where it may go.

A server leaving a host goes to another host of the same site and availability zone that is
up, enabled and not in maintenance, that has room for its flavor (vCPU, RAM and local disk
as Placement counts them: ``capacity.host_fit``), and that its server group allows: a hard
anti-affinity group never gets more than ``max_server_per_host`` members (default 1) on one
host; a hard affinity group keeps its members together, so Nova moves none of them alone.
Among the hosts left, the one with the most free RAM wins (Nova's default RAM weigher; the
first by name among equals), and
the planner books what it placed so that the next server sees the room it took.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from govcloud.domain.capacity import MEMORY_MB, Host, Inventory, Resources, host_fit


class DrainState(StrEnum):
    RUNNING = "running"
    DONE = "done"                  # every server moved; the host is in maintenance
    PARTIAL = "partial"            # some servers could not move and were left in place
    FAILED = "failed"              # the drain itself failed (the site, the store): see error
    INTERRUPTED = "interrupted"    # its run ended early (the process stopped): run it again


FINISHED = frozenset({DrainState.DONE, DrainState.PARTIAL, DrainState.FAILED})


class MoveStatus(StrEnum):
    PENDING = "pending"
    MOVING = "moving"    # asked of Nova (recorded before asking, so a new run adopts it)
    MOVED = "moved"
    LEFT = "left"        # could not move; ``reason`` says why
    GONE = "gone"        # deleted while the drain ran


UNSETTLED = frozenset({MoveStatus.PENDING, MoveStatus.MOVING})


class MoveKind(StrEnum):
    LIVE = "live"    # os-migrateLive, block_migration auto
    COLD = "cold"    # migrate, then confirmResize (a server that is shut off)


def move_kind(status: str) -> MoveKind:
    """A server that is shut off moves cold; any other is asked to move live (Nova refuses
    the states it cannot live-migrate, and its message is the reason reported)."""
    return MoveKind.COLD if status == "SHUTOFF" else MoveKind.LIVE


def drain_reason(drain_id: int) -> str:
    """The compute service's ``disabled_reason`` while a drain holds it."""
    return f"govcloud drain {drain_id}"


def drained_by_govcloud(reason: str | None) -> bool:
    return bool(reason) and str(reason).startswith("govcloud drain ")


@dataclass(frozen=True, slots=True)
class ServerGroupInfo:
    """A Nova server group as far as placement cares."""

    id: str
    name: str
    policy: str  # affinity | anti-affinity | soft-affinity | soft-anti-affinity
    members: frozenset[str]
    max_per_host: int = 1  # rules.max_server_per_host of an anti-affinity group

    def describe(self) -> str:
        extra = f", at most {self.max_per_host} per host" if self.policy == "anti-affinity" \
            else ""
        return f"{self.policy} group {self.name or self.id}{extra}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A host a server may go to: the service host's name (what Nova is given), its
    hypervisor (whose Placement figures ``inventories``/``usages`` are) and its zone."""

    host: str
    hypervisor: str
    availability_zone: str | None
    schedulable: bool
    inventories: Mapping[str, Inventory]
    usages: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class _Room:
    """A candidate with what this drain booked on it added to its usages (a ``Host``)."""

    hostname: str
    availability_zone: str | None
    up: bool
    schedulable: bool
    inventories: Mapping[str, Inventory]
    usages: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Choice:
    """Where a server goes (``host``), or why it cannot move (``reason``)."""

    host: str | None
    reason: str | None = None


def _size(r: Resources) -> str:
    return f"{r.vcpu} vCPU / {r.ram_mb} MB RAM / {r.disk_gb} GB disk"


@dataclass
class Planner:
    """Choose targets for the servers of ``source``, booking each one placed.

    ``hosts``: the site's hosts (excluded: ``source``, those not schedulable, those in
    ``maintenance``, those of another zone than ``zone`` when it is given); ``member_hosts``:
    server id → host of every member of the groups involved (updated by ``placed``).
    """

    source: str
    hosts: Sequence[Candidate]
    zone: str | None = None
    maintenance: frozenset[str] = frozenset()
    member_hosts: dict[str, str] = field(default_factory=dict)
    booked: dict[str, Resources] = field(default_factory=dict)

    def candidates(self) -> list[Candidate]:
        return [h for h in self.hosts
                if h.host != self.source and h.hypervisor != self.source and h.schedulable
                and h.host not in self.maintenance and h.hypervisor not in self.maintenance
                and (self.zone is None or h.availability_zone == self.zone)]

    def _room(self, h: Candidate) -> Host:
        extra = self.booked.get(h.host, Resources()).by_class()
        usages = {rc: int(h.usages.get(rc, 0)) + extra.get(rc, 0)
                  for rc in set(h.usages) | set(extra)}
        return _Room(h.hypervisor, h.availability_zone, True, True, h.inventories, usages)

    def _free_ram(self, h: Candidate) -> int:
        room = self._room(h)
        inv = room.inventories.get(MEMORY_MB)
        return inv.free(int(room.usages.get(MEMORY_MB, 0))) if inv is not None else 0

    def _members_on(self, group: ServerGroupInfo, server_id: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for member in group.members:
            where = self.member_hosts.get(member)
            if member != server_id and where:
                counts[where] = counts.get(where, 0) + 1
        return counts

    def choose(self, server_id: str, need: Resources,
               group: ServerGroupInfo | None = None) -> Choice:
        """The host for one server, or why there is none."""
        zone = f" in zone {self.zone}" if self.zone else ""
        if group is not None and group.policy == "affinity":
            return Choice(None, f"its {group.describe()} keeps its members on one host; Nova "
                                "moves none of them alone")
        hosts = self.candidates()
        if not hosts:
            return Choice(None, f"no other host{zone} is up, enabled and out of maintenance")
        fits = [h for h in hosts if host_fit(self._room(h), need) > 0]
        if not fits:
            best = max(sorted(hosts, key=lambda h: h.host), key=self._free_ram)
            return Choice(None, f"no host{zone} has room for {_size(need)} (most free RAM: "
                                f"{best.host}, {self._free_ram(best)} MB)")
        allowed = fits
        if group is not None and group.policy in ("anti-affinity", "soft-anti-affinity"):
            counts = self._members_on(group, server_id)
            limit = group.max_per_host if group.policy == "anti-affinity" else 1
            spread = [h for h in fits if counts.get(h.host, 0) < limit]
            if not spread and group.policy == "anti-affinity":
                held = ", ".join(sorted(h.host for h in fits))
                return Choice(None, f"its {group.describe()} leaves no host: every host with "
                                    f"room ({held}) already holds its members")
            allowed = spread or fits
        best = max(sorted(allowed, key=lambda h: h.host), key=self._free_ram)
        return Choice(best.host)

    def placed(self, server_id: str, host: str, need: Resources) -> None:
        """Book ``need`` on ``host`` (where ``server_id`` now runs)."""
        self.booked[host] = self.booked.get(host, Resources()) + need
        self.member_hosts[server_id] = host


def groups_by_member(groups: Iterable[ServerGroupInfo]) -> dict[str, ServerGroupInfo]:
    """Server id → its group (a server is in one group at most, as Nova allows)."""
    out: dict[str, ServerGroupInfo] = {}
    for g in groups:
        for member in g.members:
            out[member] = g
    return out


def final_state(statuses: Iterable[MoveStatus]) -> DrainState:
    """Done when nothing was left on the host; partial otherwise."""
    return DrainState.PARTIAL if any(s is MoveStatus.LEFT for s in statuses) \
        else DrainState.DONE
