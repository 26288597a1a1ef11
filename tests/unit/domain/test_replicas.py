"""The worker leases' rules (govcloud.domain.replicas): the timing and its bounds, replica ids
from hostile host names, and what status shows of replicas and leases."""

from __future__ import annotations

import datetime as dt

import pytest

from govcloud.domain.replicas import (
    Lease,
    LeaseTiming,
    Replica,
    check_worker_name,
    replica_id,
    replica_state,
    replicas_view,
    single_process_view,
    workers_view,
)
from govcloud.errors import InvalidInput

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _replica(rid: str, *, seen: float = 0.0, stopped: float | None = None) -> Replica:
    return Replica(rid, "host-a", 42, "http://a:8780", "1.0", T0, _at(seen),
                   None if stopped is None else _at(stopped))


def _lease(worker: str, holder: str, *, expires: float, takeovers: int = 0) -> Lease:
    return Lease(worker, holder, T0, T0, _at(expires), takeovers)


def test_the_documented_timing_and_its_bounds() -> None:
    timing = LeaseTiming()
    assert (timing.ttl_s, timing.renew_s) == (15.0, 5.0)
    assert timing.takeover_bound_s == 20.0  # a dead holder is replaced within 20 s
    assert timing.fence_after_s == 10.0  # a cut-off holder stops 5 s before its lease ends
    assert timing.as_dict() == {"ttl_s": 15.0, "renew_s": 5.0, "takeover_bound_s": 20.0,
                                "fence_after_s": 10.0}


@pytest.mark.parametrize(("ttl", "renew"), [(9.0, 5.0), (10.0, 0.0), (4.0, -2.0)])
def test_a_lease_renewed_less_than_twice_per_life_is_refused(ttl: float,
                                                             renew: float) -> None:
    with pytest.raises(InvalidInput, match="at least twice") as info:
        LeaseTiming(ttl, renew)
    assert info.value.hint and "high-availability" in info.value.hint


def test_replica_ids_keep_only_safe_host_characters() -> None:
    assert replica_id("db-1.prod.gd", 4242, "a1b2c3") == "db-1.prod.gd-4242-a1b2c3"
    hostile = replica_id("evil\x1b[2J host/../", 7, "ffffff")
    assert hostile == "evil--2J-host-7-ffffff"
    assert replica_id("\x00", 1, "00") == "host-1-00"
    assert len(replica_id("x" * 500, 1, "0" * 6)) <= 80


@pytest.mark.parametrize("name", ["Sync", "", "a b", "x" * 65, "-x", "sync\n"])
def test_worker_names_are_checked(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_worker_name(name)


def test_a_replica_is_up_until_silent_for_a_ttl_then_lost() -> None:
    timing = LeaseTiming(6.0, 2.0)
    assert replica_state(_replica("a", seen=0), _at(6.0), timing) == "up"
    assert replica_state(_replica("a", seen=0), _at(6.5), timing) == "lost"
    assert replica_state(_replica("a", seen=0, stopped=1), _at(1.5), timing) == "stopped"


def test_workers_show_their_holder_while_the_lease_holds() -> None:
    leases = [_lease("sync", "a", expires=10), _lease("provision", "b", expires=5,
                                                       takeovers=2)]
    rows = {w["name"]: w for w in workers_view(["sync", "provision", "probe", "protection"],
                                               leases, _at(7), enabled={"sync", "provision",
                                                                        "probe"})}
    assert (rows["sync"]["state"], rows["sync"]["holder"]) == ("held", "a")
    assert (rows["provision"]["state"], rows["provision"]["holder"]) == ("free", None)
    assert rows["provision"]["last_holder"] == "b" and rows["provision"]["takeovers"] == 2
    assert (rows["probe"]["state"], rows["probe"]["acquired_at"]) == ("free", None)
    assert rows["protection"]["state"] == "off"
    assert list(rows) == ["probe", "protection", "provision", "sync"]


def test_a_lease_ends_at_its_expiry_not_after() -> None:
    lease = _lease("sync", "a", expires=10)
    assert lease.held(_at(9.999)) and not lease.held(_at(10))


def test_replicas_list_the_workers_they_hold_now() -> None:
    timing = LeaseTiming(6.0, 2.0)
    replicas = [_replica("b", seen=9), _replica("a", seen=1)]
    leases = [_lease("sync", "b", expires=12), _lease("probe", "b", expires=12),
              _lease("provision", "a", expires=5)]
    view = replicas_view(replicas, leases, _at(10), timing)
    assert [(r["id"], r["state"], r["workers"]) for r in view] == [
        ("a", "lost", []), ("b", "up", ["probe", "sync"])]


def test_one_process_holds_every_worker_it_turned_on() -> None:
    me = _replica("solo")
    replicas, workers = single_process_view(me, ["sync", "protection"], {"sync"})
    assert [(r["id"], r["state"], r["workers"]) for r in replicas] == [("solo", "up",
                                                                        ["sync"])]
    assert [(w["name"], w["state"], w["holder"]) for w in workers] == [
        ("protection", "off", None), ("sync", "held", "solo")]
