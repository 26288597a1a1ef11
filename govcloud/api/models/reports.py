"""``/reports/prices``: the price sheets the bureau pays the operator by (docs/reports.md)."""

from __future__ import annotations

from govcloud.api.models.common import ApiModel, Time


class PriceSheetInfo(ApiModel):
    """A stored price sheet (its YAML text is not sent; ``digest`` identifies it)."""

    version: str
    effective_from: str  # YYYY-MM-DD
    effective_until: str | None
    currency: str
    state: str  # proposed, approved (not in effect yet), effective
    digest: str  # sha256: of the YAML text as proposed
    proposed_by: str
    proposed_by_person: str
    proposed_at: Time
    approved_by: str | None
    approved_by_person: str | None
    approved_at: Time | None


class PriceSheetAnswer(ApiModel):
    sheet: PriceSheetInfo


class PriceSheetList(ApiModel):
    sheets: list[PriceSheetInfo]  # by start date, then version
