"""``/changes`` and ``/calendar``: change requests and the change calendar (docs/changes.md).
The request bodies are in ``govcloud.api.models.change_bodies``."""

from __future__ import annotations

from pydantic import Field

from govcloud.api.models.common import ApiModel, Time


class ChangeApproval(ApiModel):
    by: str  # the principal
    person: str  # the person behind it
    role: str
    at: Time


class ChangeLink(ApiModel):
    """An operation run under the change."""

    id: int
    kind: str  # the operation kind, e.g. tenancy-apply
    ref: str  # what ran: a wave id, a drill id, the departments applied
    actor: str
    at: Time
    state: str  # running, done, failed
    finished_at: Time | None
    detail: str | None  # its summary, or why it failed


class ChangeRequest(ApiModel):
    id: int
    kind: str  # tenancy-apply, migration-wave, dr-drill, dr-failover, host-maintenance, lifecycle
    type: str  # standard, normal, emergency
    state: str  # submitted, approved, flagged, in-progress, done, failed, rejected, cancelled
    title: str
    departments: list[str]  # those the caller may see
    sites: list[str]  # empty: every site
    start: Time  # the planned window, UTC
    end: Time
    requester: str
    requester_person: str
    approvals_needed: int
    approvals: list[ChangeApproval]
    policy: str | None  # the standard policy that pre-approved it
    review_by: Time | None  # an emergency change's approval deadline
    in_freeze: bool  # an emergency change run during a freeze
    flags: list[str]  # awaiting-review, review-overdue, in-freeze
    created_at: Time
    reason: str | None  # why it was rejected or cancelled
    rollback_plan: str | None = None
    links: list[ChangeLink] | None = None


class ChangeList(ApiModel):
    changes: list[ChangeRequest]  # newest first


class CalendarVersion(ApiModel):
    version: str
    state: str  # proposed, approved
    in_force: bool  # the version approved last
    digest: str  # sha256: of the YAML text as proposed
    proposed_by: str
    proposed_by_person: str
    proposed_at: Time
    approved_by: str | None
    approved_by_person: str | None
    approved_at: Time | None


class CalendarAnswer(ApiModel):
    calendar: CalendarVersion


class CalendarWindow(ApiModel):
    name: str
    days: list[str]  # mon ... sun
    start: str  # HH:MM, the calendar's time zone
    end: str  # HH:MM (24:00: midnight); at or before start: the next day
    sites: list[str]  # empty: every site
    departments: list[str]  # empty: every department


class CalendarOpening(ApiModel):
    window: str
    start: Time  # in the calendar's time zone, with its offset
    end: Time


class CalendarFreeze(ApiModel):
    name: str
    from_: str = Field(alias="from")  # YYYY-MM-DD, first local day
    until: str  # YYYY-MM-DD, last local day
    reason: str
    departments: list[str]  # empty: province-wide


class CalendarMonth(ApiModel):
    month: str  # YYYY-MM
    timezone: str | None  # the calendar's UTC offset, e.g. +08:00; None: no calendar yet
    version: str | None  # the version in force
    windows: list[CalendarWindow]
    openings: list[CalendarOpening]
    freezes: list[CalendarFreeze]
    versions: list[CalendarVersion]  # the newest 20, proposed or approved
    changes: list[ChangeRequest]  # whose window falls in the month, by start
