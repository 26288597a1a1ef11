"""Nova per-project APIs over HTTP with openstacksdk: quota sets, limits, keypairs, server
groups, flavors (access, extra specs, microversion fields), version documents."""

from __future__ import annotations

import base64
import hashlib
import struct

import requests

from tests.sim.nova import raw


def test_version_documents_need_no_token(sim):
    root = requests.get(f"{sim.base_url}/PROD/compute/", timeout=10).json()
    by_id = {v["id"]: v for v in root["versions"]}
    assert by_id["v2.1"]["min_version"] == "2.1" and by_id["v2.1"]["version"] == "2.96"
    assert by_id["v2.0"]["status"] == "SUPPORTED"
    doc = requests.get(f"{sim.base_url}/PROD/compute/v2.1", timeout=10).json()["version"]
    assert doc["id"] == "v2.1" and doc["status"] == "CURRENT"
    assert doc["links"][0]["href"].endswith("/PROD/compute/v2.1/")
    conn = sim.connect()
    assert conn.compute.get_endpoint_data().max_microversion == (2, 96)


def test_quota_set_show_detail_update_defaults_revert(sim):
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    pid = sim.cloud.project_by_name("gd-psd").id
    shown = raw(admin, "get", f"/os-quota-sets/{pid}").json()["quota_set"]
    assert shown["id"] == pid and shown["cores"] == region.compute_quota(pid)["cores"]
    assert "fixed_ips" not in shown and "injected_files" not in shown
    old = raw(admin, "get", f"/os-quota-sets/{pid}", mv="2.35").json()["quota_set"]
    assert {"fixed_ips", "floating_ips", "security_groups", "injected_files"} <= set(old)
    detail = admin.compute.get_quota_set(pid, usage=True)
    assert detail.usage["instances"] == region.usage[pid].instances
    assert detail.usage["cores"] == region.usage[pid].cores

    updated = admin.compute.update_quota_set(pid, key_pairs=123, cores=5000)
    assert updated.key_pairs == 123 and updated.cores == 5000
    defaults = admin.compute.get_quota_set_defaults(pid)
    assert defaults.key_pairs == region.compute_quota_defaults["key_pairs"]
    admin.compute.revert_quota_set(pid)
    assert admin.compute.get_quota_set(pid).key_pairs == region.compute_quota_defaults[
        "key_pairs"]


def test_quota_update_validation(sim):
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    pid = sim.cloud.project_by_name("gd-psd").id
    resp = raw(admin, "put", f"/os-quota-sets/{pid}", json={"quota_set": {"cores": -2}})
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid input for field/attribute cores. Value: -2. -2 is less than the minimum "
        "of -1")
    used = region.usage[pid].cores
    resp = raw(admin, "put", f"/os-quota-sets/{pid}", json={"quota_set": {"cores": 1}})
    assert resp.json()["badRequest"]["message"] == (
        f"Quota limit 1 for cores must be greater than or equal to already used and "
        f"reserved {used}.")
    forced = raw(admin, "put", f"/os-quota-sets/{pid}",
                 json={"quota_set": {"cores": 1, "force": True}})
    assert forced.status_code == 200 and forced.json()["quota_set"]["cores"] == 1
    resp = raw(admin, "put", f"/os-quota-sets/{pid}",
               json={"quota_set": {"fixed_ips": 10}})
    assert resp.status_code == 400  # removed at 2.36
    assert raw(admin, "put", f"/os-quota-sets/{pid}", mv="2.35",
               json={"quota_set": {"fixed_ips": 10}}).status_code == 200
    bogus = raw(admin, "get", "/os-quota-sets/not-a-project")
    assert bogus.status_code == 400
    user = sim.connect("govcloud-sim-gd-tax")
    assert raw(user, "get", f"/os-quota-sets/{pid}").status_code == 403
    assert raw(user, "put", f"/os-quota-sets/{pid}",
               json={"quota_set": {"cores": 9}}).status_code == 403


