"""What submitting a request decides, in a real database (no cloud): a request naming what the
stored snapshot does not know (a flavor, the department's project, a playbook) or what the
validator finds missing is refused before anything is stored; a system has one live request
(the same file again is no change, a different one a conflict, until the first is over); a
department's auto-approval policy approves within its limits and otherwise leaves a note; who
may submit, list and cancel."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine

from govcloud.domain.provisioning import AutoApprove, RequestSpec, SiteTarget
from govcloud.domain.rbac import Principal
from govcloud.errors import ConflictError, Forbidden, InvalidInput, NotFound
from govcloud.services.provisioning_approval import approve, reject
from govcloud.services.provisioning_lifecycle import start
from govcloud.services.provisioning_requests import (
    cancel,
    list_requests,
    show,
    submit,
    submit_approved,
)
from tests.unit.services.provisioning_setup import (
    ADMIN,
    OPERATOR,
    TAX_VIEWER,
    context,
    one_server,
    seed,
)

AUTO = {"gd-psd": AutoApprove("gd-psd", max_vcpu=4, per_month=1)}


def stored(engine: Engine) -> int:
    return int(list_requests(context(engine), ADMIN)["count"])


@pytest.mark.parametrize(("body", "problem"), [
    (one_server(flavor="gc.huge"), "PROD: unknown flavor 'gc.huge' (known: gc.c4m8)"),
    (one_server(department="gd-tax"), "PROD: department gd-tax has no project"),
    (one_server(playbooks=["harden"]), "unknown playbook 'harden' (configured: none)"),
])
def test_what_the_snapshot_does_not_know_is_refused_before_storing(
        db: Engine, body: dict[str, Any], problem: str) -> None:
    seed(db)
    with pytest.raises(InvalidInput) as err:
        submit(context(db), OPERATOR, body)
    assert err.value.message.startswith("request refused before anything was reserved: ")
    assert problem in err.value.message
    assert stored(db) == 0


def test_a_configured_playbook_is_accepted(db: Engine) -> None:
    seed(db)
    ctx = context(db, playbooks={"harden": "harden.yml"})
    assert submit(ctx, OPERATOR, one_server(playbooks=["harden"]))["state"] == "submitted"


def test_the_validators_problems_refuse_the_request(db: Engine) -> None:
    seed(db)
    seen: list[tuple[str, list[str]]] = []

    def validator(spec: RequestSpec, targets: Sequence[SiteTarget]) -> list[str]:
        seen.append((spec.system, [t.site for t in targets]))
        return ["PROD: no image 'cirros'"]

    with pytest.raises(InvalidInput) as err:
        submit(context(db, validator=validator), OPERATOR, one_server())
    assert "PROD: no image 'cirros'" in err.value.message
    assert seen == [("app", ["PROD"])]
    assert stored(db) == 0


def test_the_same_request_again_is_no_change(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    first = submit(ctx, OPERATOR, one_server())
    again = submit(ctx, OPERATOR, one_server())
    assert "unchanged" not in first
    assert (again["id"], again["unchanged"]) == (first["id"], True)
    assert stored(db) == 1


def test_a_different_request_for_a_live_system_is_a_conflict(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    rid = submit(ctx, OPERATOR, one_server())["id"]
    with pytest.raises(ConflictError) as err:
        submit(ctx, OPERATOR, one_server(count=2))
    assert err.value.message == (f"gd-psd/app already has request {rid} (submitted), which "
                                 "asks for something else: servers differ")
    assert "cancel it first" in (err.value.hint or "")
    approve(ctx, ADMIN, rid)
    start(ctx, rid)
    with pytest.raises(ConflictError) as err:
        submit(ctx, OPERATOR, one_server(count=2))
    assert "give the changed system a new name" in (err.value.hint or "")
    assert stored(db) == 1


@pytest.mark.parametrize("end", ["cancel", "reject"])
def test_after_the_live_request_ends_the_system_may_be_asked_for_anew(
        db: Engine, end: str) -> None:
    seed(db)
    ctx = context(db)
    rid = submit(ctx, OPERATOR, one_server())["id"]
    if end == "cancel":
        cancel(ctx, OPERATOR, rid)
    else:
        reject(ctx, ADMIN, rid, "no")
    again = submit(ctx, OPERATOR, one_server(count=2))
    assert again["id"] != rid
    assert "unchanged" not in again
    assert stored(db) == 2


def test_auto_approval_within_the_policy_and_a_note_beyond_it(db: Engine) -> None:
    seed(db)
    ctx = context(db, auto_approve=AUTO)
    first = submit(ctx, OPERATOR, one_server("one"))
    assert first["state"] == "approved"
    assert first["approver"] == AUTO["gd-psd"].approver
    second = submit(ctx, OPERATOR, one_server("two"))  # the month's one is used
    assert second["state"] == "submitted"
    assert show(ctx, ADMIN, second["id"])["events"][-1]["message"] == (
        "1 requests were auto-approved this month (limit 1): waiting for the bureau")


def test_auto_approval_leaves_a_request_above_its_size(db: Engine) -> None:
    seed(db)
    ctx = context(db, auto_approve=AUTO)
    out = submit(ctx, OPERATOR, one_server(count=2))
    assert out["state"] == "submitted"
    assert show(ctx, ADMIN, out["id"])["events"][-1]["message"].startswith(
        "needs 8 vCPU in a site, above the auto-approval limit of 4")


def test_auto_approval_that_does_not_fit_leaves_it_submitted(db: Engine) -> None:
    seed(db, quota_cores=2)
    ctx = context(db, auto_approve=AUTO)
    out = submit(ctx, OPERATOR, one_server())
    assert out["state"] == "submitted"
    assert show(ctx, ADMIN, out["id"])["events"][-1]["message"].startswith(
        "not auto-approved: insufficient capacity: PROD: ")


def test_who_may_submit(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    with pytest.raises(NotFound):  # another department's viewer: gd-psd does not exist
        submit(ctx, TAX_VIEWER, one_server())
    with pytest.raises(Forbidden):  # its own viewer sees it, may not submit
        submit(ctx, Principal("psdview", "department-viewer", department="gd-psd"),
               one_server())
    with pytest.raises(NotFound):
        submit(ctx, ADMIN, one_server(department="gd-nowhere"))
    assert stored(db) == 0


def test_listing_shows_only_what_the_principal_may_see(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    rid = submit(ctx, OPERATOR, one_server())["id"]
    assert [r["id"] for r in list_requests(ctx, ADMIN, states=["submitted"])["requests"]] \
        == [rid]
    assert list_requests(ctx, ADMIN, states=["approved"])["count"] == 0
    assert list_requests(ctx, TAX_VIEWER)["count"] == 0
    with pytest.raises(NotFound):
        list_requests(ctx, TAX_VIEWER, department="gd-psd")
    with pytest.raises(NotFound):  # nor may it cancel what it cannot see
        cancel(ctx, TAX_VIEWER, rid)
    with pytest.raises(InvalidInput):
        list_requests(ctx, ADMIN, states=["pending"])
    with pytest.raises(InvalidInput):
        list_requests(ctx, ADMIN, limit=0)


def test_submit_approved_acts_in_its_own_right(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    out = submit_approved(ctx, actor="migration", data=one_server("target"),
                          approver="migration-wave")
    assert (out["state"], out["approver"]) == ("approved", "migration-wave")
    with pytest.raises(NotFound):
        submit_approved(ctx, actor="migration", data=one_server(department="gd-nowhere"),
                        approver="x")
