"""``/health`` and ``/whoami``."""

from __future__ import annotations

from govcloud.api.models.common import ApiModel


class Liveness(ApiModel):
    status: str
    version: str


class WhoAmI(ApiModel):
    name: str
    person: str | None
    role: str
    city: str | None
    department: str | None
    scope: str
    # what the role grants: ``global`` (whole cloud) and ``scope`` (own city or department)
    actions: dict[str, list[str]] | None = None