def test_limits_for_own_and_other_project(sim):
    region = sim.cloud.regions["PROD"]
    pid = sim.cloud.project_by_name("gd-psd").id
    user = sim.connect("govcloud-sim-gd-psd")
    limits = user.compute.get_limits()
    assert limits.absolute.total_cores_used == region.usage[pid].cores
    assert limits.absolute.instances == region.compute_quota(pid)["instances"]
    body = raw(user, "get", "/limits").json()["limits"]
    assert body["rate"] == []
    assert "maxPersonality" not in body["absolute"]
    assert "maxSecurityGroups" not in body["absolute"]
    assert body["absolute"]["maxServerMeta"] == 128
    denied = raw(user, "get", f"/limits?tenant_id={pid}")
    assert denied.status_code == 403
    admin = sim.connect()
    other = raw(admin, "get", f"/limits?tenant_id={pid}").json()["limits"]["absolute"]
    assert other["totalInstancesUsed"] == region.usage[pid].instances


def test_keypairs_generate_import_and_validate(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    made = user.compute.create_keypair(name="generated")
    assert made.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    blob = base64.b64decode(made.public_key.split()[1])
    assert blob.startswith(struct.pack(">I", 7) + b"ssh-rsa")
    digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - the fingerprint nova shows
    assert made.fingerprint == ":".join(digest[i:i + 2] for i in range(0, 32, 2))
    imported = user.compute.create_keypair(name="imported", public_key=made.public_key)
    assert imported.private_key is None and imported.fingerprint == made.fingerprint
    assert {k.name for k in user.compute.keypairs()} == {"generated", "imported"}
    shown = user.compute.get_keypair("imported")
    assert shown.type == "ssh" and shown.user_id
    dup = raw(user, "post", "/os-keypairs", json={"keypair": {"name": "imported",
                                                              "public_key": made.public_key}})
    assert dup.status_code == 409
    assert dup.json()["conflictingRequest"]["message"] == "Key pair 'imported' already exists."
    need_key = raw(user, "post", "/os-keypairs", json={"keypair": {"name": "x"}})
    assert need_key.status_code == 400  # 2.92+ requires public_key
    junk = raw(user, "post", "/os-keypairs",
               json={"keypair": {"name": "x", "public_key": "ssh-rsa not-base64!"}})
    assert junk.json()["badRequest"]["message"] == (
        "Keypair data is invalid: failed to generate fingerprint")
    user.compute.delete_keypair("imported")
    missing = raw(user, "get", "/os-keypairs/imported")
    assert missing.status_code == 404
    # another user's keypairs need admin
    other = sim.cloud.user_by_name("gd-tax-ops").id
    assert raw(user, "get", f"/os-keypairs?user_id={other}").status_code == 403
    admin = sim.connect()
    theirs = admin.compute.create_keypair(name="for-them", user_id=other,
                                          public_key=made.public_key)
    assert admin.compute.get_keypair("for-them", user_id=other).user_id == other
    assert theirs.name == "for-them"


def test_server_groups_by_microversion_and_quota(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    new = raw(user, "post", "/os-server-groups",
              json={"server_group": {"name": "g1", "policy": "anti-affinity",
                                     "rules": {"max_server_per_host": 1}}}).json()
    group = new["server_group"]
    assert group["policy"] == "anti-affinity" and group["rules"] == {"max_server_per_host": 1}
    assert "policies" not in group
    old = raw(user, "get", f"/os-server-groups/{group['id']}", mv="2.63").json()
    assert old["server_group"]["policies"] == ["anti-affinity"]
    assert "policy" not in old["server_group"]
    bad = raw(user, "post", "/os-server-groups",
              json={"server_group": {"name": "g2", "policy": "affinity",
                                     "rules": {"max_server_per_host": 1}}})
    assert bad.status_code == 400
    assert [g.id for g in user.compute.server_groups()] == [group["id"]]
    region = sim.cloud.regions["PROD"]
    pid = sim.cloud.project_by_name("gd-psd").id
    for i in range(region.compute_quota(pid)["server_groups"] - 1):
        user.compute.create_server_group(name=f"more-{i}", policy="affinity")
    over = raw(user, "post", "/os-server-groups",
               json={"server_group": {"name": "one-too-many", "policy": "affinity"}})
    assert over.status_code == 403
    assert over.json()["forbidden"]["message"] == "Quota exceeded, too many server groups."
    other = sim.connect("govcloud-sim-gd-tax")
    assert raw(other, "get", f"/os-server-groups/{group['id']}").status_code == 404
    user.compute.delete_server_group(group["id"])
    assert raw(user, "get", f"/os-server-groups/{group['id']}").status_code == 404


def test_flavor_fields_by_microversion(sim):
    conn = sim.connect()
    fid = next(iter(sim.cloud.regions["PROD"].flavors))
    old = raw(conn, "get", f"/flavors/{fid}", mv="2.1").json()["flavor"]
    assert old["swap"] == "" and "description" not in old and "extra_specs" not in old
    assert old["os-flavor-access:is_public"] is True
    assert old["OS-FLV-EXT-DATA:ephemeral"] == 0 and old["OS-FLV-DISABLED:disabled"] is False
    new = raw(conn, "get", f"/flavors/{fid}").json()["flavor"]
    assert new["swap"] == 0 and "description" in new and new["extra_specs"] == {}
    brief = raw(conn, "get", "/flavors").json()["flavors"][0]
    assert set(brief) == {"id", "name", "links", "description"}
    limited = raw(conn, "get", "/flavors?limit=2").json()
    assert len(limited["flavors"]) == 2 and limited["flavors_links"]
    assert raw(conn, "get", "/flavors?marker=nope").status_code == 400
    small = list(conn.compute.flavors(min_ram=32768))
    assert small and all(f.ram >= 32768 for f in small)


def test_private_flavor_access_and_extra_specs(sim):
    admin = sim.connect()
    user = sim.connect("govcloud-sim-gd-psd")
    pid = sim.cloud.project_by_name("gd-psd").id
    flavor = admin.compute.create_flavor(name="secret", ram=512, vcpus=1, disk=1,
                                         is_public=False)
    assert user.compute.find_flavor("secret", ignore_missing=True) is None
    assert raw(user, "get", f"/flavors/{flavor.id}").status_code == 404
    admin.compute.flavor_add_tenant_access(flavor.id, pid)
    assert user.compute.find_flavor("secret", ignore_missing=False).id == flavor.id
    access = raw(admin, "get", f"/flavors/{flavor.id}/os-flavor-access").json()
    assert access == {"flavor_access": [{"flavor_id": flavor.id, "tenant_id": pid}]}
    dup = raw(admin, "post", f"/flavors/{flavor.id}/action",
              json={"addTenantAccess": {"tenant": pid}})
    assert dup.status_code == 409
    admin.compute.flavor_remove_tenant_access(flavor.id, pid)
    assert user.compute.find_flavor("secret", ignore_missing=True) is None

    admin.compute.create_flavor_extra_specs(flavor, {"hw:cpu_policy": "dedicated"})
    admin.compute.update_flavor_extra_specs_property(flavor, "trait:CUSTOM_X", "required")
    assert admin.compute.fetch_flavor_extra_specs(flavor).extra_specs == {
        "hw:cpu_policy": "dedicated", "trait:CUSTOM_X": "required"}
    admin.compute.delete_flavor_extra_specs_property(flavor, "trait:CUSTOM_X")
    gone = raw(admin, "get", f"/flavors/{flavor.id}/os-extra_specs/trait:CUSTOM_X")
    assert gone.status_code == 404
    denied = raw(user, "post", "/flavors", json={"flavor": {"name": "x", "ram": 1,
                                                            "vcpus": 1, "disk": 1}})
    assert denied.status_code == 403
    admin.compute.delete_flavor(flavor)
    assert raw(admin, "get", f"/flavors/{flavor.id}").status_code == 404
