"""What a request's life after the decision decides, in a real database (no cloud): the worker
starts only an approved request, and only once; the final moves are allowed from the states
the request rules allow and release what the request held; the worker's list of work and
"is the system in progress" count approved and provisioning requests only; a department with
no project in a site is a permanent error."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from govcloud.errors import ConflictError, PermanentError
from govcloud.services.provisioning_approval import approve
from govcloud.services.provisioning_common import ProvisioningContext
from govcloud.services.provisioning_lifecycle import (
    complete,
    fail,
    pending,
    project_of,
    start,
    system_in_progress,
)
from govcloud.services.provisioning_requests import cancel, show, submit
from tests.unit.services.provisioning_setup import (
    ADMIN,
    OPERATOR,
    context,
    one_server,
    reserved_cores,
    seed,
)


def approved(ctx: ProvisioningContext, system: str = "app") -> int:
    rid = submit(ctx, OPERATOR, one_server(system))["id"]
    approve(ctx, ADMIN, rid)
    assert isinstance(rid, int)
    return rid


def test_the_worker_starts_an_approved_request_once(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    submitted = submit(ctx, OPERATOR, one_server("waiting"))["id"]
    rid = approved(ctx)
    assert start(ctx, submitted) is False  # not approved: not the worker's
    assert start(ctx, rid) is True
    assert start(ctx, rid) is False  # another worker got it first
    out = show(ctx, ADMIN, rid)
    assert out["state"] == "provisioning"
    assert out["events"][-1]["kind"] == "provisioning"
    assert show(ctx, ADMIN, submitted)["state"] == "submitted"


def test_done_releases_the_reservation(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    rid = approved(ctx)
    assert reserved_cores(db) != {}
    start(ctx, rid)
    out = complete(ctx, rid)
    assert out["state"] == "done"
    assert reserved_cores(db) == {}
    assert show(ctx, ADMIN, rid)["events"][-1]["message"] == \
        "done by provisioner; released the reservation in 1 site(s)"


def test_a_failure_keeps_its_error_and_releases(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    rid = approved(ctx)
    start(ctx, rid)
    out = fail(ctx, rid, "nova said no")
    assert (out["state"], out["error"]) == ("failed", "nova said no")
    assert reserved_cores(db) == {}


def test_final_moves_only_from_the_states_that_allow_them(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    waiting = submit(ctx, OPERATOR, one_server("waiting"))["id"]
    with pytest.raises(ConflictError) as err:  # never approved: cannot be done
        complete(ctx, waiting)
    assert err.value.message == f"request {waiting} is submitted and cannot become done"
    rid = approved(ctx)
    start(ctx, rid)
    complete(ctx, rid)
    for move in (lambda: cancel(ctx, ADMIN, rid, "late"), lambda: fail(ctx, rid, "x"),
                 lambda: complete(ctx, rid)):
        with pytest.raises(ConflictError):  # done is final
            move()
    assert show(ctx, ADMIN, rid)["state"] == "done"
    assert show(ctx, ADMIN, waiting)["state"] == "submitted"


def test_cancelling_an_approved_request_releases_it_and_the_worker_leaves_it(
        db: Engine) -> None:
    seed(db)
    ctx = context(db)
    rid = approved(ctx)
    out = cancel(ctx, OPERATOR, rid)
    assert (out["state"], out["reason"]) == ("cancelled", "cancelled by alice")
    assert reserved_cores(db) == {}
    assert start(ctx, rid) is False


def test_the_work_list_and_systems_in_progress(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    submit(ctx, OPERATOR, one_server("waiting"))
    first = approved(ctx, "one")
    second = approved(ctx, "two")
    third = approved(ctx, "three")
    start(ctx, second)
    start(ctx, third)
    complete(ctx, third)
    assert pending(ctx) == [(first, "approved"), (second, "provisioning")]
    assert system_in_progress(ctx, "gd-psd", "one", excluding=999)
    assert not system_in_progress(ctx, "gd-psd", "one", excluding=first)
    assert not system_in_progress(ctx, "gd-psd", "waiting", excluding=999)
    assert not system_in_progress(ctx, "gd-psd", "three", excluding=999)
    assert not system_in_progress(ctx, "gd-tax", "two", excluding=999)


def test_a_department_without_a_project_in_a_site_is_a_permanent_error(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    assert project_of(ctx, "gd-psd", "PROD") == "p-psd"
    with pytest.raises(PermanentError):
        project_of(ctx, "gd-psd", "DR-LOCAL")
