"""A migration target's SSH host key is pinned to what its cloud shows, never trusted on first
use by default (docs/migration.md, "Target host keys"): a new server whose sshd presents a key
its console log does not show is refused before anything is recorded or run; a target nobody
vouches for (a declared target without a pinned key) is refused too, unless the wave is run with
``--trust-on-first-use REASON`` (migration.override), which is audited. (The key read from
the console log and accepted: test_cloud_target.py.)"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from govcloud.demo.sandbox import Sandbox, make_key, service_vars, write_files
from govcloud.errors import GovCloudError
from govcloud.store.tables import AuditEntryRow
from govcloud.workers import start_workers
from tests.integration.migrate.conftest import (
    Plane,
    declared_target,
    host_vars,
    inventory_file,
)
from tests.integration.migrate.waves import DATA, cli, ready_wave, tree

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    return start_workers


def audited(plane: Plane, action: str) -> list[dict[str, Any]]:
    with Session(plane.engine) as session:
        return [json.loads(r.after_json or "{}") for r in session.exec(
            select(AuditEntryRow).where(AuditEntryRow.action == action))]


def known_hosts(plane_settings: dict[str, Any]) -> str:
    path = Path(str(plane_settings["migrate_dir"])) / "known_hosts"
    return path.read_text() if path.is_file() else ""


def legacy_host(sandboxes: Callable[[str], Sandbox], name: str) -> Sandbox:
    box = sandboxes(name)
    write_files(box.root, DATA, {"ledger.db": b"l" * 20000})
    (box.root / "run").mkdir()
    (box.root / "run" / f"{name}.running").touch()
    return box


def test_a_key_the_console_log_does_not_show_is_refused_and_nothing_changes(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox], plane_settings: dict[str, Any]) -> None:
    admin = cli_env.admin
    admin.post("/tenants/apply")
    assert admin.post("/sync", {"full": True})["ok"]
    legacy = legacy_host(sandboxes, "agri-app1")
    before = tree(legacy.root)
    # the new servers' console logs show another key than their sshd presents: what a
    # machine in the middle of the first connection would look like
    decoy = make_key(tmp_path / "decoy" / "ssh_host_ed25519_key", "decoy")
    pool = [sandboxes(f"agri-vm{i}") for i in range(2)]  # PROD and DR-REMOTE (DR level 3)
    posted = [{**b.endpoint(), "host_keys": [decoy.with_suffix(".pub").read_text()]}
              for b in pool]
    assert httpx.post(f"{cli_env.sim.base_url}/_sim/sandboxes", json={"sandboxes": posted},
                      timeout=10).status_code == 200
    inv = inventory_file(tmp_path / "gd-agri.yaml", "gd-agri", {
        "agri-app1": host_vars(legacy, "ledger", govcloud_data_paths=[DATA],
                               **service_vars("agri-app1"))})
    wave = ready_wave(capsys, inv, "gd-agri", {"agri-app1": (legacy, legacy)})
    code, out, err = cli(capsys, "migrate", "run", wave, "--follow")
    assert code == 1, out + err
    assert "is not the one the cloud shows" in out and "nothing was recorded" in out
    assert "the console log of server" in out
    shown = admin.get(f"/migrate/waves/{wave}")
    (host,) = shown["hosts"]
    assert host["target"] is None  # not recorded: a run again starts from the provisioning
    assert {step: s["status"] for step, s in host["steps"].items()
            if s["status"] != "pending"} == {"precheck": "succeeded", "provision": "failed"}
    assert "is not the one the cloud shows" in host["steps"]["provision"]["error"]
    # nothing recorded, nothing run on either side: no key, no data copied, service running
    known = known_hosts(plane_settings)
    for box in pool:
        assert f"[{box.address}]:{box.port} " not in known
        assert not (box.root / DATA.lstrip("/")).exists()
    assert tree(legacy.root) == before
    assert not [a for a in audited(cli_env, "migrate.target_keys") if a["wave"] == wave]


def test_trust_on_first_use_only_by_an_audited_override(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox], plane_settings: dict[str, Any]) -> None:
    legacy, target = legacy_host(sandboxes, "hrss-app1"), sandboxes("hrss-app1-t")
    inv = inventory_file(tmp_path / "gd-hrss.yaml", "gd-hrss", {
        "hrss-app1": host_vars(legacy, "pension", govcloud_data_paths=[DATA],
                               govcloud_target=declared_target(target, pinned=False),
                               **service_vars("hrss-app1"))})
    wave = ready_wave(capsys, inv, "gd-hrss", {"hrss-app1": (legacy, target)})
    name = f"[{target.address}]:{target.port}"
    # nobody vouches for the declared target's key: refused
    code, out, err = cli(capsys, "migrate", "run", wave, "--follow")
    assert code == 1, out + err
    assert f"no expected host key for {name}" in out
    assert f"{name} " not in known_hosts(plane_settings)
    # the override (migration.override) needs its reason; a viewer may not give it
    _, viewer = cli_env.principal("department-viewer", department="gd-hrss")
    with pytest.raises(GovCloudError, match="may not migration"):
        viewer.run_wave(wave, trust_on_first_use="the builder is on holiday")
    code, _, err = cli(capsys, "migrate", "run", wave, "--trust-on-first-use", " ")
    assert code == 2 and "reason" in err, err
    code, out, err = cli(capsys, "migrate", "run", wave, "--follow",
                         "--trust-on-first-use", "built by hand in the machine room; "
                                                 "fingerprint read out on the phone")
    assert code == 0, out + err
    assert f"{name} ({target.fingerprint}, trusted on first use)" in out
    assert "built by hand in the machine room" in out  # the reason stays in the event log
    assert f"{name} ssh-ed25519 " in known_hosts(plane_settings)
    (decided,) = [a for a in audited(cli_env, "migrate.trust_on_first_use")
                  if a["wave"] == wave]
    reason = "built by hand in the machine room; fingerprint read out on the phone"
    assert decided["reason"] == {  # the chain keeps the reason's digest, the events the text
        "sha256": hashlib.sha256(reason.encode()).hexdigest(), "length": len(reason)}
    (pinned,) = [a for a in audited(cli_env, "migrate.target_keys") if a["wave"] == wave]
    assert pinned["keys"] == [{"endpoint": name, "key_type": "ssh-ed25519",
                               "fingerprint": target.fingerprint,
                               "source": "trusted on first use"}]
    assert pinned["trust_on_first_use"] == decided["reason"]
