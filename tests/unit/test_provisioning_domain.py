"""Requests, their lifecycle, the DR policy table and placement (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from govcloud.domain.capacity import DISK_GB, MEMORY_MB, VCPU, FlavorSpec, Inventory
from govcloud.domain.inventory import HostState, HostStatus, HypervisorInfo
from govcloud.domain.placement import (
    ANTI_AFFINITY,
    SOFT_ANTI_AFFINITY,
    Demand,
    FitIndex,
    Quota,
    SiteInput,
    _fit_problems,
    place,
)
from govcloud.domain.provisioning import (
    DEFAULT_POLICY,
    MAX_COUNT,
    TRANSITIONS,
    CopyKind,
    Installation,
    RequestState,
    effective_dr_level,
    idempotency_key,
    parse_request,
    plan_servers,
    policy_from_config,
    transition,
)
from govcloud.domain.sites import default_sites
from govcloud.errors import ConflictError, InvalidInput

NOTHING = Demand()
FLAVORS = {"gc.c4m8": FlavorSpec("gc.c4m8", 4, 8192, 40),
           "gc.c32m128": FlavorSpec("gc.c32m128", 32, 131072, 100)}


def request(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "department": "gd-psd", "system": "case-mgmt", "justification": "new case system",
        "servers": [{"name_prefix": "web", "flavor": "gc.c4m8", "image": "ubuntu-22.04",
                     "count": 2, "network": "prod-net", "volumes": [100]}]}
    base.update(over)
    return base


def host(name: str, *, vcpu: int = 64, ram: int = 262144, disk: int = 4000,
         used_vcpu: int = 0, used_ram: int = 0, ratio: float = 1.0,
         up: bool = True) -> HypervisorInfo:
    return HypervisorInfo(
        id=name, hostname=name, state=HostState.UP if up else HostState.DOWN,
        status=HostStatus.ENABLED, availability_zone="nova",
        inventories={VCPU: Inventory(VCPU, vcpu, allocation_ratio=ratio),
                     MEMORY_MB: Inventory(MEMORY_MB, ram), DISK_GB: Inventory(DISK_GB, disk)},
        usages={VCPU: used_vcpu, MEMORY_MB: used_ram})


def site_input(site: str, hosts: list[HypervisorInfo], *, cores: int = 10_000,
               ram: int = 10_000_000, instances: int = 1000, in_use: int = 0,
               reserved_capacity: Demand = NOTHING,
               reserved_quota: Demand = NOTHING) -> SiteInput:
    return SiteInput(site=site, hosts=hosts, flavors=FLAVORS,
                     quotas={"cores": Quota(cores, in_use), "ram": Quota(ram),
                             "instances": Quota(instances)},
                     reserved_capacity=reserved_capacity, reserved_quota=reserved_quota)


# --- the request format ------------------------------------------------------------------------

def test_parse_a_good_request() -> None:
    spec = parse_request(request(dr_level=6))
    assert spec.department == "gd-psd" and spec.dr_level == 6
    assert spec.servers[0].volumes == (100,) and spec.server_count == 2


@pytest.mark.parametrize("data", [
    request(), request(dr_level=6, playbooks=["harden"]),
    request(servers=[{"name_prefix": "db", "flavor": "gc.c4m8", "image": "i", "count": 3,
                      "network": {"PROD": "prod-net", "DR-REMOTE": "dr-net"},
                      "volumes": [100, 200]},
                     {"name_prefix": "web", "flavor": "gc.c32m128", "image": "u", "count": 1,
                      "network": "n"}])])
def test_the_stored_form_parses_back_to_the_same_spec(data: dict[str, Any]) -> None:
    """Approval reads a request's spec back from its stored JSON (and a process that stored
    it keeps the parsed spec for it): both must be the same spec."""
    import json

    spec = parse_request(data)
    assert parse_request(json.loads(json.dumps(spec.to_dict(), ensure_ascii=False))) == spec


@pytest.mark.parametrize(("data", "where"), [
    ("not a mapping", "mapping"),
    (request(servers=[]), "servers"),
    (request(servers=[{"name_prefix": "web", "flavor": "f", "image": "i", "network": "n",
                       "count": 0}]), "servers[0].count: 0 is outside 1..500"),
    (request(servers=[{"name_prefix": "web", "flavor": "f", "image": "i", "network": "n",
                       "count": 10_000}]), "servers[0].count: 10000"),
    (request(servers=[{"name_prefix": "web", "flavor": "f", "image": "i", "network": "n",
                       "count": "2"}]), "whole number"),
    (request(servers=[{"name_prefix": "Web!", "flavor": "f", "image": "i", "network": "n",
                       "count": 1}]), "name_prefix"),
    (request(system=""), "system"),
    (request(justification=None), "justification"),
    (request(dr_level=9), "dr_level"),
    (request(colour="blue"), "unknown field(s) colour"),
    (request(servers=[{"name_prefix": "a1", "flavor": "f", "image": "i", "network": "n",
                       "count": 1, "volumes": [0]}]), "volumes[0]"),
])
def test_bad_requests_name_the_field(data: Any, where: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_request(data)
    assert where in err.value.message
    assert err.value.hint


def test_duplicate_prefixes_are_refused() -> None:
    group = request()["servers"][0]
    with pytest.raises(InvalidInput, match="used twice"):
        parse_request(request(servers=[group, group]))


def test_dr_level_defaults_to_the_department_and_may_only_be_raised() -> None:
    assert effective_dr_level(parse_request(request()), 4) == 4
    assert effective_dr_level(parse_request(request(dr_level=6)), 4) == 6
    with pytest.raises(InvalidInput, match="below department gd-psd's level 6"):
        effective_dr_level(parse_request(request(dr_level=5)), 6)


# --- lifecycle ----------------------------------------------------------------------------------

def test_the_happy_path_and_final_states() -> None:
    state = RequestState.SUBMITTED
    for nxt in ("approved", "provisioning", "done"):
        state = transition(1, state, nxt)
    assert state.final
    with pytest.raises(ConflictError, match="request 1 is done and cannot become approved"):
        transition(1, state, "approved")


@given(st.sampled_from(list(RequestState)), st.sampled_from(list(RequestState)))
def test_transition_follows_the_table(current: RequestState, target: RequestState) -> None:
    if target in TRANSITIONS[current]:
        assert transition(7, current, target) is target
    else:
        with pytest.raises(ConflictError):
            transition(7, current, target)
    # only approved and provisioning requests hold capacity; final states lead nowhere but
    # done → retired (the system's retirement deleted what the request made)
    assert current.holds_reservation == (current in (RequestState.APPROVED,
                                                     RequestState.PROVISIONING))
    leads = TRANSITIONS[current]
    assert not (current.final and leads) or (
        current is RequestState.DONE and leads == {RequestState.RETIRED})


# --- the DR policy table -------------------------------------------------------------------------

@pytest.mark.parametrize(("level", "expected"), [
    (6, [("PROD", CopyKind.PRIMARY), ("DR-LOCAL", CopyKind.STANDBY),
         ("DR-REMOTE", CopyKind.COLD)]),
    (5, [("PROD", CopyKind.PRIMARY), ("DR-LOCAL", CopyKind.STANDBY),
         ("DR-REMOTE", CopyKind.COLD)]),
    (4, [("PROD", CopyKind.PRIMARY), ("DR-REMOTE", CopyKind.COLD)]),
    (3, [("PROD", CopyKind.PRIMARY), ("DR-REMOTE", CopyKind.COLD)]),
    (2, [("PROD", CopyKind.PRIMARY)]),
    (1, [("PROD", CopyKind.PRIMARY)]),
])
def test_default_policy(level: int, expected: list[tuple[str, CopyKind]]) -> None:
    targets = DEFAULT_POLICY.targets(level, default_sites())
    assert [(t.site, t.kind) for t in targets] == expected


def test_policy_from_config_round_trips_and_checks_coverage() -> None:
    assert policy_from_config(DEFAULT_POLICY.to_list()) == DEFAULT_POLICY
    with pytest.raises(InvalidInput, match="level 1 is covered by 0 rules"):
        policy_from_config([{"levels": [2, 6], "copies": [{"site_role": "production"}]}])
    with pytest.raises(InvalidInput, match="exactly one copy must be the primary"):
        policy_from_config([{"levels": [1, 6], "copies": [
            {"site_role": "production", "kind": "cold"}]}])
    with pytest.raises(InvalidInput, match="dr_policy\\[0\\]"):
        policy_from_config([{"levels": [1, 6], "copies": [{"site_role": "moon"}]}])


def test_a_policy_needing_a_missing_site_says_so() -> None:
    prod_only = default_sites()[:1]
    with pytest.raises(InvalidInput, match="standby copy in a same-city-dr site"):
        DEFAULT_POLICY.targets(5, prod_only)


def test_planned_servers_carry_unique_idempotency_keys() -> None:
    spec = parse_request(request())
    planned = plan_servers(spec, DEFAULT_POLICY.targets(6, default_sites()))
    assert len(planned) == 6
    here = Installation("0a1b2c3d4e5f")
    keys = {p.key(42, installation=here) for p in planned}
    assert len(keys) == 6 and "govcloud-req-42-prod-1@0a1b2c3d4e5f" in keys
    assert idempotency_key(42, "PROD", 1, installation=here) in keys
    assert [p.name for p in planned if p.site == "PROD"] == ["case-mgmt-web-1",
                                                             "case-mgmt-web-2"]


# --- placement ----------------------------------------------------------------------------------

def targets(level: int = 6) -> list[Any]:
    return DEFAULT_POLICY.targets(level, default_sites())


def roomy(site: str, n: int = 4, **kw: Any) -> SiteInput:
    return site_input(site, [host(f"{site}-h{i}") for i in range(n)], **kw)


def test_placement_fits_everywhere() -> None:
    spec = parse_request(request())
    result = place(spec, targets(), {s: roomy(s) for s in ("PROD", "DR-LOCAL", "DR-REMOTE")})
    assert result.ok, result.explain()
    assert [s.demand.cores for s in result.sites] == [8, 8, 8]
    assert all(len(s.hosts) == 2 for s in result.sites)  # anti-affinity: two hosts


def test_capacity_rejection_explains_itself() -> None:
    spec = parse_request(request(servers=[{"name_prefix": "db", "flavor": "gc.c32m128",
                                           "image": "i", "network": "n", "count": 8}]))
    # DR-LOCAL: 2 hosts × 60 vCPU → 120 vCPU free; the request needs 8 × 32 = 256
    local = site_input("DR-LOCAL", [host("l1", vcpu=64, used_vcpu=4),
                                    host("l2", vcpu=64, used_vcpu=4)])
    inputs = {"PROD": roomy("PROD", 10, ), "DR-LOCAL": local, "DR-REMOTE": roomy("DR-REMOTE", 10)}
    inputs["PROD"] = site_input("PROD", [host(f"p{i}", vcpu=64, ram=1048576)
                                         for i in range(10)])
    inputs["DR-REMOTE"] = site_input("DR-REMOTE", [host(f"r{i}", vcpu=64, ram=1048576)
                                                   for i in range(10)])
    result = place(spec, targets(), inputs)
    assert not result.ok
    assert "DR-LOCAL: 120 vCPU free after ratio and reservations, request needs 256 vCPU" \
        in result.problems
    assert [s.ok for s in result.sites] == [True, False, True]


def test_allocation_ratio_and_reservations_count() -> None:
    spec = parse_request(request())  # 8 vCPU
    ratio = site_input("PROD", [host("a", vcpu=4, ratio=2.0), host("b", vcpu=4, ratio=2.0)])
    assert place(spec, targets(1), {"PROD": ratio}).ok  # 2 × 4 × 2.0 = 16 vCPU after the ratio
    held = site_input("PROD", [host("a", vcpu=4, ratio=2.0), host("b", vcpu=4, ratio=2.0)],
                      reserved_capacity=Demand(FlavorSpec("x", 10, 1).request(), 1))
    result = place(spec, targets(1), {"PROD": held})
    assert result.problems == ["PROD: 6 vCPU free after ratio and reservations, request "
                               "needs 8 vCPU"]


def test_quota_headroom_counts_use_and_other_reservations() -> None:
    spec = parse_request(request())  # 8 cores, 2 instances
    tight = roomy("PROD", cores=20, in_use=8, reserved_quota=Demand(
        FlavorSpec("x", 5, 1).request(), 1))
    result = place(spec, targets(1), {"PROD": tight})
    assert result.problems == ["PROD: gd-psd quota has 7 cores left (limit 20, in use 8, "
                               "reserved 5), request needs 8"]
    unlimited = roomy("PROD", cores=-1, in_use=10**6)
    assert place(spec, targets(1), {"PROD": unlimited}).ok


def test_a_ram_quota_problem_is_told_in_gib() -> None:
    """RAM in GiB, as everywhere else (issue 17), though Nova's quota counts MiB."""
    spec = parse_request(request())  # 2 × gc.c4m8: 16 GiB
    result = place(spec, targets(1), {"PROD": roomy("PROD", ram=8 * 1024)})
    assert result.problems == ["PROD: gd-psd quota has 8 GiB RAM left (limit 8 GiB, in use "
                               "0 GiB, reserved 0 GiB), request needs 16 GiB RAM"]


