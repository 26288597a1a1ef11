"""What the response models share: the base class, numbers, capacity figures, counts."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, WithJsonSchema

Number = Annotated[int | float, WithJsonSchema({"type": "number"})]
"""A JSON number kept as the server computed it (an int stays ``1``, a float ``1.0``)."""

Time = str
"""A time as ISO 8601 text, as the server wrote it (``2026-12-01T08:00:00+00:00``)."""


class ApiModel(BaseModel):
    """A response body. Routes declare it with ``answers(Model)``: the answer holds exactly
    the keys the service returned (``exclude_unset``), in the model's field order, so a field
    shown only sometimes is declared with a default and left out when the service left it
    out. A key the model does not declare would be dropped: every model covers every key its
    route returns (``tests/integration/control/test_openapi_contract.py``)."""


def answers(model: type[Any]) -> dict[str, Any]:
    """The decorator arguments that declare ``model`` as a route's success answer:
    ``@router.get("/x", **answers(Thing), summary=...)``."""
    return {"response_model": model, "response_model_exclude_unset": True}


class Figure(ApiModel):
    """One resource (vCPU, RAM MB or disk GB) summed over hosts: ``capacity`` (after
    allocation ratios and reserved), ``allocated`` (Placement usage), ``free``, ``headroom``
    (free on hosts that are up and enabled) and, in ``/capacity``, ``used`` (ACTIVE
    servers)."""

    capacity: int
    allocated: int
    free: int
    headroom: int
    used: int | None = None


class Resources(ApiModel):
    vcpu: int
    ram_mb: int
    disk_gb: int


class ServerCounts(ApiModel):
    total: int
    by_status: dict[str, int]


class QuotaUse(ApiModel):
    """One quota: its limit (negative: unlimited) and what is in use."""

    limit: int
    in_use: int
