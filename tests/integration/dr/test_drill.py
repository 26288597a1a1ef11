"""DR drills end to end on the simulator over HTTP, with real sshd sandboxes and the real
health-check playbook (ansible-runner): plan → approve (requester ≠ approver) → run → show →
cleanup through the CLI and the API; the drill boots a new server from the cold copy's
recovery point image on an isolated network, checks the data against the point's manifest,
tears everything down and proves no leftovers in any region and production unchanged; the
posture's last drill and the audit chain's sealed evidence follow. A run cut off mid-drill
(its process gone, the heartbeat stale) is resumed by ``run`` or removed by ``cleanup``."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from govcloud.cli import main
from govcloud.cloud.connect import connect
from govcloud.demo.sandbox import Sandbox, make_key, write_files
from govcloud.domain.drills import DrillStep
from govcloud.domain.sites import default_sites
from govcloud.domain.steps import StepStatus
from govcloud.errors import GovCloudError
from govcloud.services import drill_run, drill_steps
from govcloud.services.drill_state import DrillContext
from govcloud.settings import load_settings
from govcloud.store import drill_repo, protection_repo
from govcloud.store.audit import write_session
from govcloud.store.tables import AuditEntryRow
from tests.integration.control.provisioning_plane import request, wait_final
from tests.waiting import wait_until

from .conftest import Plane
from .drills import DATA, DEPARTMENT, SITE, SYSTEM, cloud, leftovers, record_point

pytestmark = pytest.mark.slow
FILES = {"ledger.db": b"L" * 20000, "conf/app.ini": b"[app]\nname=ledger\n"}


@dataclass
class System:
    plane: Plane
    prod_id: str
    copy_id: str
    manifest: tuple[tuple[str, str], ...]
    operator: str  # token of an operator (plans and runs drills)


def _servers(plane: Plane, region: str) -> list[Any]:
    assert plane.sim.clouds_yaml is not None
    conn = cloud(region, plane.sim.clouds_yaml)
    try:
        return list(conn.compute.servers(all_projects=True))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def system(plane: Plane) -> System:
    """gd-agri/ledger provisioned (one server in PROD, its cold copy shelved in DR-REMOTE)
    and a recovery point of the copy holding its shelved image and a manifest of FILES."""
    admin = plane.admin
    admin.post("/tenants/apply")
    assert admin.post("/sync", {"full": True})["ok"]
    operator = plane.add_principal("ops-drill", "operator")
    rid = plane.client(operator).post("/requests", request(SYSTEM, count=1,
                                                           department=DEPARTMENT))["id"]
    admin.post(f"/requests/{rid}/approve")
    assert wait_final(admin, rid)["state"] == "done"
    assert admin.post("/sync", {"full": True})["ok"]
    made = {s["site"]: s["server_id"] for s in admin.get(f"/requests/{rid}")["servers"]}
    assert plane.sim.clouds_yaml is not None
    manifest = record_point(plane.engine, plane.sim.clouds_yaml, made[SITE], FILES,
                            age=timedelta(minutes=10))
    return System(plane, made["PROD"], made[SITE], manifest, operator)


def pool(plane: Plane, sandboxes: Callable[[str], Sandbox], name: str, *,
         files: dict[str, bytes] = FILES, host_keys: list[str] | None = None) -> Sandbox:
    """A sandbox holding ``files`` (what the image carries) that the next server gets
    (``host_keys``: what its console log shows instead of the sandbox's own key)."""
    box = sandboxes(name)
    write_files(box.root, DATA, files)
    posted = box.endpoint() if host_keys is None else {**box.endpoint(), "host_keys": host_keys}
    answer = httpx.post(f"{plane.sim.base_url}/_sim/sandboxes",
                        json={"sandboxes": [posted]}, timeout=10)
    assert answer.status_code == 200
    return box


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def drill_resources(plane: Plane, drill_id: int) -> list[str]:
    assert plane.sim.clouds_yaml is not None
    return leftovers(plane.sim.clouds_yaml, drill_id)


def prod_state(plane: Plane) -> list[tuple[str, str, str]]:
    return sorted((s.id, s.status, json.dumps(s.addresses, sort_keys=True))
                  for s in _servers(plane, "PROD"))


def plan(system: System, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
         token: str) -> int:
    monkeypatch.setenv("GOVCLOUD_TOKEN", token)
    code, out, err = cli(capsys, "dr", "drill", "plan", DEPARTMENT, "--system", SYSTEM,
                         "--site", SITE, "--json")
    assert code == 0, out + err
    planned = json.loads(out)
    assert (planned["state"], planned["requester"]) == ("planned", "ops-drill")
    return int(planned["id"])


def approve(system: System, drill_id: int) -> None:
    answer = system.plane.admin.post(f"/dr/drills/{drill_id}/approve")
    assert (answer["state"], answer["approver"]) == ("approved", "admin")


def test_a_drill_end_to_end(system: System, cli_env: Plane, sandboxes: Callable[[str], Sandbox],
                            capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plane = system.plane
    box = pool(plane, sandboxes, "drill-e2e")
    before = prod_state(plane)
    copy_before = next(s for s in _servers(plane, SITE) if s.id == system.copy_id)
    drill_id = plan(system, capsys, monkeypatch, system.operator)
    # an unapproved plan does not run
    code, out, err = cli(capsys, "dr", "drill", "run", str(drill_id))
    assert code != 0 and "not approved" in err and "dr drill approve" in err
    # the operator may not approve (the bureau does)
    code, _, err = cli(capsys, "dr", "drill", "approve", str(drill_id))
    assert code != 0 and "error:" in err
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
    approve(system, drill_id)
    monkeypatch.setenv("GOVCLOUD_TOKEN", system.operator)
    code, out, err = cli(capsys, "dr", "drill", "run", str(drill_id), "--json")
    assert code == 0, out + err
    shown = json.loads(out)
    assert shown["state"] == "passed", json.dumps(shown["steps"], indent=1)
    assert [(s["step"], s["status"]) for s in shown["steps"]] == [
        (s.value, "succeeded") for s in DrillStep]
    assert all(s["started_at"] and s["finished_at"] for s in shown["steps"])
    evidence = shown["evidence"]
    (sys_ev,) = evidence["systems"]
    assert sys_ev["healthy"] and sys_ev["rto_met"] and sys_ev["rpo_met"]
    assert 0 < sys_ev["achieved_rto_s"] < 300
    assert 600 <= sys_ev["achieved_rpo_s"] < 900  # the point was 10 minutes old at the start
    assert [(c["path"], c["matched"]) for c in sys_ev["checksums"]] == [
        (p, True) for p, _ in system.manifest]
    assert (evidence["requester"], evidence["approver"], evidence["runner"]) == (
        "ops-drill", "admin", "ops-drill")
    assert evidence["leftovers_checked"] and evidence["leftovers"] == []
    assert evidence["prod_compared"] and evidence["prod_unchanged"]
    # the server came up from the image on the drill's network, and is gone; nothing is left
    assert "govcloud-drill" in next(s["output"] for s in shown["steps"]
                                    if s["step"] == "bring_up")
    assert f"key {box.fingerprint} (from the console log of server" in next(
        s["output"] for s in shown["steps"] if s["step"] == "health_check")
    assert drill_resources(plane, drill_id) == []
    # production untouched, the copy itself untouched
    assert prod_state(plane) == before
    copy_after = next(s for s in _servers(plane, SITE) if s.id == system.copy_id)
    assert (copy_after.status, copy_after.updated_at) == (copy_before.status,
                                                          copy_before.updated_at)
    # sealed: the audit chain holds the evidence's digest
    with Session(plane.engine) as session:
        sealed = [json.loads(e.after_json or "{}") for e in session.exec(
            select(AuditEntryRow).where(AuditEntryRow.action == "dr.drill.evidence")).all()]
    assert {"drill": drill_id, "result": "passed",
            "evidence_sha256": shown["evidence_sha256"]} in sealed
    # the posture's last drill
    with plane.engine.connect() as db:
        last = protection_repo.last_drills(db, departments=[DEPARTMENT])[(DEPARTMENT, SYSTEM)]
    assert (last.site, last.result.value) == (SITE, "passed")
    assert last.rto is not None and last.rto.total_seconds() == pytest.approx(
        sys_ev["achieved_rto_s"])

    def posture_drill() -> Any:
        answer = plane.admin.dr_posture(department=DEPARTMENT)
        row = next(s for s in answer.systems if s.system == SYSTEM)
        return row.last_drill if row.last_drill and row.last_drill.site == SITE else None

    shown_drill = wait_until(posture_drill, timeout=30, what="the posture shows the drill",
                             interval=0.5)
    assert shown_drill.result == "passed" and shown_drill.rto_s == pytest.approx(
        sys_ev["achieved_rto_s"])
    # the text views: one drill's steps and objectives, the list
    code, text, err = cli(capsys, "dr", "drill", "show", str(drill_id))
    assert code == 0, err
    assert "health_check      succeeded" in text and "ledger: RTO " in text
    assert f"evidence sealed in the audit chain: {shown['evidence_sha256']}" in text
    code, text, err = cli(capsys, "dr", "drill", "show", "--department", DEPARTMENT)
    assert code == 0, err
    assert any(line.split()[:3] == [str(drill_id), "passed", DEPARTMENT]
               for line in text.splitlines())
    # the Markdown report, from the CLI and the API
    code, md, err = cli(capsys, "dr", "drill", "show", str(drill_id), "--format", "md")
    assert code == 0, err
    assert md.startswith(f"# DR drill {drill_id}: system ledger of gd\\-agri into DR\\-REMOTE")
    assert "2 of 2 checksums matched" in md and shown["evidence_sha256"] in md
    answer = httpx.get(f"{plane.url}/api/v1/dr/drills/{drill_id}/report", timeout=10,
                       headers={"Authorization": f"Bearer {plane.admin_token}",
                                "Accept": "text/markdown"})
    assert answer.headers["content-type"].startswith("text/markdown") and answer.text == md
    assert plane.admin.get(f"/dr/drills/{drill_id}/report")["markdown"] == md
    # ... and as a PDF, to file: the same report, rendered (never to a terminal)
    report = tmp_path / "drill.pdf"
    code, _, err = cli(capsys, "dr", "drill", "show", str(drill_id), "--format", "pdf",
                       "--output", str(report))
    assert code == 0, err
    assert report.read_bytes().startswith(b"%PDF-")
    text_of_pdf = subprocess.run(["pdftotext", "-enc", "UTF-8", str(report), "-"],
                                 capture_output=True, text=True, check=True).stdout
    assert f"DR drill {drill_id}" in text_of_pdf and "2 of 2 checksums matched" in text_of_pdf
    code, _, err = cli(capsys, "dr", "drill", "show", str(drill_id), "--format", "pdf")
    assert code == 2 and "needs --output FILE" in err
    # cleanup is idempotent: nothing to delete, nothing left, twice
    for _ in range(2):
        code, out, err = cli(capsys, "dr", "drill", "cleanup", str(drill_id))
        assert code == 0, out + err
        assert "nothing it made is left in any region" in out
    # a passed drill does not run again
    code, _, err = cli(capsys, "dr", "drill", "run", str(drill_id))
    assert code != 0 and "already ran" in err
    assert box.root.is_dir()


def test_the_requester_may_not_approve_and_others_do_not_see_it(system: System) -> None:
    plane = system.plane
    made = plane.admin.post("/dr/drills", {"department": DEPARTMENT, "system": SYSTEM,
                                           "site": SITE})
    answer = httpx.post(f"{plane.url}/api/v1/dr/drills/{made['id']}/approve",
                        headers={"Authorization": f"Bearer {plane.admin_token}"}, timeout=10)
    assert answer.status_code == 403
    assert "requester and approver must differ" in answer.json()["error"]["message"]
    # another person of the bureau may
    assert plane.approver.post(f"/dr/drills/{made['id']}/approve")["state"] == "approved"
    # a department-viewer of another department does not see it; its own does
    _, other = plane.principal("department-viewer", department="gd-psd")
    with pytest.raises(GovCloudError, match=f"no drill {made['id']}"):
        other.get(f"/dr/drills/{made['id']}")
    assert other.get("/dr/drills")["drills"] == []
    _, own = plane.principal("department-viewer", department=DEPARTMENT)
    assert own.get(f"/dr/drills/{made['id']}")["state"] == "approved"
    with pytest.raises(GovCloudError):  # it reads, it does not plan
        own.post("/dr/drills", {"department": DEPARTMENT, "site": SITE})
    # a whole department's drill
    whole = plane.admin.post("/dr/drills", {"department": DEPARTMENT, "site": SITE})
    assert (whole["system"], whole["state"]) == (None, "planned")
    # every decision is in the audit chain
    with Session(plane.engine) as session:
        actions = {(e.action, json.loads(e.after_json or "{}").get("drill")) for e in
                   session.exec(select(AuditEntryRow)).all()}
    assert {("dr.drill.plan", made["id"]), ("dr.drill.approve", made["id"])} <= actions
    # not a DR site, not a system
    for body, what in (({"department": DEPARTMENT, "site": "PROD"}, "DR site"),
                       ({"department": DEPARTMENT, "system": "nope", "site": SITE},
                        "no system")):
        answer = httpx.post(f"{plane.url}/api/v1/dr/drills", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {plane.admin_token}"})
        assert answer.status_code in (400, 404, 422) and what in answer.text


@pytest.fixture
def ctx(system: System, plane_settings: dict[str, Any], plane_database: str) -> DrillContext:
    """A drill context of this process: the run it starts stands for a control plane that is
    then killed (its heartbeat stops)."""
    plane = system.plane
    assert plane.sim.clouds_yaml is not None
    settings = load_settings(database_url=plane_database, clouds_yaml=plane.sim.clouds_yaml,
                             **plane_settings)
    conns = {s.name: connect(s, clouds_yaml=plane.sim.clouds_yaml) for s in default_sites()}
    return DrillContext(engine=plane.engine, settings=settings, connections=lambda: conns,
                        stale_after_s=2.0, heartbeat_s=0.5)


def cut_off(ctx: DrillContext, drill_id: int) -> None:
    """A run that got as far as booting the server and died (no release, heartbeat stale):
    what a kill -9 of the control plane in the health check leaves."""
    drill_run.claim(ctx, drill_id, "dead-run")
    with write_session(ctx.engine) as session:
        row = drill_repo.get(session, drill_id)
        row.state, row.runner, row.started_at = "running", "ops-drill", ctx.clock()
        session.add(row)
        session.commit()
    run = drill_steps.Run(drill_id, DEPARTMENT, SYSTEM, SITE)
    for step, handler in ((DrillStep.SNAPSHOT_PROD, drill_steps.snapshot_prod),
                          (DrillStep.ISOLATED_NETWORK, drill_steps.isolated_network),
                          (DrillStep.BRING_UP, drill_steps.bring_up)):
        with write_session(ctx.engine) as session:
            drill_repo.set_step(session, drill_id, step.value, StepStatus.RUNNING,
                                at=ctx.clock())
            session.commit()
        output = handler(ctx, run)
        with write_session(ctx.engine) as session:
            drill_repo.set_step(session, drill_id, step.value, StepStatus.SUCCEEDED,
                                at=ctx.clock(), output=output)
            session.commit()
    with write_session(ctx.engine) as session:
        drill_repo.set_step(session, drill_id, DrillStep.HEALTH_CHECK.value,
                            StepStatus.RUNNING, at=ctx.clock())
        session.commit()
    time.sleep(2.5)  # the dead run's heartbeat goes stale


@pytest.fixture
def approved(system: System, capsys: pytest.CaptureFixture[str], cli_env: Plane,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    drill_id = plan(system, capsys, monkeypatch, system.operator)
    approve(system, drill_id)
    yield drill_id


def test_a_drill_cut_off_mid_run_resumes(system: System, ctx: DrillContext, approved: int,
                                         sandboxes: Callable[[str], Sandbox],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    pool(system.plane, sandboxes, "drill-resume")
    before = prod_state(system.plane)
    cut_off(ctx, approved)
    assert drill_resources(system.plane, approved)  # the dead run's server and network
    code, out, err = cli(capsys, "dr", "drill", "run", str(approved), "--json")
    assert code == 0, out + err
    shown = json.loads(out)
    assert shown["state"] == "passed", json.dumps(shown["steps"], indent=1)
    health = next(s for s in shown["steps"] if s["step"] == "health_check")
    assert health["status"] == "succeeded"
    assert drill_resources(system.plane, approved) == []
    assert prod_state(system.plane) == before


def test_a_drill_cut_off_mid_run_is_cleaned_up(system: System, ctx: DrillContext,
                                               approved: int,
                                               sandboxes: Callable[[str], Sandbox],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    pool(system.plane, sandboxes, "drill-cleanup")
    cut_off(ctx, approved)
    left = drill_resources(system.plane, approved)
    assert any(" server " in x for x in left) and any(" network " in x for x in left)
    code, out, err = cli(capsys, "dr", "drill", "cleanup", str(approved))
    assert code == 0, out + err
    assert "deleted server govcloud-drill-" in out
    assert drill_resources(system.plane, approved) == []
    shown = system.plane.admin.get(f"/dr/drills/{approved}")
    assert shown["state"] == "failed" and shown["evidence_sha256"]
    steps = {s["step"]: s["status"] for s in shown["steps"]}
    assert steps["health_check"] == "interrupted"
    assert steps["teardown"] == steps["verify_leftovers"] == "succeeded"
    # again: nothing to do, nothing left
    code, out, _ = cli(capsys, "dr", "drill", "cleanup", str(approved))
    assert code == 0 and "nothing it made is left" in out


def test_data_that_differs_from_the_manifest_fails_the_drill_and_still_cleans_up(
        system: System, approved: int, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str]) -> None:
    pool(system.plane, sandboxes, "drill-bad",
         files={"ledger.db": b"stale" * 10, "conf/app.ini": FILES["conf/app.ini"]})
    code, out, err = cli(capsys, "dr", "drill", "run", str(approved), "--json")
    assert code == 1, out + err
    shown = json.loads(out)
    assert shown["state"] == "failed"
    steps = {s["step"]: s for s in shown["steps"]}
    assert steps["health_check"]["status"] == "failed"
    assert "not healthy: ledger" in steps["health_check"]["output"]
    assert all(steps[s]["status"] == "succeeded"
               for s in ("teardown", "verify_leftovers", "compare_prod", "record"))
    (sys_ev,) = shown["evidence"]["systems"]
    assert not sys_ev["healthy"] and sys_ev["achieved_rto_s"] is None
    assert {c["path"]: c["matched"] for c in sys_ev["checksums"]} == {
        f"{DATA}/conf/app.ini": True, f"{DATA}/ledger.db": False}
    assert drill_resources(system.plane, approved) == []
    with system.plane.engine.connect() as db:
        (last, *_) = protection_repo.drills(db, DEPARTMENT, SYSTEM)
    assert (last.result.value, last.rto) == ("failed", None)
    code, md, _ = cli(capsys, "dr", "drill", "show", str(approved), "--format", "md")
    assert "1 of 2 checksums matched" in md and "MISMATCH" in md


def test_a_drill_server_presenting_a_key_its_console_does_not_show_is_refused(
        system: System, approved: int, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        plane_settings: dict[str, Any]) -> None:
    decoy = make_key(tmp_path / "decoy" / "ssh_host_ed25519_key", "decoy")
    box = pool(system.plane, sandboxes, "drill-decoy",
               host_keys=[decoy.with_suffix(".pub").read_text()])
    code, out, err = cli(capsys, "dr", "drill", "run", str(approved), "--json")
    assert code == 1, out + err
    shown = json.loads(out)
    assert shown["state"] == "failed"
    steps = {s["step"]: s for s in shown["steps"]}
    assert steps["health_check"]["status"] == "failed"
    output = steps["health_check"]["output"]
    assert "is not the one the cloud shows" in output and box.fingerprint in output
    assert "hint: someone may be intercepting" in output
    assert all(steps[s]["status"] == "succeeded"
               for s in ("teardown", "verify_leftovers", "compare_prod", "record"))
    assert drill_resources(system.plane, approved) == []
    known = Path(str(plane_settings["migrate_dir"])) / "known_hosts"
    assert f"[{box.address}]:{box.port} " not in (known.read_text() if known.is_file() else "")


def test_a_dr_region_down_mid_drill_fails_it_cleanly_and_cleanup_finishes_later(
        system: System, ctx: DrillContext, approved: int, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str]) -> None:
    plane = system.plane
    pool(plane, sandboxes, "drill-region")
    cut_off(ctx, approved)  # the server and network exist in DR-REMOTE
    region = f"{plane.sim.base_url}/_sim/regions/{SITE}"
    httpx.post(f"{region}/down", timeout=10).raise_for_status()
    try:
        code, out, err = cli(capsys, "dr", "drill", "run", str(approved), "--json")
        assert code == 1, out + err
        shown = json.loads(out)
        steps = {s["step"]: s for s in shown["steps"]}
        assert shown["state"] == "failed"
        assert steps["health_check"]["status"] == "failed"
        assert SITE in steps["teardown"]["output"] and steps["teardown"]["status"] == "failed"
        assert "dr drill cleanup" in steps["teardown"]["output"]
        assert steps["verify_leftovers"]["status"] == "failed"
        assert steps["compare_prod"]["status"] == "succeeded"  # PROD still answers
        assert shown["evidence"]["leftovers_checked"]
        assert [x for x in shown["evidence"]["leftovers"] if x.startswith(f"{SITE}: not checked")]
    finally:
        httpx.post(f"{region}/up", timeout=10).raise_for_status()
    assert drill_resources(plane, approved)  # what the region held while it was down
    code, out, err = cli(capsys, "dr", "drill", "cleanup", str(approved))
    assert code == 0, out + err
    assert drill_resources(plane, approved) == []


def test_a_whole_department_is_drilled(system: System, cli_env: Plane,
                                       sandboxes: Callable[[str], Sandbox],
                                       capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    plane = system.plane
    pool(plane, sandboxes, "drill-department")
    monkeypatch.setenv("GOVCLOUD_TOKEN", system.operator)
    code, out, err = cli(capsys, "dr", "drill", "plan", DEPARTMENT, "--site", SITE, "--json")
    assert code == 0, out + err
    drill_id = int(json.loads(out)["id"])
    approve(system, drill_id)
    code, out, err = cli(capsys, "dr", "drill", "run", str(drill_id), "--json")
    assert code == 0, out + err
    shown = json.loads(out)
    assert (shown["state"], shown["system"]) == ("passed", None)
    assert [s["system"] for s in shown["evidence"]["systems"]] == [SYSTEM]
    code, md, _ = cli(capsys, "dr", "drill", "show", str(drill_id), "--format", "md")
    assert md.startswith(f"# DR drill {drill_id}: every system of gd\\-agri into DR\\-REMOTE")
    assert drill_resources(plane, drill_id) == []
