"""The shelving step of provisioning (issue 19: a cold copy holds no compute capacity), against
the fake cloud adapter of test_provisioning_execution.py: a cold copy's servers are shelved and
offloaded once ACTIVE and recorded so before the request is done; a transient error while
shelving is retried; a permanent one fails the request, cleans up its servers and releases its
reservation, like any other cloud error. (Against the simulator:
tests/integration/control/test_provisioning_cold.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from govcloud.cloud import provision as adapter
from govcloud.cloud.provision import ServerState
from govcloud.domain.provisioning import idempotency_key
from govcloud.errors import PermanentError, TemporaryError
from govcloud.services.provisioning_common import ProvisioningContext
from govcloud.services.provisioning_lifecycle import start
from govcloud.services.provisioning_requests import show
from govcloud.store.tables_provisioning import ProvisionRequestRow
from tests.unit.services import provisioning_fakes
from tests.unit.services.provisioning_fakes import (
    FakeCloud,
    Server,
    approved,
    events,
    provisioner,
)
from tests.unit.services.provisioning_setup import ADMIN, reserved_cores

cloud, ctx = provisioning_fakes.cloud, provisioning_fakes.ctx  # fixtures


def prod_key(ctx: ProvisioningContext, rid: int, ordinal: int) -> str:
    """The idempotency key of server ``ordinal`` of request ``rid`` in PROD (this database's
    installation)."""
    return idempotency_key(rid, "PROD", ordinal, installation=ctx.installation)


@pytest.fixture
def shelving(cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch) -> FakeCloud:
    """The fake cloud with ``shelve_offloaded`` (faults under ``shelve:<name>``)."""

    def shelve_offloaded(pconn: Any, site: str, server_id: str, *, timeout_s: float,
                         interval_s: float = 0.5) -> ServerState:
        server = cloud.servers[server_id]
        cloud._fault(f"shelve:{server.name}")
        assert server.status in ("ACTIVE", "SHELVED_OFFLOADED"), server.status
        server.status = "SHELVED_OFFLOADED"
        return ServerState(server_id, server.status)

    monkeypatch.setattr(adapter, "shelve_offloaded", shelve_offloaded)
    return cloud


def cold_request(ctx: ProvisioningContext) -> int:
    """An approved request whose copy (the unit tests' one site) is a cold copy."""
    rid = approved(ctx)
    with ctx.engine.begin() as conn:
        conn.execute(update(ProvisionRequestRow).where(ProvisionRequestRow.id == rid)
                     .values(placement_json='{"targets": [{"site": "PROD", "kind": "cold"}]}'))
    return rid


def statuses(ctx: ProvisioningContext, rid: int) -> list[str]:
    return sorted(s["status"] for s in show(ctx, ADMIN, rid)["servers"])


def test_a_cold_copy_is_shelved_and_recorded_before_the_request_is_done(
        ctx: ProvisioningContext, shelving: FakeCloud) -> None:
    rid = cold_request(ctx)
    out = provisioner(ctx).run(rid)
    assert out is not None and out["state"] == "done"
    assert sorted(s.status for s in shelving.servers.values()) == ["SHELVED_OFFLOADED"] * 2
    assert statuses(ctx, rid) == ["shelved_offloaded"] * 2
    assert len(events(ctx, rid, "shelved")) == 2
    assert reserved_cores(ctx.engine) == {}


def test_a_primary_is_not_shelved(ctx: ProvisioningContext,
                                  shelving: FakeCloud) -> None:
    rid = approved(ctx)
    out = provisioner(ctx).run(rid)
    assert out is not None and out["state"] == "done"
    assert not [c for c in shelving.calls if c.startswith("shelve:")]
    assert statuses(ctx, rid) == ["active"] * 2


def test_a_transient_error_while_shelving_is_retried(
        ctx: ProvisioningContext, shelving: FakeCloud) -> None:
    rid = cold_request(ctx)
    shelving.faults["shelve:app-vm-1"] = [TemporaryError("site PROD: 503 Service Unavailable")]
    out = provisioner(ctx).run(rid)
    assert out is not None and out["state"] == "done"
    assert shelving.calls.count("shelve:app-vm-1") == 2
    assert any("503" in m for m in events(ctx, rid, "retry"))
    assert statuses(ctx, rid) == ["shelved_offloaded"] * 2


def test_a_permanent_error_while_shelving_fails_and_cleans_up(
        ctx: ProvisioningContext, shelving: FakeCloud) -> None:
    rid = cold_request(ctx)
    shelving.faults["shelve:app-vm-2"] = [PermanentError("site PROD: server s went to ERROR "
                                                         "while being shelved: disk full")]
    out = provisioner(ctx).run(rid)
    assert out is not None and out["state"] == "failed"
    assert out["error"] == "site PROD: server s went to ERROR while being shelved: disk full"
    assert shelving.servers == {} and shelving.groups == {}  # cleaned up as today
    assert reserved_cores(ctx.engine) == {}


def test_a_resumed_request_finishes_a_copy_shelved_before_the_worker_stopped(
        ctx: ProvisioningContext, shelving: FakeCloud) -> None:
    rid = cold_request(ctx)
    assert start(ctx, rid)  # a worker created and shelved app-vm-1, and died
    shelving.servers["made-1"] = Server("made-1", "PROD", "app-vm-1",
                                        prod_key(ctx, rid, 1),
                                        status="SHELVED_OFFLOADED")
    out = provisioner(ctx).run(rid)
    assert out is not None and out["state"] == "done"
    assert "create:app-vm-1" not in shelving.calls
    assert "active:app-vm-1" not in shelving.calls  # not waited for ACTIVE: it is shelved
    assert sorted(s.status for s in shelving.servers.values()) == ["SHELVED_OFFLOADED"] * 2
    assert statuses(ctx, rid) == ["shelved_offloaded"] * 2
