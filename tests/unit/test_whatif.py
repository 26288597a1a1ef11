from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govcloud.domain.capacity import Resources
from govcloud.domain.inventory import ServerInfo
from govcloud.domain.sites import Site, SiteRole, default_sites
from govcloud.domain.whatif import (
    DR_POLICY,
    FailoverRule,
    Load,
    check_policy,
    department_loads,
    lose_site,
    rule_for,
)
from govcloud.errors import InvalidInput, NotFound

SITES = default_sites()
T = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def load(servers: int, vcpu: int, ram_gb: int, disk: int) -> Load:
    return Load(servers, Resources(vcpu, ram_gb * 1024, disk))


FREE = {"PROD": Resources(1000, 1000 * 1024, 100_000),
        "DR-LOCAL": Resources(100, 200 * 1024, 5_000),
        "DR-REMOTE": Resources(50, 100 * 1024, 2_000)}
LOADS = {
    "PROD": {"gd-psd": load(10, 80, 160, 1000), "gd-edu": load(5, 20, 40, 500),
             "gd-agri": load(2, 4, 8, 100), "ghost": load(1, 2, 4, 50)},
    "DR-LOCAL": {"gd-psd": load(4, 30, 60, 400)},
    "DR-REMOTE": {"gd-psd": load(1, 4, 8, 50), "gd-edu": load(1, 4, 8, 100)},
}
LEVELS = {"gd-psd": 6, "gd-edu": 3, "gd-agri": 2}


def test_policy_table() -> None:
    assert rule_for(6).target is SiteRole.SAME_CITY_DR
    assert rule_for(5).target is SiteRole.SAME_CITY_DR
    assert rule_for(4).target is SiteRole.REMOTE_DR
    assert rule_for(3).target is SiteRole.REMOTE_DR
    assert rule_for(2).target is None and rule_for(1).target is None
    with pytest.raises(InvalidInput):
        rule_for(7)
    with pytest.raises(InvalidInput, match="level 3"):
        check_policy([FailoverRule(4, 6, None), FailoverRule(1, 2, None)])


def test_losing_prod_moves_each_department_by_its_dr_level() -> None:
    v = lose_site("PROD", sites=SITES, free=FREE, loads=LOADS, dr_levels=LEVELS)
    moves = {m.department: m for m in v.moves}
    assert set(moves) == {"gd-psd", "gd-edu"}
    psd = moves["gd-psd"]
    assert (psd.source, psd.target, psd.dr_level) == ("PROD", "DR-LOCAL", 6)
    assert psd.standby == Resources(30, 60 * 1024, 400)
    assert psd.need == Resources(50, 100 * 1024, 600)  # load − the standbys already there
    assert moves["gd-edu"].target == "DR-REMOTE"
    assert moves["gd-edu"].need == Resources(16, 32 * 1024, 400)
    assert [(s.department, s.reason) for s in v.not_protected] == [
        ("gd-agri", "no failover: restored later"), ("ghost", "no DR level known")]
    local, remote = v.receiving
    assert (local.site, local.fits, local.shortfall) == ("DR-LOCAL", True, Resources())
    assert remote.site == "DR-REMOTE" and remote.departments == ("gd-edu",)
    assert v.fits
    assert v.to_dict()["receiving"][0]["site"] == "DR-LOCAL"


def test_a_receiving_site_that_is_too_small_reports_the_shortfall() -> None:
    free = {**FREE, "DR-LOCAL": Resources(20, 500 * 1024, 100)}
    v = lose_site("PROD", sites=SITES, free=free, loads=LOADS, dr_levels=LEVELS)
    local = v.receiving[0]
    assert not local.fits and not v.fits
    assert local.shortfall == Resources(30, 0, 500)
    assert v.to_dict()["fits"] is False


def test_without_standby_credit_the_whole_load_is_needed() -> None:
    v = lose_site("PROD", sites=SITES, free=FREE, loads=LOADS, dr_levels=LEVELS,
                  credit_standbys=False)
    psd = next(m for m in v.moves if m.department == "gd-psd")
    assert psd.need == psd.load.resources and psd.standby == Resources()


