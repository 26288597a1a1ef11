"""``/dr/drills``: DR drills — plan, approval, run, steps, evidence, cleanup (docs/dr.md,
"Drills")."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from govcloud.api.fields import Name
from govcloud.api.models.common import ApiModel, Time


class DrillStepView(ApiModel):
    step: str
    status: str  # pending, running, succeeded, failed, interrupted
    started_at: Time | None
    finished_at: Time | None
    output: str


class Drill(ApiModel):
    id: int
    department: str
    system: str | None  # None: every system of the department
    site: str
    state: str  # planned, approved, running, passed, failed, interrupted
    requester: str
    approver: str | None
    runner: str | None
    created_at: Time | None
    approved_at: Time | None
    started_at: Time | None
    finished_at: Time | None
    cleaned_at: Time | None
    running: bool  # a run holds it now
    evidence_sha256: str | None  # the digest sealed in the audit chain once it finished
    steps: list[DrillStepView] | None = None
    evidence: dict[str, Any] | None = None  # DrillEvidence.as_json (docs/dr.md)
    sealed: bool | None = None


class DrillList(ApiModel):
    drills: list[Drill]


class DrillRunStarted(ApiModel):
    drill: int
    action: str  # run, or wait (planned for its change's window)
    run_id: str | None  # None when it waits for its change's window
    change: int | None = None  # the change it runs under (docs/changes.md)
    opens: Time | None = None  # with wait: when the change's window opens


class DrillCleanedUp(ApiModel):
    drill: int
    state: str
    leftovers: list[str]  # what is still there after the cleanup (empty: nothing)
    deleted: list[str]  # what the drill's teardowns deleted, one line each
    failed: list[str]  # the cleanup's steps that failed, with why


class DrillReport(ApiModel):
    """The report as JSON (``Accept: text/markdown`` gets the Markdown itself)."""

    drill: int
    media_type: str
    markdown: str


class DrillPlanBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: Name
    system: Name | None = None  # None: every system of the department
    site: Name
