"""Who the console is connected as, and how: the API client, the principal (from
``/whoami``), the label language and the clock. Made by ``tui.app.make_app``; views reach it
as ``self.app.session``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from govcloud.client import ApiClient
from govcloud.domain.rbac import GLOBAL, Action, Principal, Target, can

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Session:
    api: ApiClient
    lang: str = "en"
    clock: Clock = utcnow
    refresh_s: float = 10.0
    principal: Principal | None = None
    whoami: dict[str, Any] = field(default_factory=dict)

    @property
    def server(self) -> str:
        return self.api.server

    def learn(self, whoami: dict[str, Any]) -> None:
        self.whoami = whoami
        self.principal = Principal(name=whoami["name"], role=whoami["role"],
                                   city=whoami.get("city"), department=whoami.get("department"))

    def may(self, action: str, *, anywhere: bool = True) -> bool:
        """Whether the principal's role grants ``action`` — on the whole cloud, or (with
        ``anywhere``) at least on its own city or department. Unknown until ``learn``."""
        if self.principal is None:
            return False
        act = Action(action)
        if can(self.principal, act, GLOBAL):
            return True
        if not anywhere:
            return False
        own = Target.of(self.principal.department or "-", self.principal.city)
        return bool(can(self.principal, act, own))
