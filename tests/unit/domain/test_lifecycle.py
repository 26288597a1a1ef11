"""A system's lifecycle, the pure parts (govcloud.domain.lifecycle, lifecycle_resize and the
placement of a scale-out beside the system's members): what a scale adds and removes, the
DR rule that the copies keep one size, a resize's order and what it reserves, and the
checks of every parameter."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govcloud.domain.capacity import DISK_GB, MEMORY_MB, VCPU, FlavorSpec, Inventory
from govcloud.domain.inventory import HostState, HostStatus, HypervisorInfo
from govcloud.domain.lifecycle import (
    Member,
    SystemView,
    parse_change,
    plan_scale,
    retire_spec,
    scale_spec,
    snapshot_name,
    split_name,
)
from govcloud.domain.lifecycle_resize import (
    fit_problem,
    plan_resize,
    resize_demand,
    resize_spec,
)
from govcloud.domain.placement import FitIndex, Quota, SiteInput, place
from govcloud.domain.provisioning import (
    CopyKind,
    RequestSpec,
    ServerGroupSpec,
    SiteTarget,
    parse_request,
)
from govcloud.errors import InvalidInput

TARGETS = (SiteTarget("PROD", CopyKind.PRIMARY), SiteTarget("DR-LOCAL", CopyKind.STANDBY),
           SiteTarget("DR-REMOTE", CopyKind.COLD))
FLAVORS = {"gc.c2m4": FlavorSpec("gc.c2m4", 2, 4096, 50),
           "gc.c4m8": FlavorSpec("gc.c4m8", 4, 8192, 100)}


def shape(count: int = 2, **groups: int) -> RequestSpec:
    servers = [{"name_prefix": "app", "flavor": "gc.c2m4", "image": "cirros", "count": count,
                "network": "net"}]
    servers += [{"name_prefix": p, "flavor": "gc.c2m4", "image": "cirros", "count": n,
                 "network": "net"} for p, n in groups.items()]
    return parse_request({"department": "gd-data", "system": "sys", "justification": "x",
                          "servers": servers})


def view(numbers: dict[str, list[int]], spec: RequestSpec | None = None,
         prefix: str = "app", flavor: str | None = "gc.c2m4") -> SystemView:
    members = tuple(Member(site, next(t.kind for t in TARGETS if t.site == site),
                           f"sys-{prefix}-{n}", f"{site}-{n}", 1, n, f"key-{site}-{n}", flavor,
                           "ACTIVE", f"{site}-host-{n}")
                    for site, ns in numbers.items() for n in ns)
    return SystemView("gd-data", "sys", 5, 1, TARGETS, spec or shape(), members)


EVERY = {"PROD": [1, 2], "DR-LOCAL": [1, 2], "DR-REMOTE": [1, 2]}


# --- names and parameters -----------------------------------------------------------------------

def test_member_names_split_into_group_and_number() -> None:
    assert split_name("sys", "sys-app-3") == ("app", 3)
    assert split_name("sys", "sys-web-tier-12") == ("web-tier", 12)
    assert split_name("sys", "other-app-1") is None
    assert split_name("sys", "sys-app-x") is None


@pytest.mark.parametrize(("args", "text"), [
    ((0,), "from 1 to 500"), ((501,), "from 1 to 500"), ((True,), "whole number"),
    (("3",), "whole number"), ((2, "bad\x07"), "group must be"),
    ((2, None, ["PROD", 5]), "list of site names"), ((2, None, "PROD"), "list of site names"),
])
def test_bad_scale_parameters_are_refused(args: tuple[Any, ...], text: str) -> None:
    with pytest.raises(InvalidInput, match=text):
        scale_spec(*args)


def test_scale_parameters_keep_sites_once_in_order() -> None:
    assert scale_spec(3, " app ", ["DR-LOCAL", "PROD", "DR-LOCAL"]).sites == ("DR-LOCAL",
                                                                            "PROD")


@pytest.mark.parametrize(("grace", "keep"), [(-1, 1), (366, 1), (1, 3651), (float("nan"), 1),
                                             (float("inf"), 1), (True, 1), ("3", 1)])
def test_bad_retirement_days_are_refused(grace: Any, keep: Any) -> None:
    with pytest.raises(InvalidInput, match="days from 0"):
        retire_spec(grace, keep)


def test_change_ids_are_bounded_and_plain() -> None:
    assert parse_change(None) is None
    assert parse_change(" CHG-2026-0042 ") == "CHG-2026-0042"
    for bad in ("", "x" * 65, "a b", "bad\u202e", 7, "-lead"):
        with pytest.raises(InvalidInput, match="change id"):
            parse_change(bad)


def test_a_snapshot_name_is_bounded() -> None:
    assert snapshot_name(7, "sys-app-1") == "govcloud-retire-7-sys-app-1"
    assert len(snapshot_name(7, "x" * 400)) == 255


# --- scaling -----------------------------------------------------------------------------------

def test_a_scale_out_adds_the_next_numbers_in_every_site() -> None:
    plan = plan_scale(view(EVERY), scale_spec(4))
    assert [(p.site, p.kind, p.ordinal, p.name) for p in plan.adds] == [
        ("PROD", CopyKind.PRIMARY, 1, "sys-app-3"), ("PROD", CopyKind.PRIMARY, 2, "sys-app-4"),
        ("DR-LOCAL", CopyKind.STANDBY, 1, "sys-app-3"),
        ("DR-LOCAL", CopyKind.STANDBY, 2, "sys-app-4"),
        ("DR-REMOTE", CopyKind.COLD, 1, "sys-app-3"), ("DR-REMOTE", CopyKind.COLD, 2, "sys-app-4")]
    assert plan.removes == () and plan.shape.servers[0].count == 4


def test_a_scale_in_removes_the_highest_numbers() -> None:
    plan = plan_scale(view({s: [1, 2, 3] for s in EVERY}), scale_spec(1))
    assert [(m.site, m.name) for m in plan.removes] == [
        (s, f"sys-app-{n}") for s in ("PROD", "DR-LOCAL", "DR-REMOTE") for n in (3, 2)]
    assert plan.adds == ()


def test_new_servers_take_the_flavor_the_group_has_now() -> None:
    plan = plan_scale(view(EVERY, flavor="gc.c4m8"), scale_spec(3))
    assert {p.flavor for p in plan.adds} == {"gc.c4m8"}


def test_the_copies_keep_one_size() -> None:
    with pytest.raises(InvalidInput, match="DR-LOCAL has 2 servers .* not be scaled to 3"):
        plan_scale(view(EVERY), scale_spec(3, sites=["PROD"]))
    # a repair: only the site that lags, up to the size the others have
    lagging = view({"PROD": [1, 2], "DR-LOCAL": [1], "DR-REMOTE": [1, 2]})
    plan = plan_scale(lagging, scale_spec(2, sites=["DR-LOCAL"]))
    assert [(p.site, p.name) for p in plan.adds] == [("DR-LOCAL", "sys-app-2")]


def test_scales_that_cannot_be_are_refused() -> None:
    with pytest.raises(InvalidInput, match="nothing to change"):
        plan_scale(view(EVERY), scale_spec(2))
    with pytest.raises(InvalidInput, match="is not in MARS"):
        plan_scale(view(EVERY), scale_spec(3, sites=["MARS"]))
    two = view(EVERY, spec=shape(2, db=1))
    with pytest.raises(InvalidInput, match="has 2 server groups .*say which"):
        plan_scale(two, scale_spec(3))
    with pytest.raises(InvalidInput, match="no server group 'web'"):
        plan_scale(two, scale_spec(3, group="web"))


@given(st.lists(st.integers(1, 6), min_size=0, max_size=6, unique=True), st.integers(1, 8))
def test_after_any_scale_every_site_holds_one_to_n(present: list[int], count: int) -> None:
    current = view({s: sorted(present) for s in EVERY})
    try:
        plan = plan_scale(current, scale_spec(count))
    except InvalidInput:
        assert sorted(present) == list(range(1, count + 1))
        return
    for site in EVERY:
        after = (set(present) - {int(m.name.rsplit("-", 1)[1]) for m in plan.removes
                                 if m.site == site}) | {
            int(p.name.rsplit("-", 1)[1]) for p in plan.adds if p.site == site}
        assert after == set(range(1, count + 1))
        ordinals = [p.ordinal for p in plan.adds if p.site == site]
        assert ordinals == list(range(1, len(ordinals) + 1))  # unique keys per site


# --- a scale-out placed beside the system ---------------------------------------------------------

def host(name: str, vcpu: int = 64, ram: int = 262144) -> HypervisorInfo:
    return HypervisorInfo(
        id=name, hostname=name, state=HostState.UP, status=HostStatus.ENABLED,
        availability_zone="nova",
        inventories={VCPU: Inventory(VCPU, vcpu), MEMORY_MB: Inventory(MEMORY_MB, ram),
                     DISK_GB: Inventory(DISK_GB, 4000)}, usages={})


def added(count: int) -> RequestSpec:
    return RequestSpec("gd-data", "sys", (ServerGroupSpec("app", "gc.c2m4", "cirros", count,
                                                          "net"),), "scale")


def test_a_scale_out_keeps_off_the_members_hosts_and_counts_the_group() -> None:
    hosts = [host(f"h{i}") for i in range(1, 4)]
    site = SiteInput("PROD", hosts, FLAVORS, {"cores": Quota(100), "ram": Quota(10**7),
                                             "instances": Quota(100),
                                             "server_groups": Quota(1, 1),
                                             "server_group_members": Quota(3)},
                     group_members=2, members_on={"h1": 1, "h2": 1})
    target = [SiteTarget("PROD", CopyKind.PRIMARY)]
    one = place(added(1), target, {"PROD": site}).sites[0]
    assert one.ok and dict(one.hosts) == {"h3": 1}  # the group's quota is used up: no matter
    two = place(added(2), target, {"PROD": site}).sites[0]
    assert not two.ok
    assert "server_group_members allows 3 servers in one server group, the request puts 4" \
        in " ".join(two.problems)
    roomier = SiteInput("PROD", hosts, FLAVORS, {**site.quotas,
                                                "server_group_members": Quota(10)},
                        group_members=2, members_on={"h1": 1, "h2": 1})
    fit = place(added(2), target, {"PROD": roomier}).sites[0]
    assert not fit.ok and "1 of 2 servers placed" in fit.problems[0]
    assert "anti-affinity" in fit.problems[0]


# --- resizing ----------------------------------------------------------------------------------

def test_a_resize_goes_member_by_member_primary_first() -> None:
    steps = plan_resize(view(EVERY), resize_spec("gc.c4m8"))
    assert [(s.ordinal, s.site, s.name) for s in steps] == [
        (1, "PROD", "sys-app-1"), (2, "DR-LOCAL", "sys-app-1"), (3, "DR-REMOTE", "sys-app-1"),
        (4, "PROD", "sys-app-2"), (5, "DR-LOCAL", "sys-app-2"), (6, "DR-REMOTE", "sys-app-2")]
    some = plan_resize(view(EVERY), resize_spec("gc.c4m8", ["app-2"]))
    assert {s.name for s in some} == {"sys-app-2"}


def test_members_of_the_new_flavor_already_are_left_out() -> None:
    done = view(EVERY, flavor="gc.c4m8")
    with pytest.raises(InvalidInput, match="nothing to resize"):
        plan_resize(done, resize_spec("gc.c4m8"))
    with pytest.raises(InvalidInput, match="no member 'sys-app-9'"):
        plan_resize(view(EVERY), resize_spec("gc.c4m8", ["sys-app-9"]))
    for bad in ("", "a b", "x" * 300, None):
        with pytest.raises(InvalidInput, match="not a flavor name"):
            resize_spec(bad)


def test_a_resize_reserves_its_peak_and_checks_its_growth() -> None:
    steps = plan_resize(view(EVERY), resize_spec("gc.c4m8"))
    running = resize_demand([s for s in steps if s.site == "PROD"], FLAVORS)
    # the first done (+2), the second in flight (all 4 of it beside its old 2)
    assert running.peak.cores == 6 and running.growth.cores == 4
    assert running.peak.instances == 0 and running.growth.ram_mb == 8192
    cold = resize_demand([s for s in steps if s.site == "DR-REMOTE"], FLAVORS)
    assert cold.peak.cores == 6 and cold.growth.cores == 4  # one unshelved at a time
    down = plan_resize(view(EVERY, flavor="gc.c4m8"), resize_spec("gc.c2m4"))
    shrink = resize_demand([s for s in down if s.site == "PROD"], FLAVORS)
    assert shrink.growth.cores == 0 and shrink.peak.cores == 2  # the one in flight


def test_a_resize_needs_a_host_no_member_is_on() -> None:
    steps = [s for s in plan_resize(view(EVERY), resize_spec("gc.c4m8")) if s.site == "PROD"]
    members = view(EVERY).members
    crowded = FitIndex([host("PROD-host-1"), host("PROD-host-2")])
    assert "holds no member of the system" in (
        fit_problem("PROD", steps, FLAVORS, crowded, members, "anti-affinity") or "")
    roomy = FitIndex([host("PROD-host-1"), host("PROD-host-2"), host("PROD-host-3")])
    assert fit_problem("PROD", steps, FLAVORS, roomy, members, "anti-affinity") is None
    cold = [s for s in plan_resize(view(EVERY), resize_spec("gc.c4m8"))
            if s.site == "DR-REMOTE"]
    assert "no two hosts" in (fit_problem("DR-REMOTE", cold, FLAVORS, FitIndex([host("r1")]),
                                          members, "anti-affinity") or "")


# --- reclaim -------------------------------------------------------------------------------------

def test_reclaim_reports_what_is_idle_long_enough_and_the_systems_to_retire() -> None:
    from datetime import UTC, datetime, timedelta

    from govcloud.domain.reclaim import IdleServer, LooseVolume, candidates

    now = datetime(2026, 12, 8, tzinfo=UTC)
    old, new = now - timedelta(days=40), now - timedelta(days=2)
    servers = [IdleServer("PROD", "a", "sys-app-1", "gd-data", "SHUTOFF", old, vcpus=2),
               IdleServer("PROD", "b", "sys-app-2", "gd-data", "SHUTOFF", old, vcpus=2),
               IdleServer("PROD", "c", "web-1", "gd-data", "SHUTOFF", new),
               IdleServer("PROD", "d", "db-1", "gd-tax", "SHUTOFF", None),
               IdleServer("PROD", "e", "db-2", "gd-tax", "ACTIVE", old)]
    volumes = [LooseVolume("PROD", "v1", "old-data", "gd-tax", 100, "available", old),
               LooseVolume("PROD", "v2", "new-data", "gd-tax", 100, "available", new),
               LooseVolume("PROD", "v3", "busy", "gd-tax", 100, "in-use", old)]
    found = candidates(servers, volumes, now=now, days=30,
                       production={("gd-data", "sys"): ["a", "b"],
                                   ("gd-data", "web"): ["c"]})
    by = {d.department: d.to_dict() for d in found}
    assert [s["id"] for s in by["gd-data"]["servers"]] == ["a", "b"]
    assert by["gd-data"]["systems"] == ["sys"] and by["gd-data"]["vcpus"] == 4
    assert by["gd-data"]["servers"][0]["days"] == 40.0
    assert [v["id"] for v in by["gd-tax"]["volumes"]] == ["v1"]
    assert by["gd-tax"]["unknown"] == 1 and by["gd-tax"]["servers"] == []
