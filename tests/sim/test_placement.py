"""Placement in the simulator, driven by unmodified openstacksdk over HTTP.

Placement is where govcloud reads capacity (as on a real cloud since compute 2.88), so these
tests check its figures against the simulator's own records and that Nova's placements show up
in it exactly.
"""

from __future__ import annotations

import json
import urllib.request
import uuid

import openstack.exceptions
import pytest


def _admin(sim, region: str = "PROD"):
    return sim.connect("govcloud-sim", region)


def _raw(conn, method: str, path: str, mv: str = "1.39", body: object = None):
    """A request through the SDK's own placement adapter, without raising on errors."""
    kwargs = {"microversion": mv, "raise_exc": False}
    if body is not None:
        kwargs["json"] = body
    return conn.placement.request(path, method, **kwargs)


def _expected_used(region, rp_name: str) -> dict[str, int]:
    used: dict[str, int] = {}
    for server in region.servers.values():
        if server.host != rp_name or server.id not in region.consumers:
            continue
        for rc, n in region.flavor_resources(server.flavor).items():
            used[rc] = used.get(rc, 0) + n
    return used


def test_version_document_needs_no_token(sim):
    with urllib.request.urlopen(sim.base_url + "/PROD/placement/", timeout=10) as resp:
        doc = json.loads(resp.read())
    (version,) = doc["versions"]
    assert version["id"] == "v1.0"
    assert (version["min_version"], version["max_version"]) == ("1.0", "1.39")
    assert version["status"] == "CURRENT"


def test_providers_inventories_and_usages_match_the_hosts(sim):
    conn = _admin(sim)
    region = sim.cloud.regions["PROD"]
    rps = list(conn.placement.resource_providers())
    assert {r.name for r in rps} == {h.hostname for h in region.hypervisors.values()}
    for rp in rps:
        assert rp.root_provider_id == rp.id and rp.parent_provider_id is None
        invs = {i.id: i for i in conn.placement.resource_provider_inventories(rp)}
        seeded = region.providers[rp.id].inventories
        assert set(invs) == {"VCPU", "MEMORY_MB", "DISK_GB"}
        for rc, inv in invs.items():
            assert (inv.total, inv.reserved, inv.allocation_ratio) == \
                (seeded[rc].total, seeded[rc].reserved, seeded[rc].allocation_ratio)
        usages = conn.placement.fetch_resource_provider_usages(rp).usages
        expected = _expected_used(region, rp.name)
        assert usages == {rc: expected.get(rc, 0) for rc in ("VCPU", "MEMORY_MB", "DISK_GB")}
        allocs = list(conn.placement.resource_provider_allocations(rp))
        assert {a.id for a in allocs} == {s.id for s in region.servers.values()
                                          if s.host == rp.name and s.id in region.consumers}


