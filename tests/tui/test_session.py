"""The console's session decides what to show from the server's ``/whoami`` answer alone."""

from __future__ import annotations

from typing import Any

from govcloud.api.models import WhoAmI
from govcloud.client import ApiClient
from tui.session import Session


def _session(actions: dict[str, list[str]] | None) -> Session:
    session = Session(api=ApiClient("http://127.0.0.1:9"))
    who: dict[str, Any] = {"name": "x", "person": "x", "role": "city-operator",
                           "city": "shenzhen", "department": None, "scope": "city shenzhen"}
    if actions is not None:
        who["actions"] = actions
    session.learn(WhoAmI.model_validate(who))  # as the client parses GET /whoami
    return session


def test_may_is_the_servers_answer() -> None:
    session = _session({"global": ["capacity.view"], "scope": ["capacity.view", "sync.run"]})
    assert session.may("capacity.view", anywhere=False)
    assert session.may("sync.run")
    assert not session.may("sync.run", anywhere=False)
    assert not session.may("principal.manage")


def test_nothing_is_allowed_before_the_server_answers() -> None:
    assert not Session(api=ApiClient("http://127.0.0.1:9")).may("department.view")
    assert not _session(None).may("department.view")
