"""Tenancy against the simulator over real HTTP, through govcloud's own adapter: apply the
catalogue in all three sites, idempotence, drift made by hand, refusals below usage, malformed
catalogue files, a new department, one department's view, and a site that is down."""

from __future__ import annotations

import dataclasses
import json
import shutil
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import openstack
import pytest

from govcloud.cloud.connect import connect
from govcloud.cloud.tenancy import SiteConnection
from govcloud.domain.catalogue import QUOTA_FIELDS, Catalogue, CatalogueError, SiteQuota
from govcloud.domain.sites import default_sites
from govcloud.errors import GovCloudError, TemporaryError
from govcloud.services.catalogue import load_catalogue
from govcloud.services.tenancy import (
    TenancyRefused,
    apply_tenancy,
    department_view,
    plan_tenancy,
)
from govcloud.sim.server import RunningSimulator, start

TENANTS = Path(__file__).resolve().parents[2] / "tenants"
SMALL = ("gd-psd", "gd-tax", "gd-hrss", "gd-edu", "gd-agri", "gd-data", "guangzhou", "shenzhen",
         "shantou")
SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")


@dataclasses.dataclass
class Cloud:
    running: RunningSimulator
    clouds_yaml: Path
    connections: dict[str, SiteConnection]

    def sdk(self, region: str) -> openstack.connection.Connection:
        """A plain openstacksdk admin connection, for changes made "by hand"."""
        config = openstack.config.OpenStackConfig(config_files=[str(self.clouds_yaml)])
        return openstack.connection.Connection(
            config=config.get_one(cloud="govcloud-sim", region_name=region))

    def control(self, path: str) -> None:
        req = urllib.request.Request(self.running.base_url + "/_sim" + path, method="POST",
                                     data=b"{}", headers={"Content-Type": "application/json"})
        json.loads(urllib.request.urlopen(req, timeout=10).read())


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    clouds_yaml = tmp_path / "clouds.yaml"
    running = start(scale="small", seed=42, clouds_yaml=clouds_yaml, build_delay=0.2)
    connections = {s.name: connect(s, clouds_yaml=clouds_yaml) for s in default_sites()}
    try:
        yield Cloud(running, clouds_yaml, connections)
    finally:
        for conn in connections.values():
            conn.close()
        running.stop()


@pytest.fixture(scope="module")
def full_catalogue() -> Catalogue:
    return load_catalogue(TENANTS)


@pytest.fixture
def catalogue(full_catalogue: Catalogue) -> Catalogue:
    return full_catalogue.only(SMALL)


class AuditLog:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, Mapping[str, Any] | None, Mapping[str, Any] | None]] = []

    def __call__(self, action: str, target: str, before: Mapping[str, Any] | None,
                 after: Mapping[str, Any] | None) -> None:
        self.entries.append((action, target, before, after))


def quotas_in_cloud(cloud: Cloud) -> dict[tuple[str, str], dict[str, int]]:
    """Every department project's quotas in every region, read with plain openstacksdk."""
    out = {}
    for region in SITES:
        conn = cloud.sdk(region)
        for project in conn.identity.projects():
            if project.name in ("admin", "service", "demo", "alt_demo"):
                continue
            nova = conn.compute.get_quota_set(project.id)
            cinder = conn.block_storage.get_quota_set(project.id)
            neutron = conn.network.get_quota(project.id)
            out[(region, project.name)] = {
                "cores": nova.cores, "ram_mb": nova.ram, "instances": nova.instances,
                "volumes": cinder.volumes, "gigabytes": cinder.gigabytes,
                "ports": neutron.ports, "server_groups": nova.server_groups,
                "server_group_members": nova.server_group_members}
    return out


def test_apply_sets_every_quota_in_all_three_sites(cloud: Cloud, catalogue: Catalogue) -> None:
    audit = AuditLog()
    result = apply_tenancy(catalogue, connections=cloud.connections, audit=audit)
    assert result.changed
    per_site = result.per_site()
    assert list(per_site) == list(SITES)
    for site in SITES:  # the seed's quotas differ from the catalogue's in every site
        assert per_site[site]["tenancy.quota.set"] == len(SMALL)
    assert "applied:" in result.summary()
    # the cloud now holds the catalogue, zero where a department has no allocation
    held = quotas_in_cloud(cloud)
    for d in catalogue:
        for site in SITES:
            assert held[(site, d.code)] == d.quota(site).as_dict(), (site, d.code)
    assert held[("DR-LOCAL", "gd-agri")] == SiteQuota().as_dict()  # DR level 3, no standby
    # one audit entry per change, after it was made
    assert len(audit.entries) == len(result.changes)
    action, target, before, after = audit.entries[0]
    assert action in ("tenancy.quota.set", "tenancy.project.update")
    assert target.startswith("department:") and "@" in target
    assert before is not None and after is not None and before != after
    # the projects are tagged with their department, and their record per site
    project = cloud.sdk("PROD").identity.find_project("gd-psd")
    assert {"dept:gd-psd", "managed-by:govcloud"} <= set(project.tags)
    assert {t.split(":")[1] for t in project.tags if t.startswith("quota:")} == set(SITES)


