"""The API's request bodies, one pydantic model each (the answers are the other modules of
``govcloud.api.models``). Their field types are ``govcloud.api.contract``'s bounded ones
(``Name``, ``Names``, ``Line``, ``Text``, ``IsoTime``), so that the OpenAPI document states
every bound and a value over one is a 422. A body refuses keys it does not know where it says
``extra="forbid"``.

Kept apart from the answers (``govcloud.api.models`` does not import this module): these
import the server's field checks and defaults, which the API client does not need."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from govcloud.api.contract import IsoTime, Line, Name, Names, Text
from govcloud.domain.limits import MAX_TTL_DAYS
from govcloud.domain.rbac import MAX_PERSON, Role
from govcloud.services.migration import WINDOW_HOURS
from govcloud.services.principals import DEFAULT_TOKEN_TTL

# --- inventory ------------------------------------------------------------------------------


class SyncRequest(BaseModel):
    full: bool = Field(False, description="full reconcile (tombstones vanished servers)")
    sites: Names | None = Field(None, description="sites to sync (default: every site)")


# --- principals -----------------------------------------------------------------------------


class NewPrincipal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64, description="lower-case name, e.g. li.wei or ci-pipeline")
    role: Role
    person: str = Field(min_length=1, max_length=MAX_PERSON,
                        description="the person behind the principal (for a ci account, the "
                                    "person accountable for the pipeline); one person may "
                                    "hold several principals")
    city: str | None = Field(default=None, max_length=64,
                             description="for a city-operator only")
    department: str | None = Field(default=None, max_length=64,
                                   description="for a department-viewer only")
    ttl_days: float | None = Field(default=DEFAULT_TOKEN_TTL.days, gt=0, le=MAX_TTL_DAYS,
                                   allow_inf_nan=False,
                                   description="token lifetime in days (at most "
                                               f"{MAX_TTL_DAYS}); null: until revoked")


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_days: float | None = Field(default=DEFAULT_TOKEN_TTL.days, gt=0, le=MAX_TTL_DAYS,
                                   allow_inf_nan=False,
                                   description="token lifetime in days (at most "
                                               f"{MAX_TTL_DAYS}); null: until revoked")


# --- provisioning requests ------------------------------------------------------------------


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Line = Field(description="why (required; the requester reads it)")


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Line | None = Field(None, description="why (default: cancelled by NAME)")


# --- migration ------------------------------------------------------------------------------


class ImportBody(BaseModel):
    text: str = Field(description="the inventory file's content (YAML; bounded by the "
                                  "request body limit)")
    name: Name = Field("inventory", description="the file's name, for messages")


class TrustBody(BaseModel):
    fingerprint: Line = Field(description="the SHA256 fingerprint the person confirmed")
    replace: bool = Field(False, description="replace a different recorded key")


class DepartmentBody(BaseModel):
    department: Name
    hosts: Names | None = Field(None, description="only these hosts (survey)")


class PlanBody(BaseModel):
    department: Name
    first_window: IsoTime | None = Field(None, description="default: next Saturday 01:00")
    window_hours: float = Field(WINDOW_HOURS, gt=0, le=72)
    every_days: int = Field(7, ge=1, le=90)
    max_hosts: int = Field(10, ge=1, le=500)


class SignoffBody(BaseModel):
    department: Name
    note: Text | None = None


class OverrideBody(BaseModel):
    reason: Line = Field(min_length=1)


class RunBody(BaseModel):
    hook: Name | None = Field(None, description="a cutover hook under playbooks/migrate/hooks")
    outside_window: bool = Field(False, description="run outside the wave's maintenance "
                                                    "window (migration.override; audited)")
    reason: Line | None = Field(None, description="why (with outside_window)")


class RollbackBody(BaseModel):
    target: Name = Field(description="a wave id or a host name")
