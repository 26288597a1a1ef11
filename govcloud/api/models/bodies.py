"""The API's request bodies, one pydantic model each (the answers are the other modules of
``govcloud.api.models``). Their field types are ``govcloud.api.contract``'s bounded ones
(``Name``, ``Names``, ``Line``, ``Text``, ``IsoTime``), so that the OpenAPI document states
every bound and a value over one is a 422. A body refuses keys it does not know where it says
``extra="forbid"``.

One body is described here but not checked by pydantic: ``POST /requests``'s request spec
(``RequestSpecBody``). Its route takes the JSON as sent and hands it to the provisioning
service, whose parse (``govcloud.domain.provisioning.parse_request``) checks it with the same
messages as a request file; the model only shows the format in the OpenAPI document
(``DocumentedAs``), built from the parse's own field names, patterns and bounds.

Kept apart from the answers (``govcloud.api.models`` does not import this module): these
import the server's field checks and defaults, which the API client does not need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from govcloud.api.fields import FREE_TEXT, IsoTime, Line, Name, Names, Text
from govcloud.api.models.change_bodies import ChangeRef
from govcloud.domain.lifecycle import MAX_GRACE_DAYS, MAX_KEEP_DAYS
from govcloud.domain.limits import MAX_ITEMS, MAX_NAME, MAX_TEXT, MAX_TTL_DAYS
from govcloud.domain.provisioning import (
    DEPARTMENT_PATTERN,
    DR_LEVELS,
    MAX_COUNT,
    MAX_SERVERS,
    MAX_VOLUME_GB,
    MAX_VOLUMES,
    NAME_PATTERN,
)
from govcloud.domain.rbac import MAX_PERSON, Role
from govcloud.services.migration import WINDOW_HOURS
from govcloud.services.prices import MAX_DOCUMENT
from govcloud.services.principals import DEFAULT_TOKEN_TTL

# --- inventory ------------------------------------------------------------------------------


class SyncRequest(BaseModel):
    full: bool = Field(False, description="full reconcile (tombstones vanished servers)")
    sites: Names | None = Field(None, description="sites to sync (default: every site)")


# --- price sheets (issue 20) ---------------------------------------------------------------


class NewPriceSheet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: Annotated[str, FREE_TEXT] = Field(
        min_length=1, max_length=MAX_DOCUMENT,
        description="the sheet's YAML text (docs/reports.md, Price sheets)")


class BackfillBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: IsoTime = Field(alias="from", description="the first hour to fill (ISO 8601; "
                                                     "without a zone, UTC)")
    to: IsoTime = Field(description="up to this time (exclusive; at most 31 days after from, "
                                    "and never the current hour)")
    site: Name | None = Field(None, description="one site (default: every site)")


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


@dataclass(frozen=True, slots=True)
class DocumentedAs:
    """``Annotated[Any, Body(...), DocumentedAs(Model)]``: a body the route takes as sent (any
    JSON, not checked by pydantic) and the OpenAPI document shows as ``Model``'s schema."""

    model: type[BaseModel]

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        del core_schema  # the body's own: anything
        return handler(self.model.__pydantic_core_schema__)


_SpecName = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
_PerSite = Annotated[dict[Annotated[str, Field(max_length=MAX_NAME)], _SpecName],
                     Field(min_length=1, max_length=MAX_ITEMS)]


class ServerGroupBody(BaseModel):
    """``count`` identical servers of the system, named ``<system>-<name_prefix>-<n>``."""

    model_config = ConfigDict(extra="forbid")

    name_prefix: str = Field(pattern=NAME_PATTERN,
                             description="lower-case letters, digits and '-', 2 to 42 "
                                         "characters, e.g. web; each group its own")
    flavor: _SpecName = Field(description="a flavor in every target site, e.g. gc.c4m8")
    image: _SpecName = Field(description="an image name or id")
    count: int = Field(ge=1, le=MAX_COUNT,
                       description=f"servers in the group (at most {MAX_SERVERS} in the "
                                   "request, over all groups)")
    network: _SpecName | _PerSite = Field(
        description="a network in every target site, or one per site: "
                    "{PROD: prod-net, DR-LOCAL: dr-local-net, DR-REMOTE: dr-remote-net}")
    volumes: list[Annotated[int, Field(ge=1, le=MAX_VOLUME_GB)]] | None = Field(
        None, max_length=MAX_VOLUMES, description="a data volume per entry, its size in GB")


