"""Notifications through the control plane over real HTTP, with the simulator, the job worker
and the notifier running in the server: the SMTP server is down, yet an approved request is
provisioned and done; its mails wait, pending with the reason, listed per department as each
principal may see them (API and CLI); once a real SMTP server listens, a retry through the
API wakes the notifier and the mail arrives. The models keep every key the routes return."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from govcloud.cli import main
from govcloud.client import ApiClient
from govcloud.errors import ConflictError, Forbidden, NotFound
from govcloud.services.plane import Plane as ServerPlane
from govcloud.workers.notifier import start_notifier_worker
from govcloud.workers.provision import start_provision_worker
from tests.integration.control.openapi_answers import Answers
from tests.integration.control.provisioning_plane import request, wait_final
from tests.integration.notify_servers import free_port, smtp_server
from tests.waiting import wait_until

from .conftest import Plane

FROM = "govcloud@cloud.gd-gov.example"
PSD_CONTACTS = ["cloud@psd.gd-gov.example", "ops@psd.gd-gov.example"]


@pytest.fixture(scope="module")
def smtp_port() -> int:
    """Where the SMTP server is configured, and nothing listens until a test starts one."""
    return free_port()


@pytest.fixture(scope="module")
def plane_settings(smtp_port: int) -> dict[str, Any]:
    return {"provision_poll_s": 0.2, "provision_active_timeout_s": 20,
            "notify_smtp_host": "127.0.0.1", "notify_smtp_port": smtp_port,
            "notify_smtp_from": FROM, "notify_smtp_timeout_s": 5, "notify_poll_s": 0.2,
            "notify_backoff_s": [3600]}  # a failed mail waits an hour unless retried


@pytest.fixture(scope="module")
def plane_workers() -> Callable[[ServerPlane], Callable[[], None]]:
    def start(plane: ServerPlane) -> Callable[[], None]:
        stops = [start_provision_worker(plane), start_notifier_worker(plane)]

        def stop() -> None:
            for fn in reversed(stops):
                fn()

        return stop

    return start


@pytest.fixture(scope="module")
def waiting(plane: Plane) -> tuple[int, list[dict[str, Any]]]:
    """A request of gd-psd approved and provisioned while no SMTP server listens, and its
    mails once the notifier has tried each of them (as they were then: a test may send
    them later)."""
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    _, operator = plane.principal("operator")
    rid: int = operator.post("/requests", request("mailless", count=1))["id"]
    plane.admin.post(f"/requests/{rid}/approve")
    assert wait_final(plane.admin, rid)["state"] == "done"
    tried = wait_until(lambda: [m for m in _mails(plane.admin) if m["attempts"] >= 1]
                       if len([m for m in _mails(plane.admin) if m["attempts"] >= 1]) == 4
                       else None, timeout=20, what="four failed attempts")
    return rid, tried


def _mails(api: ApiClient, **params: Any) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = api.get("/notifications", **params)["notifications"]
    return answer


def test_smtp_down_the_request_is_done_and_its_mails_wait(
        waiting: tuple[int, list[dict[str, Any]]]) -> None:
    rid, mails = waiting  # the request is done (the fixture waited for it), its mails wait
    assert sorted((m["event"], m["recipient"]) for m in mails) == sorted(
        (e, a) for e in ("request.approved", "request.done") for a in PSD_CONTACTS)
    assert {(m["state"], m["attempts"], m["ref"], m["department"]) for m in mails} == {
        ("pending", 1, str(rid), "gd-psd")}
    assert all("ConnectionRefusedError" in (m["last_error"] or "") for m in mails)
    assert all(m["subject"].startswith("[政务云] 广东省公安厅：资源申请 #") for m in mails)


def test_each_principal_sees_its_departments_messages(plane: Plane, waiting: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    answers = Answers()
    answers.watch(monkeypatch)
    _, psd = plane.principal("department-viewer", department="gd-psd")
    _, tax = plane.principal("department-viewer", department="gd-tax")
    _, city = plane.principal("city-operator", city="shenzhen")
    assert len(_mails(psd)) == 4 and _mails(tax) == [] and _mails(city) == []
    assert tax.get("/notifications")["counts"] == {"pending": 0, "sent": 0, "dead": 0}
    with pytest.raises(NotFound, match="no department 'gd-psd'"):
        tax.get("/notifications", department="gd-psd")
    some = _mails(psd)[0]["id"]
    with pytest.raises(NotFound, match=f"no notification {some}"):
        tax.post(f"/notifications/{some}/retry")
    with pytest.raises(Forbidden):
        psd.post(f"/notifications/{some}/retry")
    with pytest.raises(NotFound, match="no notification 2147483647"):
        plane.admin.post("/notifications/2147483647/retry")
    assert not answers.changed, answers.changed
    assert {"GET /api/v1/notifications"} <= set(answers.seen), sorted(answers.seen)


def test_the_cli_lists_them(cli_env: Plane, waiting: Any,
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["notifications", "list", "--department", "gd-psd", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sum(listed["counts"].values()) == len(listed["notifications"]) == 4
    assert {m["department"] for m in listed["notifications"]} == {"gd-psd"}
    assert main(["notifications", "list"]) == 0
    out = capsys.readouterr().out
    assert "request.done" in out and "cloud@psd.gd-gov.example" in out
    with pytest.raises(SystemExit) as usage:
        main(["notifications", "list", "--limit", "0"])
    assert usage.value.code == 2 and "is not between 1" in capsys.readouterr().err


def test_a_retry_once_smtp_is_up_delivers_it(plane: Plane, waiting: Any, smtp_port: int,
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    mails = _mails(plane.admin, department="gd-psd", state="pending")
    assert len(mails) == 4
    with smtp_server(smtp_port) as box:
        for m in mails[:-1]:
            again = plane.admin.post(f"/notifications/{m['id']}/retry")
            assert (again["state"], again["attempts"]) == ("pending", 0)
        monkeypatch.setenv("GOVCLOUD_SERVER", plane.url)
        monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
        assert main(["notifications", "retry", str(mails[-1]["id"]), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["id"] == mails[-1]["id"]
        arrived = box.wait_for(4, timeout=20)
    assert sorted(m.rcpt_tos[0] for m in arrived) == sorted(PSD_CONTACTS * 2)
    wait_until(lambda: {m["state"] for m in _mails(plane.admin, department="gd-psd")} ==
               {"sent"}, timeout=10, what="all sent")
    with pytest.raises(ConflictError, match="sent already"):
        plane.admin.post(f"/notifications/{mails[0]['id']}/retry")
    entries = plane.admin.get("/audit", action="notification.retry")["entries"]
    assert len(entries) == 4 and {e["target"] for e in entries} == {"department:gd-psd"}
