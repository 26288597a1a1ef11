"""The console's Requests view against a real control plane: live status, approve and reject
for a bureau-admin, no deciding keys for an operator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.control.conftest import Plane
from tui.screens import ConfirmScreen
from tui.views.requests import RequestsView

from .conftest import console, loaded, settled, wait_for
from .pilot import SIZE, open_view

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def body(system: str) -> dict[str, Any]:
    return {"department": "gd-tax", "system": system, "justification": "console test",
            "servers": [{"name_prefix": "vm", "flavor": "gc.c1m2", "count": 1,
                         "image": "cirros-0.6.2-x86_64-disk",
                         "network": {"PROD": "prod-net", "DR-LOCAL": "dr-local-net",
                                     "DR-REMOTE": "dr-remote-net"}}]}


def state_of(view: RequestsView, rid: int) -> str:
    return view.table.cells(str(rid))[4]


async def test_admin_approves_and_rejects_from_the_console(ready: Plane) -> None:
    _, operator = ready.principal("operator")
    first = operator.post("/requests", body("tui-one"))["id"]
    second = operator.post("/requests", body("tui-two"))["id"]
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "req")
        view = await loaded(pilot, "requests")
        assert isinstance(view, RequestsView)
        assert state_of(view, first) == "submitted" == state_of(view, second)
        await wait_for(pilot, lambda: view.table.cursor_key == str(second),
                       what="cursor on the newest request")
        await pilot.press("x")
        await pilot.press(*"no budget")
        await pilot.press("enter")
        await wait_for(pilot, lambda: state_of(view, second) == "rejected",
                       what="the rejection")
        assert view.table.cells(str(second))[8] == "no budget"
        await pilot.press("down")
        await wait_for(pilot, lambda: view.table.cursor_key == str(first), what="cursor")
        await pilot.press("a")  # asks first (what it will reserve); y approves
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen),
                       what="the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: state_of(view, first) == "approved", what="approval")
        approver = view.table.cells(str(first))[6]
        assert approver and approver != "-"
        # deciding twice is refused by the server, and the console says why
        await pilot.press("a")
        await wait_for(pilot, lambda: "only submitted requests are decided" in str(
            view.query_one("#status-line").render()), what="the refusal")
    assert ready.admin.get(f"/requests/{first}")["state"] == "approved"


async def test_an_operator_sees_requests_but_cannot_decide(ready: Plane) -> None:
    token = ready.add_principal("tui-ops", "operator")
    rid = ready.client(token).post("/requests", body("tui-three"))["id"]
    app = console(ready, token=token)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "requests")
        view = await loaded(pilot, "requests")
        assert isinstance(view, RequestsView)
        assert state_of(view, rid) == "submitted"
        assert not view.check_action("approve", ())
        assert not view.check_action("reject", ())
        await pilot.press("a")
        await settled(pilot)
        assert state_of(view, rid) == "submitted"
    assert ready.admin.get(f"/requests/{rid}")["state"] == "submitted"