def test_a_second_apply_changes_nothing(cloud: Cloud, catalogue: Catalogue) -> None:
    apply_tenancy(catalogue, connections=cloud.connections)
    held = quotas_in_cloud(cloud)
    audit = AuditLog()
    again = apply_tenancy(catalogue, connections=cloud.connections, audit=audit)
    assert not again.changed and audit.entries == []
    assert again.summary() == ("no changes: 9 departments already match the catalogue in "
                               "3 sites")
    assert again.per_site() == {s: {} for s in SITES}
    plan = plan_tenancy(catalogue, connections=cloud.connections)
    assert plan.empty and plan.summary().startswith("no changes")
    assert quotas_in_cloud(cloud) == held


def test_a_quota_changed_by_hand_shows_as_drift(cloud: Cloud, catalogue: Catalogue) -> None:
    apply_tenancy(catalogue, connections=cloud.connections)
    dr = cloud.sdk("DR-LOCAL")
    project = dr.identity.find_project("gd-tax")
    dr.compute.update_quota_set(project.id, cores=12345)
    dr.network.update_quota(project.id, ports=777)
    plan = plan_tenancy(catalogue, connections=cloud.connections)
    assert plan.has_drift
    assert plan.site("PROD").empty and plan.site("DR-REMOTE").empty
    local = plan.site("DR-LOCAL")
    wanted = catalogue.get("gd-tax").quota("DR-LOCAL")
    assert {(d.code, d.field, d.applied, d.actual) for d in local.drift} == {
        ("gd-tax", "cores", wanted.cores, 12345), ("gd-tax", "ports", wanted.ports, 777)}
    assert {(c.field, c.current, c.desired) for c in local.quota_changes} == {
        ("cores", 12345, wanted.cores), ("ports", 777, wanted.ports)}
    # apply puts the catalogue back, and the drift is gone
    result = apply_tenancy(catalogue, connections=cloud.connections)
    assert [(c.site, c.code, c.action) for c in result.changes] == [
        ("DR-LOCAL", "gd-tax", "tenancy.quota.set")]
    assert plan_tenancy(catalogue, connections=cloud.connections).empty


def test_a_quota_below_usage_is_refused_and_nothing_changes(cloud: Cloud,
                                                            catalogue: Catalogue) -> None:
    before = quotas_in_cloud(cloud)
    psd = catalogue.get("gd-psd")
    tight = dataclasses.replace(psd, quotas={**psd.quotas, "PROD": dataclasses.replace(
        psd.quota("PROD"), cores=1)})
    changed = Catalogue(tuple(tight if d.code == "gd-psd" else d for d in catalogue))
    plan = plan_tenancy(changed, connections=cloud.connections)
    [refusal] = plan.site("PROD").refusals
    assert (refusal.code, refusal.field, refusal.desired) == ("gd-psd", "cores", 1)
    used = cloud.sdk("PROD").compute.get_quota_set(
        cloud.sdk("PROD").identity.find_project("gd-psd").id, usage=True).usage["cores"]
    assert refusal.in_use == used > 1
    audit = AuditLog()
    with pytest.raises(TenancyRefused) as caught:
        apply_tenancy(changed, connections=cloud.connections, audit=audit)
    assert f"below current usage {used}" in caught.value.message
    assert "nothing was changed" in caught.value.message
    assert caught.value.exit_code == 2
    assert audit.entries == []
    assert quotas_in_cloud(cloud) == before  # no other department was touched either


def apply_directory(directory: Path, cloud: Cloud) -> None:
    """What `govcloud tenants apply` does: load the catalogue, then apply it."""
    apply_tenancy(load_catalogue(directory).only(SMALL), connections=cloud.connections)


