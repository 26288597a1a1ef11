"""Migration tests: the control plane (tests/integration/control) with migration settings —
its own known_hosts and artifact dir, an SSH client key — and real sshd sandboxes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from govcloud.demo.sandbox import Sandbox, make_key
from tests.integration.control.conftest import (  # noqa: F401 - fixtures used by the tests
    Plane,
    cli_env,
    plane,
    plane_database,
    plane_workers,
)
from tests.integration.served_crash import served  # noqa: F401 - a fixture of the crash tests


@pytest.fixture(scope="module")
def migrate_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("migrate")


@pytest.fixture(scope="module")
def client_key(migrate_root: Path) -> Path:
    return make_key(migrate_root / "keys" / "id_ed25519")


@pytest.fixture(scope="module")
def plane_settings(migrate_root: Path, client_key: Path,
                   plane_database: str) -> dict[str, Any]:  # noqa: F811
    backend = plane_database.split(":", 1)[0].split("+", 1)[0]  # one state per database
    return {"migrate_dir": migrate_root / f"state-{backend}", "ssh_key": client_key,
            "ssh_timeout_s": 5.0, "migrate_concurrency": 8,
            "migrate_python": "/usr/bin/python3",
            # a target whose console log shows no keys is given up on quickly
            "migrate_host_key_wait_s": 3.0}


def _sandboxes(base: Path, key: Path) -> Iterator[Callable[[str], Sandbox]]:
    started: list[Sandbox] = []

    def make(name: str) -> Sandbox:
        box = Sandbox(name, base / "hosts" / name, key.with_suffix(".pub")).start()
        started.append(box)
        return box

    yield make
    for box in started:
        box.stop()


@pytest.fixture
def sandboxes(tmp_path: Path, client_key: Path) -> Iterator[Callable[[str], Sandbox]]:
    """``sandboxes(name)`` starts a fresh sshd sandbox; all are stopped after the test."""
    yield from _sandboxes(tmp_path, client_key)


@pytest.fixture
def sandboxes_for(tmp_path: Path) -> Iterator[Callable[[str], Sandbox]]:
    """Sandboxes that accept the key in ``tmp_path/keys`` (a test's own control plane)."""
    yield from _sandboxes(tmp_path, tmp_path / "keys" / "id_ed25519")


def inventory_file(path: Path, department: str, hosts: dict[str, dict[str, Any]]) -> Path:
    """An inventory file in the documented format."""
    path.write_text(yaml.safe_dump({"all": {"vars": {"govcloud_department": department},
                                            "hosts": hosts}}, sort_keys=False))
    return path


def declared_target(box: Sandbox, *, pinned: bool = True) -> dict[str, Any]:
    """``govcloud_target`` for ``box``, its host key pinned (``host_key``) unless not."""
    out: dict[str, Any] = {"address": box.address, "port": box.port, "user": "root",
                           "root": str(box.root)}
    return {**out, "host_key": box.fingerprint} if pinned else out


def host_vars(box: Sandbox, system: str, **extra: Any) -> dict[str, Any]:
    return {"ansible_host": box.address, "ansible_port": box.port, "ansible_user": "root",
            "govcloud_root": str(box.root), "govcloud_system": system, **extra}
