"""The simulator held to the real cloud: one script of openstacksdk calls — the reads and writes
govcloud makes, and their error cases (bad flavor, over quota, bad marker, stale Placement
generation, not found, forbidden) — runs against the real cloud and against the simulator, and
each call's observation is compared: HTTP status, the set of response fields at the requested
microversion, the error body's shape, and pagination (a ``next`` link on a short page, the
marker honoured). A difference is either fixed in the simulator or listed in ``KNOWN`` with its
reason (and in docs/simulator.md); a listed difference that no longer shows fails too, so the
list stays true.

Requests carry explicit microversions: compute 2.93 (the newest the real cloud offers, which
govcloud negotiates with it) and 2.87/2.88 around the hypervisor change, Placement 1.39.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openstack
import pytest

from govcloud.sim.clouds import ADMIN_CLOUD
from govcloud.sim.server import start

from . import cloud
from .conftest import RealCloud

COMPUTE = "2.93"
PLACEMENT = "1.39"
SIM_MEMBER = f"{ADMIN_CLOUD}-gd-psd"  # a department's own user: role member, no admin

# call → why the simulator differs from the real cloud there (mirrored in docs/simulator.md)
KNOWN: dict[str, str] = {
    "compute version document": "the simulator speaks compute up to 2.96 (nova 2024.x); the "
                                "real target is Debian's Zed (2.93)",
}


@dataclass
class Target:
    name: str
    admin: Any  # openstacksdk Connection, region PROD
    member: Any  # a plain member of its own project, region PROD
    member_project: str
    image: str
    network: str

    @property
    def flavor(self) -> Any:
        return next(iter(self.admin.compute.flavors()))


def observe(resp: Any) -> dict[str, Any]:
    """What is compared of one response."""
    out: dict[str, Any] = {"status": resp.status_code}
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code >= 400:
        out["error"] = shape(body)
    elif isinstance(body, dict):
        out["fields"] = sorted(body)
        for key, value in body.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                out[f"{key}[]"] = sorted(value[0])
            elif isinstance(value, dict) and key not in ("inventories", "usages", "links"):
                out[f"{key}{{}}"] = sorted(value)
    return out


def shape(body: Any) -> Any:
    """An error body's shape: its keys, one level down (Nova: ``{"itemNotFound": {"code",
    "message"}}``, Placement: ``{"errors": [{"status", "title", ...}]}``, Keystone: ``{"error":
    {...}}``, Neutron: ``{"NeutronError": {...}}``)."""
    if not isinstance(body, dict):
        return type(body).__name__
    out = {}
    for key, value in body.items():
        if isinstance(value, dict):
            out[key] = sorted(value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            out[key] = [sorted(value[0])]
        else:
            out[key] = type(value).__name__
    return out


def get(proxy: Any, path: str, mv: str | None = None, **params: Any) -> Any:
    return proxy.get(path, params=params, microversion=mv, raise_exc=False)


# --- the script --------------------------------------------------------------------------------

def _servers_page(t: Target) -> dict[str, Any]:
    first = get(t.admin.compute, "/servers/detail", COMPUTE, all_tenants=1, limit=1)
    obs = observe(first)
    doc = first.json()
    obs["next link on a full page"] = any(
        link.get("rel") == "next" for link in doc.get("servers_links") or [])
    marker = doc["servers"][0]["id"]
    second = get(t.admin.compute, "/servers/detail", COMPUTE, all_tenants=1, limit=1,
                 marker=marker).json()
    obs["marker honoured"] = all(s["id"] != marker for s in second["servers"])
    return obs


def _hypervisors(mv: str) -> Callable[[Target], dict[str, Any]]:
    def call(t: Target) -> dict[str, Any]:
        resp = get(t.admin.compute, "/os-hypervisors/detail", mv, with_servers=True)
        obs = observe(resp)
        # a hypervisor without servers has no "servers" key: compare one that has them too
        items = resp.json()["hypervisors"]
        obs["hypervisors[]"] = sorted(set().union(*(set(h) - {"servers"} for h in items)))
        return obs
    return call


def _quota_detail(t: Target) -> dict[str, Any]:
    return observe(get(t.admin.compute, f"/os-quota-sets/{t.member_project}/detail", COMPUTE))


def _provider(t: Target) -> str:
    return str(get(t.admin.placement, "/resource_providers", PLACEMENT).json()[
        "resource_providers"][0]["uuid"])


def _stale_generation(t: Target) -> dict[str, Any]:
    rp = _provider(t)
    inv = get(t.admin.placement, f"/resource_providers/{rp}/inventories", PLACEMENT).json()
    body = {"resource_provider_generation": inv["resource_provider_generation"] - 1,
            "inventories": inv["inventories"]}
    resp = t.admin.placement.put(f"/resource_providers/{rp}/inventories", json=body,
                                 microversion=PLACEMENT, raise_exc=False)
    obs = observe(resp)
    obs["error code"] = resp.json()["errors"][0].get("code")
    return obs


def _create(conn: Any, t: Target, flavor: str, name: str) -> Any:
    body = {"server": {"name": name, "imageRef": t.image, "flavorRef": flavor,
                       "networks": "none"}}
    return conn.compute.post("/servers", json=body, microversion=COMPUTE, raise_exc=False)


def _bad_flavor(t: Target) -> dict[str, Any]:
    return observe(_create(t.admin, t, "no-such-flavor", "diff-bad-flavor"))


def _over_quota(t: Target) -> dict[str, Any]:
    """The member's instances quota set to what it already uses; one more server is refused."""
    path = f"/os-quota-sets/{t.member_project}"
    quota = t.admin.compute.get(f"{path}/detail", microversion=COMPUTE).json()["quota_set"]
    before, used = quota["instances"]["limit"], quota["instances"]["in_use"]
    put = t.admin.compute.put(path, json={"quota_set": {"instances": used}},
                              microversion=COMPUTE, raise_exc=False)
    assert put.status_code == 200, put.text
    try:
        resp = _create(t.member, t, t.flavor.id, "diff-over-quota")
    finally:
        t.admin.compute.put(path, json={"quota_set": {"instances": before}},
                            microversion=COMPUTE)
    obs = observe(resp)
    obs["message names the quota"] = "Quota exceeded for instances" in resp.text
    return obs


