"""The provision step through the provisioning service: a legacy host without a declared
target gets a request (approved by the migration gate, placed by DR level, built by the job
worker) and the simulator's new server is backed by an sshd sandbox, so the wave then runs the
real playbooks against it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcloud.demo.sandbox import Sandbox, service_vars, write_files
from govcloud.workers import start_workers
from tests.integration.migrate.conftest import Plane, host_vars, inventory_file
from tests.integration.migrate.waves import DATA, cli, ready_wave, tree

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    return start_workers


def test_the_target_is_provisioned_through_the_provisioning_service(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox]) -> None:
    admin = cli_env.admin
    admin.post("/tenants/apply")
    assert admin.post("/sync", {"full": True})["ok"]
    legacy = sandboxes("edu-app1")
    write_files(legacy.root, DATA, {"exam.db": b"e" * 30000, "logs/a.log": b"x\n"})
    (legacy.root / "run").mkdir()
    pool = [sandboxes(f"edu-vm{i}") for i in range(2)]  # PROD and DR-REMOTE (DR level 3)
    answer = httpx.post(f"{cli_env.sim.base_url}/_sim/sandboxes",
                        json={"sandboxes": [b.endpoint() for b in pool]}, timeout=10)
    assert answer.status_code == 200 and len(answer.json()["sandboxes"]) == 2
    inv = inventory_file(tmp_path / "gd-edu.yaml", "gd-edu", {
        "edu-app1": host_vars(legacy, "exam", govcloud_data_paths=[DATA],
                              **service_vars("edu-app1"))})
    wave = ready_wave(capsys, inv, "gd-edu", {"edu-app1": (legacy, legacy)})
    code, out, err = cli(capsys, "migrate", "run", wave, "--follow")
    assert code == 0, out + err
    shown = admin.get(f"/migrate/waves/{wave}")
    target = shown["hosts"][0]["target"]
    box = next(b for b in pool if (b.address, b.port) == (target["address"], target["port"]))
    assert tree(legacy.root / DATA.lstrip("/")) == tree(box.root / DATA.lstrip("/"))
    requests = admin.get("/requests")["requests"]
    mine = [r for r in requests if r["department"] == "gd-edu" and r["system"] == "exam"]
    assert len(mine) == 1 and mine[0]["state"] == "done"
    assert mine[0]["approver"] == "migration-gate"
