"""Which targets a migration gets (govcloud/services/migration_targets.py), in a real database
with the provisioning service's own requests, and the cloud faked at the connections the plane
hands out (the only cloud calls here: reading a server, deleting one):

- a host that declares its target keeps it, and nothing is requested;
- otherwise one request per host, approved in the name of the migration gate, recorded on the
  wave before waiting, and adopted again (not submitted twice) when the run resumes;
- the request's primary server is the target, its other servers the DR copies, each reached at
  its simulator sandbox or its first fixed IPv4 address; a request that did not finish is a
  permanent error;
- a release deletes every server of the request, tombstones each in the inventory at once, and
  when one site fails deletes the others all the same and reports both.
(End to end: tests/integration/migrate/.)"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from govcloud.domain.inventory import ServerInfo
from govcloud.domain.legacy import Endpoint, LegacyHost
from govcloud.domain.provisioning import idempotency_key
from govcloud.domain.rbac import Principal, Role
from govcloud.errors import PermanentError, TemporaryError
from govcloud.services.migration_access import Caller, import_hosts, plan
from govcloud.services.migration_run import Provisioned
from govcloud.services.migration_targets import APPROVER, CloudTargets, _system, endpoint_of
from govcloud.services.plane import Plane
from govcloud.services.provisioning_common import ProvisioningContext
from govcloud.services.provisioning_lifecycle import (
    complete,
    fail,
    pending,
    record_server,
    start,
    write_inventory,
)
from govcloud.services.provisioning_requests import show
from govcloud.settings import Settings
from govcloud.store import inventory as inv
from govcloud.store import migration as repo
from tests.unit.services.provisioning_setup import ADMIN, context, seed

BOSS = Principal("boss", Role.BUREAU_ADMIN)


def server(sid: str, *, metadata: Mapping[str, str] | None = None,
           addresses: Mapping[str, list[dict[str, Any]]] | None = None) -> Any:
    return SimpleNamespace(id=sid, metadata=dict(metadata or {}), addresses=addresses or {})


def fixed(addr: str, version: int = 4, kind: str = "fixed") -> dict[str, Any]:
    return {"addr": addr, "version": version, "OS-EXT-IPS:type": kind}


@dataclass
class FakeCompute:
    """A site's compute API as migration_targets uses it: servers by id, deletions."""

    site: str
    servers: dict[str, Any] = field(default_factory=dict)
    fail_delete: bool = False
    deleted: list[str] = field(default_factory=list)

    def get_server(self, sid: str) -> Any:
        return self.servers[sid]

    def delete_server(self, sid: str, ignore_missing: bool = False) -> None:
        if self.fail_delete:
            raise TemporaryError(f"site {self.site}: 503 Service Unavailable")
        self.deleted.append(sid)


@dataclass
class FakePlane:
    settings: Settings
    engine: Engine
    provisioning: ProvisioningContext
    computes: dict[str, FakeCompute]

    @property
    def clouds(self) -> Any:
        conns = {site: SimpleNamespace(compute=c) for site, c in self.computes.items()}
        return SimpleNamespace(connections=lambda: conns)


INVENTORY = ("all:\n  vars: {govcloud_department: gd-psd}\n  hosts:\n"
             "    Db_1: {ansible_host: 10.0.0.1, govcloud_system: Hukou DB}\n")


@pytest.fixture
def setup(db: Engine, tmp_path: Any) -> Iterator[tuple[FakePlane, str, LegacyHost]]:
    seed(db)
    caller = Caller(BOSS, context(db).catalogue())
    import_hosts(db, caller, text=INVENTORY, name="psd.yaml")
    wave = plan(db, caller, department="gd-psd",
                first_window=datetime(2026, 12, 5, 1, tzinfo=UTC), window_hours=4,
                every_days=7, max_hosts=10)["waves"][0]["wave"]
    with Session(db) as session:
        host = repo.get_host(session, "Db_1")
    settings = Settings(migrate_dir=tmp_path / "m", migrate_target={
        "flavor": "gc.c4m8", "image": "cirros", "network": "prod-net", "user": "root"})
    plane = FakePlane(settings, db, context(db),
                      {"PROD": FakeCompute("PROD"), "DR-REMOTE": FakeCompute("DR-REMOTE")})
    yield plane, wave, host


def targets(plane: FakePlane, timeout_s: float = 10.0) -> CloudTargets:
    return CloudTargets(cast(Plane, plane), timeout_s=timeout_s)


