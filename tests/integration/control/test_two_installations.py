"""Two control-plane installations (two databases) provisioning in one cloud: both number their
first request 1, and neither takes the other's servers for its own — each key carries its
installation's id (docs/provisioning.md, "Idempotency keys"). A request submitted before
installation ids keeps adopting the servers tagged the old way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from govcloud.cloud.provision import create_server, project_connection, resolve
from govcloud.domain.provisioning import idempotency_key
from govcloud.sim.server import RunningSimulator, start
from govcloud.store.installation import get_installation
from govcloud.store.tables_installation import InstallationRow
from govcloud.workers.provision import start_provision_worker
from tests.databases import fresh_database
from tests.integration.control.provisioning_plane import IMAGE, ProvPlane, request, wait_final

from .conftest import Plane, running_plane

pytestmark = pytest.mark.slow
SETTINGS = {"provision_retries": 1, "provision_backoff_s": 0.05, "provision_poll_s": 0.1,
            "provision_active_timeout_s": 20}


@pytest.fixture
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSimulator]:
    running = start(scale="small", seed=42, build_delay=0.05,
                    clouds_yaml=tmp_path_factory.mktemp("cloud") / "clouds.yaml")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def planes(sim: RunningSimulator, plane_database: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProvPlane, ProvPlane]]:
    kind = "sqlite" if plane_database.startswith("sqlite") else "postgresql"
    with (fresh_database(kind, tmp_path_factory.mktemp("db-a")) as url_a,
          fresh_database(kind, tmp_path_factory.mktemp("db-b")) as url_b,
          running_plane(url_a, tmp_path_factory.mktemp("a"), SETTINGS,
                        start_provision_worker, sim=sim) as a,
          running_plane(url_b, tmp_path_factory.mktemp("b"), SETTINGS,
                        start_provision_worker, sim=sim) as b):
        yield prov(a), prov(b)


def prov(plane: Plane) -> ProvPlane:
    token = plane.add_principal("ops-li", "operator")
    assert plane.admin.post("/sync", {"full": True})["ok"]
    assert plane.sim.clouds_yaml is not None
    return ProvPlane(plane.url, plane.engine, plane.sim, plane.admin, plane.client(token),
                     plane.sim.clouds_yaml, token)


def provision(p: ProvPlane, system: str) -> dict[str, Any]:
    rid = p.operator.post("/requests", request(system, count=1))["id"]
    p.admin.post(f"/requests/{rid}/approve")
    done = wait_final(p.admin, rid)
    assert done["state"] == "done", done
    shown: dict[str, Any] = p.admin.get(f"/requests/{rid}")
    return shown


def prod_ids(shown: dict[str, Any]) -> set[str]:
    return {s["server_id"] for s in shown["servers"] if s["site"] == "PROD"}


def prod_servers(p: ProvPlane, system: str) -> dict[str, str]:
    """The PROD servers of ``system`` in the cloud: id → idempotency key."""
    conn = p.cloud("PROD")
    try:
        return {s.id: (s.metadata or {}).get("govcloud_key", "")
                for s in conn.compute.servers(all_projects=True)
                if (s.metadata or {}).get("system") == system}
    finally:
        conn.close()


def test_same_request_number_in_two_installations_adopts_nothing(
        planes: tuple[ProvPlane, ProvPlane]) -> None:
    a, b = planes
    here, there = get_installation(a.engine), get_installation(b.engine)
    assert here.id != there.id
    first = provision(a, "case")
    second = provision(b, "case")  # the same department, system, server name, request id
    assert first["id"] == second["id"] == 1
    ids_a, ids_b = prod_ids(first), prod_ids(second)
    assert len(ids_a) == len(ids_b) == 1 and not ids_a & ids_b  # B made its own
    assert "adopted" not in [e["kind"] for e in second["events"]]
    assert prod_servers(a, "case") == {
        ids_a.pop(): idempotency_key(1, "PROD", 1, installation=here),
        ids_b.pop(): idempotency_key(1, "PROD", 1, installation=there)}
    # the other way round: B provisions its request 2 first, then A its own request 2
    b_two = provision(b, "ledger")
    a_two = provision(a, "ledger")
    assert b_two["id"] == a_two["id"] == 2
    assert prod_ids(a_two).isdisjoint(prod_ids(b_two))
    assert "adopted" not in [e["kind"] for e in a_two["events"]]


def test_a_request_from_before_installation_ids_still_adopts_its_server(
        planes: tuple[ProvPlane, ProvPlane]) -> None:
    """A database upgraded with request 1 in flight (``legacy_through`` 1): the server the
    old worker made, tagged without an installation, is adopted — not made twice."""
    a, _ = planes
    with a.engine.begin() as conn:
        conn.execute(update(InstallationRow).values(legacy_through=1))
    old_key = "govcloud-req-1-prod-1"
    admin = a.cloud("PROD")
    try:
        project = next(p for p in admin.identity.projects() if p.name == "gd-psd")
        pconn = project_connection(admin, "PROD", project.id)
        refs = resolve(pconn, "PROD", flavor="gc.c2m4", image=IMAGE, network="prod-net")
        made = create_server(pconn, "PROD", name="case-app-1", refs=refs, key=old_key,
                             request_id=1, ordinal=1, group_id=None, system="case",
                             department="gd-psd")
    finally:
        admin.close()
    shown = provision(a, "case")
    assert shown["id"] == 1
    assert prod_ids(shown) == {made}
    assert any(e["kind"] == "adopted" and made in e["message"] for e in shown["events"])
    assert prod_servers(a, "case") == {made: old_key}
