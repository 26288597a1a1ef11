"""Where a drained host's servers may go: room, zone, maintenance and server groups."""

from __future__ import annotations

import pytest

from govcloud.domain.capacity import DISK_GB, MEMORY_MB, VCPU, Inventory, Resources
from govcloud.domain.host_drain import (
    Candidate,
    DrainState,
    MoveKind,
    MoveStatus,
    Planner,
    ServerGroupInfo,
    drain_reason,
    drained_by_govcloud,
    final_state,
    groups_by_member,
    move_kind,
)

SMALL = Resources(2, 4096, 40)


def host(name: str, *, vcpu_used: int = 0, ram_used: int = 0, zone: str = "nova",
         schedulable: bool = True, vcpus: int = 8, ram_mb: int = 16384) -> Candidate:
    return Candidate(host=name, hypervisor=f"{name}.example", availability_zone=zone,
                     schedulable=schedulable,
                     inventories={VCPU: Inventory(VCPU, vcpus),
                                  MEMORY_MB: Inventory(MEMORY_MB, ram_mb),
                                  DISK_GB: Inventory(DISK_GB, 1000)},
                     usages={VCPU: vcpu_used, MEMORY_MB: ram_used})


def test_the_host_with_most_free_ram_wins_and_booking_moves_the_next_one() -> None:
    planner = Planner(source="a", hosts=[host("a"), host("b", ram_used=4096), host("c")])
    first = planner.choose("s1", SMALL)
    assert first.host == "c"  # b has less free RAM, a is the source
    planner.placed("s1", "c", SMALL)
    assert planner.choose("s2", SMALL).host == "b"  # c has 4096 MB less now: a tie, b > c
    planner.placed("s2", "b", SMALL)
    assert planner.booked == {"c": SMALL, "b": SMALL}


def test_hosts_down_disabled_in_maintenance_or_in_another_zone_take_nothing() -> None:
    hosts = [host("a"), host("down", schedulable=False), host("kept"), host("far", zone="z2")]
    planner = Planner(source="a", hosts=hosts, zone="nova", maintenance=frozenset({"kept"}))
    assert [c.host for c in planner.candidates()] == []
    choice = planner.choose("s", SMALL)
    assert choice.host is None
    assert choice.reason == "no other host in zone nova is up, enabled and out of maintenance"
    # a maintenance mark by hypervisor name counts as well
    named = Planner(source="a", hosts=hosts, maintenance=frozenset({"kept.example"}))
    assert [c.host for c in named.candidates()] == ["far"]


def test_no_room_says_the_size_and_the_best_host() -> None:
    planner = Planner(source="a", hosts=[host("a"), host("b", vcpu_used=7),
                                          host("c", ram_used=15000)])
    choice = planner.choose("s", SMALL)
    assert choice.host is None
    assert choice.reason == ("no host has room for 2 vCPU / 4096 MB RAM / 40 GB disk (most "
                             "free RAM: b, 16384 MB)")


def test_anti_affinity_never_puts_two_members_on_one_host() -> None:
    group = ServerGroupInfo("g", "db", "anti-affinity", frozenset({"m1", "m2", "m3", "m4"}))
    planner = Planner(source="a", hosts=[host("a"), host("b"), host("c"), host("d")],
                      member_hosts={"m1": "a", "m2": "b", "m3": "c", "m4": "a"})
    assert planner.choose("m1", SMALL, group).host == "d"
    planner.placed("m1", "d", SMALL)
    # the other member on the drained host now finds every host with room taken
    choice = planner.choose("m4", SMALL, group)
    assert choice.host is None
    assert choice.reason == ("its anti-affinity group db, at most 1 per host leaves no host: "
                             "every host with room (b, c, d) already holds its members")


def test_anti_affinity_allows_max_server_per_host() -> None:
    group = ServerGroupInfo("g", "two", "anti-affinity", frozenset({"m1", "m2", "m3"}),
                            max_per_host=2)
    planner = Planner(source="a", hosts=[host("a"), host("b"), host("c", ram_used=8192)],
                      member_hosts={"m1": "a", "m2": "b", "m3": "c"})
    assert planner.choose("m1", SMALL, group).host == "b"  # one member there: room for two


def test_affinity_groups_stay_together_and_soft_anti_affinity_only_prefers() -> None:
    together = ServerGroupInfo("g", "pack", "affinity", frozenset({"m1", "m2"}))
    planner = Planner(source="a", hosts=[host("a"), host("b")],
                      member_hosts={"m1": "a", "m2": "a"})
    choice = planner.choose("m1", SMALL, together)
    assert choice.host is None and "keeps its members on one host" in (choice.reason or "")
    soft = ServerGroupInfo("s", "spread", "soft-anti-affinity", frozenset({"m1", "m2"}))
    planner = Planner(source="a", hosts=[host("a"), host("b")],
                      member_hosts={"m1": "a", "m2": "b"})
    assert planner.choose("m1", SMALL, soft).host == "b"  # no other host: still moves


def test_kinds_states_and_reasons() -> None:
    assert move_kind("SHUTOFF") is MoveKind.COLD
    assert move_kind("ACTIVE") is MoveKind.LIVE and move_kind("SUSPENDED") is MoveKind.LIVE
    assert final_state([MoveStatus.MOVED, MoveStatus.GONE]) is DrainState.DONE
    assert final_state([MoveStatus.MOVED, MoveStatus.LEFT]) is DrainState.PARTIAL
    assert final_state([]) is DrainState.DONE
    assert drain_reason(7) == "govcloud drain 7"
    assert drained_by_govcloud("govcloud drain 7")
    assert not drained_by_govcloud("rack swap") and not drained_by_govcloud(None)


def test_groups_by_member() -> None:
    g = ServerGroupInfo("g", "db", "anti-affinity", frozenset({"m1", "m2"}))
    assert groups_by_member([g]) == {"m1": g, "m2": g}


@pytest.mark.parametrize("used", [0, 4, 7])
def test_a_host_fits_as_many_as_placement_allows(used: int) -> None:
    planner = Planner(source="a", hosts=[host("a"), host("b", vcpu_used=used)])
    fits = (8 - used) // 2
    for i in range(fits):
        assert planner.choose(f"s{i}", SMALL).host == "b"
        planner.placed(f"s{i}", "b", SMALL)
    assert planner.choose("last", SMALL).host is None
