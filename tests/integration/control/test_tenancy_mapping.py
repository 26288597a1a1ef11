"""Tenancy apply records the department × site → project mapping itself (issue 3), and the
mapping equals the one sync derives from the projects' tags."""

from __future__ import annotations

from sqlalchemy import select

from govcloud.store.tables import DepartmentSiteRow

from .conftest import SMALL, Plane

SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")


def _mapping(plane: Plane) -> dict[tuple[str, str], tuple[str, str | None]]:
    with plane.engine.connect() as conn:
        rows = conn.execute(select(DepartmentSiteRow.__table__)).all()  # type: ignore[attr-defined]
    return {(r.department, r.site): (r.project_id, r.city) for r in rows}


def test_apply_records_the_mapping_before_any_sync_and_sync_agrees(plane: Plane) -> None:
    assert _mapping(plane) == {}  # a fresh control plane: no sync has run
    plane.admin.post("/tenants/apply")
    applied = _mapping(plane)
    assert set(applied) == {(code, site) for code in SMALL for site in SITES}
    assert applied[("shantou", "PROD")][1] == "shantou"  # a city's tenant counts under its city
    assert applied[("gd-psd", "PROD")][1] is None  # provincial departments under none
    plane.admin.post("/sync", {"full": True})
    assert _mapping(plane) == applied
    # An apply that changes nothing keeps it.
    assert plane.admin.post("/tenants/apply")["changed"] is False
    assert _mapping(plane) == applied
