"""The idempotency-key lookup a restarted provisioning worker adopts servers by, against the
simulator over real HTTP: a server an earlier attempt created is found by its key — and only
by its own key, not by the same request number's key of another installation. (The whole
story, a real SIGKILL between create and record, is
tests/integration/control/test_provision_crash.py; this is its fast guard in the mutation
gate, docs/testing.md.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from govcloud.cloud import provision as cloud
from govcloud.cloud.connect import connect
from govcloud.domain.provisioning import Installation, idempotency_key
from govcloud.domain.sites import default_sites
from govcloud.sim.server import RunningSimulator

SITE = next(s for s in default_sites() if s.name == "PROD")
HERE, ELSEWHERE = Installation("00000000a001"), Installation("00000000b002")


def test_a_server_is_found_by_its_idempotency_key_and_only_by_it(
        sim: tuple[RunningSimulator, Path]) -> None:
    _, clouds = sim
    admin = connect(SITE, clouds_yaml=clouds)
    identity: Any = admin.identity
    project = next(p for p in identity.projects() if p.name.startswith("gd-"))
    pconn = cloud.project_connection(admin, "PROD", project.id)
    refs = cloud.resolve(pconn, "PROD", flavor="gc.c2m4", image="cirros-0.6.2-x86_64-disk",
                         network="prod-net")
    key = idempotency_key(7001, "PROD", 1, installation=HERE)
    other = idempotency_key(7001, "PROD", 2, installation=HERE)
    # the same request number and server in another installation sharing the cloud
    theirs = idempotency_key(7001, "PROD", 1, installation=ELSEWHERE)
    assert cloud.find_by_key(pconn, "PROD", key) is None  # nothing created yet
    made = cloud.create_server(pconn, "PROD", name="adopt-me", refs=refs, key=key,
                               request_id=7001, ordinal=1, group_id=None)
    found = cloud.find_by_key(pconn, "PROD", key)
    assert found is not None and found.id == made  # what a restarted worker adopts
    assert cloud.find_by_key(pconn, "PROD", other) is None  # another server's key: none
    assert cloud.find_by_key(pconn, "PROD", theirs) is None  # another installation's: none
    # a server tagged with the key but whose metadata names another key is not adopted
    pconn.compute.create_server(name="lookalike", flavor_id=refs.flavor_id,
                                image_id=refs.image_id, networks=[{"uuid": refs.network_id}],
                                tags=[other], metadata={"govcloud_key": "someone-else"})
    assert cloud.find_by_key(pconn, "PROD", other) is None
