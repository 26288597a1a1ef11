"""DR failover, reprotect and failback end to end on the simulator over HTTP, with real sshd
sandboxes backing the servers and the real freeze and verify playbooks (ansible-runner):
a planned failover of gd-agri/ledger to its cold copy in DR-REMOTE through the CLI (freeze on
the production guest, a final protection cycle of the copy by the plane's protector, production
stopped,
the copy unshelved, the endpoint record moved, the service verified at its new endpoint),
then reprotect and failback; an unplanned failover with PROD down (the data-loss window is the
recovery point's age at the loss); and a run cut off mid-failover resumed by running it again."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from govcloud.cli import main
from govcloud.demo.sandbox import Sandbox
from govcloud.domain.failover import FailoverKind, FailoverStep
from govcloud.domain.steps import StepStatus
from govcloud.errors import Forbidden, TemporaryError
from govcloud.services import failover_run, failover_steps
from govcloud.services.failover_state import CycleResult, FailoverContext
from govcloud.store import failover_repo, protection_repo
from govcloud.store.audit import write_session
from govcloud.store.tables import AuditEntryRow
from govcloud.store.tables_failover import FailoverRow

from .conftest import Plane
from .failovers import DEPARTMENT, SITE, protect, server
from .failovers import cloud as _cloud

pytestmark = pytest.mark.slow
def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def statuses(shown: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["step"], s["status"]) for s in shown["steps"]]


def audited(plane: Plane) -> set[str]:
    with Session(plane.engine) as session:
        return {e.action for e in session.exec(select(AuditEntryRow)).all()}


def test_planned_failover_reprotect_failback(plane: Plane, cli_env: Plane,
                                             sandboxes: Callable[[str], Sandbox],
                                             capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    system = protect(plane, sandboxes, "ledger")
    operator = plane.add_principal("ops-failover", "operator")
    monkeypatch.setenv("GOVCLOUD_TOKEN", operator)
    base = ("dr", "failover", "ledger", "--department", DEPARTMENT, "--to", SITE)
    # a failover stops a service: the system must be named again
    code, _, err = cli(capsys, *base)
    assert code != 0 and "--confirm ledger" in err
    # a department-viewer may not fail over
    _, viewer = plane.principal("department-viewer", department=DEPARTMENT)
    with pytest.raises(Forbidden):
        viewer.post("/dr/failovers", {"department": DEPARTMENT, "system": "ledger",
                                      "to": SITE, "confirm": "ledger"})
    code, out, err = cli(capsys, *base, "--confirm", "ledger", "--json")
    assert code == 0, out + err
    shown = json.loads(out)
    assert shown["state"] == "done", json.dumps(shown["steps"], indent=1)
    assert statuses(shown) == [("freeze", "succeeded"), ("final_cycle", "succeeded"),
                               ("stop_primary", "succeeded"), ("promote", "succeeded"),
                               ("move_endpoint", "succeeded"), ("verify", "succeeded")]
    # the final cycle is a real protection cycle of the copy, after the freeze: its point is
    # now the copy's latest, and the copy holds the frozen guest's data
    assert "final protection cycle: ledger-app-1 point #" in shown["steps"][1]["output"]
    with plane.engine.connect() as db:
        (latest,) = protection_repo.recovery_points(db, SITE, system.copy_id, limit=1)
    assert latest.status.value == "ok"
    assert f"#{latest.id}" in shown["steps"][1]["output"]
    assert "unshelve" in shown["steps"][3]["output"]
    # the production guest was frozen, production stopped, the copy runs and answers
    assert (system.prod_box.root / ".govcloud-frozen").read_text().strip() == \
        f"failover-{shown['id']}"
    assert server(plane, "PROD", system.prod_id).status == "SHUTOFF"
    assert server(plane, SITE, system.copy_id).status == "ACTIVE"
    assert shown["endpoints"] == {"ledger-app-1": f"{system.copy_box.address}:"
                                                  f"{system.copy_box.port}"}
    assert shown["kind"] == "planned" and 0 < shown["rto_s"] < 300
    assert shown["role"]["primary"] == SITE and shown["role"]["state"] == "failed-over"
    with Session(plane.engine) as session:
        (record,) = failover_repo.endpoints(session, DEPARTMENT, "ledger")
    assert (record.side, record.port) == (SITE, system.copy_box.port)
    # running it again: the system already runs there
    code, _, err = cli(capsys, *base, "--confirm", "ledger")
    assert code != 0 and "already runs in DR-REMOTE" in err
    # failback before reprotect is refused; reprotect records the reversed roles
    code, _, err = cli(capsys, "dr", "failback", "ledger", "--department", DEPARTMENT,
                       "--confirm", "ledger")
    assert code != 0 and "not reprotected" in err
    code, out, err = cli(capsys, "dr", "reprotect", "ledger", "--department", DEPARTMENT,
                         "--confirm", "ledger", "--json")
    assert code == 0, out + err
    role = json.loads(out)
    assert (role["primary"], role["copy_site"], role["state"]) == (SITE, "PROD",
                                                                    "reprotected")
    # failback: a planned failover back to production, with progress in text
    code, out, err = cli(capsys, "dr", "failback", "ledger", "--department", DEPARTMENT,
                         "--confirm", "ledger")
    assert code == 0, json.dumps(plane.admin.get("/dr/failovers")["failovers"][0]["steps"],
                                 indent=1)
    assert "failback, DR-REMOTE → PROD" in out and "verify" in out
    assert server(plane, "PROD", system.prod_id).status == "ACTIVE"
    # the cold copy is shelved again: it holds no compute capacity
    assert server(plane, SITE, system.copy_id).status == "SHELVED_OFFLOADED"
    assert (system.copy_box.root / ".govcloud-frozen").is_file()
    listed = plane.admin.get("/dr/failovers", department=DEPARTMENT)["failovers"]
    back = listed[0]
    assert (back["kind"], back["state"], back["target"]) == ("failback", "done", "PROD")
    assert back["endpoints"] == {"ledger-app-1": f"{system.prod_box.address}:"
                                                 f"{system.prod_box.port}"}
    assert plane.admin.get(f"/dr/failovers/{back['id']}")["role"]["state"] == "normal"
    assert {"dr.failover.start", "dr.failover.run", "dr.failover.done", "dr.reprotect",
            "dr.failback.start"} <= audited(plane)


def test_a_run_cut_off_mid_failover_resumes(plane: Plane, cli_env: Plane,
                                            failover_ctx: FailoverContext,
                                            sandboxes: Callable[[str], Sandbox],
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """What a kill -9 in the promote step leaves: the freeze and the stop done, the copy
    being unshelved, the step running, the run's heartbeat stale. Running the same failover
    again takes it over and resumes at the promote step."""
    system = protect(plane, sandboxes, "permits")
    with write_session(failover_ctx.engine) as session:
        row = FailoverRow(department=DEPARTMENT, system="permits", kind="planned",
                          source="PROD", target=SITE, state="running", requester="admin",
                          created_at=failover_ctx.clock(), started_at=failover_ctx.clock(),
                          run_id="dead-run", heartbeat_at=failover_ctx.clock())
        fid = failover_repo.add(session, row)
        session.commit()
    run = failover_steps.Run(fid, DEPARTMENT, "permits", FailoverKind.PLANNED, "PROD", SITE,
                             failover_ctx.clock())
    for step, handler in ((FailoverStep.FREEZE, failover_steps.freeze),
                          (FailoverStep.STOP_PRIMARY, failover_steps.stop_primary)):
        output = handler(failover_ctx, run)
        with write_session(failover_ctx.engine) as session:
            failover_repo.set_step(session, fid, step.value, StepStatus.SUCCEEDED,
                                   at=failover_ctx.clock(), output=output)
            if step is FailoverStep.FREEZE:  # the dead run's final cycle, in its order
                failover_repo.set_step(session, fid, FailoverStep.FINAL_CYCLE.value,
                                       StepStatus.SKIPPED, at=failover_ctx.clock(),
                                       output="no protection worker")
            session.commit()
    conn = _cloud(plane, SITE)
    try:  # the dead run had asked for the unshelve
        conn.compute.unshelve_server(system.copy_id)
    finally:
        conn.close()
    with write_session(failover_ctx.engine) as session:
        failover_repo.set_step(session, fid, FailoverStep.PROMOTE.value, StepStatus.RUNNING,
                               at=failover_ctx.clock())
        session.commit()

    def beat() -> None:
        with write_session(failover_ctx.engine) as session:
            dead = failover_repo.get(session, fid)
            dead.heartbeat_at = failover_ctx.clock()
            session.add(dead)
            session.commit()

    # while the run still beats (however slow the machine), another run is refused
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
    argv = ("dr", "failover", "permits", "--department", DEPARTMENT, "--to", SITE,
            "--confirm", "permits", "--json")
    stop = threading.Event()
    beat()

    def beating() -> None:
        while not stop.wait(0.2):
            beat()

    beater = threading.Thread(target=beating, daemon=True)
    beater.start()
    try:
        code, _, err = cli(capsys, *argv)
    finally:
        stop.set()
        beater.join(10)
    assert code != 0 and "is being run" in err
    beat()  # its last beat, then it dies: stale after migrate_stale_after_s (2 s)
    time.sleep(2.5)
    code, out, err = cli(capsys, *argv)
    assert code == 0, out + err
    shown = json.loads(out)
    assert shown["id"] == fid and shown["state"] == "done", json.dumps(shown["steps"],
                                                                       indent=1)
    steps = dict(statuses(shown))
    assert steps["final_cycle"] == "skipped" and steps["promote"] == "succeeded"
    promote = next(s for s in shown["steps"] if s["step"] == "promote")
    assert "was ACTIVE already" in promote["output"] or "unshelve" not in promote["output"]
    assert server(plane, SITE, system.copy_id).status == "ACTIVE"
    assert server(plane, "PROD", system.prod_id).status == "SHUTOFF"


def test_unplanned_failover_with_prod_down(plane: Plane, cli_env: Plane,
                                           sandboxes: Callable[[str], Sandbox],
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    system = protect(plane, sandboxes, "grants", point_age=timedelta(minutes=20))
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
    down = httpx.post(f"{plane.sim.base_url}/_sim/regions/PROD/down", timeout=10)
    assert down.status_code == 200
    argv = ("dr", "failover", "grants", "--department", DEPARTMENT, "--to", SITE,
            "--confirm", "grants", "--json")
    try:
        # a planned failover needs production: it fails at the freeze, saying why
        code, out, err = cli(capsys, *argv)
        assert code == 1, out + err
        failed = json.loads(out)
        assert failed["state"] == "failed" and failed["steps"][0]["status"] == "failed"
        assert "PROD" in failed["steps"][0]["output"]
        # production is lost: the same failover goes on as unplanned
        code, out, err = cli(capsys, *argv, "--unplanned")
        assert code == 0, out + err
        shown = json.loads(out)
        assert (shown["id"], shown["kind"]) == (failed["id"], "unplanned")
    finally:
        httpx.post(f"{plane.sim.base_url}/_sim/regions/PROD/up", timeout=10)
    assert shown["state"] == "done", json.dumps(shown["steps"], indent=1)
    assert statuses(shown)[:3] == [("freeze", "skipped"), ("final_cycle", "skipped"),
                                   ("stop_primary", "skipped")]
    assert "primary site is unreachable" in shown["steps"][0]["output"]
    # the data-loss window is the recovery point's age at the moment of the loss
    assert 20 * 60 <= shown["data_loss_s"] < 20 * 60 + 60
    assert 0 < shown["rto_s"] < 300
    assert server(plane, SITE, system.copy_id).status == "ACTIVE"
    assert not (system.prod_box.root / ".govcloud-frozen").exists()
    assert shown["endpoints"] == {"grants-app-1": f"{system.copy_box.address}:"
                                                  f"{system.copy_box.port}"}
    # the audit chain holds the outcome: the achieved RTO and the data-loss window
    with Session(plane.engine) as session:
        done = [json.loads(e.after_json or "{}") for e in session.exec(
            select(AuditEntryRow).where(AuditEntryRow.action == "dr.failover.done")).all()]
    mine = next(d for d in done if d["failover"] == shown["id"])
    assert (mine["kind"], mine["data_loss_s"], mine["rto_s"]) == (
        "unplanned", shown["data_loss_s"], shown["rto_s"])


def test_the_site_plan(plane: Plane, cli_env: Plane, sandboxes: Callable[[str], Sandbox],
                       capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    protect(plane, sandboxes, "plans")
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
    code, out, err = cli(capsys, "dr", "failover", "--site", "PROD", "--plan", "--json")
    assert code == 0, out + err
    plan = json.loads(out)
    assert plan["site"] == "PROD" and plan["fits"]
    levels = [w["level"] for w in plan["waves"]]
    assert levels == sorted(levels, reverse=True)
    planned = {(s["department"], s["system"]): (w["level"], s["target"])
               for w in plan["waves"] for s in w["systems"]}
    assert planned[(DEPARTMENT, "plans")] == (3, SITE)
    # a system serving from a DR site after a failover is not in production's plan
    for f in plane.admin.get("/dr/failovers")["failovers"]:
        role = plane.admin.get(f"/dr/failovers/{f['id']}")["role"]
        if role is not None and role["primary"] != "PROD":
            assert (f["department"], f["system"]) not in planned
    code, out, err = cli(capsys, "dr", "failover", "--site", "PROD", "--plan")
    assert code == 0 and "wave 1 (DR level" in out and "gd-agri/plans → DR-REMOTE" in out
    code, _, err = cli(capsys, "dr", "failover", "--site", "DR-LOCAL", "--plan")
    assert code != 0 and "production site, not 'DR-LOCAL'" in err
    code, _, err = cli(capsys, "dr", "failover", "--site", "PROD")  # runs it: confirm first
    assert code != 0 and "--confirm PROD" in err and "every service there" in err
    # the plan reads capacity: a department-viewer may not ask for it
    _, viewer = plane.principal("department-viewer", department=DEPARTMENT)
    with pytest.raises(Forbidden):
        viewer.get("/dr/failover-plan", site="PROD")


def test_refusals_say_why(plane: Plane) -> None:
    def refused(path: str, body: dict[str, Any]) -> tuple[int, str]:
        answer = httpx.post(f"{plane.url}/api/v1{path}", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {plane.admin_token}"})
        return answer.status_code, answer.text

    base = {"department": DEPARTMENT, "system": "nope", "confirm": "nope"}
    status, text = refused("/dr/failovers", {**base, "to": "PROD"})
    assert status == 422 and "a failover goes to a DR site, not 'PROD'" in text
    status, text = refused("/dr/failovers", {**base, "to": SITE})
    assert status == 404 and "no system 'nope' in gd-agri" in text
    status, text = refused("/dr/failovers", {**base, "to": SITE, "confirm": "other"})
    assert status == 422 and "--confirm nope" in text
    status, text = refused("/dr/reprotect", base)
    assert status == 409 and "nope is not failed over" in text
    status, text = refused("/dr/failback", base)
    assert status == 409 and "nope is not reprotected" in text
    status, text = refused("/dr/failovers", {**base, "to": SITE, "extra": 1})
    assert status == 422
    answer = httpx.get(f"{plane.url}/api/v1/dr/failovers/999999", timeout=10,
                       headers={"Authorization": f"Bearer {plane.admin_token}"})
    assert answer.status_code == 404 and "no failover 999999" in answer.text


class Cycle:
    """A protection worker's final cycle: fails while ``broken``, records what it was asked."""

    def __init__(self) -> None:
        self.broken = True
        self.asked: list[tuple[str, str, str, tuple[str, ...]]] = []

    def __call__(self, department: str, system: str, site: str,
                 server_ids: Sequence[str]) -> CycleResult:
        self.asked.append((department, system, site, tuple(server_ids)))
        if self.broken:
            raise TemporaryError(f"{site}: the sync of {system} was cut off")
        return CycleResult(output=f"{system}: 2 files copied to {site}")


