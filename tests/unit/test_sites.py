from __future__ import annotations

import pytest

from govcloud.domain.sites import Site, SiteRole, check_sites, default_sites
from govcloud.errors import InvalidInput


def test_default_sites_are_the_three_centres() -> None:
    sites = default_sites()
    assert [(s.name, s.region, s.role) for s in sites] == [
        ("PROD", "PROD", SiteRole.PRODUCTION),
        ("DR-LOCAL", "DR-LOCAL", SiteRole.SAME_CITY_DR),
        ("DR-REMOTE", "DR-REMOTE", SiteRole.REMOTE_DR),
    ]
    assert {s.cloud for s in sites} == {"govcloud-sim"}


def test_roles_parse_from_their_config_values() -> None:
    assert SiteRole("same-city-dr") is SiteRole.SAME_CITY_DR
    assert [r.value for r in SiteRole] == ["production", "same-city-dr", "remote-dr", "city"]


@pytest.mark.parametrize("name", ["", " PROD", "PROD SITE", "-x", "a" * 64,
                                  "PROD\n"])
def test_bad_site_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Site(name, "c", "r", SiteRole.CITY)
    assert info.value.hint


def test_empty_region_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="region"):
        Site("SZ", "c", " ", SiteRole.CITY)


def test_check_sites_orders_by_role_then_name() -> None:
    sites = [Site("SZ", "c", "sz", SiteRole.CITY), Site("DR-REMOTE", "c", "r", SiteRole.REMOTE_DR),
             Site("GZ", "c", "gz", SiteRole.CITY), Site("PROD", "c", "p", SiteRole.PRODUCTION)]
    assert [s.name for s in check_sites(sites)] == ["PROD", "DR-REMOTE", "GZ", "SZ"]


@pytest.mark.parametrize(("sites", "match"), [
    ([], "no sites"),
    ([Site("A", "c", "1", SiteRole.PRODUCTION), Site("B", "c", "2", SiteRole.PRODUCTION)],
     "more than one production"),
    ([Site("A", "c", "1", SiteRole.CITY), Site("A", "c", "2", SiteRole.CITY)], "duplicate"),
    ([Site("A", "c", "1", SiteRole.CITY), Site("B", "c", "1", SiteRole.CITY)],
     "both point at"),
])
def test_check_sites_rejects_inconsistent_sets(sites: list[Site], match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        check_sites(sites)


def test_a_city_is_given_only_for_a_city_site_and_is_a_city_code() -> None:
    site = Site("GUANGZHOU", "gz", "GUANGZHOU", SiteRole.CITY, "guangzhou")
    assert site.city == "guangzhou"
    with pytest.raises(InvalidInput, match="only for a city site"):
        Site("PROD", "c", "p", SiteRole.PRODUCTION, "guangzhou")
    for bad in ("Guangzhou", "广州", "gz\n", "", "a" * 65):
        with pytest.raises(InvalidInput, match="city code"):
            Site("GZ", "gz", "r", SiteRole.CITY, bad)


def test_a_city_site_is_its_city_s_for_rbac_every_other_site_the_whole_cloud_s() -> None:
    from govcloud.domain.rbac import GLOBAL, Action, Principal, Role, Target
    from govcloud.domain.sites import city_sites, site_target, sites_within

    gz = Site("GUANGZHOU", "gz", "GUANGZHOU", SiteRole.CITY, "guangzhou")
    sz = Site("SHENZHEN", "sz", "SHENZHEN", SiteRole.CITY, "shenzhen")
    anon = Site("CITY-X", "x", "X", SiteRole.CITY)
    sites = [*default_sites(), gz, sz, anon]
    assert site_target(gz) == Target(city="guangzhou")
    assert site_target(anon) == GLOBAL and site_target(sites[0]) == GLOBAL
    assert city_sites(sites, "guangzhou") == (gz,)
    ops = Principal("gz-ops", Role.CITY_OPERATOR, city="guangzhou")
    assert sites_within(ops, Action.HOST_MAINTAIN, sites) == (gz,)
    assert sites_within(ops, Action.VIEW_CAPACITY, sites) == (gz,)
    viewer = Principal("v", Role.DEPARTMENT_VIEWER, department="guangzhou")
    assert sites_within(viewer, Action.VIEW_CAPACITY, sites) == ()
    operator = Principal("op", Role.OPERATOR)
    assert sites_within(operator, Action.HOST_MAINTAIN, sites) == tuple(sites)
