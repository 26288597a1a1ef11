"""The notifier delivers to real receivers on loopback: a real SMTP server (aiosmtpd) gets one
mail per contact, in Chinese and English, with no header a hostile value could add; a real
HTTP server gets the signed webhook and checks it with the very snippet docs/notifications.md
gives receivers; a receiver failing twice gets it on the third attempt, after the backoff's
waits (the clock is the test's, so nobody sleeps minutes); with the SMTP server down the
message stays pending while the request it tells about is done, and goes once the server is
back; the last failed attempt gives it up, audited. The worker runs inside the server only
when something is configured."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, select

from govcloud.domain.notifications import Channel, Event, EventKind
from govcloud.domain.notify_delivery import RetryPolicy, routes_from_config, verify
from govcloud.errors import InvalidInput
from govcloud.services.notifications import Notifier, NotifyConfig, build_notifier, notify
from govcloud.services.notify_delivery import Sender, deliver_due
from govcloud.services.provisioning_approval import approve
from govcloud.services.provisioning_lifecycle import complete, start
from govcloud.services.provisioning_requests import submit
from govcloud.settings import load_settings
from govcloud.store.inventory import aware, table
from govcloud.workers.notifier import SmtpConfig, SmtpSender, WebhookSender, start_notifier_worker
from tests.databases import T0, Clock
from tests.integration.notify_servers import free_port, smtp_server, webhook_receiver
from tests.unit.services.provisioning_setup import ADMIN, OPERATOR, catalogue, context, seed
from tests.waiting import wait_until

DOC = Path(__file__).resolve().parents[2] / "docs" / "notifications.md"
SECRET = "receiver-secret-0123456789"
FROM = "govcloud@cloud.gd-gov.example"
PSD_CONTACTS = ["cloud@psd.gd-gov.example", "ops@psd.gd-gov.example"]
MINUTE = timedelta(minutes=1)


def doc_verifier() -> Callable[..., bool]:
    """``verify_govcloud`` as docs/notifications.md gives it to receivers."""
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- verify:begin -->\n```python\n(.*?)```\n<!-- verify:end -->",
                      text, re.S)
    assert block, "docs/notifications.md lost its verification snippet"
    space: dict[str, Any] = {}
    exec(compile(block.group(1), str(DOC), "exec"), space)  # noqa: S102 - our own doc
    verifier: Callable[..., bool] = space["verify_govcloud"]
    return verifier


def make_notifier(engine: Engine, clock: Clock, *, email: bool = False,
                  hooks: dict[str, Any] | None = None,
                  policy: RetryPolicy | None = None) -> Notifier:
    config = NotifyConfig(email=email, webhooks=routes_from_config(hooks, secret=SECRET),
                          policy=policy or RetryPolicy())
    return Notifier(engine=engine, config=config, catalogue=catalogue, clock=clock)


def rows(engine: Engine) -> list[dict[str, Any]]:
    tbl = table("notification")
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(tbl).order_by(tbl.c.id))]


def smtp_sender(port: int) -> dict[Channel, Sender]:
    return {Channel.EMAIL: SmtpSender(SmtpConfig("127.0.0.1", port, FROM, timeout_s=5))}


def test_each_contact_gets_one_mail_in_chinese_and_english(engine: Engine) -> None:
    clock = Clock(step=timedelta(0))
    n = make_notifier(engine, clock, email=True)
    notify(n, Event(EventKind.REQUEST_REJECTED, "gd-psd", "12", T0, actor="boss",
                    system="case\r\nBcc: evil@example.org",
                    detail="over budget\r\n\r\nBcc: evil@example.org\r\nX-Injected: 1"))
    with smtp_server() as box:
        done = deliver_due(n, smtp_sender(box.port))
        mails = box.wait_for(2)
    assert len(done.sent) == 2 and not done.failed
    assert sorted(r for m in mails for r in m.rcpt_tos) == PSD_CONTACTS
    assert all(len(m.rcpt_tos) == 1 and m.mail_from == FROM for m in mails)
    for mail in mails:
        msg = mail.message
        assert msg["To"] == mail.rcpt_tos[0] and msg["From"] == FROM
        assert msg["Subject"] == (
            "[政务云] 广东省公安厅：资源申请 #12被驳回（case Bcc: evil@example.org） / "
            "[GovCloud] Public Security Department: request #12 was rejected "
            "(case Bcc: evil@example.org)")
        assert msg["Bcc"] is None and msg["X-Injected"] is None
        assert msg["X-Govcloud-Event"] == "request.rejected"
        assert msg["Auto-Submitted"] == "auto-generated"
        headers = mail.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
        assert not re.search(r"^(Bcc|X-Injected):", headers, re.M | re.I)
        text = msg.get_content()
        assert "资源申请 #12被驳回。" in text and "request #12 was rejected." in text
        assert "  说明：over budget Bcc: evil@example.org X-Injected: 1\r\n" in text
    assert [r["state"] for r in rows(engine)] == ["sent", "sent"]


def test_the_webhook_is_signed_and_the_receiver_verifies_it(engine: Engine) -> None:
    clock = Clock(step=timedelta(0))
    checks = doc_verifier()
    with webhook_receiver() as receiver:
        n = make_notifier(engine, clock, hooks={"departments": {"gd-psd": receiver.url}})
        notify(n, Event(EventKind.DRILL_FAILED, "gd-psd", "3", T0, site="DR-REMOTE",
                        detail="failed steps: bring_up"))
        notify(n, Event(EventKind.DRILL_DONE, "gd-tax", "4", T0))  # no webhook of its own
        done = deliver_due(n, {Channel.WEBHOOK: WebhookSender(n.config.webhooks)})
        (hit,) = receiver.hits
    assert len(done.sent) == 1 and hit.path == "/hooks/T0K3N"
    assert checks(SECRET.encode(), hit.headers, hit.body)
    assert not checks(b"another-secret-xxxxxxx", hit.headers, hit.body)
    assert not checks(SECRET.encode(), hit.headers, hit.body.replace(b"bring_up", b"all_ok"))
    stamp = hit.headers["X-Govcloud-Timestamp"]
    assert verify(SECRET.encode(), stamp, hit.body, hit.headers["X-Govcloud-Signature"],
                  now=int(stamp))
    assert not verify(SECRET.encode(), stamp, hit.body, hit.headers["X-Govcloud-Signature"],
                      now=int(stamp) + 3600)  # replayed an hour later
    doc = json.loads(hit.body)
    assert doc["delivery"] == int(hit.headers["X-Govcloud-Delivery"]) == done.sent[0]
    assert hit.headers["X-Govcloud-Event"] == "drill.failed"
    assert doc["event"]["kind"] == "drill.failed" and doc["event"]["site"] == "DR-REMOTE"
    assert doc["texts"]["zh"]["subject"] == "[政务云] 广东省公安厅：容灾演练 #3未通过"
    assert doc["texts"]["en"]["subject"] == ("[GovCloud] Public Security Department: "
                                             "DR drill #3 failed")


def test_a_receiver_failing_twice_gets_it_on_the_third_attempt(engine: Engine) -> None:
    clock = Clock(step=timedelta(0))
    checks = doc_verifier()
    with webhook_receiver([500, 503]) as receiver:
        n = make_notifier(engine, clock, hooks={"global": receiver.url})
        notify(n, Event(EventKind.REQUEST_DONE, "gd-psd", "12", T0))
        senders: dict[Channel, Sender] = {
            Channel.WEBHOOK: WebhookSender(n.config.webhooks)}
        start_at = clock.now
        assert deliver_due(n, senders).failed  # 500
        (row,) = rows(engine)
        assert (row["state"], row["attempts"]) == ("pending", 1)
        port = receiver.url.split(":")[2].split("/")[0]
        assert row["last_error"] == (f"http://127.0.0.1:{port}/… answered HTTP 500: receiver "
                                     "down X-Evil: 1")  # the token in the path is not shown
        assert aware(row["next_attempt_at"]) == start_at + MINUTE
        clock.now = start_at + 59 * timedelta(seconds=1)
        assert deliver_due(n, senders).handled == 0  # not due yet: nothing sent
        clock.now = start_at + MINUTE
        assert deliver_due(n, senders).failed  # 503
        (row,) = rows(engine)
        assert aware(row["next_attempt_at"]) == start_at + 6 * MINUTE  # then 5 minutes
        clock.now = start_at + 6 * MINUTE
        assert deliver_due(n, senders).sent
        hits = list(receiver.hits)
    (row,) = rows(engine)
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 3, None)
    assert len(hits) == 3 and all(checks(SECRET.encode(), h.headers, h.body) for h in hits)
    assert len({h.headers["X-Govcloud-Delivery"] for h in hits}) == 1


def test_smtp_down_the_request_is_done_and_the_mail_waits(engine: Engine) -> None:
    seed(engine)
    clock = Clock(step=timedelta(0))
    ctx = context(engine)
    ctx.clock = clock
    ctx.notify = make_notifier(engine, clock, email=True)
    port = free_port()  # nothing listens there
    rid = submit(ctx, OPERATOR, {"department": "gd-psd", "system": "app",
                                 "justification": "test", "servers": [
                                     {"name_prefix": "vm", "flavor": "gc.c4m8",
                                      "image": "cirros", "count": 1, "network": "prod-net"}]})["id"]
    approve(ctx, ADMIN, rid)
    assert start(ctx, rid)
    assert complete(ctx, rid)["state"] == "done"  # told nobody yet, and did not wait
    round_ = deliver_due(ctx.notify, smtp_sender(port))
    assert len(round_.failed) == 4 and not round_.sent  # approved and done, two contacts each
    assert {(r["event"], r["state"], r["attempts"]) for r in rows(engine)} == {
        ("request.approved", "pending", 1), ("request.done", "pending", 1)}
    assert all("ConnectionRefusedError" in r["last_error"] for r in rows(engine))
    with smtp_server(port) as box:
        assert deliver_due(ctx.notify, smtp_sender(port)).handled == 0  # waits its minute
        clock.now += MINUTE
        assert len(deliver_due(ctx.notify, smtp_sender(port)).sent) == 4
        mails = box.wait_for(4)
    assert sorted((m.message["X-Govcloud-Event"], m.rcpt_tos[0]) for m in mails) == sorted(
        (e, a) for e in ("request.approved", "request.done") for a in PSD_CONTACTS)


def test_the_last_failed_attempt_gives_it_up_and_is_audited(engine: Engine) -> None:
    clock = Clock(step=timedelta(0))
    n = make_notifier(engine, clock, email=True,
                      policy=RetryPolicy(delays=(MINUTE,), max_attempts=2))
    notify(n, Event(EventKind.REQUEST_DONE, "gd-tax", "9", T0))
    port = free_port()
    assert len(deliver_due(n, smtp_sender(port)).failed) == 2
    clock.now += MINUTE
    assert len(deliver_due(n, smtp_sender(port)).dead) == 2
    clock.now += timedelta(days=30)
    assert deliver_due(n, smtp_sender(port)).handled == 0  # dead stays dead
    assert {(r["state"], r["attempts"]) for r in rows(engine)} == {("dead", 2)}
    audit = table("audit_entry")
    with engine.connect() as conn:
        entries = conn.execute(select(audit).where(audit.c.action == "notification.dead")).all()
    assert [(e.actor, e.target) for e in entries] == [("notifier", "department:gd-tax")] * 2


def test_a_message_without_its_sender_waits_and_a_broken_sender_never_raises(
        engine: Engine) -> None:
    clock = Clock(step=timedelta(0))
    n = make_notifier(engine, clock, email=True)
    notify(n, Event(EventKind.REQUEST_DONE, "gd-psd", "1", T0))

    def explodes(_out: Any) -> None:
        raise ZeroDivisionError("a bug in a sender")

    assert len(deliver_due(n, {}).failed) == 2
    assert {r["last_error"] for r in rows(engine)} == {"email is not configured on this server"}
    clock.now += MINUTE
    assert len(deliver_due(n, {Channel.EMAIL: explodes}).failed) == 2
    assert {r["last_error"] for r in rows(engine)} == {"ZeroDivisionError: a bug in a sender"}


def _plane(engine: Engine, clock: Clock, **settings: Any) -> Any:
    values = load_settings(**settings)
    return SimpleNamespace(settings=values, notifier=build_notifier(
        engine=engine, settings=values, catalogue=catalogue, clock=clock), notifier_worker=None)


def test_the_worker_runs_only_when_something_is_configured(engine: Engine) -> None:
    clock = Clock(step=timedelta(0))
    idle = _plane(engine, clock)
    start_notifier_worker(idle)()
    assert idle.notifier_worker is None
    with smtp_server() as box:
        plane = _plane(engine, clock, notify_smtp_host="127.0.0.1",
                       notify_smtp_port=box.port, notify_smtp_from=FROM, notify_poll_s=30)
        stop = start_notifier_worker(plane)
        try:
            assert plane.notifier_worker.wait_for_runs(1, timeout=10)
            notify(plane.notifier, Event(EventKind.DRILL_SCHEDULED, "gd-psd", "5", T0))
            plane.notifier_worker.wake()  # what a retry through the API does
            box.wait_for(2)
        finally:
            stop()
    wait_until(lambda: all(r["state"] == "sent" for r in rows(engine)), timeout=10)
    forced_off = _plane(engine, clock, notify_smtp_host="127.0.0.1", notify_smtp_from=FROM,
                        notify_worker=False)
    start_notifier_worker(forced_off)()
    assert forced_off.notifier_worker is None


def test_a_webhook_without_a_secret_or_a_bad_url_stops_the_server_at_start(
        engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(InvalidInput, match="has no secret"):
        _plane(engine, Clock(), notify_webhooks={"global": "https://a.example/h"})
    hooks = tmp_path / "hooks.yaml"
    hooks.write_text("departments:\n  gd-psd: ftp://a.example/h\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=f"{hooks}.departments.gd-psd: webhooks are http"):
        _plane(engine, Clock(), notify_webhooks_file=hooks,
               notify_webhook_secret="a-secret-of-16-chars")
    hooks.write_text("departments:\n  gd-psd: https://a.example/h\n", encoding="utf-8")
    plane = _plane(engine, Clock(), notify_webhooks_file=hooks,
                   notify_webhook_secret="a-secret-of-16-chars")
    assert plane.notifier.config.webhooks.for_department("gd-psd") == ("https://a.example/h",)
    assert "does not list" not in caplog.text
    _plane(engine, Clock(), notify_webhooks={"departments": {"gd-gone": "https://a.example/h"}},
           notify_webhook_secret="a-secret-of-16-chars")
    assert "webhooks configured for departments the catalogue does not list: gd-gone" \
        in caplog.text
