"""The provision step through the provisioning service: a legacy host without a declared
target gets a request (approved by the migration gate, placed by DR level, built by the job
worker) and the simulator's new servers are backed by sshd sandboxes, so the wave then runs the
real playbooks against them: the target and its DR copy get the data; the rollback brings the
data back and deletes both servers."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from govcloud.demo.sandbox import Sandbox, service_vars, write_files
from govcloud.store.tables import AuditEntryRow
from govcloud.workers import start_workers
from tests.integration.migrate.conftest import Plane, host_vars, inventory_file
from tests.integration.migrate.waves import DATA, cli, ready_wave, tree

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    return start_workers


def test_the_target_is_provisioned_through_the_provisioning_service(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox], plane_settings: dict[str, Any]) -> None:
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
    # the DR copy (DR-REMOTE, cold) got the same data as the target, and verify checked it
    (copy,) = [b for b in pool if b is not box]
    assert tree(legacy.root / DATA.lstrip("/")) == tree(copy.root / DATA.lstrip("/"))
    assert "every DR copy of the target holds the same data" in out
    assert "DR-REMOTE cold copy" in out
    requests = admin.get("/requests")["requests"]
    mine = [r for r in requests if r["department"] == "gd-edu" and r["system"] == "exam"]
    assert len(mine) == 1 and mine[0]["state"] == "done"
    assert mine[0]["approver"] == "migration-gate"
    made = {s["site"]: s["server_id"] for s in admin.get(f"/requests/{mine[0]['id']}")["servers"]}
    assert set(made) == {"PROD", "DR-REMOTE"}
    # both servers' keys were pinned to what their console logs showed (docs/migration.md,
    # "Target host keys"), and audited
    for site, sid in made.items():
        assert f"the console log of server {sid} in {site}" in out
    with Session(cli_env.engine) as session:
        (pinned,) = [json.loads(r.after_json or "{}") for r in session.exec(
            select(AuditEntryRow).where(AuditEntryRow.action == "migrate.target_keys"))]
    assert pinned["host"] == "edu-app1"
    assert {(k["endpoint"], k["fingerprint"]) for k in pinned["keys"]} == \
        {(f"[{b.address}]:{b.port}", b.fingerprint) for b in pool}
    assert all(k["source"].startswith("the console log of server") for k in pinned["keys"])
    assert admin.post("/sync", {"full": True})["ok"]
    assert made["PROD"] in _server_ids(admin, "gd-edu")

    # the dynamic inventory lists the provisioned system in every site, with its DR role and
    # how to reach it, so playbooks can target it (issue 17, item 15)
    inventory = admin.get("/inventory")
    cloud = {h: v for h, v in inventory["_meta"]["hostvars"].items()
             if v.get("govcloud_server_id") in made.values()}
    assert {v["govcloud_site"]: v["govcloud_dr_role"] for v in cloud.values()} == \
        {"PROD": "primary", "DR-REMOTE": "cold"}
    for name, v in cloud.items():
        sandbox = box if v["govcloud_site"] == "PROD" else copy
        assert (v["ansible_host"], v["ansible_port"]) == (sandbox.address, sandbox.port)
        assert v["govcloud_department"] == "gd-edu" and v["govcloud_system"] == "exam"
        assert v["govcloud_migrated_from"] == "edu-app1"
        for group in ("cloud", "dept_gd_edu", "system_exam", f"dr_{v['govcloud_dr_role']}",
                      f"site_{v['govcloud_site']}".replace("-", "_"),
                      f"wave_{wave}".replace("-", "_")):
            assert name in inventory[group]["hosts"], group
    env = {**os.environ, "GOVCLOUD_SERVER": cli_env.url, "GOVCLOUD_TOKEN": cli_env.admin_token}
    graph = subprocess.run([str(REPO / ".venv/bin/ansible-inventory"), "-i",
                            "inventory/govcloud.yml", "--graph", "dr_cold"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert graph.returncode == 0, graph.stderr
    assert next(n for n, v in cloud.items() if v["govcloud_dr_role"] == "cold") in graph.stdout

    # the rollback brings the data back, then deletes the servers it made (target and copy);
    # with DR-REMOTE down it deletes what it can and says what is left, and a second
    # rollback finishes the job
    (box.root / DATA.lstrip("/") / "after-cutover.txt").write_text("kept\n")
    sim = cli_env.sim.base_url
    assert httpx.post(f"{sim}/_sim/regions/DR-REMOTE/down", timeout=10).status_code == 200
    try:
        code, out, err = cli(capsys, "migrate", "rollback", wave, "--follow")
    finally:
        httpx.post(f"{sim}/_sim/regions/DR-REMOTE/up", timeout=10)
    assert code == 0, out + err
    assert (legacy.root / DATA.lstrip("/") / "after-cutover.txt").read_text() == "kept\n"
    assert "release_failed" in out and "roll back again" in out
    assert f"could not delete DR-REMOTE server {made['DR-REMOTE']}" in out
    assert f"deleted PROD server {made['PROD']}" in out
    assert admin.get(f"/migrate/waves/{wave}")["hosts"][0]["target"] is not None  # kept
    code, out, err = cli(capsys, "migrate", "rollback", wave, "--follow")
    assert code == 0, out + err
    for site, sid in made.items():  # deleting a server already gone is fine
        assert f"deleted {site} server {sid}" in out
    assert admin.post("/sync", {"full": True})["ok"]
    assert not set(made.values()) & _server_ids(admin, "gd-edu")
    assert not {v.get("govcloud_server_id") for v in
                admin.get("/inventory")["_meta"]["hostvars"].values()} & set(made.values())
    assert admin.get(f"/migrate/waves/{wave}")["hosts"][0]["target"] is None
    known = (Path(str(plane_settings["migrate_dir"])) / "known_hosts").read_text()
    assert f"[{box.address}]:{box.port} " not in known
    assert f"[{copy.address}]:{copy.port} " not in known
    with Session(cli_env.engine) as session:
        released = [r for r in session.exec(select(AuditEntryRow).order_by(AuditEntryRow.seq))
                    if r.action == "migrate.rollback.release"]
    assert len(released) == 2 and all("edu-app1" in (r.after_json or "") for r in released)
    assert "FAILED" in (released[0].after_json or "")
    # again: nothing left to release, nothing deleted twice
    code, out, err = cli(capsys, "migrate", "rollback", wave, "--follow")
    assert code == 0, out + err
    assert "deleted" not in out


def _server_ids(admin: Any, department: str) -> set[str]:
    page = admin.get("/servers", department=department, limit=1000)
    return {s["id"] for s in page["servers"]}
