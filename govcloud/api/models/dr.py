"""``/dr/posture``: every system's disaster-recovery verdict and the totals (docs/dr.md)."""

from __future__ import annotations

from govcloud.api.models.common import ApiModel, Number, Time


class DrCopy(ApiModel):
    """One planned copy of a system in a DR site: its worst server's state, the copy's
    recovery point (the oldest of its servers' latest good points) and current RPO."""

    site: str
    kind: str  # hot, warm, cold
    state: str  # present, changing, holds capacity, not ready, wrong flavor, error, missing
    recovery_point: Time | None
    rpo_s: Number | None  # now − recovery_point, in seconds; None without a recovery point
    # cycles, or synchronous (RPO 0 by replication while the volumes are of the replicated
    # type: recovery_point is then the last check that found them so)
    replication: str = "cycles"


class DrDrill(ApiModel):
    """A system's last drill."""

    at: Time
    site: str
    result: str  # passed, failed
    rto_s: Number | None  # the achieved RTO in seconds; None when it never became healthy


class DrSchedule(ApiModel):
    state: str  # not required, ok, due soon, overdue
    due_at: Time | None


class DrSystem(ApiModel):
    department: str
    system: str
    city: str | None
    level: int
    verdict: str  # compliant, at risk, non-compliant
    reasons: list[str]  # in words, worst first
    target_rpo_s: Number | None  # None when no plan can be made (the reasons say why)
    target_rto_s: Number | None
    drill_every_months: int | None
    members: int
    copies: list[DrCopy]
    last_drill: DrDrill | None
    drill: DrSchedule


class DrTotals(ApiModel):
    systems: int
    compliant: int
    at_risk: int
    non_compliant: int


class DrPosture(ApiModel):
    """The posture at ``at`` of the systems the caller may see (narrowed by ``department``
    and ``city`` when asked): each system, and the totals per department, per city and over
    every system shown (``province``; the whole province for a caller who sees it all)."""

    at: Time
    systems: list[DrSystem]
    departments: dict[str, DrTotals]
    cities: dict[str, DrTotals]
    province: DrTotals


class DrPoint(ApiModel):
    """One protection cycle of a copy server (every status: a failed or partial one never
    replaced the last good point)."""

    taken_at: Time
    kind: str  # volume-snapshot, volume-backup, file-sync
    status: str  # ok, partial, failed
    size_bytes: int
    error: str | None


class DrCopyServer(ApiModel):
    """A member's copy in one DR site: the server found there (``server_id`` None: missing),
    its state against the member (``detail`` says what is wrong in words) and its recent
    recovery points, newest first."""

    site: str
    member: str
    expected_flavor: str
    server_id: str | None
    status: str | None
    flavor: str | None
    state: str  # present, changing, holds capacity, not ready, wrong flavor, error, missing
    detail: str
    points: list[DrPoint]


class DrSystemDetail(ApiModel):
    """``/dr/systems/{department}/{system}``: the system's posture row (judged at ``at``),
    its copy servers with their recent recovery points (read now), and its drills, newest
    first."""

    at: Time
    system: DrSystem
    servers: list[DrCopyServer]
    drills: list[DrDrill]
