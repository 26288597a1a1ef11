"""Tenancy against the real cloud, through the CLI and the control plane: `govcloud tenants
apply` creates each department's project (one shared Keystone) and sets its Nova, Cinder and
Neutron quotas in all three regions; a second apply changes nothing; a quota changed by hand
with the `openstack` CLI shows as drift, and the next apply puts it back."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from govcloud.cli import main

from .conftest import DEPARTMENTS, Plane, RealCloud

# catalogue field → (service, the service's quota name)
QUOTAS = {"cores": ("compute", "cores"), "ram_mb": ("compute", "ram"),
          "instances": ("compute", "instances"), "volumes": ("volume", "volumes"),
          "gigabytes": ("volume", "gigabytes"), "ports": ("network", "port"),
          "server_groups": ("compute", "server_groups"),
          "server_group_members": ("compute", "server_group_members")}


def govcloud(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert out or code != 0 or "--json" not in argv, err
    if "--json" in argv and not out:
        pytest.fail(f"govcloud {' '.join(argv)}: exit {code}: {err}")
    return code, json.loads(out) if "--json" in argv else out


def catalogue_quotas(plane: Plane, code: str) -> dict[str, dict[str, int]]:
    doc = yaml.safe_load((plane.catalogue / f"{code}.yaml").read_text())
    return {site: dict(q) for site, q in doc["quotas"].items()}


def real_quotas(real: RealCloud, region: str, project_id: str) -> dict[str, int]:
    """The project's limits as the region's own APIs report them (openstacksdk, admin)."""
    conn = real.sdk(region)
    docs = {
        "compute": conn.compute.get(f"/os-quota-sets/{project_id}").json()["quota_set"],
        "volume": conn.block_storage.get(f"/os-quota-sets/{project_id}").json()["quota_set"],
        "network": conn.network.get(f"/quotas/{project_id}").json()["quota"],
    }
    return {field: int(docs[service][name]) for field, (service, name) in QUOTAS.items()}


def department_projects(real: RealCloud) -> dict[str, Any]:
    conn = real.sdk("PROD")
    out = {}
    for p in conn.identity.projects():
        codes = [t.removeprefix("dept:") for t in p.tags or () if t.startswith("dept:")]
        if codes:
            out[codes[0]] = p
    return out


@pytest.fixture
def clean(real: RealCloud) -> RealCloud:
    """No department projects left from an earlier run, or an earlier test (the suite runs in
    random order), against the same cloud."""
    conn = real.sdk("PROD")
    for project in department_projects(real).values():
        conn.identity.delete_project(project)
    return real


def test_apply_creates_projects_and_quotas_in_all_three_regions(
        clean: RealCloud, cli: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    code, plan = govcloud(capsys, "tenants", "plan", "--json")
    assert code == 0
    creates = {c["code"] for s in plan["sites"] for c in s["create_projects"]}
    assert creates == set(DEPARTMENTS)

    code, out = govcloud(capsys, "tenants", "apply")
    assert code == 0, out
    projects = department_projects(clean)
    assert set(projects) == set(DEPARTMENTS)  # one project each: Keystone is shared
    for dept in DEPARTMENTS:
        wanted = catalogue_quotas(cli, dept)
        assert "PROD" in wanted
        for region, quotas in wanted.items():  # a department's DR sites follow its DR level
            assert real_quotas(clean, region, projects[dept].id) == quotas, (dept, region)

    code, out = govcloud(capsys, "tenants", "apply")
    assert code == 0 and out.strip().endswith("already match the catalogue in 3 sites"), out
    code, plan = govcloud(capsys, "tenants", "plan", "--json")
    assert code == 0 and plan["empty"]


def test_a_quota_changed_by_hand_is_drift_and_apply_restores_it(
        clean: RealCloud, cli: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    govcloud(capsys, "tenants", "apply")
    project = department_projects(clean)["gd-tax"]
    wanted = catalogue_quotas(cli, "gd-tax")["DR-LOCAL"]
    clean.osc("DR-LOCAL", "quota", "set", "--cores", str(wanted["cores"] + 7), project.id)
    assert real_quotas(clean, "DR-LOCAL", project.id)["cores"] == wanted["cores"] + 7

    code, plan = govcloud(capsys, "tenants", "plan", "--json")
    assert code == 0 and not plan["empty"]
    by_site = {s["site"]: s for s in plan["sites"]}
    assert by_site["DR-LOCAL"]["drift"] == [{
        "code": "gd-tax", "project_id": project.id, "field": "cores",
        "applied": wanted["cores"], "actual": wanted["cores"] + 7}]
    assert [(q["code"], q["field"], q["current"], q["desired"])
            for q in by_site["DR-LOCAL"]["quota_changes"]] == \
        [("gd-tax", "cores", wanted["cores"] + 7, wanted["cores"])]
    assert not by_site["PROD"]["drift"] and not by_site["DR-REMOTE"]["drift"]

    code, out = govcloud(capsys, "tenants", "apply")
    assert code == 0, out
    assert real_quotas(clean, "DR-LOCAL", project.id)["cores"] == wanted["cores"]
    code, plan = govcloud(capsys, "tenants", "plan", "--json")
    assert plan["empty"]