@pytest.mark.parametrize("breakage, file, field, words", [
    (("gd-psd.yaml", "dr_level: 6", "dr_level: [6"), "gd-psd.yaml", "", "not valid YAML"),
    (("gd-tax.yaml", "kind: vertical", "kind: agency"), "gd-tax.yaml", "kind", "not allowed"),
    (("shantou.yaml", "  DR-LOCAL:", "  DR-LOKAL:"), "shantou.yaml", "quotas.DR-LOKAL",
     "unknown site"),
])
def test_a_malformed_catalogue_is_reported_and_nothing_applied(
        cloud: Cloud, tmp_path: Path, breakage: tuple[str, str, str], file: str, field: str,
        words: str) -> None:
    folder = tmp_path / "tenants"
    shutil.copytree(TENANTS, folder, ignore=shutil.ignore_patterns("*.py", "*.md"))
    name, old, new = breakage
    text = (folder / name).read_text(encoding="utf-8")
    (folder / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    before = quotas_in_cloud(cloud)
    with pytest.raises(CatalogueError) as caught:
        apply_directory(folder, cloud)
    [problem] = caught.value.problems
    assert Path(problem.source).name == file and problem.field == field
    assert words in problem.message and problem.hint
    assert f"{file}: {field}" in caught.value.message if field else file in caught.value.message
    assert quotas_in_cloud(cloud) == before


def test_a_new_department_gets_one_project_in_the_shared_keystone(
        cloud: Cloud, full_catalogue: Catalogue) -> None:
    catalogue = full_catalogue.only([*SMALL, "gd-fire", "zhuhai"])
    audit = AuditLog()
    result = apply_tenancy(catalogue, connections=cloud.connections, audit=audit)
    created = [c for c in result.changes if c.action == "tenancy.project.create"]
    assert sorted(c.code for c in created) == ["gd-fire", "zhuhai"]
    assert {c.site for c in created} == {"PROD"}  # once, not once per site
    identity = cloud.sdk("PROD").identity
    fire = identity.find_project("gd-fire")
    assert fire.description == "广东省消防救援总队 Fire and Rescue Corps"
    assert {"dept:gd-fire", "managed-by:govcloud"} <= set(fire.tags)
    held = quotas_in_cloud(cloud)
    for site in SITES:
        assert held[(site, "gd-fire")] == catalogue.get("gd-fire").quota(site).as_dict()
        assert held[(site, "zhuhai")] == catalogue.get("zhuhai").quota(site).as_dict()
    assert ("tenancy.project.create", "department:gd-fire@PROD") in [
        (a, t) for a, t, _, _ in audit.entries]
    assert not apply_tenancy(catalogue, connections=cloud.connections).changed


def test_department_view_across_the_three_sites(cloud: Cloud, catalogue: Catalogue) -> None:
    apply_tenancy(catalogue, connections=cloud.connections)
    view = department_view("gd-psd", catalogue=catalogue, connections=cloud.connections)
    assert [s.site for s in view.sites] == list(SITES)
    sim = cloud.running.sim.cloud
    project_id = next(p.id for p in sim.projects.values() if p.name == "gd-psd")
    for s in view.sites:
        assert s.error is None and s.project_id == project_id and s.in_sync is True
        region = sim.regions[s.site]
        servers = [v for v in region.servers.values() if v.project_id == project_id]
        assert s.servers == len(servers) > 0
        statuses: dict[str, int] = {}
        for v in servers:
            statuses[v.status] = statuses.get(v.status, 0) + 1
        assert dict(s.servers_by_status) == statuses
        assert s.quotas["instances"].in_use == len(servers)
        assert {n: f.limit for n, f in s.quotas.items()} == catalogue.get("gd-psd").quota(
            s.site).as_dict()
    doc = view.to_dict()
    assert doc["name_zh"] == "广东省公安厅" and len(doc["sites"]) == 3
    assert set(doc["sites"][0]["quotas"]) == set(QUOTA_FIELDS)


def test_a_site_that_is_down_stops_the_plan_and_the_apply(cloud: Cloud,
                                                          catalogue: Catalogue) -> None:
    before = quotas_in_cloud(cloud)
    cloud.control("/regions/DR-REMOTE/down")
    try:
        with pytest.raises(GovCloudError) as caught:
            plan_tenancy(catalogue, connections=cloud.connections)
        assert "DR-REMOTE" in caught.value.message
        assert isinstance(caught.value, TemporaryError) and caught.value.retryable
        with pytest.raises(TemporaryError):
            apply_tenancy(catalogue, connections=cloud.connections)
        view = department_view("gd-psd", catalogue=catalogue, connections=cloud.connections)
        assert [s.error is None for s in view.sites] == [True, True, False]
        assert view.sites[2].in_sync is None
    finally:
        cloud.control("/regions/DR-REMOTE/up")
    assert quotas_in_cloud(cloud) == before  # the other sites were not half-applied
