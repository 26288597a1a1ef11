"""DR tests (protection cycles, drills): the control plane over real HTTP on the simulator
(tests/integration/control), with the provisioning worker, the migration's SSH settings
(known_hosts, client key) and real sshd sandboxes backing the simulator's new servers
(tests/integration/migrate/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govcloud.client import ApiClient
from govcloud.cloud.connect import connect
from govcloud.domain.sites import default_sites
from govcloud.services.failover_state import FailoverContext
from govcloud.settings import load_settings
from tests.integration.migrate.conftest import (  # noqa: F401 - fixtures used by the tests
    Plane,
    cli_env,
    client_key,
    migrate_root,
    plane,
    plane_database,
    sandboxes,
    sandboxes_for,
    served,
)


@pytest.fixture(scope="module")
def plane_settings(migrate_root: Path, client_key: Path,  # noqa: F811
                   plane_database: str) -> dict[str, Any]:  # noqa: F811
    backend = plane_database.split(":", 1)[0].split("+", 1)[0]
    return {"migrate_dir": migrate_root / f"state-{backend}", "ssh_key": client_key,
            "ssh_timeout_s": 5.0, "migrate_python": "/usr/bin/python3",
            "migrate_stale_after_s": 2.0, "provision_retries": 2,
            "provision_backoff_s": 0.05, "provision_poll_s": 0.2,
            "provision_active_timeout_s": 30, "dr_protect_paths": ["/srv"],
            "dr_protect_timeout_s": 60.0,
            # a server whose console log shows no keys is given up on quickly
            "migrate_host_key_wait_s": 3.0}


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    from govcloud.workers.provision import start_provision_worker

    return start_provision_worker


@pytest.fixture(scope="module")
def ops(plane: Plane) -> ApiClient:  # noqa: F811
    """An operator of the module's plane, its tenancy applied and synced first."""
    plane.admin.post("/tenants/apply")
    assert plane.admin.post("/sync", {"full": True})["ok"]
    return plane.principal("operator")[1]


@pytest.fixture
def failover_ctx(plane: Plane, plane_settings: dict[str, Any],  # noqa: F811
                 plane_database: str) -> Iterator[FailoverContext]:  # noqa: F811
    """A failover context of this process on the module's plane: a run it starts stands for
    a control plane that is then killed (its heartbeat stops)."""
    assert plane.sim.clouds_yaml is not None
    settings = load_settings(database_url=plane_database, clouds_yaml=plane.sim.clouds_yaml,
                             **plane_settings)
    conns = {s.name: connect(s, clouds_yaml=plane.sim.clouds_yaml) for s in default_sites()}
    yield FailoverContext(engine=plane.engine, settings=settings, connections=lambda: conns,
                          stale_after_s=2.0, heartbeat_s=0.5)
    for c in conns.values():
        c.close()