def test_losing_a_dr_site_moves_nothing_but_lists_lost_copies() -> None:
    v = lose_site("DR-REMOTE", sites=SITES, free=FREE, loads=LOADS, dr_levels=LEVELS)
    assert v.fits and not v.moves and not v.receiving
    assert [c.department for c in v.copies_lost] == ["gd-edu", "gd-psd"]
    assert "primary keeps serving" in v.copies_lost[0].reason


def test_no_target_site_leaves_the_department_unprotected() -> None:
    sites = [s for s in SITES if s.name != "DR-REMOTE"]
    v = lose_site("PROD", sites=sites, free=FREE, loads=LOADS, dr_levels=LEVELS)
    edu = next(s for s in v.not_protected if s.department == "gd-edu")
    assert edu.reason == "no remote-dr site to fail over to"


def test_bad_questions() -> None:
    with pytest.raises(NotFound):
        lose_site("NOPE", sites=SITES, free=FREE, loads=LOADS, dr_levels=LEVELS)
    with pytest.raises(InvalidInput, match="DR-LOCAL"):
        lose_site("PROD", sites=SITES, free={"DR-REMOTE": Resources()}, loads=LOADS,
                  dr_levels=LEVELS)


def test_department_loads_from_servers() -> None:
    def server(sid: str, project: str, host: str | None, image: str | None = "img") -> ServerInfo:
        return ServerInfo(id=sid, name=sid, project_id=project, status="ACTIVE",
                          flavor_name="gc.c2m4", vcpus=2, ram_mb=4096, disk_gb=50,
                          created=T, updated=T, host=host, image_id=image)

    loads = department_loads(
        [server("1", "p-psd", "h1"), server("2", "p-psd", "h2", image=None),
         server("3", "p-psd", None), server("4", "p-admin", "h1")],
        {"p-psd": "gd-psd"})
    assert loads == {"gd-psd": Load(2, Resources(4, 8192, 50)),
                     "p-admin": Load(1, Resources(2, 4096, 50))}


def test_a_shelved_cold_copy_is_needed_capacity_not_a_standby_credit() -> None:
    """Issue 19: a level-3 department's cold copy in DR-REMOTE, offloaded (on no host), gives
    no credit: losing PROD, its whole load is needed there; the same copy running would be."""
    def copy(sid: str, status: str, host: str | None) -> ServerInfo:
        return ServerInfo(id=sid, name=sid, project_id="p-edu", status=status,
                          flavor_name="gc.c2m4", vcpus=2, ram_mb=4096, disk_gb=50,
                          created=T, updated=T, host=host, image_id="img")

    prod = {"gd-edu": load(2, 4, 8, 100)}
    shelved = department_loads([copy("1", "SHELVED_OFFLOADED", None),
                                copy("2", "SHELVED_OFFLOADED", None)], {"p-edu": "gd-edu"})
    running = department_loads([copy("1", "ACTIVE", "h1"), copy("2", "ACTIVE", "h2")],
                               {"p-edu": "gd-edu"})
    moves = {}
    for name, remote in (("shelved", shelved), ("running", running)):
        verdict = lose_site("PROD", sites=SITES, free=FREE,
                            loads={"PROD": prod, "DR-REMOTE": remote}, dr_levels={"gd-edu": 3})
        [moves[name]] = verdict.moves
    assert moves["shelved"].target == "DR-REMOTE"
    assert moves["shelved"].standby == Resources()
    assert moves["shelved"].need == prod["gd-edu"].resources
    assert moves["running"].standby == Resources(4, 8192, 100)
    assert moves["running"].need.vcpu == 0


# --- properties ----------------------------------------------------------------------------

res = st.builds(Resources, st.integers(0, 500), st.integers(0, 10**6), st.integers(0, 10**5))
loads_st = st.builds(Load, st.integers(0, 100), res)
depts = st.sampled_from([f"d{i}" for i in range(12)])
site_loads = st.dictionaries(depts, loads_st, max_size=12)


@given(lost=st.sampled_from([s.name for s in SITES]),
       loads=st.fixed_dictionaries({s.name: site_loads for s in SITES}),
       levels=st.dictionaries(depts, st.integers(1, 6), max_size=12),
       free=st.fixed_dictionaries({s.name: res for s in SITES}),
       credit=st.booleans())