def test_per_host_fit_and_anti_affinity() -> None:
    spec = parse_request(request(servers=[{"name_prefix": "db", "flavor": "gc.c4m8",
                                           "image": "i", "network": "n", "count": 3}]))
    two_hosts = site_input("PROD", [host("a"), host("b")])
    result = place(spec, targets(1), {"PROD": two_hosts}, group_policy=ANTI_AFFINITY)
    assert not result.ok
    assert "no host with room left that holds no other member" in result.explain()
    assert place(spec, targets(1), {"PROD": two_hosts}, group_policy=SOFT_ANTI_AFFINITY).ok
    # the site has 12 vCPU free in all, but scattered 3 + 3 + 3 + 3: a 4-vCPU server fits none
    scattered = site_input("PROD", [host(f"h{i}", vcpu=4, used_vcpu=1) for i in range(4)])
    one = parse_request(request(servers=[{"name_prefix": "x1", "flavor": "gc.c4m8",
                                          "image": "i", "network": "n", "count": 1}]))
    result = place(one, targets(1), {"PROD": scattered})
    assert "no single host has room for it" in result.explain()


def test_hosts_that_are_down_give_no_room() -> None:
    spec = parse_request(request())
    down = site_input("PROD", [host("a", up=False), host("b", up=False)])
    assert "0 vCPU free" in place(spec, targets(1), {"PROD": down}).explain()