def test_a_failed_final_cycle_stops_before_production_is_stopped(
        plane: Plane, failover_ctx: FailoverContext, sandboxes: Callable[[str], Sandbox]) -> None:
    system = protect(plane, sandboxes, "cycles")
    cycle = Cycle()
    failover_ctx.final_cycle = cycle
    with write_session(failover_ctx.engine) as session:
        fid = failover_repo.add(session, FailoverRow(
            department=DEPARTMENT, system="cycles", kind="planned", source="PROD", target=SITE,
            state="running", requester="admin", created_at=failover_ctx.clock()))
        session.commit()
    cancel = threading.Event()
    assert failover_run.run_failover(failover_ctx, fid, actor="admin", cancel=cancel) == "failed"
    assert cycle.asked == [(DEPARTMENT, "cycles", SITE, (system.copy_id,))]
    with Session(failover_ctx.engine) as session:
        steps = {r.step: r for r in failover_repo.steps(session, fid)}
    assert steps["final_cycle"].status == "failed"
    assert "the sync of cycles was cut off" in (steps["final_cycle"].output or "")
    assert "stop_primary" not in steps  # production keeps serving: nothing was stopped
    assert server(plane, "PROD", system.prod_id).status == "ACTIVE"
    # the worker works again: the same failover resumes at the final cycle
    cycle.broken = False
    assert failover_run.run_failover(failover_ctx, fid, actor="admin", cancel=cancel) == "done"
    with Session(failover_ctx.engine) as session:
        steps = {r.step: r for r in failover_repo.steps(session, fid)}
    assert steps["freeze"].status == "succeeded" and len(cycle.asked) == 2
    assert (steps["final_cycle"].status, steps["final_cycle"].output) == (
        "succeeded", "cycles: 2 files copied to DR-REMOTE")
    assert server(plane, "PROD", system.prod_id).status == "SHUTOFF"
    assert server(plane, SITE, system.copy_id).status == "ACTIVE"
