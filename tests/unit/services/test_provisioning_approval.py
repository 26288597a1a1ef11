"""What an approval decides, against a stored snapshot in a real database (no cloud): a
request that fits is approved, placed and reserved; one over the department's quota or the
site's capacity is refused and stays submitted with nothing reserved; nobody decides on a
request their person submitted, with any principal; a request the approver may not see does
not exist; approvals decided in one batch are decided one after another; a rejection needs a
reason. (Under concurrency: tests/integration/test_provision_reservations.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from govcloud.domain.rbac import Principal
from govcloud.errors import (
    ConflictError,
    Forbidden,
    InsufficientCapacity,
    InvalidInput,
    NotFound,
)
from govcloud.services.provisioning_approval import _Approval, _approve_batch, approve, reject
from govcloud.services.provisioning_common import ProvisioningContext
from govcloud.services.provisioning_requests import show, submit
from govcloud.store.group_commit import Piece
from govcloud.store.provisioning import SITE_TOTAL
from tests.unit.services.provisioning_setup import (
    ADMIN,
    ALICE_ADMIN,
    OPERATOR,
    OTHER_ADMIN,
    TAX_VIEWER,
    context,
    one_server,
    reserved_cores,
    seed,
)


def submitted(ctx: ProvisioningContext, system: str = "app", count: int = 1) -> int:
    rid = submit(ctx, OPERATOR, one_server(system, count))["id"]
    assert isinstance(rid, int)
    return rid


def test_a_request_that_fits_is_approved_placed_and_reserved(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    rid = submitted(ctx, count=2)
    out = approve(ctx, ADMIN, rid)
    assert (out["state"], out["approver"]) == ("approved", "boss")
    [site] = out["placement"]["sites"]
    assert (site["site"], site["ok"], site["demand"]["vcpu"], site["demand"]["instances"]) \
        == ("PROD", True, 8, 2)
    assert site["hosts_used"] == 2  # soft anti-affinity: the two servers on two hosts
    assert out["placement"]["targets"] == [{"site": "PROD", "kind": "primary"}]
    assert reserved_cores(db) == {("PROD", SITE_TOTAL): 8, ("PROD", "gd-psd"): 8}
    stored = show(ctx, ADMIN, rid)
    assert stored["state"] == "approved"
    assert stored["events"][-1]["message"] == \
        "approved by boss; reserved PROD: 8 vCPU, 2 servers"


def test_over_the_quota_is_refused_and_nothing_reserved(db: Engine) -> None:
    seed(db, quota_cores=6)  # room for one 4-vCPU server, not two
    ctx = context(db)
    rid = submitted(ctx, count=2)
    with pytest.raises(InsufficientCapacity) as err:
        approve(ctx, ADMIN, rid)
    assert err.value.message.startswith("insufficient capacity: PROD: ")
    assert "cores" in err.value.message
    assert show(ctx, ADMIN, rid)["state"] == "submitted"
    assert reserved_cores(db) == {}


def test_over_the_capacity_is_refused(db: Engine) -> None:
    seed(db, hosts=1, host_vcpu=4)  # one server's room; unlimited quota
    ctx = context(db)
    first, second = submitted(ctx, "one"), submitted(ctx, "two")
    approve(ctx, ADMIN, first)
    with pytest.raises(InsufficientCapacity):  # the first one's reservation holds the room
        approve(ctx, ADMIN, second)
    assert show(ctx, ADMIN, second)["state"] == "submitted"
    assert reserved_cores(db) == {("PROD", SITE_TOTAL): 4, ("PROD", "gd-psd"): 4}


def test_the_requesters_person_may_not_approve_with_another_principal(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    rid = submitted(ctx)
    with pytest.raises(Forbidden) as err:
        approve(ctx, ALICE_ADMIN, rid)
    assert "requester and approver must differ, as persons" in err.value.message
    assert show(ctx, ADMIN, rid)["state"] == "submitted"
    assert approve(ctx, ADMIN, rid)["approver"] == "boss"  # another person may


def test_an_approver_who_may_not_see_the_department_finds_no_request(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    rid = submitted(ctx)
    with pytest.raises(NotFound) as err:
        approve(ctx, TAX_VIEWER, rid)
    assert err.value.message == f"no request {rid}"
    with pytest.raises(NotFound):
        approve(ctx, ADMIN, rid + 1000)


def test_a_role_that_may_see_but_not_approve_is_forbidden(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    rid = submit(ctx, ADMIN, one_server())["id"]
    with pytest.raises(Forbidden):
        approve(ctx, Principal("bob", "operator"), rid)
    assert show(ctx, ADMIN, rid)["state"] == "submitted"


def test_a_decided_request_cannot_be_approved_again(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    rid = submitted(ctx)
    approve(ctx, ADMIN, rid)
    with pytest.raises(ConflictError) as err:
        approve(ctx, OTHER_ADMIN, rid)
    assert err.value.message == f"request {rid} is approved and cannot become approved"
    assert reserved_cores(db) == {("PROD", SITE_TOTAL): 4, ("PROD", "gd-psd"): 4}


def test_a_batch_decides_its_approvals_one_after_another(db: Engine) -> None:
    seed(db, hosts=1, host_vcpu=8)  # room for two 4-vCPU servers
    ctx = context(db)
    ids = [submitted(ctx, f"s{i}") for i in range(3)]
    pieces = [Piece(_Approval(rid, "boss", "boss", None, ADMIN)) for rid in ids]
    pieces.append(Piece(_Approval(ids[0], "boss", "boss", None, ADMIN)))  # twice in a batch
    _approve_batch(ctx, pieces)
    assert [p.error is None for p in pieces] == [True, True, False, False]
    assert isinstance(pieces[2].error, InsufficientCapacity)
    assert isinstance(pieces[3].error, ConflictError)
    assert [show(ctx, ADMIN, rid)["state"] for rid in ids] == \
        ["approved", "approved", "submitted"]
    assert reserved_cores(db) == {("PROD", SITE_TOTAL): 8, ("PROD", "gd-psd"): 8}


def test_a_rejection_needs_a_reason_and_another_person(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    rid = submitted(ctx)
    with pytest.raises(InvalidInput):
        reject(ctx, ADMIN, rid, "   ")
    with pytest.raises(Forbidden):
        reject(ctx, ALICE_ADMIN, rid, "no")
    assert show(ctx, ADMIN, rid)["state"] == "submitted"
    out = reject(ctx, ADMIN, rid, "  not needed  ")
    assert (out["state"], out["reason"]) == ("rejected", "not needed")
    with pytest.raises(ConflictError):  # final
        approve(ctx, OTHER_ADMIN, rid)


@pytest.mark.parametrize(("policy", "approved"), [("soft-anti-affinity", True),
                                                  ("anti-affinity", False)])
def test_the_contexts_group_policy_decides_whether_servers_may_share_a_host(
        db: Engine, policy: str, approved: bool) -> None:
    seed(db, hosts=1, host_vcpu=16)  # room for both servers, on the one host
    ctx = context(db)
    ctx.group_policy = policy
    rid = submitted(ctx, count=2)
    if approved:
        assert approve(ctx, ADMIN, rid)["placement"]["sites"][0]["hosts_used"] == 1
    else:
        with pytest.raises(InsufficientCapacity) as err:
            approve(ctx, ADMIN, rid)
        assert "anti-affinity" in err.value.message
