"""Who the console is connected as, and how: the API client, the principal (from
``/whoami``), the label language and the clock. Made by ``tui.app.make_app``; views reach it
as ``self.app.session``.

What the principal may do is the server's answer (``/whoami``'s ``actions``): the console
decides nothing about RBAC itself, it only shows or hides what the server would refuse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from govcloud.api.models import WhoAmI
from govcloud.client import ApiClient

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Session:
    api: ApiClient
    lang: str = "en"
    clock: Clock = utcnow
    refresh_s: float = 10.0
    whoami: WhoAmI | None = None
    # (old, new) each time the client moved to another replica (appended from the API
    # workers' threads; the header takes them and says so)
    switches: list[tuple[str, str]] = field(default_factory=list)

    @property
    def server(self) -> str:
        """The control-plane replica in use."""
        return self.api.server

    @property
    def servers(self) -> list[str]:
        """Every replica the console may use (several: it moves when one stops answering)."""
        return self.api.server_urls

    def switched(self, old: str, new: str) -> None:
        """The API client's ``on_switch``: it moved from replica ``old`` to ``new``."""
        self.switches.append((old, new))

    def learn(self, whoami: WhoAmI) -> None:
        self.whoami = whoami

    def may(self, action: str, *, anywhere: bool = True) -> bool:
        """Whether the principal's role grants ``action`` — on the whole cloud, or (with
        ``anywhere``) at least on its own city or department. Unknown (no) until ``learn``."""
        actions = (self.whoami.actions if self.whoami is not None else None) or {}
        if action in actions.get("global", ()):
            return True
        return anywhere and action in actions.get("scope", ())
