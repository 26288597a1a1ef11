"""What the host-maintenance tests share: openstacksdk connections to the simulator from its
clouds.yaml (unmodified openstacksdk, over HTTP), an anti-affinity group booted as a
department's user, and waits on a server's status."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openstack.config
from openstack.connection import Connection

ADMIN = "govcloud-sim"
PSD = "govcloud-sim-gd-psd"


def sim_conn(clouds_yaml: Path, cloud: str = ADMIN, region: str = "PROD") -> Connection:
    config = openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)])
    return Connection(config=config.get_one(cloud=cloud, region_name=region))


def wait_status(conn: Connection, server_id: str, status: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = conn.compute.get_server(server_id)
        if got.status == status and not got.task_state:
            return got
        assert time.monotonic() < deadline, f"{server_id} still {got.status}, not {status}"
        time.sleep(0.05)


def anti_affinity_group(clouds_yaml: Path, region: Any, name: str, count: int
                        ) -> tuple[str, list[str]]:
    """An anti-affinity group of ``count`` gd-psd servers booted ACTIVE (one per host, as
    Nova places them): (group id, member ids)."""
    admin, user = sim_conn(clouds_yaml), sim_conn(clouds_yaml, PSD)
    pid = next(p.id for p in admin.identity.projects() if p.name == "gd-psd")
    admin.compute.update_quota_set(pid, instances=200, cores=1000, ram=10 ** 7,
                                   server_groups=20, server_group_members=50)
    flavor = next(f for f in region.flavors.values() if f.name == "gc.c1m2")
    image = next(i for i in region.images.values() if i.name.startswith("cirros"))
    group = user.compute.create_server_group(name=name, policy="anti-affinity")
    made = [user.compute.create_server(name=f"{name}-{i}", flavor_id=flavor.id,
                                       image_id=image.id, networks="none",
                                       scheduler_hints={"group": group.id})
            for i in range(count)]
    for m in made:
        wait_status(admin, m.id, "ACTIVE")
    return str(group.id), [str(m.id) for m in made]


def schedulable(region: Any) -> list[str]:
    return sorted(h.hostname for h in region.hypervisors.values()
                  if h.service.is_up and h.service.status == "enabled")


def placement_of(region: Any, server_id: str) -> dict[str, dict[str, int]]:
    """{provider uuid: resources} the server's Placement consumer holds (read from the
    simulator: what Placement answers)."""
    c = region.consumers.get(server_id)
    return {} if c is None else {rp: dict(r) for rp, r in c.allocations.items()}
