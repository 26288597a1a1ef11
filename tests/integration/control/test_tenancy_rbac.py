"""Tenancy and departments through the API, and RBAC on every read and write path: a
department-viewer of another department and a city-operator of another city are refused or
see nothing of it — in lists, detail, counts, plans, applies and the audit log."""

from __future__ import annotations

import pytest

from govcloud.errors import Forbidden, NotFound

from .conftest import SMALL, Plane

CITIES = {"guangzhou", "shenzhen", "shantou"}


def _targets(entries: list[dict[str, object]]) -> set[str]:
    return {str(e["target"]) for e in entries}


def test_apply_scoped_then_whole_catalogue_is_audited_and_idempotent(fresh_plane: Plane) -> None:
    """The first apply of the catalogue, so on a plane of its own (the module's other tests
    apply it too)."""
    plane = fresh_plane
    shantou, city_op = plane.principal("city-operator", city="shantou")
    plan = city_op.get("/tenants/plan")
    assert plan["departments"] == 1
    scoped = city_op.post("/tenants/apply")
    assert scoped["changed"]
    assert {c["department"] for c in scoped["changes"]} == {"shantou"}
    mine = city_op.get("/audit", actor=shantou)["entries"]
    assert len(mine) == len(scoped["changes"])
    assert {str(t).split("@")[0] for t in _targets(mine)} == {"department:shantou"}

    result = plane.admin.post("/tenants/apply")
    assert result["changed"]
    codes = {c["department"] for c in result["changes"]}
    assert codes == set(SMALL) - {"shantou"}
    admin_entries = [e for e in plane.admin.get("/audit", actor="admin", limit=1000)["entries"]
                     if str(e["action"]).startswith("tenancy.")]
    assert len(admin_entries) == len(result["changes"])
    assert {str(e["target"]).split("@")[0].removeprefix("department:")
            for e in admin_entries} == codes
    again = plane.admin.post("/tenants/apply")
    assert not again["changed"] and again["summary"].startswith("no changes")
    assert plane.admin.get("/tenants/plan")["empty"]


def test_departments_list_and_show(plane: Plane) -> None:
    listed = plane.admin.get("/departments")
    assert listed["count"] == len(SMALL)
    view = plane.admin.get("/departments/gd-psd")
    assert view["code"] == "gd-psd"
    assert [s["site"] for s in view["sites"]] == ["PROD", "DR-LOCAL", "DR-REMOTE"]
    with pytest.raises(NotFound, match="no department 'gd-nope'"):
        plane.admin.get("/departments/gd-nope")


def test_department_viewer_sees_only_its_department(plane: Plane) -> None:
    _, viewer = plane.principal("department-viewer", department="gd-tax")
    listed = viewer.get("/departments")
    assert [d["code"] for d in listed["departments"]] == ["gd-tax"] and listed["count"] == 1
    assert viewer.get("/departments/gd-tax")["code"] == "gd-tax"
    for code in ("gd-psd", "shenzhen", "guangzhou"):
        with pytest.raises(NotFound):
            viewer.get(f"/departments/{code}")
        with pytest.raises(NotFound):
            viewer.get("/tenants/plan", department=code)
    plan = viewer.get("/tenants/plan")
    assert plan["departments"] == 1
    assert all(c["code"] == "gd-tax" for s in plan["sites"]
               for c in s.get("quota_changes", []) + s.get("creates", []))
    with pytest.raises(Forbidden, match="may not tenancy.apply"):
        viewer.post("/tenants/apply")
    with pytest.raises(Forbidden, match="may not tenancy.apply"):
        viewer.post("/tenants/apply", department="gd-psd")
    with pytest.raises(Forbidden, match="may not audit.view"):
        viewer.get("/audit")
    with pytest.raises(Forbidden):
        viewer.get("/audit/verify")


def test_city_operator_sees_and_changes_only_its_city(plane: Plane) -> None:
    plane.admin.post("/tenants/apply")  # so that there is audit history for every department
    _, city_op = plane.principal("city-operator", city="shantou")
    listed = city_op.get("/departments")
    assert [d["code"] for d in listed["departments"]] == ["shantou"] and listed["count"] == 1
    for code in ("shenzhen", "gd-psd", "guangzhou"):
        with pytest.raises(NotFound):
            city_op.get(f"/departments/{code}")
        with pytest.raises(NotFound):
            city_op.get("/tenants/plan", department=code)
        with pytest.raises(NotFound):
            city_op.post("/tenants/apply", department=code)
        assert city_op.get("/audit", department=code)["entries"] == []
        assert city_op.get("/audit", target=f"department:{code}@PROD")["entries"] == []
    entries = city_op.get("/audit", limit=1000)["entries"]
    assert entries, "the shantou changes are visible to shantou's operator"
    assert all(str(t).startswith("department:shantou") for t in _targets(entries))
    every = plane.admin.get("/audit", limit=1000)["entries"]
    assert len(every) > len(entries)  # the rest exists and is filtered out
    with pytest.raises(Forbidden, match="only within city shantou"):
        city_op.get("/audit/verify")
    with pytest.raises(Forbidden):
        city_op.get("/principals")


@pytest.mark.parametrize("role", ["bureau-auditor", "ci"])
def test_read_only_roles_cannot_apply(plane: Plane, role: str) -> None:
    _, api = plane.principal(role)
    assert api.get("/departments")["count"] == len(SMALL)
    with pytest.raises(Forbidden, match="may not tenancy.apply"):
        api.post("/tenants/apply")


def test_auditor_reads_and_verifies_the_whole_log(plane: Plane) -> None:
    _, auditor = plane.principal("bureau-auditor")
    assert auditor.get("/audit/verify")["ok"]
    assert len(auditor.get("/audit", limit=1000)["entries"]) == len(
        plane.admin.get("/audit", limit=1000)["entries"])


def test_concurrent_applies_are_serialised(plane: Plane) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from govcloud.cloud.connect import connect
    from govcloud.cloud.tenancy import find_project, set_quotas
    from govcloud.domain.sites import default_sites

    plane.admin.post("/tenants/apply")
    prod = default_sites()[0]
    conn = connect(prod, clouds_yaml=plane.catalogue.parent / "clouds.yaml")
    project = find_project(conn, "gd-edu", site=prod.name)
    assert project is not None
    set_quotas(conn, project.id, {"cores": 777}, site=prod.name)  # drift, made by hand
    before = len(plane.admin.get("/audit", limit=1000)["entries"])
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: plane.admin.post("/tenants/apply"), range(3)))
    assert sorted(r["changed"] for r in results) == [False, False, True]
    [changed] = [r for r in results if r["changed"]]
    assert [(c["site"], c["department"], c["action"]) for c in changed["changes"]] == [
        ("PROD", "gd-edu", "tenancy.quota.set")]
    assert len(plane.admin.get("/audit", limit=1000)["entries"]) == before + 1


def test_guangzhou_city_operator_does_not_get_the_provincial_departments(plane: Plane) -> None:
    """Provincial departments sit in Guangzhou (their catalogue city) but belong to no city:
    Guangzhou's city-operator sees its own tenant only (docs/security.md)."""
    _, city_op = plane.principal("city-operator", city="guangzhou")
    listed = city_op.get("/departments")
    assert [d["code"] for d in listed["departments"]] == ["guangzhou"]
    with pytest.raises(NotFound):
        city_op.get("/departments/gd-psd")
    assert city_op.get("/departments/guangzhou")["code"] == "guangzhou"