def _bad_marker(t: Target) -> dict[str, Any]:
    return observe(get(t.admin.compute, "/servers/detail", COMPUTE, all_tenants=1,
                       marker=str(uuid.uuid4())))


def _not_found(t: Target) -> dict[str, Any]:
    return observe(get(t.admin.compute, f"/servers/{uuid.uuid4()}", COMPUTE))


SCRIPT: dict[str, Callable[[Target], dict[str, Any]]] = {
    "compute version document": lambda t: {
        "max": get(t.admin.compute, "/", None).json()["version"]["version"]},
    "placement version document": lambda t: {
        "max": get(t.admin.placement, "/", None).json()["versions"][0]["max_version"]},
    "servers detail, paged": _servers_page,
    "compute services": lambda t: observe(get(t.admin.compute, "/os-services", COMPUTE)),
    "hypervisors detail at 2.53": _hypervisors("2.53"),
    "hypervisors detail at 2.87": _hypervisors("2.87"),
    "hypervisors detail at 2.88": _hypervisors("2.88"),
    "hypervisors detail at 2.93": _hypervisors(COMPUTE),
    "flavors detail": lambda t: observe(get(t.admin.compute, "/flavors/detail", COMPUTE)),
    "compute quota detail": _quota_detail,
    "resource providers": lambda t: observe(get(t.admin.placement, "/resource_providers",
                                                PLACEMENT)),
    "provider inventories": lambda t: observe(get(
        t.admin.placement, f"/resource_providers/{_provider(t)}/inventories", PLACEMENT)),
    "provider usages": lambda t: observe(get(
        t.admin.placement, f"/resource_providers/{_provider(t)}/usages", PLACEMENT)),
    "keystone projects": lambda t: observe(get(t.admin.identity, "/projects")),
    "volume quotas with usage": lambda t: observe(get(
        t.admin.block_storage, f"/os-quota-sets/{t.member_project}", None, usage="True")),
    "network quota details": lambda t: observe(get(
        t.admin.network, f"/quotas/{t.member_project}/details")),
    "error: bad flavor": _bad_flavor,
    "error: over quota": _over_quota,
    "error: bad marker": _bad_marker,
    "error: stale placement generation": _stale_generation,
    "error: server not found": _not_found,
    "error: project not found": lambda t: observe(get(t.admin.identity,
                                                      f"/projects/{uuid.uuid4().hex}")),
    "error: placement provider not found": lambda t: observe(get(
        t.admin.placement, f"/resource_providers/{uuid.uuid4()}", PLACEMENT)),
    "error: forbidden hypervisors": lambda t: observe(get(t.member.compute,
                                                          "/os-hypervisors/detail", COMPUTE)),
    "error: forbidden other project's quotas": lambda t: observe(get(
        t.member.compute, f"/os-quota-sets/{t.admin.current_project_id}", COMPUTE)),
}