def target_server(engine: Engine, wave: str) -> str | None:
    with Session(engine) as session:
        return repo.wave_hosts(session, wave)[0].target_server


def worker(ctx: ProvisioningContext, finish: Callable[[int], object]) -> threading.Thread:
    """The provisioning worker, as far as a migration target needs it: takes the first
    approved request and ``finish``es it."""
    def run() -> None:
        for _ in range(200):
            work = [rid for rid, state in pending(ctx) if state == "approved"]
            if work:
                start(ctx, work[0])
                finish(work[0])
                return
            threading.Event().wait(0.05)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def build(ctx: ProvisioningContext, sites: Mapping[str, str]) -> Callable[[int], None]:
    def finish(rid: int) -> None:
        for site, sid in sites.items():
            key = idempotency_key(rid, site, 1, installation=ctx.installation)
            record_server(ctx, rid, site=site, ordinal=1, name="db-1-vm-1", key=key,
                          server_id=sid, status="active")
        complete(ctx, rid)
    return finish


def test_a_system_name_becomes_a_request_system() -> None:
    assert _system("Hukou DB") == "hukou-db"
    assert _system("户籍") == "migrated"  # nothing left of it
    assert _system("x") == "x0"  # at least two characters
    assert _system("a" * 41 + "-b" * 5) == "a" * 41  # 42 at most, no trailing '-'
    assert len(_system("b" * 80)) == 42


def test_a_server_is_reached_at_its_sandbox_or_its_first_fixed_ipv4() -> None:
    sim = server("s1", metadata={"sim:ssh": "127.0.0.1:2201", "sim:user": "app",
                                 "sim:root": "/sandbox/s1"},
                 addresses={"prod-net": [fixed("10.0.0.9")]})
    assert endpoint_of(sim, "root") == Endpoint("127.0.0.1", 2201, "app", "/sandbox/s1")
    mixed = server("s2", addresses={"prod-net": [fixed("fd00::9", version=6),
                                                 fixed("192.0.2.7", kind="floating"),
                                                 fixed("10.0.0.10")]})
    assert endpoint_of(mixed, "cloud") == Endpoint("10.0.0.10", 22, "cloud")
    with pytest.raises(PermanentError, match="server s3 has no fixed IPv4 address"):
        endpoint_of(server("s3", addresses={"n": [fixed("192.0.2.8", kind="floating")]}),
                    "root")


def test_a_declared_target_is_kept_and_nothing_is_requested(
        setup: tuple[FakePlane, str, LegacyHost]) -> None:
    plane, wave, host = setup
    declared = LegacyHost(host.name, host.department, host.system, host.endpoint,
                          target=Endpoint("10.9.9.9"))
    made = targets(plane).provision(declared, wave)
    assert made == Provisioned(Endpoint("10.9.9.9"))
    assert pending(plane.provisioning) == []
    assert targets(plane).release(declared, wave, made)[0].startswith(
        "kept the declared target 10.9.9.9")


def test_a_target_is_requested_once_approved_by_the_gate_and_recorded_before_waiting(
        setup: tuple[FakePlane, str, LegacyHost]) -> None:
    plane, wave, host = setup
    plane.computes["PROD"].servers["srv-p"] = server(
        "srv-p", addresses={"prod-net": [fixed("10.1.0.5")]})
    thread = worker(plane.provisioning, build(plane.provisioning, {"PROD": "srv-p"}))
    made = targets(plane).provision(host, wave, actor="alice")
    thread.join()
    assert made.request is not None
    assert made == Provisioned(Endpoint("10.1.0.5", 22, "root"), "srv-p", (), made.request)
    assert target_server(plane.engine, wave) == f"request:{made.request}"
    request = show(plane.provisioning, ADMIN, made.request)
    assert (request["requester"], request["approver"], request["system"],
            request["state"]) == ("alice", APPROVER, "hukou-db", "done")
    assert request["spec"]["servers"][0]["name_prefix"] == "db-1"


