"""Host maintenance under change control, over HTTP against the simulator, with the notifier
and a real SMTP server (aiosmtpd) on loopback (docs/changes.md, docs/notifications.md):

- without a change, or under one that misses a department whose servers are on the host, a
  drain is refused naming what is missing, and nothing is changed (the host stays enabled,
  no drain is recorded);
- under an approved change in its window the drain runs, is the change's link
  (``drain ID``), and its end closes the change done; a restore needs a change of its own;
- the departments hear of it all: the change scheduled (approved), started and done, and
  the drain started and done — mails with the event in their header.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcloud.cli import main
from govcloud.domain.notify_delivery import EVENT_HEADER
from govcloud.errors import ChangeRefused
from govcloud.services.plane import Plane as ServerPlane
from govcloud.workers.notifier import start_notifier_worker
from tests.integration.notify_servers import Mailbox, free_port, smtp_server
from tests.waiting import wait_until

from .changes_plane import in_force, next_saturday, server_time, submit
from .conftest import Plane

SITE = "PROD"
W = next_saturday()
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture(scope="module")
def smtp_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def plane_settings(smtp_port: int) -> dict[str, Any]:
    return {"change_control": "enforce", "notify_smtp_host": "127.0.0.1",
            "notify_smtp_port": smtp_port, "notify_smtp_from": "govcloud@cloud.example",
            "notify_smtp_timeout_s": 5, "notify_poll_s": 0.2, "notify_languages": ["en"]}


@pytest.fixture(scope="module")
def plane_workers() -> Callable[[ServerPlane], Callable[[], None]]:
    return start_notifier_worker


@pytest.fixture
def mailbox(smtp_port: int) -> Any:
    with smtp_server(smtp_port) as box:
        yield box


def _raw(plane: Plane, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{plane.url}/api/v1{path}", json=body, timeout=30,
                         headers={"Authorization": f"Bearer {plane.admin_token}"})


def _approved(plane: Plane, departments: list[str], *, kind: str = "host-maintenance") -> int:
    _, operator = plane.principal("operator")
    change = submit(operator, departments, W + dt.timedelta(minutes=10), W + 3 * HOUR,
                    kind=kind, title="drain a PROD compute host")
    cid: int = change["id"]
    plane.admin.post(f"/changes/{cid}/approve")
    if plane.admin.get(f"/changes/{cid}")["state"] != "approved":
        plane.approver.post(f"/changes/{cid}/approve")
    return cid


def _events(box: Mailbox) -> list[str]:
    return [str(m.message[EVENT_HEADER]) for m in box.mails]


def _wait_events(box: Mailbox, wanted: set[str]) -> list[str]:
    return wait_until(lambda: _events(box) if wanted <= set(_events(box)) else None,
                      timeout=30, what=f"mails of {sorted(wanted)}", interval=0.2)


def test_a_drain_runs_only_under_a_change_that_covers_its_host_and_is_told(
        plane: Plane, mailbox: Mailbox, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert plane.admin.post("/sync", {"full": True})["ok"]
    in_force(plane, "h.1")
    region = plane.sim.sim.cloud.regions[SITE]
    host = next(h for h, hv in sorted(region.hv_by_host.items())
                if hv.servers and hv.service.status == "enabled")
    svc = region.hv_by_host[host].service

    answer = _raw(plane, "POST", f"/hosts/{SITE}/{host}/drain")
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["type"] == "ChangeRefused"
    assert error["message"] == ("host-maintenance needs an approved change, and none was "
                                "given")
    assert "--kind host-maintenance" in error["hint"]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("GOVCLOUD_SERVER", plane.url)
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
    assert main(["host", "drain", SITE, host]) == 7  # the CLI: exit 7, the same words
    assert "host-maintenance needs an approved change" in capsys.readouterr().err

    # a change that misses the host's departments is refused, naming them
    partial = _approved(plane, ["gd-edu"])
    with (server_time(plane, W + 30 * MINUTE),
          pytest.raises(ChangeRefused, match=r"does not cover department\(s\) ") as missed):
        plane.admin.post(f"/hosts/{SITE}/{host}/drain", {"change": partial})
    departments = re.search(r"department\(s\) ([a-z0-9, -]+)$", missed.value.message)
    assert departments is not None
    codes = departments.group(1).split(", ")
    assert (svc.status, svc.disabled_reason) == ("enabled", None)  # nothing changed
    assert _raw(plane, "GET", "/hosts/drains/1").status_code == 404
    assert plane.admin.get(f"/changes/{partial}")["links"] == []

    covering = _approved(plane, sorted({*codes, "gd-edu"}))
    again = _approved(plane, ["gd-edu"])  # for the restore
    with pytest.raises(ChangeRefused, match="has not opened yet"):  # before its window
        plane.admin.post(f"/hosts/{SITE}/{host}/drain", {"change": covering})
    with server_time(plane, W + 30 * MINUTE):
        started = plane.admin.post(f"/hosts/{SITE}/{host}/drain", {"change": covering})
        assert started["change"] == covering
        drain = wait_until(lambda: d if not (d := plane.admin.get(
            f"/hosts/drains/{started['drain']}"))["running"] and d["state"] != "running"
            else None, timeout=120, what="the drain to end", interval=0.2)
        assert drain["state"] == "done" and drain["change"] == covering
        done = wait_until(lambda: c if (c := plane.admin.get(f"/changes/{covering}"))[
            "state"] == "done" else None, timeout=30, what="the change done")
        assert [(k["kind"], k["ref"], k["state"]) for k in done["links"]] == [
            ("host-maintenance", f"drain {drain['id']}", "done")]
        # the change is done: a restore needs one of its own
        with pytest.raises(ChangeRefused, match=f"change {covering} is done"):
            plane.admin.post(f"/hosts/{SITE}/{host}/restore", {"change": covering})
        assert svc.status == "disabled"
        restored = plane.admin.post(f"/hosts/{SITE}/{host}/restore", {"change": again})
        # the mails are waited for on the server's clock of the window: what it queued there
        # is due from then, and back on today's clock it would not be due for days
        told = _wait_events(mailbox, {"change.scheduled", "change.started", "change.done",
                                      "host.drain_started", "host.drain_done"})
    assert restored["change"] == again and restored["was_in_maintenance"]
    assert svc.status == "enabled"
    assert plane.admin.get(f"/changes/{again}")["state"] == "done"

    # every department on the host hears of its drain: one mail per contact
    assert told.count("host.drain_started") == told.count("host.drain_done") >= 2
    drained = [m for m in mailbox.mails if m.message[EVENT_HEADER] == "host.drain_done"]
    assert all(host in str(m.message["Subject"]) for m in drained)
    body = drained[0].message.get_content()
    assert "moved" in body and SITE in body
