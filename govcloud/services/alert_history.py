"""Recording the alerts the operator's monitoring fired (issue 20, docs/reports.md "Alert
history"): Alertmanager's webhook or Prometheus' own ``POST /api/v2/alerts`` tell govcloud of
each alert firing and resolving; their episodes (``govcloud.domain.alert_history``) are what
the operator scorecard counts per alertname.

RBAC: ``alert.record`` on the whole cloud (the bureau-admin, or an operator principal made
for Alertmanager), decided before anything of the post is read. Not audited entry by entry
(the senders repeat every alert every minute or so): each episode names the principal whose
post first told of it (``recorded_by``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from govcloud.domain.alert_history import Episode, merged
from govcloud.domain.rbac import GLOBAL, Action, Principal, require
from govcloud.store import alerts_repo as repo
from govcloud.store.engine import write_begin

Clock = Callable[[], dt.datetime]
# builds the post's episodes at the time it was received (InvalidInput: refused, nothing kept)
Parse = Callable[[dt.datetime], Sequence[Episode]]


def record(engine: Engine, principal: Principal, parse: Parse, *,
           clock: Clock) -> dict[str, Any]:
    """Check the caller, read the post's episodes and record them in one transaction (all
    of them, or — a bad alert in it — none)."""
    require(principal, Action.ALERT_RECORD, GLOBAL)
    now = clock()
    episodes = merged(parse(now))
    with write_begin(engine) as conn:
        done = repo.record(conn, episodes, by=principal.name, at=now)
    return {"received": len(episodes), "new": done.new, "ended": done.ended,
            "repeated": done.repeated}


def fired_between(engine: Engine, start: dt.datetime,
                  end: dt.datetime) -> tuple[list[Episode], dt.datetime | None]:
    """The episodes that fired in [start, end), and when govcloud was first told of an alert
    (None: never) — the scorecard's reads, on one connection."""
    with engine.connect() as conn:
        return repo.fired_between(conn, start, end), repo.first_told(conn)