class RequestSpecBody(BaseModel):
    """A provisioning request: one system of a department (docs/provisioning.md). White
    space around a text value is trimmed before it is checked; the department, system,
    name_prefix, flavor and image hold no control character, the justification none but
    newlines and tabs."""

    model_config = ConfigDict(extra="forbid")

    department: str = Field(pattern=DEPARTMENT_PATTERN, max_length=MAX_NAME,
                            description="a department code from the catalogue, e.g. gd-psd")
    system: str = Field(pattern=NAME_PATTERN,
                        description="lower-case letters, digits and '-', 2 to 42 characters; "
                                    "one live request per system")
    dr_level: int | None = Field(None, ge=DR_LEVELS.start, le=DR_LEVELS.stop - 1,
                                 description="default (null): the department's level; a "
                                             "request may raise it, never lower it")
    justification: str = Field(min_length=1, max_length=MAX_TEXT,
                               description="why the capacity is needed (the bureau reads it)")
    servers: list[ServerGroupBody] = Field(min_length=1, max_length=MAX_ITEMS,
                                           description="the system's server groups")
    playbooks: list[_SpecName] | None = Field(
        None, max_length=MAX_ITEMS,
        description="post-provision playbooks by name (setting provision_playbooks)")


# --- a system's lifecycle (docs/lifecycle.md) -----------------------------------------------


class _Lifecycle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    justification: Text | None = Field(None, description="why (the bureau reads it; default: "
                                                         "what the request does)")
    change: Name | None = Field(None, description="the change the request runs under (a "
                                                  "change's number, e.g. 42)")


class ScaleBody(_Lifecycle):
    servers: int = Field(ge=1, le=MAX_COUNT, description="servers of the group in each site "
                                                         "after the change")
    group: Name | None = Field(None, description="the server group's name_prefix (default: "
                                                 "the system's only group)")
    sites: Names | None = Field(None, description="only these sites (default: every site the "
                                                  "DR level requires; the copies must keep "
                                                  "the same size)")


class ResizeBody(_Lifecycle):
    flavor: Name = Field(description="the new flavor, e.g. gc.c4m8")
    members: Names | None = Field(None, description="only these members (default: all), as "
                                                    "`govcloud system show` names them")


class RetireBody(_Lifecycle):
    grace_days: float | None = Field(None, ge=0, le=MAX_GRACE_DAYS, allow_inf_nan=False,
                                     description="days the servers stay shut off before they "
                                                 "are deleted (default: retire_grace_days)")
    keep_days: float | None = Field(None, ge=0, le=MAX_KEEP_DAYS, allow_inf_nan=False,
                                    description="days the final snapshots are kept (default: "
                                                "retire_keep_days)")


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
    change: ChangeRef | None = None
    trust_on_first_use: Line | None = Field(
        None, min_length=1, description="why a target whose cloud shows no SSH host keys may "
                                        "be trusted on first use (migration.override; "
                                        "audited); without it such a target is refused")


class RollbackBody(BaseModel):
    target: Name = Field(description="a wave id or a host name")
    change: ChangeRef | None = None


# --- disaster recovery ----------------------------------------------------------------------

class AdoptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: Name = Field(description="the department the servers belong to")
    system: Name = Field(description="the system's name")
    servers: Annotated[list[Name], Field(min_length=1, max_length=200)] = Field(
        description="the production servers' names, its members")
    level: int | None = Field(None, ge=DR_LEVELS.start, le=DR_LEVELS.stop - 1,
                              description="its DR level (default: the department's; never "
                                          "lower)")


class ProtectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: Name | None = Field(None, description="only this department's systems")
    system: Name | None = Field(None, description="only this system")
    paths: Annotated[list[Line], Field(min_length=1, max_length=32)] | None = Field(
        None, description="the data paths to copy (absolute; default: the dr_protect_paths "
                          "setting)")
