"""The `openstack` CLI (python-openstackclient, unmodified) against the simulator:
the commands operators use daily."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

OPENSTACK = shutil.which("openstack") or str(Path(sys.executable).with_name("openstack"))


def osc(sim, *args: str, cloud: str = "govcloud-sim", region: str = "PROD",
        json_output: bool = True) -> object:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml), "OS_CLOUD": cloud,
           "OS_REGION_NAME": region}
    fmt = ["-f", "json"] if json_output else []
    out = subprocess.run([OPENSTACK, *args, *fmt], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"openstack {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout) if out.stdout.strip() else None


@pytest.fixture
def env_ready(sim):
    if not Path(OPENSTACK).exists():
        pytest.fail("python-openstackclient is a test dependency and must be installed")
    return sim


def test_read_commands(env_ready):
    sim = env_ready
    servers = osc(sim, "server", "list", "--all-projects", "--long")
    assert len(servers) == len(sim.cloud.regions["PROD"].servers)
    assert {"ID", "Name", "Status", "Host"} <= set(servers[0])
    hypervisors = osc(sim, "hypervisor", "list", "--long")
    assert len(hypervisors) == len(sim.cloud.regions["PROD"].hypervisors)
    shown = osc(sim, "hypervisor", "show", hypervisors[0]["Hypervisor Hostname"])
    assert shown["hypervisor_hostname"] == hypervisors[0]["Hypervisor Hostname"]
    services = osc(sim, "compute", "service", "list")
    assert any(s["State"] == "down" for s in services)
    assert {s["Binary"] for s in services} >= {"nova-compute", "nova-scheduler"}
    quota = osc(sim, "quota", "show", "gd-psd")
    assert quota
    projects = osc(sim, "project", "list")
    assert "gd-psd" in {p["Name"] for p in projects}
    flavors = osc(sim, "flavor", "list")
    assert "gc.c2m4" in {f["Name"] for f in flavors}


def test_server_create_and_delete_wait(env_ready):
    sim = env_ready
    created = osc(sim, "server", "create", "--flavor", "gc.c1m2", "--image",
                  "cirros-0.6.2-x86_64-disk", "--network", "prod-net", "--wait",
                  "cli-made-01", cloud="govcloud-sim-gd-psd")
    assert created["status"] == "ACTIVE"
    assert created["name"] == "cli-made-01"
    osc(sim, "server", "delete", "--wait", created["id"], cloud="govcloud-sim-gd-psd",
        json_output=False)
    left = osc(sim, "server", "list", "--name", "cli-made-01", cloud="govcloud-sim-gd-psd")
    assert left == []


def test_other_regions_via_cli(env_ready):
    sim = env_ready
    for region in ("DR-LOCAL", "DR-REMOTE"):
        servers = osc(sim, "server", "list", "--all-projects", region=region)
        assert len(servers) == len(sim.cloud.regions[region].servers)


def test_role_assignment_list_with_names(env_ready):
    """`--names` needs every scope's name, a domain's too (Keystone's include_names)."""
    sim = env_ready
    rows = osc(sim, "role", "assignment", "list", "--names")
    cloud = sim.cloud
    assert len(rows) == len(cloud.assignments)
    domain_scoped = [a for a in cloud.assignments if a.domain_id]
    assert domain_scoped, "the seed has a domain-scoped assignment"
    domain_names = {cloud.domains[a.domain_id].name for a in domain_scoped}
    assert {r["Domain"] for r in rows if r["Domain"]} == domain_names
    assert any(r["Project"] == "gd-psd@Default" for r in rows)
    assert any(r["System"] == "all" for r in rows)
