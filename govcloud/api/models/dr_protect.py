"""``/dr/protect``: on-demand protection cycles and their outcome (docs/dr.md, "govcloud dr
protect")."""

from __future__ import annotations

from govcloud.api.models.common import ApiModel, Time


class DrProtectCycle(ApiModel):
    """One copy server's cycle: its recovery point's status (ok, partial, failed) or busy
    (a cycle of it was already running, none was started)."""

    department: str
    system: str
    site: str
    kind: str  # hot, warm, cold
    name: str
    server_id: str
    status: str  # ok, partial, failed, busy
    point_id: int | None
    taken_at: Time | None
    files: int  # files in the checksum manifest (0 when not ok)
    size_bytes: int
    artifacts: list[str]  # kind:site:id of what holds the data in the DR site
    error: str | None


class DrProtectRun(ApiModel):
    """An on-demand run: its progress lines from ``after`` on, and once ``done`` each copy's
    cycle."""

    id: str
    done: bool
    copies: int
    after: int  # the lines' index to ask for next
    lines: list[str]
    cycles: list[DrProtectCycle]


class DrAdopted(ApiModel):
    """A system adopted from inventory: its DR level and members (production servers'
    names), who adopted it and since when it is protected; ``replaced``: adopted before, its
    members replaced."""

    department: str
    system: str
    level: int
    site: str
    servers: list[str]
    adopted_by: str
    adopted_at: str
    replaced: bool
