"""``/dr/failovers``, ``/dr/reprotect``, ``/dr/failback``, ``/dr/failover-plan``: DR failover,
reprotect, failback and the site-level plan (docs/dr.md, "Failover and failback")."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from govcloud.api.fields import Name
from govcloud.api.models.common import ApiModel, Time
from govcloud.domain.limits import MAX_ID

ChangeRef = Annotated[int, Field(ge=1, le=MAX_ID,
                                 description="the approved change it runs under "
                                             "(docs/changes.md)")]


class FailoverStepView(ApiModel):
    step: str
    status: str  # pending, running, succeeded, skipped, failed, interrupted
    started_at: Time | None
    finished_at: Time | None
    output: str


class SystemRole(ApiModel):
    department: str
    system: str
    primary: str  # the site the system serves from
    copy_site: str | None  # the site protecting it (None: nothing yet, reprotect it)
    state: str  # failed-over, reprotected, normal
    failover: int | None
    changed_at: Time | None
    change: int | None = None  # reprotect: the change it ran under


class Failover(ApiModel):
    id: int
    department: str
    system: str
    kind: str  # planned, unplanned, failback
    source: str
    target: str
    state: str  # running, done, failed, interrupted
    requester: str
    created_at: Time | None
    started_at: Time | None
    finished_at: Time | None
    running: bool  # a run holds it now
    point_at: Time | None  # the recovery point the copy holds
    data_loss_s: float | None  # unplanned: the point's age at the moment of the loss
    rto_s: float | None  # start → the service answers at the new endpoint
    endpoints: dict[str, str]  # member → address:port the service endpoint record points at
    steps: list[FailoverStepView]
    role: SystemRole | None = None


class FailoverList(ApiModel):
    failovers: list[Failover]


class FailoverStarted(ApiModel):
    failover: int
    run_id: str
    resumed: bool  # an unfinished failover of the system was taken up again
    kind: str
    source: str
    target: str
    change: int | None = None  # the change it runs under (docs/changes.md)


class SitePlanSystem(ApiModel):
    department: str
    system: str
    level: int
    members: int
    target: str | None


class SitePlanWave(ApiModel):
    wave: int
    level: int
    systems: list[SitePlanSystem]


class SitePlan(ApiModel):
    site: str
    fits: bool
    waves: list[SitePlanWave]
    not_protected: list[SitePlanSystem]
    receiving: list[dict[str, object]]  # the what-if's receiving sites (free, incoming)


class FailoverBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: Name
    system: Name
    to: Name
    unplanned: bool = False
    confirm: Name | None = None  # the system named again: a failover stops its service
    change: ChangeRef | None = None


class SystemBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: Name
    system: Name
    confirm: Name | None = None
    change: ChangeRef | None = None


class SiteRunStarted(SitePlan):
    after: int  # the failovers this run starts have greater ids
    at: Time  # when it started: the steps it runs of a resumed failover end after it
    unplanned: bool
    change: int | None = None  # the change the whole site's failover runs under


class SiteRunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: Name
    unplanned: bool = False
    confirm: Name | None = None  # the site named again
    change: ChangeRef | None = None