def test_unknown_flavor_is_a_site_problem() -> None:
    spec = parse_request(request(servers=[{"name_prefix": "x1", "flavor": "nope",
                                           "image": "i", "network": "n", "count": 1}]))
    assert place(spec, targets(1), {"PROD": roomy("PROD")}).problems == [
        "PROD: unknown flavor nope"]


@settings(max_examples=60, deadline=None)
@given(hosts=st.lists(st.tuples(st.integers(1, 64), st.integers(0, 64)), min_size=1,
                      max_size=8),
       count=st.integers(1, 12), policy=st.sampled_from([ANTI_AFFINITY, SOFT_ANTI_AFFINITY]))
def test_a_placement_that_passes_really_fits(hosts: list[tuple[int, int]], count: int,
                                             policy: str) -> None:
    """Whatever the hosts, an accepted placement puts every server on a host with room for
    it, never more vCPU on a host than its free capacity, and never two members on one host
    under hard anti-affinity."""
    hv = [host(f"h{i}", vcpu=total, used_vcpu=min(used, total))
          for i, (total, used) in enumerate(hosts)]
    spec = parse_request(request(servers=[{"name_prefix": "x1", "flavor": "gc.c4m8",
                                           "image": "i", "network": "n", "count": count}]))
    result = place(spec, targets(1), {"PROD": site_input("PROD", hv)}, group_policy=policy)
    free = {h.hostname: h.inventories[VCPU].free(h.usages[VCPU]) for h in hv}
    if result.ok:
        placed = result.sites[0].hosts
        assert sum(placed.values()) == count
        assert all(placed[h] * 4 <= free[h] for h in placed)
        if policy == ANTI_AFFINITY:
            assert all(n == 1 for n in placed.values())
    else:
        # a refusal is right: greedy is exact for identical servers
        slots = sum(min(1, f // 4) if policy == ANTI_AFFINITY else f // 4
                    for f in free.values())
        assert slots < count
    assert count <= MAX_COUNT


def test_server_group_member_quota_is_checked() -> None:
    spec = parse_request(request(servers=[{"name_prefix": "x1", "flavor": "gc.c4m8",
                                           "image": "i", "network": "n", "count": 11}]))
    site = roomy("PROD", 20)
    limited = SiteInput(site="PROD", hosts=site.hosts, flavors=FLAVORS,
                        quotas={**site.quotas, "server_group_members": Quota(10)})
    result = place(spec, targets(1), {"PROD": limited})
    assert result.problems == [
        "PROD: gd-psd quota server_group_members allows 10 servers in one server group, the "
        "request puts 11 servers of the system in it"]
    assert result.advice("gd-psd") == (
        "raise quotas.PROD.server_group_members in tenants/gd-psd.yaml and run `govcloud "
        "tenants apply` (or split the system into smaller ones); or ask for less; the request "
        "stays submitted")
    unlimited = SiteInput(site="PROD", hosts=site.hosts, flavors=FLAVORS,
                          quotas={**site.quotas, "server_group_members": Quota(-1)})
    assert place(spec, targets(1), {"PROD": unlimited}).ok


def test_server_group_quota_is_checked() -> None:
    spec = parse_request(request())
    site = roomy("PROD")
    full = SiteInput(site="PROD", hosts=site.hosts, flavors=FLAVORS,
                     quotas={**site.quotas, "server_groups": Quota(10, 10)})
    result = place(spec, targets(1), {"PROD": full})
    assert result.problems == [
        "PROD: gd-psd has no server group left (quota server_groups 10, in use 10); the "
        "system needs one"]
    assert result.advice("gd-psd").startswith(
        "raise quotas.PROD.server_groups in tenants/gd-psd.yaml and run `govcloud tenants "
        "apply`; or ask for less")


# --- the fit index gives what trying every host gives -------------------------------------------

def fit_every_host(site: SiteInput, spec: Any,
                   group_policy: str) -> tuple[list[str], dict[str, int]]:
    """Placement's per-host fit as it was before the index: every host tried for every
    server (largest first, most free RAM wins) — the reference the index must agree with."""
    free: dict[str, dict[str, int]] = {}
    for h in site.hosts:
        if not h.schedulable:
            continue
        free[h.hostname] = {rc: inv.free(int(h.usages.get(rc, 0)))
                            for rc, inv in h.inventories.items()}
    max_unit = {h.hostname: {rc: (inv.max_unit if inv.max_unit is not None else inv.total)
                             for rc, inv in h.inventories.items()}
                for h in site.hosts}
    items = sorted(((site.flavors[g.flavor], g.name_prefix, n) for g in spec.servers
                    for n in range(1, g.count + 1)),
                   key=lambda t: (-t[0].vcpus, -t[0].ram_mb, t[1], t[2]))
    used: dict[str, int] = {}
    for flavor, prefix, n in items:
        need = flavor.request().by_class()
        candidates = [h for h, f in free.items()
                      if (group_policy != ANTI_AFFINITY or h not in used)
                      and all(f.get(rc, 0) >= amount and max_unit[h].get(rc, 0) >= amount
                              for rc, amount in need.items())]
        if not candidates:
            placed = sum(used.values())
            why = ("no host with room left that holds no other member of the system "
                   "(anti-affinity)" if group_policy == ANTI_AFFINITY and placed
                   else "no single host has room for it")
            return ([f"{site.site}: server {spec.system}-{prefix}-{n} ({flavor.name}: "
                     f"{flavor.vcpus} vCPU, {flavor.ram_mb / 1024:,.0f} GiB RAM) "
                     f"does not fit: {why}; "
                     f"{placed} of {spec.server_count} servers placed on "
                     f"{len(free)} schedulable hosts"], used)
        if group_policy == SOFT_ANTI_AFFINITY:
            best = min(candidates, key=lambda h: (used.get(h, 0), -free[h].get(MEMORY_MB, 0), h))
        else:
            best = max(candidates, key=lambda h: (free[h].get(MEMORY_MB, 0), h))
        for rc, amount in need.items():
            free[best][rc] -= amount
        used[best] = used.get(best, 0) + 1
    return [], used


@settings(max_examples=300, deadline=None)
@given(hosts=st.lists(st.tuples(st.integers(1, 8), st.integers(0, 3),
                                st.sampled_from([16384, 65536]), st.sampled_from([0, 4]),
                                st.booleans(), st.sampled_from([None, None, 4, 32])),
                      min_size=0, max_size=12),
       groups=st.lists(st.tuples(st.sampled_from(sorted(FLAVORS)), st.integers(1, 6)),
                       min_size=1, max_size=2, unique_by=lambda g: g[0]),
       policy=st.sampled_from([ANTI_AFFINITY, SOFT_ANTI_AFFINITY, "affinity-free"]))
@example(hosts=[(4, 0, 16384, 0, True, None)] * 3, groups=[("gc.c4m8", 2)],
         policy=SOFT_ANTI_AFFINITY)
@example(hosts=[(4, 0, 16384, 0, True, None)] * 3, groups=[("gc.c4m8", 2)],
         policy=ANTI_AFFINITY)
@example(hosts=[(1, 0, 65536, 0, True, None)] * 2, groups=[("gc.c4m8", 5)],
         policy="affinity-free")
def test_the_fit_index_places_as_trying_every_host(
        hosts: list[tuple[int, int, int, int, bool, int | None]],
        groups: list[tuple[str, int]], policy: str) -> None:
    """Same problems, same hosts, with many ties in free RAM, hosts down, max_unit limits,
    and hosts used more than once (soft anti-affinity and no anti-affinity)."""
    hv = []
    for i, (cpus8, used8, ram, used_ram8, up, unit) in enumerate(hosts):
        h = host(f"h{i % 5}{i}", vcpu=cpus8 * 8, used_vcpu=min(used8, cpus8) * 8, ram=ram,
                 used_ram=ram * used_ram8 // 8, up=up)
        if unit is not None:
            inv = dict(h.inventories)
            inv[VCPU] = Inventory(VCPU, cpus8 * 8, max_unit=unit)
            h = HypervisorInfo(id=h.id, hostname=h.hostname, state=h.state, status=h.status,
                               availability_zone=h.availability_zone, inventories=inv,
                               usages=h.usages)
        hv.append(h)
    spec = parse_request(request(servers=[
        {"name_prefix": f"g{n}", "flavor": flavor, "image": "i", "network": "n",
         "count": count} for n, (flavor, count) in enumerate(groups)]))
    site = site_input("PROD", hv)
    indexed = SiteInput(site=site.site, hosts=hv, flavors=site.flavors, quotas=site.quotas,
                        fit_index=FitIndex(hv))
    assert _fit_problems(indexed, spec, policy) == fit_every_host(site, spec, policy)


def test_catalogue_limits_cap_the_stored_quotas() -> None:
    """A quota lowered in the catalogue binds placement whatever the stored snapshot says;
    an unlimited one is bound too; a higher catalogue figure does not raise a stored one."""
    from govcloud.domain.catalogue import SiteQuota
    from govcloud.domain.placement import Quota, capped, catalogue_limits

    stored = {"cores": Quota(1250, 30), "ram": Quota(-1, 4096), "instances": Quota(10, 2),
              "server_groups": Quota(10, 1)}
    limits = catalogue_limits(SiteQuota(cores=36, ram_mb=8192, instances=400,
                                        server_groups=20, server_group_members=5))
    assert capped(stored, limits) == {"cores": Quota(36, 30), "ram": Quota(8192, 4096),
                                      "instances": Quota(10, 2),
                                      "server_groups": Quota(10, 1)}
    assert capped({"server_group_members": Quota(10)}, limits) == {
        "server_group_members": Quota(5)}


@pytest.mark.parametrize(("network", "playbooks", "where"), [
    ("prod\x1b[2J", [], "servers[0].network"),
    ({"PROD\x07": "prod-net"}, [], "servers[0].network (site key)"),
    ({"PROD": "prod\x1b]0;x\x07"}, [], "servers[0].network ('PROD')"),
    ("prod-net", ["base\x1b[2J"], "playbooks[0]"),
])
def test_names_in_network_and_playbooks_refuse_control_characters(
        network: object, playbooks: list[str], where: str) -> None:
    """Issue 17 item 4: names have no business holding control characters; the error
    says where and never echoes the raw sequence."""
    data = {"department": "gd-psd", "system": "case-mgmt", "justification": "why",
            "servers": [{"name_prefix": "web", "flavor": "gc.c4m8", "image": "img",
                         "count": 1, "network": network}],
            "playbooks": playbooks}
    with pytest.raises(InvalidInput) as caught:
        parse_request(data)
    assert caught.value.message.startswith(f"{where}: contains control characters")
    assert "\x1b" not in caught.value.message and "\x07" not in caught.value.message


def test_an_installation_id_keeps_two_installations_keys_apart() -> None:
    """Two control planes (two databases) sharing a cloud number their requests alike: their
    keys differ by the installation, and a request older than installation ids keeps the
    key it was made with (its servers are still adopted)."""
    ours, theirs = Installation("0a1b2c3d4e5f"), Installation("ffeeddccbbaa")
    assert idempotency_key(7, "DR-LOCAL", 2, installation=ours) != \
        idempotency_key(7, "DR-LOCAL", 2, installation=theirs)
    upgraded = Installation("0a1b2c3d4e5f", legacy_through=7)
    assert idempotency_key(7, "DR-LOCAL", 2, installation=upgraded) == "govcloud-req-7-dr-local-2"
    assert idempotency_key(8, "DR-LOCAL", 2, installation=upgraded) == \
        "govcloud-req-8-dr-local-2@0a1b2c3d4e5f"
    assert not upgraded.predates(8) and upgraded.predates(1)


_SITES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@given(rid=st.integers(1, 10**7 - 1), site=_SITES, ordinal=st.integers(1, 999),
       other_rid=st.integers(1, 10**7 - 1), other_site=_SITES,
       other_ordinal=st.integers(1, 999))
def test_a_key_with_an_installation_never_equals_one_without(
        rid: int, site: str, ordinal: int, other_rid: int, other_site: str,
        other_ordinal: int) -> None:
    new = idempotency_key(rid, site, ordinal, installation=Installation("123456789012"))
    legacy = idempotency_key(other_rid, other_site, other_ordinal,
                             installation=Installation("123456789012", legacy_through=10**9))
    assert new != legacy and new.endswith("@123456789012") and len(new) <= 60


@pytest.mark.parametrize("bad", ["", "0A1B2C3D4E5F", "0a1b2c3d4e5", "0a1b2c3d4e5f0",
                                 "0a1b2c3d4e5g", "../../etc"])
def test_an_installation_id_is_twelve_hex_digits(bad: str) -> None:
    with pytest.raises(InvalidInput, match="installation id"):
        Installation(bad)


def test_a_city_copy_goes_to_the_department_s_own_city_site() -> None:
    from govcloud.domain.provisioning import CopyKind, DrPolicy, PolicyRule
    from govcloud.domain.sites import Site, SiteRole

    policy = DrPolicy((PolicyRule(1, 6, ((SiteRole.PRODUCTION, CopyKind.PRIMARY),
                                         (SiteRole.CITY, CopyKind.COLD))),))
    sites = [*default_sites(),
             Site("SHENZHEN", "sz", "SHENZHEN", SiteRole.CITY, "shenzhen"),
             Site("GUANGZHOU", "gz", "GUANGZHOU", SiteRole.CITY, "guangzhou")]
    assert [t.site for t in policy.targets(5, sites, city="guangzhou")] == ["PROD",
                                                                            "GUANGZHOU"]
    assert [t.site for t in policy.targets(5, sites, city="shenzhen")] == ["PROD", "SHENZHEN"]
    # never another city's site: a provincial department (no city) has none to go to
    with pytest.raises(InvalidInput, match="city site"):
        policy.targets(5, sites)
    # a city site that names no city takes any department's copy
    anyone = [*default_sites(), Site("CITY-X", "x", "X", SiteRole.CITY)]
    assert [t.site for t in policy.targets(5, anyone)] == ["PROD", "CITY-X"]
