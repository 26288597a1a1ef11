"""The request bodies of ``/changes`` and ``/calendar`` (docs/changes.md), kept apart from
the answers (``govcloud.api.models.changes``): they carry the server's field checks."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from govcloud.api.fields import FREE_TEXT, PLAIN_LINE, IsoTime, Name
from govcloud.domain.changes import MAX_ROLLBACK, MAX_TITLE
from govcloud.domain.limits import MAX_ID, MAX_ITEMS
from govcloud.services.change_calendar import MAX_DOCUMENT

ChangeRef = Annotated[int, Field(
    ge=1, le=MAX_ID, description="the approved change the operation runs under "
                                 "(docs/changes.md); required when change control is "
                                 "enforced")]


class UnderChange(BaseModel):
    """The body of an operation that takes nothing but the change it runs under."""

    model_config = ConfigDict(extra="forbid")

    change: ChangeRef | None = None


Kind = Literal["tenancy-apply", "migration-wave", "dr-drill", "dr-failover", "host-maintenance",
               "lifecycle"]


class NewChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind = Field(description="the operation the change wraps")
    type: Literal["standard", "normal", "emergency"] = Field(
        "normal", description="standard: pre-approved by a policy; normal: the bureau "
                              "approves it; emergency: runs at once, approved afterwards")
    title: Annotated[str, PLAIN_LINE] = Field(min_length=1, max_length=MAX_TITLE)
    departments: list[Name] = Field(min_length=1, max_length=MAX_ITEMS,
                                    description="the catalogue codes it affects")
    sites: list[Name] = Field(default_factory=list, max_length=MAX_ITEMS,
                              description="the sites it touches (empty: every site)")
    start: IsoTime = Field(description="the planned window's start, ISO 8601 with its offset")
    end: IsoTime = Field(description="the planned window's end")
    rollback_plan: Annotated[str, FREE_TEXT] = Field(min_length=1, max_length=MAX_ROLLBACK)


class NewCalendar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: Annotated[str, FREE_TEXT] = Field(
        min_length=1, max_length=MAX_DOCUMENT,
        description="the calendar's YAML text (docs/changes.md, The calendar file)")