def run_script(t: Target) -> dict[str, dict[str, Any]]:
    return {name: call(t) for name, call in SCRIPT.items()}


# --- the two targets ---------------------------------------------------------------------------

def _connection(clouds_yaml: Path, name: str) -> Any:
    config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)])
    return openstack.connection.Connection(config=config.get_one(cloud=name,
                                                                 region_name="PROD"))


def _one_server(conn: Any, t: Target) -> None:
    """At least two servers, so the one-per-page listing has a next page."""
    while len(list(conn.compute.servers(all_projects=True))) < 2:
        server = conn.compute.create_server(
            name="diff-server", flavor_id=t.flavor.id, image_id=t.image,
            networks=[{"uuid": t.network}])
        conn.compute.wait_for_server(server, wait=120)


@pytest.fixture(scope="module")
def real_target(real: RealCloud) -> Target:
    admin = _connection(real.clouds_yaml, cloud.CLOUD)
    member = _connection(real.clouds_yaml, cloud.MEMBER_CLOUD)
    t = Target(name="real", admin=admin, member=member,
               member_project=member.current_project_id,
               image=admin.image.find_image(cloud.IMAGE).id,
               network=admin.network.find_network(cloud.NETWORK).id)
    _one_server(admin, t)
    return t


@pytest.fixture(scope="module")
def sim_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    clouds_yaml = tmp_path_factory.mktemp("sim") / "clouds.yaml"
    running = start(scale="small", seed=42, clouds_yaml=clouds_yaml, build_delay=0.1)
    try:
        admin = _connection(clouds_yaml, ADMIN_CLOUD)
        member = _connection(clouds_yaml, SIM_MEMBER)
        image = next(iter(admin.image.images()))
        network = next(iter(admin.network.networks()))
        t = Target(name="sim", admin=admin, member=member,
                   member_project=member.current_project_id, image=image.id,
                   network=network.id)
        _one_server(admin, t)
        yield t
    finally:
        running.stop()


def test_the_simulator_answers_like_the_real_cloud(real_target: Target,
                                                   sim_target: Target) -> None:
    real, sim = run_script(real_target), run_script(sim_target)
    differences = {name: {"real": real[name], "sim": sim[name]} for name in SCRIPT
                   if real[name] != sim[name]}
    unexplained = {k: v for k, v in differences.items() if k not in KNOWN}
    assert not unexplained, "\n".join(f"{k}:\n  real {v['real']}\n  sim  {v['sim']}"
                                      for k, v in unexplained.items())
    gone = set(KNOWN) - set(differences)
    assert not gone, f"listed as different but now the same (update KNOWN): {sorted(gone)}"


def test_hypervisor_capacity_fields_vanish_at_2_88_on_both(real_target: Target,
                                                           sim_target: Target) -> None:
    capacity = {"vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
                "local_gb_used", "free_ram_mb", "free_disk_gb", "running_vms"}
    for t in (real_target, sim_target):
        before = set(_hypervisors("2.87")(t)["hypervisors[]"])
        after = set(_hypervisors("2.88")(t)["hypervisors[]"])
        assert capacity <= before, (t.name, capacity - before)
        assert not capacity & after, (t.name, capacity & after)
