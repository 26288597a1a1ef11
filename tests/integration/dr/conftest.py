"""DR drill tests: the control plane (tests/integration/control) with the provisioning worker,
migration's SSH settings (known_hosts, client key) and real sshd sandboxes the simulator backs
new servers with (tests/integration/migrate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.migrate.conftest import (  # noqa: F401 - fixtures used by the tests
    Plane,
    cli_env,
    client_key,
    migrate_root,
    plane,
    plane_database,
    sandboxes,
)


@pytest.fixture(scope="module")
def plane_settings(migrate_root: Path, client_key: Path,  # noqa: F811
                   plane_database: str) -> dict[str, Any]:  # noqa: F811
    backend = plane_database.split(":", 1)[0].split("+", 1)[0]
    return {"migrate_dir": migrate_root / f"state-{backend}", "ssh_key": client_key,
            "ssh_timeout_s": 5.0, "migrate_python": "/usr/bin/python3",
            "migrate_stale_after_s": 2.0, "provision_retries": 2,
            "provision_backoff_s": 0.05, "provision_poll_s": 0.2,
            "provision_active_timeout_s": 20}


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    from govcloud.workers.provision import start_provision_worker

    return start_provision_worker
