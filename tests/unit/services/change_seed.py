"""Helpers of the services' change-governance tests: a clock the test moves, a calendar in
force (Saturday 01:00–05:00 +08:00), and changes submitted by an operator and approved by
two bureau-admins (gd-psd is of DR level 6: two approvals)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from govcloud.domain.changes import ChangeType, NewChange, OperationKind
from govcloud.domain.rbac import Principal, Role
from govcloud.domain.sites import default_sites
from govcloud.services import change_calendar, changes
from govcloud.services.changes import ChangeContext
from govcloud.services.migration_access import Caller
from govcloud.services.notifications import Notifier
from govcloud.store import changes_repo
from tests.unit.services.provisioning_setup import catalogue

CST = dt.timezone(dt.timedelta(hours=8))
SITES = tuple(s.name for s in default_sites())
# Saturdays of the calendar below: 5 and 12 December 2026, 01:00–05:00 +08:00
SAT1 = dt.datetime(2026, 12, 5, 1, tzinfo=CST).astimezone(dt.UTC)
SAT2 = dt.datetime(2026, 12, 12, 1, tzinfo=CST).astimezone(dt.UTC)
WINDOW = dt.timedelta(hours=4)
BEFORE = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)  # a Tuesday: the changes are planned

OPERATOR = Principal("op", Role.OPERATOR, person="Ops Person")
BOSS = Principal("boss", Role.BUREAU_ADMIN, person="Boss Person")
CHIEF = Principal("chief", Role.BUREAU_ADMIN, person="Chief Person")

CALENDAR = """\
version: "{version}"
timezone: "+08:00"
windows:
  - name: weekly-saturday
    days: [sat]
    start: "01:00"
    end: "05:00"
freezes:
{freezes}"""


class MovingClock:
    """A clock at ``now`` that runs on by a millisecond a call; the test moves ``now``."""

    def __init__(self, now: dt.datetime = BEFORE) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(milliseconds=1)
        return self.now


def context(engine: Engine, clock: MovingClock, *, enforce: bool = True,
            notifier: Notifier | None = None) -> ChangeContext:
    return ChangeContext(engine=engine, sites=SITES, clock=clock, enforce=enforce,
                         notifier=notifier)


def caller(principal: Principal = OPERATOR) -> Caller:
    return Caller(principal, catalogue())


def in_force(ctx: ChangeContext, version: str,
             freezes: Sequence[tuple[str, str, str]] = ()) -> None:
    """Calendar ``version`` proposed by the boss and approved by the chief;
    ``freezes``: (name, from, until) local dates, province-wide."""
    lines = "".join(f"  - {{name: {n}, from: {a}, until: {b}, reason: test}}\n"
                    for n, a, b in freezes) or "  []\n"
    text = CALENDAR.format(version=version, freezes=lines).replace("freezes:\n  []",
                                                                     "freezes: []")
    codes = catalogue().codes
    change_calendar.propose(ctx.engine, BOSS, text, departments=codes, sites=SITES,
                            clock=ctx.clock)
    change_calendar.approve(ctx.engine, CHIEF, version, departments=codes, sites=SITES,
                            clock=ctx.clock)


def approved(ctx: ChangeContext, kind: OperationKind, departments: Sequence[str],
             start: dt.datetime, end: dt.datetime | None = None, *,
             sites: Sequence[str] = ()) -> int:
    """A normal change submitted by the operator and approved by both admins; its id."""
    new = NewChange(kind, ChangeType.NORMAL, f"{kind.value} of {', '.join(departments)}",
                    tuple(departments), start, end or start + WINDOW,
                    "put the previous state back", tuple(sites))
    change_id = int(changes.submit(ctx, caller(), new)["id"])
    for admin in (BOSS, CHIEF):
        answer = changes.approve(ctx, caller(admin), change_id)
        if answer["state"] == "approved":
            break
    return change_id


def state(ctx: ChangeContext, change_id: int) -> str:
    with ctx.engine.connect() as conn:
        return changes_repo.get_change(conn, change_id).state.value


def links(ctx: ChangeContext, change_id: int) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        found = changes_repo.get_change(conn, change_id).links
    return [{"kind": k.kind, "ref": k.ref, "state": k.state, "detail": k.detail}
            for k in found]