def test_resources_filter_returns_only_providers_with_room(sim):
    conn = _admin(sim)
    region = sim.cloud.regions["PROD"]

    def free(rp, rc):
        inv = rp.inventories[rc]
        return (inv.total - inv.reserved) * inv.allocation_ratio - rp.used.get(rc, 0)

    frees = sorted(free(rp, "MEMORY_MB") for rp in region.providers.values())
    ask = int(frees[len(frees) // 2])  # about half the hosts have this much RAM free
    got = {r.id for r in conn.placement.resource_providers(resources=f"MEMORY_MB:{ask}")}
    want = {rp.uuid for rp in region.providers.values() if free(rp, "MEMORY_MB") >= ask}
    assert got == want and 0 < len(got) < len(region.providers)
    resp = _raw(conn, "GET", "/resource_providers?resources=NOPE:1")
    assert resp.status_code == 400
    assert "No such resource class NOPE" in resp.json()["errors"][0]["detail"]


def test_server_created_by_nova_appears_in_placement_and_goes_away(sim):
    admin = _admin(sim)
    user = sim.connect("govcloud-sim-gd-psd")
    region = sim.cloud.regions["PROD"]
    flavor = next(f for f in region.flavors.values() if f.name == "gc.c2m4")
    image = next(i for i in region.images.values() if i.name.startswith("cirros"))
    net = next(iter(region.networks.values()))
    server = user.compute.create_server(name="placement-probe", flavor_id=flavor.id,
                                        image_id=image.id, networks=[{"uuid": net.id}])
    server = user.compute.wait_for_server(server, wait=30)
    host = region.servers[server.id].host
    rp = next(r for r in admin.placement.resource_providers(name=host))
    alloc = admin.placement.get_allocation(server.id)
    assert alloc.allocations == {rp.id: {"generation": rp.generation, "resources": {
        "VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 50}}}
    # Nova never gives Placement a consumer type: its servers are "unknown" (checked against
    # nova 26.2 / placement 8.0 by tests/realcloud/test_differential.py)
    assert alloc.project_id == server.project_id and alloc.consumer_type == "unknown"
    before = admin.placement.fetch_resource_provider_usages(rp).usages
    user.compute.delete_server(server)
    user.compute.wait_for_delete(server, wait=30)
    after = admin.placement.fetch_resource_provider_usages(rp).usages
    assert before["VCPU"] - after["VCPU"] == 2 and before["MEMORY_MB"] - after["MEMORY_MB"] == 4096
    assert admin.placement.get_allocation(server.id).allocations == {}


def test_provider_and_inventory_lifecycle_with_generations(sim):
    conn = _admin(sim)
    rc = f"CUSTOM_{uuid.uuid4().hex.upper()}"
    conn.placement.create_resource_class(name=rc)
    rp = conn.placement.create_resource_provider(name="probe-rp")
    assert rp.generation == 0
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.placement.create_resource_provider(name="probe-rp")
    inv = conn.placement.create_resource_provider_inventory(rp, resource_class=rc, total=10)
    assert inv.resource_provider_generation == 1 and inv.max_unit == 2147483647
    # a stale generation is a 409 placement.concurrent_update
    resp = _raw(conn, "PUT", f"/resource_providers/{rp.id}/inventories/{rc}",
                body={"resource_provider_generation": 0, "total": 20})
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.concurrent_update"
    # reserved above total is a 400
    resp = _raw(conn, "PUT", f"/resource_providers/{rp.id}/inventories/{rc}",
                body={"resource_provider_generation": 1, "total": 5, "reserved": 6})
    assert resp.status_code == 400
    assert "reserved value is greater than total" in resp.json()["errors"][0]["detail"]
    # allocate, then the provider and the used inventory cannot go away
    consumer = str(uuid.uuid4())
    conn.placement.update_allocation(consumer, allocations={rp.id: {"resources": {rc: 7}}},
                                     project_id=conn.current_project_id,
                                     user_id=conn.current_user_id, consumer_generation=None,
                                     consumer_type="MIGRATION")
    assert conn.placement.fetch_resource_provider_usages(rp).usages == {rc: 7}
    resp = _raw(conn, "DELETE", f"/resource_providers/{rp.id}")
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.resource_provider.inuse"
    current = conn.placement.get_resource_provider(rp.id)
    resp = _raw(conn, "PUT", f"/resource_providers/{rp.id}/inventories",
                body={"resource_provider_generation": current.generation, "inventories": {}})
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.inventory.inuse"
    # more than the capacity does not fit; the generation of the consumer is checked
    resp = _raw(conn, "PUT", f"/allocations/{consumer}", body={
        "allocations": {rp.id: {"resources": {rc: 11}}}, "project_id": "p", "user_id": "u",
        "consumer_generation": 1, "consumer_type": "MIGRATION"})
    assert resp.status_code == 409 and "exceed the capacity" in resp.text
    resp = _raw(conn, "PUT", f"/allocations/{consumer}", body={
        "allocations": {rp.id: {"resources": {rc: 3}}}, "project_id": "p", "user_id": "u",
        "consumer_generation": 5, "consumer_type": "MIGRATION"})
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "placement.concurrent_update"
    # 1.38 requires consumer_type
    resp = _raw(conn, "PUT", f"/allocations/{consumer}", body={
        "allocations": {rp.id: {"resources": {rc: 3}}}, "project_id": "p", "user_id": "u",
        "consumer_generation": 1})
    assert resp.status_code == 400 and "'consumer_type' is a required property" in resp.text
    usages = list(conn.placement.usages(project_id=conn.current_project_id))
    assert [(u.consumer_type, u.consumer_count, u.resources) for u in usages] == \
        [("MIGRATION", 1, {rc: 7})]
    conn.placement.delete_allocation(consumer)
    conn.placement.delete_resource_provider(rp)
    conn.placement.delete_resource_class(rc)
    assert [r.name for r in conn.placement.resource_providers(name="probe-rp")] == []


def test_traits_and_required_filter(sim):
    conn = _admin(sim)
    rps = list(conn.placement.resource_providers())
    conn.placement.create_trait("CUSTOM_GOV_SECURE")
    rp_trait = conn.placement.get_resource_provider_trait(rps[0])
    conn.placement.set_resource_provider_trait(
        rp_trait, traits=sorted(set(rp_trait.traits) | {"CUSTOM_GOV_SECURE"}),
        resource_provider_generation=rp_trait.resource_provider_generation)
    got = [r.id for r in conn.placement.resource_providers(required="CUSTOM_GOV_SECURE")]
    assert got == [rps[0].id]
    # forbidden traits ("!") came with 1.22; the SDK's provider listing speaks 1.20
    assert _raw(conn, "GET", "/resource_providers?required=!CUSTOM_GOV_SECURE",
                mv="1.20").status_code == 400
    resp = _raw(conn, "GET", "/resource_providers?required=!CUSTOM_GOV_SECURE", mv="1.22")
    assert {r["uuid"] for r in resp.json()["resource_providers"]} == {r.id for r in rps[1:]}
    resp = _raw(conn, "DELETE", "/traits/CUSTOM_GOV_SECURE")
    assert resp.status_code == 409  # still on a provider
    resp = _raw(conn, "PUT", "/traits/NOT_CUSTOM")
    assert resp.status_code == 400
    resp = _raw(conn, "DELETE", "/resource_classes/VCPU")
    assert resp.status_code == 400


def test_allocation_candidates_follow_free_capacity(sim):
    conn = _admin(sim)
    region = sim.cloud.regions["PROD"]
    cands = list(conn.placement.allocation_candidates(resources="VCPU:4,MEMORY_MB:8192"))
    assert cands
    for c in cands:
        (rp_uuid,) = c.allocations
        summary = c.provider_summaries[rp_uuid]["resources"]
        rp = region.providers[rp_uuid]
        assert summary["VCPU"]["used"] == rp.used["VCPU"]
        assert summary["VCPU"]["capacity"] == rp.inventories["VCPU"].capacity()


def test_errors_and_policy(sim):
    conn = _admin(sim)
    resp = _raw(conn, "GET", f"/resource_providers/{uuid.uuid4()}")
    assert resp.status_code == 404
    (err,) = resp.json()["errors"]
    assert err["status"] == 404 and err["title"] == "Not Found"
    assert err["code"] == "placement.undefined_code" and err["request_id"].startswith("req-")
    # fields appear per microversion
    rp = next(iter(sim.cloud.regions["PROD"].providers))
    assert "parent_provider_uuid" not in _raw(conn, "GET", f"/resource_providers/{rp}",
                                              mv="1.13").json()
    assert "root_provider_uuid" in _raw(conn, "GET", f"/resource_providers/{rp}",
                                        mv="1.14").json()
    resp = _raw(conn, "GET", "/resource_providers", mv="1.99")
    assert resp.status_code == 406
    # members of a project are not placement operators
    user = sim.connect("govcloud-sim-gd-psd")
    resp = user.placement.request("/resource_providers", "GET", raise_exc=False)
    assert resp.status_code == 403
    assert "placement:resource_providers:list" in resp.json()["errors"][0]["detail"]
