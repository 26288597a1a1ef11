"""Notifications are queued with the state change they tell about, in a real database (no
cloud, nothing sent): a provisioning request's approval, rejection, delivery and failure and
a drill's approval and result each write their messages in the change's own transaction —
rolled back with it, left out when nothing is configured, never stopping the change when
queuing fails. Listing is scoped like every department's data; a retry is audited."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from govcloud.domain.catalogue import Catalogue
from govcloud.domain.drills import DRILL_STEPS, DrillStep
from govcloud.domain.notifications import Event, EventKind
from govcloud.domain.notify_delivery import routes_from_config
from govcloud.domain.rbac import Principal
from govcloud.domain.steps import StepStatus
from govcloud.errors import ConflictError, Forbidden, InvalidInput, NotFound
from govcloud.services import drill, drill_run
from govcloud.services import notifications as svc
from govcloud.services.drill_state import DrillContext
from govcloud.services.drill_steps import Run
from govcloud.services.migration_access import Caller
from govcloud.services.notifications import Notifier, NotifyConfig
from govcloud.services.provisioning_approval import approve, reject
from govcloud.services.provisioning_lifecycle import complete, fail, start
from govcloud.services.provisioning_requests import cancel, submit
from govcloud.settings import load_settings
from govcloud.store import drill_repo
from govcloud.store.audit import write_session
from govcloud.store.engine import write_begin
from govcloud.store.inventory import table
from govcloud.store.tables_drill import DrillPlanRow
from tests.databases import T0, Clock
from tests.unit.services.provisioning_setup import (
    ADMIN,
    OPERATOR,
    TAX_VIEWER,
    catalogue,
    context,
    one_server,
    seed,
)

HOOK = "https://hooks.example.org/T0K3N"
PSD_CONTACTS = ["cloud@psd.gd-gov.example", "ops@psd.gd-gov.example"]
PSD_VIEWER = Principal("psdview", "department-viewer", department="gd-psd")


def notifier(db: Engine, *, email: bool = True, hooks: bool = True,
             cat: Any = catalogue) -> Notifier:
    routes = routes_from_config({"global": HOOK} if hooks else None,
                                secret="a-secret-of-16-chars")
    return Notifier(engine=db, config=NotifyConfig(email=email, webhooks=routes),
                    catalogue=cat, clock=Clock())


def outbox(db: Engine) -> list[dict[str, Any]]:
    tbl = table("notification")
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(tbl).order_by(tbl.c.id))]


def kinds(db: Engine) -> list[tuple[str, str, str]]:
    return [(r["event"], r["channel"], r["recipient"]) for r in outbox(db)]


def told(kind: str, ref: int | str) -> list[tuple[str, str, str]]:
    return [(kind, "email", a) for a in PSD_CONTACTS] + [(kind, "webhook", HOOK)]


def test_a_request_s_outcomes_are_told_to_each_contact_and_webhook(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    ctx.notify = notifier(db)
    done = submit(ctx, OPERATOR, one_server("done"))["id"]
    approve(ctx, ADMIN, done)
    assert kinds(db) == told("request.approved", done)
    start(ctx, done)
    complete(ctx, done)
    failed = submit(ctx, OPERATOR, one_server("broken"))["id"]
    approve(ctx, ADMIN, failed)
    start(ctx, failed)
    fail(ctx, failed, "PROD: quota exceeded\r\nBcc: evil@example.org")
    refused = submit(ctx, OPERATOR, one_server("refused"))["id"]
    reject(ctx, ADMIN, refused, "not this quarter")
    withdrawn = submit(ctx, OPERATOR, one_server("withdrawn"))["id"]
    cancel(ctx, OPERATOR, withdrawn)  # the department's own doing: nobody is told
    rows = outbox(db)
    assert [(r["event"], r["ref"]) for r in rows[::3]] == [
        ("request.approved", str(done)), ("request.done", str(done)),
        ("request.approved", str(failed)), ("request.failed", str(failed)),
        ("request.rejected", str(refused))]
    assert all(r["state"] == "pending" and r["attempts"] == 0 for r in rows)
    by_event = {r["event"]: json.loads(r["payload"]) for r in rows}
    failure = by_event["request.failed"]
    assert failure["event"]["detail"] == "PROD: quota exceeded Bcc: evil@example.org"
    assert failure["subject"].startswith("[政务云] 广东省公安厅：资源申请 #")
    assert "[GovCloud] Public Security Department: request #" in failure["subject"]
    assert by_event["request.rejected"]["event"]["detail"] == "not this quarter"
    assert by_event["request.approved"]["event"]["actor"] == ADMIN.name


def test_an_auto_approved_request_is_told_too(db: Engine) -> None:
    from govcloud.domain.provisioning import AutoApprove

    seed(db)
    ctx = context(db, auto_approve={"gd-psd": AutoApprove("gd-psd", max_vcpu=8, per_month=5)})
    ctx.notify = notifier(db, hooks=False)
    answer = submit(ctx, OPERATOR, one_server("auto"))
    assert answer["state"] == "approved"
    assert kinds(db) == [("request.approved", "email", a) for a in PSD_CONTACTS]


def test_nothing_is_queued_when_nothing_is_configured(db: Engine) -> None:
    seed(db)
    ctx = context(db)
    ctx.notify = notifier(db, email=False, hooks=False)
    rid = submit(ctx, OPERATOR, one_server())["id"]
    approve(ctx, ADMIN, rid)
    reject_id = submit(ctx, OPERATOR, one_server("other"))["id"]
    reject(ctx, ADMIN, reject_id, "no")
    assert outbox(db) == []


def test_messages_are_written_with_the_change_or_not_at_all(db: Engine) -> None:
    n = notifier(db)
    event = Event(EventKind.REQUEST_DONE, "gd-psd", "7", T0)
    with pytest.raises(RuntimeError), write_begin(db) as conn:
        assert n.enqueue(conn, event) == 3
        raise RuntimeError("the state change failed")
    assert outbox(db) == []
    with write_begin(db) as conn:
        n.enqueue(conn, event)
    assert len(outbox(db)) == 3


def test_a_notification_that_cannot_be_made_never_stops_the_change(db: Engine) -> None:
    def broken() -> Catalogue:
        raise InvalidInput("the catalogue has 3 problems")

    seed(db)
    ctx = context(db)
    ctx.notify = notifier(db, cat=broken)
    rid = submit(ctx, OPERATOR, one_server())["id"]
    assert approve(ctx, ADMIN, rid)["state"] == "approved"
    start(ctx, rid)
    assert complete(ctx, rid)["state"] == "done"
    assert outbox(db) == []
    assert svc.notify(ctx.notify, Event(EventKind.REQUEST_DONE, "gd-psd", "1", T0)) == 0


def test_an_event_that_cannot_be_made_is_logged_not_raised(db: Engine) -> None:
    n = notifier(db)
    with write_begin(db) as conn:
        assert svc.tell(n, conn, EventKind.REQUEST_DONE, "gd-psd\r\nX: y", 1, T0) == 0
        assert svc.tell(n, conn, EventKind.REQUEST_DONE, "gd-psd", 1, T0.replace(tzinfo=None)) == 0
        assert svc.tell(None, conn, EventKind.REQUEST_DONE, "gd-psd\n", 1, T0) == 0
        assert svc.enqueue_host_drain(n, conn, done=False, site="PROD", host="cmp-07",
                                      departments=["gd-psd"], at=T0, actor="ops") == 3
    assert [r["event"] for r in outbox(db)] == ["host.drain_started"] * 3


def test_a_department_the_catalogue_does_not_list_gets_the_global_webhooks(db: Engine) -> None:
    n = notifier(db)
    assert svc.notify(n, Event(EventKind.REQUEST_DONE, "gd-gone", "4", T0)) == 1
    (row,) = outbox(db)
    assert (row["channel"], row["recipient"]) == ("webhook", HOOK)
    assert json.loads(row["payload"])["subject"].startswith("[政务云] gd-gone：")


def test_a_change_tells_each_department_it_affects_once(db: Engine) -> None:
    n = notifier(db, hooks=False)
    window = (T0, T0 + timedelta(hours=4))
    with write_begin(db) as conn:
        assert svc.enqueue_change(n, conn, "scheduled", change=31,
                                  departments=["gd-psd", "gd-tax", "gd-psd"], at=T0,
                                  actor="boss", window=window) > 2
    rows = outbox(db)
    assert {r["department"] for r in rows} == {"gd-psd", "gd-tax"}
    assert {r["event"] for r in rows} == {"change.scheduled"}
    assert json.loads(rows[0]["payload"])["event"]["window"] == {
        "start": "2026-12-01T08:00:00+00:00", "end": "2026-12-01T12:00:00+00:00"}
    with pytest.raises(InvalidInput, match="a change is not 'exploded'") as caught, \
            write_begin(db) as conn:
        svc.enqueue_change(n, conn, "exploded", change=1, departments=["gd-psd"], at=T0)
    assert caught.value.hint == "one of: scheduled, started, done, failed"
    assert svc.enqueue_change(None, None, "done", change=1,  # type: ignore[arg-type]
                              departments=["gd-psd"], at=T0) == 0


def _drill(db: Engine, *, state: str = "planned") -> int:
    with write_session(db) as session:
        drill_id = drill_repo.add_plan(session, DrillPlanRow(
            department="gd-psd", system="case", site="DR-REMOTE", state=state,
            requester="ops", requester_person="ops", created_at=T0, started_at=T0))
        session.commit()
    return drill_id


def test_a_drill_s_approval_and_result_are_told(db: Engine) -> None:
    ctx = DrillContext(engine=db, settings=load_settings(), connections=dict,
                       clock=Clock(), notify=notifier(db, hooks=False))
    planned = _drill(db)
    drill.approve(ctx, Caller(ADMIN, catalogue()), planned)
    assert kinds(db) == [("drill.scheduled", "email", a) for a in PSD_CONTACTS]
    passed, failed = _drill(db, state="running"), _drill(db, state="running")
    with write_session(db) as session:
        for step in DRILL_STEPS:
            if step is not DrillStep.RECORD:
                drill_repo.set_step(session, passed, step.value, StepStatus.SUCCEEDED, at=T0)
        drill_repo.set_step(session, failed, "bring_up", StepStatus.FAILED, at=T0)
        session.commit()
    drill_run._record(ctx, Run(passed, "gd-psd", "case", "DR-REMOTE"), failed=False)
    drill_run._record(ctx, Run(failed, "gd-psd", "case", "DR-REMOTE"), failed=True)
    rows = outbox(db)
    assert [(r["event"], r["ref"]) for r in rows[2::2]] == [("drill.done", str(passed)),
                                                            ("drill.failed", str(failed))]
    detail = json.loads(rows[-1]["payload"])["event"]["detail"]
    assert detail == "failed steps: bring_up"
    with Session(db) as session:
        assert drill_repo.get(session, failed).state == "failed"


def _queued(db: Engine) -> tuple[int, int]:
    """A gd-psd message made dead, and a gd-tax one (ids)."""
    n = notifier(db, email=True, hooks=True)
    svc.notify(n, Event(EventKind.REQUEST_FAILED, "gd-psd", "1", T0))
    svc.notify(n, Event(EventKind.REQUEST_DONE, "gd-tax", "2", T0))
    rows = outbox(db)
    tbl = table("notification")
    with write_begin(db) as conn:
        conn.execute(tbl.update().where(tbl.c.id == rows[0]["id"]).values(
            state="dead", attempts=10, last_error="SMTP: connection refused"))
    return rows[0]["id"], rows[-1]["id"]


def test_listing_is_scoped_and_hides_a_webhook_s_path(db: Engine) -> None:
    _queued(db)
    cat = catalogue()
    everything = svc.list_messages(db, ADMIN, cat)
    assert everything["counts"] == {"pending": 5, "sent": 0, "dead": 1}
    hooks = [m["recipient"] for m in everything["notifications"] if m["channel"] == "webhook"]
    assert hooks == ["https://hooks.example.org/…"] * 2
    own = svc.list_messages(db, PSD_VIEWER, cat)
    assert {m["department"] for m in own["notifications"]} == {"gd-psd"}
    assert own["counts"] == {"pending": 2, "sent": 0, "dead": 1}
    dead = svc.list_messages(db, ADMIN, cat, state="dead")["notifications"]
    assert [(m["state"], m["last_error"], m["next_attempt_at"]) for m in dead] == [
        ("dead", "SMTP: connection refused", None)]
    with pytest.raises(NotFound, match="no department 'gd-psd'"):
        svc.list_messages(db, TAX_VIEWER, cat, department="gd-psd")
    with pytest.raises(InvalidInput, match="unknown state 'lost'") as caught:
        svc.list_messages(db, ADMIN, cat, state="lost")
    assert caught.value.hint == "states: pending, sent, dead"
    first = svc.list_messages(db, ADMIN, cat, limit=2)
    rest = svc.list_messages(db, ADMIN, cat, limit=10, before=first["next_before"])
    ids = [m["id"] for m in first["notifications"] + rest["notifications"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 6 and rest["next_before"] is None


def test_a_retry_makes_a_message_due_now_and_is_audited(db: Engine) -> None:
    dead, tax = _queued(db)
    cat = catalogue()
    with pytest.raises(NotFound, match=f"no notification {dead}"):
        svc.retry(db, TAX_VIEWER, cat, dead)  # another department's: "does not exist"
    with pytest.raises(Forbidden):
        svc.retry(db, PSD_VIEWER, cat, dead)  # its own, but a viewer only reads
    with pytest.raises(NotFound):
        svc.retry(db, ADMIN, cat, 999_999)
    clock = Clock(step=timedelta(0))
    again = svc.retry(db, OPERATOR, cat, dead, clock=clock)
    assert (again["state"], again["attempts"], again["next_attempt_at"]) == (
        "pending", 0, clock.now.isoformat())
    tbl = table("audit_entry")
    with db.connect() as conn:
        entry = conn.execute(select(tbl).where(tbl.c.action == "notification.retry")).one()
    assert (entry.actor, entry.target) == (OPERATOR.name, "department:gd-psd")
    assert json.loads(entry.before_json) == {"notification": dead, "state": "dead",
                                             "attempts": 10}
    ntbl = table("notification")
    with write_begin(db) as conn:
        conn.execute(ntbl.update().where(ntbl.c.id == tax).values(state="sent"))
    with pytest.raises(ConflictError, match="sent already"):
        svc.retry(db, ADMIN, cat, tax)
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tbl).where(
            tbl.c.action == "notification.retry")).scalar() == 1
