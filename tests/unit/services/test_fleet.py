"""What the console's fleet views decide, over a stored snapshot in a real database (no
cloud): a server of a department the principal may not see is answered as absent, like an
unknown id or site; a site that does not answer live leaves the stored row with the reason;
usage shows only the departments the principal may see; hypervisors of an unknown site are
absent, and per site how many compute services are down. (The queries: tests/unit/store/
test_fleet.py; through the API: tests/integration/control/test_fleet_api.py.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import Engine

from govcloud.domain.rbac import Principal
from govcloud.errors import NotFound, TemporaryError
from govcloud.services.fleet import host_servers, hypervisors, server_detail, usage
from govcloud.store.inventory import table
from tests.databases import T0
from tests.unit.fleet_rows import srv

SITES = ["PROD", "DR-LOCAL"]
CATALOGUE: dict[str, str | None] = {"gd-psd": None, "gd-tax": None}
ADMIN = Principal("boss", "bureau-admin")
PSD = Principal("psdview", "department-viewer", department="gd-psd")


@pytest.fixture
def snap(db: Engine) -> Engine:
    with db.begin() as conn:
        conn.execute(table("server").insert(), [
            srv("PROD", "a", "gd-psd"), srv("PROD", "c", "gd-tax", host="cn2"),
            srv("PROD", "d", None), srv("OLD", "o", "gd-psd")])  # OLD: a site no more
        conn.execute(table("quota_usage").insert(), [
            {"site": "PROD", "project_id": p, "resource": "cores", "department": d,
             "limit": 40, "in_use": 4} for p, d in (("p1", "gd-psd"), ("p2", "gd-tax"))])
        conn.execute(table("compute_service").insert(), [
            {"site": "PROD", "id": "1", "binary": "nova-compute", "host": "cn1",
             "state": "down", "status": "enabled", "forced_down": False}])
    return db


def detail(engine: Engine, principal: Principal, site: str, sid: str, **kw: Any
           ) -> dict[str, Any]:
    return server_detail(engine, principal=principal, sites=SITES, catalogue=CATALOGUE,
                         site=site, server_id=sid, **kw)


def test_a_server_of_a_department_one_may_not_see_is_absent(snap: Engine) -> None:
    assert detail(snap, PSD, "PROD", "a")["id"] == "a"
    for site, sid in (("PROD", "c"), ("PROD", "d"), ("PROD", "zz"), ("NOWHERE", "a"),
                      ("OLD", "o")):
        with pytest.raises(NotFound) as err:
            detail(snap, PSD, site, sid)
        assert err.value.message == f"no server {sid!r} in {site}"
    assert detail(snap, ADMIN, "PROD", "d")["id"] == "d"  # the whole cloud sees orphans


def test_live_fields_or_why_the_site_did_not_answer(snap: Engine) -> None:
    def live(site: str, sid: str) -> Mapping[str, Any]:
        return {"addresses": {"net": ["10.0.0.5"]}, "metadata": {}, "tags": ["x"],
                "status": "SHUTOFF"}

    def down(site: str, sid: str) -> Mapping[str, Any]:
        raise TemporaryError(f"{site}: cannot connect")

    out = detail(snap, ADMIN, "PROD", "a", live=live)
    assert (out["status"], out["tags"], out["live_error"]) == ("SHUTOFF", ["x"], None)
    out = detail(snap, ADMIN, "PROD", "a", live=down)
    assert (out["live_error"], out["addresses"], out["name"]) == \
        ("PROD: cannot connect", None, "vm-a")
    assert detail(snap, ADMIN, "PROD", "a")["live_error"] is None


def test_usage_shows_only_the_departments_one_may_see(snap: Engine) -> None:
    assert sorted(usage(snap, principal=ADMIN, catalogue=CATALOGUE)["departments"]) == \
        ["gd-psd", "gd-tax"]
    mine = usage(snap, principal=PSD, catalogue=CATALOGUE)["departments"]
    assert list(mine) == ["gd-psd"]
    assert mine["gd-psd"]["PROD"]["quotas"] == {"cores": {"limit": 40, "in_use": 4}}
    assert mine["gd-psd"]["PROD"]["servers"] == 1
    assert mine["gd-psd"]["PROD"]["last_change"] == T0.isoformat()


def test_hypervisors_of_an_unknown_site_are_absent_and_services_down_per_site(
        snap: Engine) -> None:
    with pytest.raises(NotFound):
        hypervisors(snap, sites=SITES, site="NOWHERE")
    with pytest.raises(NotFound):
        host_servers(snap, sites=SITES, site="NOWHERE", host="cn1")
    out = hypervisors(snap, sites=SITES, hosts=False)
    assert out["hypervisors"] == []
    assert out["services_down"] == {"PROD": 1, "DR-LOCAL": 0}
    assert hypervisors(snap, sites=SITES, site="DR-LOCAL", hosts=False)["services_down"] \
        == {"DR-LOCAL": 0}
    assert [s["id"] for s in host_servers(snap, sites=SITES, site="PROD",
                                          host="cn2")["servers"]] == ["c"]
