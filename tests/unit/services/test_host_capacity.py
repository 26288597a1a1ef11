"""Hosts in maintenance count in no capacity figure (docs/hosts.md), over a stored snapshot in
a real database: capacity, flavor fit, the what-if's free capacity, the status screen and the
sync's capacity samples leave them out the moment they are marked — one cache shared across
calls, as the control plane's is, with no sync in between — and count them again when the mark
is cleared; the hypervisors' own listing keeps them, flagged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.domain.capacity import MEMORY_MB, VCPU, Inventory
from govcloud.domain.inventory import HostState, HostStatus, HypervisorInfo
from govcloud.domain.rbac import Principal
from govcloud.domain.sites import default_sites
from govcloud.services.fleet import hypervisors
from govcloud.services.inventory import SnapshotCache, capacity
from govcloud.services.inventory_status import status
from govcloud.services.sync_resources import HYPERVISORS, Hosts, SiteRun
from govcloud.store import hosts_repo
from govcloud.store import inventory as store
from govcloud.store.audit import write_session
from tests.databases import T0

ADMIN = Principal("boss", "bureau-admin")
SITES = default_sites()


def _host(name: str, *, vcpu_used: int = 0) -> HypervisorInfo:
    return HypervisorInfo(id=f"id-{name}", hostname=name, state=HostState.UP,
                          status=HostStatus.ENABLED, availability_zone="nova",
                          inventories={VCPU: Inventory(VCPU, 16, 0, 4.0),
                                       MEMORY_MB: Inventory(MEMORY_MB, 65536)},
                          usages={VCPU: vcpu_used})


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        for site, hosts in (("PROD", [_host("p1", vcpu_used=8), _host("p2"), _host("p3")]),
                            ("DR-LOCAL", [_host("d1"), _host("d2")]),
                            ("DR-REMOTE", [_host("r1")])):
            store.replace_hypervisors(conn, site, hosts, {})
            store.record_success(conn, site, at=T0, duration_s=1.0, watermark=T0, full=True,
                                 servers=0, hypervisors=len(hosts))
        # gd-psd (DR level 6) runs 4 vCPU in PROD: losing PROD sends it to DR-LOCAL
        conn.execute(store.table("server").insert(), [
            {"site": "PROD", "id": "s1", "name": "app", "project_id": "p-psd",
             "department": "gd-psd", "status": "ACTIVE", "vcpus": 4, "ram_mb": 4096,
             "host": "p1", "created": T0, "updated": T0}])


def _mark(engine: Engine, site: str, host: str) -> None:
    with write_session(engine) as session:
        hosts_repo.mark(session, site=site, host=host, hypervisor=host, drain_id=None,
                        by="boss", at=T0)
        session.commit()


def _clear(engine: Engine, site: str, host: str) -> None:
    with write_session(engine) as session:
        hosts_repo.clear(session, site, host)
        session.commit()


def _prod(engine: Engine, cache: SnapshotCache) -> dict[str, Any]:
    answer = capacity(engine, sites=SITES, site="PROD", fit=["small"], what_if_lose="PROD",
                      dr_levels={"gd-psd": 6}, cache=cache)
    return answer


def test_a_host_in_maintenance_leaves_every_figure_at_once_and_comes_back(db: Engine) -> None:
    _seed(db)
    with db.begin() as conn:
        conn.execute(store.table("flavor").insert(), [
            {"site": "PROD", "id": "f1", "name": "small", "vcpus": 2, "ram_mb": 2048,
             "disk_gb": 0, "ephemeral_gb": 0, "swap_mb": 0, "is_public": True}])
    cache = SnapshotCache()
    before = _prod(db, cache)["sites"][0]
    assert (before["hypervisors"], before["vcpus"]["capacity"]) == (3, 192)
    assert _prod(db, cache)["flavor_fits"]["small"][0]["count"] == 28 + 32 + 32

    _mark(db, "PROD", "p2")
    during = _prod(db, cache)
    site = during["sites"][0]
    assert (site["hypervisors"], site["vcpus"]["capacity"]) == (2, 128)
    assert site["vcpus"]["headroom"] == 120 and site["zones"][0]["hypervisors"] == 2
    assert during["flavor_fits"]["small"][0]["count"] == 28 + 32
    listed = {h["hostname"]: h["maintenance"]
              for h in hypervisors(db, sites=["PROD"], cache=cache)["hypervisors"]}
    assert listed == {"p1": False, "p2": True, "p3": False}
    shown = next(s for s in status(db, principal=ADMIN, sites=SITES, cache=cache)["sites"]
                 if s["site"] == "PROD")
    assert shown["hypervisors"]["total"] == 2 and shown["vcpus"]["capacity"] == 128

    # the what-if's receiving site has the free capacity of its hosts in service only
    (receiving,) = _prod(db, cache)["what_if"]["receiving"]
    assert (receiving["site"], receiving["free"]["vcpu"]) == ("DR-LOCAL", 128)
    _mark(db, "DR-LOCAL", "d1")
    (receiving,) = _prod(db, cache)["what_if"]["receiving"]
    assert receiving["free"]["vcpu"] == 64

    _clear(db, "PROD", "p2")
    after = _prod(db, cache)["sites"][0]
    assert (after["hypervisors"], after["vcpus"]["capacity"]) == (3, 192)


def test_the_sync_s_capacity_sample_leaves_hosts_in_maintenance_out(db: Engine) -> None:
    _seed(db)
    _mark(db, "PROD", "p3")
    run = SiteRun(site="PROD", full=False, at=T0, since=None, department_of={})
    hosts = (_host("p1", vcpu_used=8), _host("p2"), _host("p3", vcpu_used=4))
    with db.begin() as conn:
        HYPERVISORS.write(conn, run, Hosts(providers=(), hypervisors=hosts))
    with db.connect() as conn:
        (sample,) = store.samples(conn, "PROD")
        assert len(store.hosts(conn, "PROD")) == 3  # every host is still stored
    assert (sample["vcpu_allocated"], sample["vcpu_capacity"]) == (8, 128)
    # the scorecard's compute availability: the hosts in service, and of them those up
    assert (sample["hosts_in_service"], sample["hosts_up"]) == (2, 2)
    with Session(db) as session:
        assert [m.host for m in hosts_repo.marks(session, "PROD")] == ["p3"]