def test_a_resumed_run_adopts_its_request_and_a_failed_one_is_permanent(
        setup: tuple[FakePlane, str, LegacyHost]) -> None:
    plane, wave, host = setup
    thread = worker(plane.provisioning,
                    lambda rid: fail(plane.provisioning, rid, "nova said no"))
    with pytest.raises(PermanentError) as err:
        targets(plane).provision(host, wave)
    thread.join()
    rid = int((target_server(plane.engine, wave) or "").split(":")[1])
    assert err.value.message == (f"the target of Db_1 was not provisioned: request {rid} is "
                                 "failed (nova said no)")
    assert err.value.hint == f"`govcloud request show {rid}`"
    # the run resumes: the same request is waited for, no other is submitted
    with pytest.raises(PermanentError, match=f"request {rid} is failed"):
        targets(plane, timeout_s=0.5).provision(host, wave)
    with Session(plane.engine) as session:
        req = inv.table("provision_request")
        assert [r.id for r in session.execute(select(req.c.id))] == [rid]


def test_the_primary_is_the_target_and_the_other_servers_its_copies(
        setup: tuple[FakePlane, str, LegacyHost]) -> None:
    plane, wave, host = setup
    ctx = plane.provisioning
    plane.computes["PROD"].servers["p1"] = server("p1", addresses={"n": [fixed("10.1.0.5")]})
    plane.computes["DR-REMOTE"].servers["r1"] = server(
        "r1", metadata={"sim:ssh": "127.0.0.1:2202"})
    thread = worker(ctx, build(ctx, {"DR-REMOTE": "r1", "PROD": "p1"}))
    made = targets(plane).provision(host, wave)
    thread.join()
    assert (made.endpoint, made.server) == (Endpoint("10.1.0.5"), "p1")
    assert [(c.site, c.kind, c.server, c.endpoint) for c in made.copies] == [
        ("DR-REMOTE", "copy", "r1", Endpoint("127.0.0.1", 2202, "root", "/"))]


def _inventory_server(sid: str) -> ServerInfo:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    return ServerInfo(id=sid, name=sid, project_id="p-psd", status="ACTIVE",
                      flavor_name="gc.c4m8", vcpus=4, ram_mb=8192, disk_gb=40, created=at,
                      updated=at)


def _deleted_at(engine: Engine, sid: str) -> datetime | None:
    srv = inv.table("server")
    with engine.connect() as conn:
        value: datetime | None = conn.execute(
            select(srv.c.deleted_at).where(srv.c.id == sid)).scalar_one()
        return value


def test_a_release_deletes_every_server_and_reports_a_site_that_failed(
        setup: tuple[FakePlane, str, LegacyHost]) -> None:
    plane, wave, host = setup
    ctx = plane.provisioning
    plane.computes["PROD"].servers["p1"] = server("p1", addresses={"n": [fixed("10.1.0.5")]})
    plane.computes["DR-REMOTE"].servers["r1"] = server("r1", addresses={"n": [fixed("10.2.0.5")]})
    thread = worker(ctx, build(ctx, {"PROD": "p1", "DR-REMOTE": "r1"}))
    made = targets(plane).provision(host, wave)
    thread.join()
    assert made.request is not None
    for site, sid in (("PROD", "p1"), ("DR-REMOTE", "r1")):
        write_inventory(ctx, site, [_inventory_server(sid)], [], project="p-psd",
                        department="gd-psd")
    plane.computes["DR-REMOTE"].fail_delete = True
    with pytest.raises(TemporaryError) as err:
        targets(plane).release(host, wave, made)
    assert err.value.message == (
        "could not delete DR-REMOTE server r1: site DR-REMOTE: 503 Service Unavailable; "
        f"deleted PROD server p1 (db-1-vm-1) of request {made.request}: the data is back on "
        "the legacy host")
    assert plane.computes["PROD"].deleted == ["p1"]
    assert _deleted_at(plane.engine, "p1") is not None  # the snapshot knows at once
    assert _deleted_at(plane.engine, "r1") is None
    assert not [e for e in show(ctx, ADMIN, made.request)["events"] if e["kind"] == "released"]

    plane.computes["DR-REMOTE"].fail_delete = False  # the rollback is run again
    lines = targets(plane).release(host, wave, made, actor="bob")
    assert [line.split(" (")[0] for line in lines] == ["deleted DR-REMOTE server r1",
                                                       "deleted PROD server p1"]
    assert _deleted_at(plane.engine, "r1") is not None
    released = [e["message"] for e in show(ctx, ADMIN, made.request)["events"]
                if e["kind"] == "released"]
    assert released == ["the servers were deleted by the rollback of Db_1 "
                        f"(wave {wave}, by bob)"]