def test_what_if_conserves_load(lost: str, loads: dict[str, dict[str, Load]],
                                levels: dict[str, int], free: dict[str, Resources],
                                credit: bool) -> None:
    v = lose_site(lost, sites=SITES, free=free, loads=loads, dr_levels=levels,
                  credit_standbys=credit)
    total = Load()
    for item in loads[lost].values():
        total = total + item
    assert v.lost_load == total  # every server of the lost site is accounted for, once
    accounted = [m.department for m in v.moves] + [s.department for s in v.not_protected] \
        + [s.department for s in v.copies_lost]
    assert sorted(accounted) == sorted(loads[lost])
    for r in v.receiving:
        incoming = Resources()
        for m in v.moves:
            if m.target == r.site:
                assert m.need == m.load.resources.shortfall(m.standby)
                incoming = incoming + m.need
        assert r.incoming == incoming
        assert r.fits == (r.shortfall == Resources())
        assert r.shortfall == (r.incoming - r.free).clipped()
    assert v.fits == all(r.fits for r in v.receiving)
    assert all(m.target != lost for m in v.moves)


def test_losing_a_city_cloud_fails_over_like_production() -> None:
    check_policy(DR_POLICY)
    sites = [*SITES, Site("SZ-CITY", "sz", "RegionOne", SiteRole.CITY)]
    loads = {"SZ-CITY": {"shenzhen": load(3, 12, 24, 300)}}
    v = lose_site("SZ-CITY", sites=sites, free=FREE, loads=loads, dr_levels={"shenzhen": 5})
    assert [(m.department, m.target) for m in v.moves] == [("shenzhen", "DR-LOCAL")]


CITY_SITES = [*SITES, Site("GUANGZHOU", "gz", "GUANGZHOU", SiteRole.CITY, "guangzhou"),
              Site("SHANTOU", "cities", "SHANTOU", SiteRole.CITY, "shantou")]
CITY_FREE = {**FREE, "GUANGZHOU": Resources(500, 500 * 1024, 50_000),
             "SHANTOU": Resources(10, 10 * 1024, 1_000)}


def test_with_dr_city_sites_a_city_tenant_fails_over_to_its_own_city_site() -> None:
    loads = {"PROD": {"guangzhou": load(6, 40, 80, 600), "gd-psd": load(10, 80, 160, 1000)}}
    levels = {"guangzhou": 5, "gd-psd": 6}
    off = lose_site("PROD", sites=CITY_SITES, free=CITY_FREE, loads=loads, dr_levels=levels)
    assert {m.department: m.target for m in off.moves} == {"guangzhou": "DR-LOCAL",
                                                           "gd-psd": "DR-LOCAL"}
    on = lose_site("PROD", sites=CITY_SITES, free=CITY_FREE, loads=loads, dr_levels=levels,
                   city_dr={"guangzhou": "guangzhou"})
    assert {m.department: m.target for m in on.moves} == {"guangzhou": "GUANGZHOU",
                                                          "gd-psd": "DR-LOCAL"}
    assert {r.site: r.departments for r in on.receiving} == {
        "DR-LOCAL": ("gd-psd",), "GUANGZHOU": ("guangzhou",)}


def test_a_city_tenant_losing_its_own_city_site_goes_to_the_policy_s_dr_site() -> None:
    loads = {"GUANGZHOU": {"guangzhou": load(6, 40, 80, 600)}}
    v = lose_site("GUANGZHOU", sites=CITY_SITES, free=CITY_FREE, loads=loads,
                  dr_levels={"guangzhou": 5}, city_dr={"guangzhou": "guangzhou"})
    assert [(m.department, m.target) for m in v.moves] == [("guangzhou", "DR-LOCAL")]


def test_no_failover_level_stays_unprotected_even_with_a_city_site() -> None:
    loads = {"PROD": {"shantou": load(2, 4, 8, 100)}}
    v = lose_site("PROD", sites=CITY_SITES, free=CITY_FREE, loads=loads,
                  dr_levels={"shantou": 2}, city_dr={"shantou": "shantou"})
    assert v.moves == () and [s.department for s in v.not_protected] == ["shantou"]
