"""Helpers of the change-governance tests: a calendar whose Saturday window is a few days
ahead of the real clock, submitting a change, moving the server's clock into a window, and
what tenancy apply left in the clouds (plan) and the audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from govcloud.client import ApiClient
from govcloud.store.tables import utcnow

from .conftest import Plane

CST = dt.timezone(dt.timedelta(hours=8))

CALENDAR = """\
version: "{version}"
timezone: "+08:00"
windows:
  - name: weekly-saturday
    days: [sat]
    start: "01:00"
    end: "05:00"
freezes:
  - name: npc
    from: 2030-03-01
    until: 2030-03-15
    reason: 全国两会
{extra}"""


def next_saturday(after: dt.datetime | None = None) -> dt.datetime:
    """01:00 (+08:00) of the first Saturday at least two days after ``after`` (now)."""
    local = (after or utcnow()).astimezone(CST)
    days = (5 - local.weekday()) % 7
    if days < 2:
        days += 7
    return dt.datetime.combine(local.date() + dt.timedelta(days=days), dt.time(1), CST)


def calendar_text(version: str, extra: str = "") -> str:
    return CALENDAR.format(version=version, extra=extra)


def in_force(plane: Plane, version: str, extra: str = "") -> None:
    """Propose ``version`` as the admin and have the second admin approve it."""
    plane.admin.post("/calendar", {"document": calendar_text(version, extra)})
    plane.approver.post(f"/calendar/{version}/approve")


def change_body(departments: list[str], start: dt.datetime, end: dt.datetime, *,
                kind: str = "tenancy-apply", type_: str = "normal",
                title: str = "apply the catalogue") -> dict[str, Any]:
    return {"kind": kind, "type": type_, "title": title, "departments": departments,
            "start": start.isoformat(), "end": end.isoformat(),
            "rollback_plan": "apply the previous catalogue revision again"}


def submit(api: ApiClient, departments: list[str], start: dt.datetime, end: dt.datetime,
           **kw: Any) -> dict[str, Any]:
    answer: dict[str, Any] = api.post("/changes", change_body(departments, start, end, **kw))
    return answer


@contextmanager
def server_time(plane: Plane, at: dt.datetime) -> Iterator[None]:
    """The server's clock reads ``at`` (and runs on) inside the block."""
    plane.clock.offset = at - utcnow()
    try:
        yield
    finally:
        plane.clock.offset = dt.timedelta(0)


def pending(plane: Plane, code: str) -> int:
    """What tenancy apply would still do for ``code`` (projects to create or update, quotas
    to set; 0: it was applied)."""
    plan = plane.admin.get("/tenants/plan", department=[code])
    return sum(1 for s in plan["sites"]
               for key in ("create_projects", "update_projects", "quota_changes")
               for c in s[key] if c["code"] == code)


def audited(plane: Plane, code: str) -> list[str]:
    entries = plane.admin.get("/audit", department=code, limit=500)["entries"]
    return [e["action"] for e in entries]


def catalogue_quota(catalogue: Path, code: str, site: str, name: str,
                    value: int | None = None) -> int:
    """A quota of ``code``'s catalogue file; ``value``: set it first (the server re-reads
    the file when it changes)."""
    path = catalogue / f"{code}.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if value is not None:
        doc["quotas"][site][name] = value
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
    return int(doc["quotas"][site][name])
