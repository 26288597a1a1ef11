"""Provisioning end to end over real HTTP: the simulator driven by unmodified openstacksdk, the
control plane with its job worker, SQLite and PostgreSQL. An operator submits, a bureau-admin
approves, the worker creates the servers (idempotency tags, anti-affinity groups), and they
appear in the inventory at once. Faults are real: regions down, quota exceeded in the cloud."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from govcloud.errors import GovCloudError
from govcloud.services import provisioning as svc
from govcloud.workers.provision import start_provision_worker
from tests.integration.control.provisioning_plane import (
    NETWORKS,
    WAIT,
    ProvPlane,
    held,
    request,
    tagged,
    wait_final,
)

from .conftest import Plane

HARDEN = Path(__file__).resolve().parents[2] / "data" / "playbooks" / "harden.yml"


@pytest.fixture(scope="module")
def plane_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"provision_retries": 2, "provision_backoff_s": 0.05, "provision_poll_s": 0.2,
            "provision_active_timeout_s": 20, "provision_playbooks": {"base-hardening": HARDEN},
            "provision_runner_dir": tmp_path_factory.mktemp("runner")}


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    return start_provision_worker


@pytest.fixture(scope="module")
def prov(plane: Plane) -> ProvPlane:
    """The plane (with the job worker) synced, with an operator."""
    token = plane.add_principal("ops-li", "operator")
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    assert plane.sim.clouds_yaml is not None
    return ProvPlane(plane.url, plane.engine, plane.sim, plane.admin,
                     plane.client(token), plane.sim.clouds_yaml, token)


def test_operator_submits_admin_approves_worker_provisions(prov: ProvPlane) -> None:
    submitted = prov.operator.post("/requests", request("case"))
    assert submitted["state"] == "submitted" and submitted["dr_level"] == 6
    rid = submitted["id"]
    with pytest.raises(GovCloudError, match="may not request.approve"):
        prov.operator.post(f"/requests/{rid}/approve")
    approved = prov.admin.post(f"/requests/{rid}/approve")
    assert approved["state"] == "approved"
    assert [s["site"] for s in approved["placement"]["sites"]] == ["PROD", "DR-LOCAL",
                                                                   "DR-REMOTE"]
    done = wait_final(prov.admin, rid)
    assert done["state"] == "done", done
    shown = prov.admin.get(f"/requests/{rid}")
    # the cold copy (DR-REMOTE) is shelved and offloaded once ACTIVE (issue 19)
    assert sorted((s["site"], s["status"]) for s in shown["servers"]) == sorted(
        (site, "shelved_offloaded" if site == "DR-REMOTE" else "active")
        for site in NETWORKS for _ in range(2))
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds[:3] == ["submitted", "approved", "provisioning"] and kinds[-1] == "done"
    # in the cloud: two servers per site, each tagged once, members of one anti-affinity group
    servers = tagged(prov, rid)
    for region, found in servers.items():
        assert len(found) == 2, region
        if region == "DR-REMOTE":  # offloaded: on no host
            assert [(s.status, s.compute_host) for s in found] == [("SHELVED_OFFLOADED", None)] * 2
            continue
        assert len({s.compute_host for s in found}) == 2, "anti-affinity: distinct hosts"
        assert {s.metadata["govcloud_request"] for s in found} == {str(rid)}
    # in the inventory at once, without a sync
    listed = prov.admin.get("/servers", department="gd-psd", limit=1000)
    names = {(s["site"], s["name"]) for s in listed["servers"]}
    assert {(site, f"case-app-{n}") for site in NETWORKS for n in (1, 2)} <= names
    # the reservation is released, the ledger matches, every step is audited
    assert svc.ledger_check(prov.engine)["matches"]
    audit = prov.admin.get("/audit", action="request.done")
    assert any(e["after"]["request"] == rid for e in audit["entries"])


def test_unknown_names_and_bad_counts_are_refused_before_reserving(prov: ProvPlane) -> None:
    before = prov.admin.get("/requests")["count"]
    for body, text in ((request("bad1", image="no-such-image"), "unknown image 'no-such-image'"),
                       (request("bad2", flavor="gc.nope"), "unknown flavor 'gc.nope'"),
                       (request("bad3", count=0), "count: 0 is outside 1..500"),
                       (request("bad4", count=10_000), "count: 10000 is outside"),
                       (request("bad5", dr_level=3), "below department gd-psd's level 6")):
        with pytest.raises(GovCloudError, match=text) as err:
            prov.operator.post("/requests", body)
        assert err.value.http_status == 422
    bad_net = request("bad6")
    bad_net["servers"][0]["network"] = "nowhere-net"
    with pytest.raises(GovCloudError, match="unknown network 'nowhere-net'"):
        prov.operator.post("/requests", bad_net)
    assert prov.admin.get("/requests")["count"] == before


def test_a_region_down_fails_cleanly_and_leaks_nothing(prov: ProvPlane) -> None:
    rid = prov.operator.post("/requests", request("downsys", dr_level=6))["id"]
    prov.region("DR-REMOTE", up=False)
    try:
        prov.admin.post(f"/requests/{rid}/approve")
        failed = wait_final(prov.admin, rid)
    finally:
        prov.region("DR-REMOTE", up=True)
    assert failed["state"] == "failed"
    assert "DR-REMOTE" in failed["error"] and "gave up after 3 attempts" in failed["error"]
    events = prov.admin.get(f"/requests/{rid}")["events"]
    assert sum(e["kind"] == "retry" for e in events) >= 2
    assert all(not found for found in tagged(prov, rid).values()), "servers leaked"
    assert svc.ledger_check(prov.engine)["matches"]
    assert held(prov.engine, rid) == 0


def test_a_region_answering_500s_fails_after_bounded_retries(prov: ProvPlane) -> None:
    rid = prov.operator.post("/requests", request("errsys", count=1))["id"]
    prov.faults(error_rate=1.0)  # every cloud request answers 503
    try:
        prov.admin.post(f"/requests/{rid}/approve")
        failed = wait_final(prov.admin, rid)
    finally:
        prov.faults(error_rate=0.0)
    assert failed["state"] == "failed"
    assert "HTTP 503" in failed["error"] and "gave up after 3 attempts" in failed["error"]
    events = prov.admin.get(f"/requests/{rid}")["events"]
    retries = [e["message"] for e in events if e["kind"] == "retry"]
    assert len(retries) == 2, retries  # provision_retries=2, then the clean failure
    assert "retry 1 of 2" in retries[0] and "retry 2 of 2" in retries[1]
    assert all(not found for found in tagged(prov, rid).values()), "servers leaked"
    assert held(prov.engine, rid) == 0


def test_cloud_side_quota_exceeded_fails_with_the_clouds_message(prov: ProvPlane) -> None:
    conn = prov.cloud("PROD")
    project = conn.identity.find_project("gd-tax")
    old = conn.compute.get_quota_set(project.id)
    detail = conn.compute.get(f"/os-quota-sets/{project.id}/detail").json()["quota_set"]
    # no room left in the cloud, while the stored snapshot still shows room
    conn.compute.update_quota_set(project.id, cores=detail["cores"]["in_use"])
    try:
        rid = prov.operator.post("/requests", request("quota", department="gd-tax",
                                                      dr_level=None))["id"]
        prov.admin.post(f"/requests/{rid}/approve")
        failed = wait_final(prov.admin, rid)
    finally:
        conn.compute.update_quota_set(project.id, cores=old.cores)
        conn.close()
    assert failed["state"] == "failed"
    assert "Quota exceeded for cores" in failed["error"], failed["error"]
    assert all(not found for found in tagged(prov, rid).values())
    assert held(prov.engine, rid) == 0


def test_the_ci_playbook_provisions_once_and_then_reports_no_change(
        prov: ProvPlane, tmp_path: Path) -> None:
    """playbooks/provision.yml with the shipped module, run by real ansible-runner: check mode
    submits nothing, the first run submits and waits (approved by a bureau-admin meanwhile),
    the second run reports changed=false."""
    import sys
    import threading

    import yaml

    from govcloud.runner.playbook import PlaybookEvent, run_playbook

    playbook = Path(__file__).resolve().parents[3] / "playbooks" / "provision.yml"
    req = tmp_path / "ci.yaml"
    req.write_text(yaml.safe_dump(request("ci-built", count=1)), encoding="utf-8")
    local = {"all": {"hosts": {"localhost": {"ansible_python_interpreter": sys.executable}}}}
    env = {"GOVCLOUD_SERVER": prov.url, "GOVCLOUD_TOKEN": prov.operator_token}

    def run(check: bool = False) -> tuple[Any, list[PlaybookEvent]]:
        events: list[PlaybookEvent] = []
        result = run_playbook(playbook, private_data_dir=tmp_path / "runner", inventory=local,
                              extravars={"govcloud_requests": [str(req)],
                                         "govcloud_timeout": WAIT},
                              envvars=env, timeout_s=120, on_event=events.append,
                              check=check, diff=check, host_key_checking=False)
        return result, events

    def ours() -> list[dict[str, Any]]:
        return [r for r in prov.admin.get("/requests", department="gd-psd")["requests"]
                if r["system"] == "ci-built"]

    checked, _ = run(check=True)
    assert checked.ok, checked.summary()
    assert checked.changed == 1 and ours() == []

    def approve_when_submitted() -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            found = ours()
            if found:
                prov.admin.post(f"/requests/{found[0]['id']}/approve")
                return
            time.sleep(0.1)

    approver = threading.Thread(target=approve_when_submitted)
    approver.start()
    first, events = run()
    approver.join()
    assert first.ok, (first.summary(), [e.line() for e in events])
    assert first.changed == 1
    assert [r["state"] for r in ours()] == ["done"]
    second, _ = run()
    assert second.ok and second.changed == 0
    assert len(ours()) == 1


def test_post_provision_playbooks_run_through_ansible_runner(prov: ProvPlane) -> None:
    body = request("hardened", count=1, dr_level=None)
    body["department"] = "gd-hrss"
    body["playbooks"] = ["base-hardening"]
    rid = prov.operator.post("/requests", body)["id"]
    prov.admin.post(f"/requests/{rid}/approve")
    done = wait_final(prov.admin, rid)
    assert done["state"] == "done", done
    lines = [e["message"] for e in prov.admin.get(f"/requests/{rid}")["events"]
             if e["kind"] == "playbook"]
    sites = [s["site"] for s in done["placement"]["sites"]]
    for site in sites:  # one inventory host per new server, named <server>.<site>
        assert any(f"hardened-app-1.{site.lower()}: baseline applied — changed" in line
                   for line in lines), (site, lines)
    assert any("playbook successful" in line for line in lines), lines
    # a playbook that fails makes the request fail, keeping the servers it created
    refused = request("refuse", count=1)
    refused["department"], refused["playbooks"] = "gd-hrss", ["base-hardening"]
    rid = prov.operator.post("/requests", refused)["id"]
    prov.admin.post(f"/requests/{rid}/approve")
    failed = wait_final(prov.admin, rid)
    assert failed["state"] == "failed"
    assert "post-provision playbook base-hardening: playbook failed" in failed["error"]
    assert sum(len(v) for v in tagged(prov, rid).values()) == len(sites)
    with pytest.raises(GovCloudError, match="unknown playbook 'nope'"):
        prov.operator.post("/requests", {**refused, "system": "other", "playbooks": ["nope"]})


EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "request.yaml"


@pytest.fixture
def cli(prov: ProvPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProvPlane:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("GOVCLOUD_SERVER", prov.url)
    monkeypatch.setenv("GOVCLOUD_TOKEN", prov.operator_token)
    return prov


def approve_next(prov: ProvPlane, system: str, *, verb: str = "approve",
                 body: Any = None) -> threading.Thread:
    """A bureau-admin deciding on the next request for ``system`` as soon as it appears."""
    def run() -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            found = [r for r in prov.admin.get("/requests", state="submitted")["requests"]
                     if r["system"] == system]
            if found:
                prov.admin.post(f"/requests/{found[0]['id']}/{verb}", body)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_documented_example_provisions_with_provision_apply(
        cli: ProvPlane, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/examples/request.yaml, as CI runs it: `provision apply --wait` exits 0 once done."""
    from govcloud.cli import main

    approver = approve_next(cli, "case-mgmt")
    code = main(["provision", "apply", str(EXAMPLE), "--wait", "--timeout", str(WAIT)])
    approver.join()
    out = capsys.readouterr().out
    assert code == 0, out
    assert "case-mgmt): done" in out and "approved by" in out
    rid = next(r["id"] for r in cli.admin.get("/requests")["requests"]
               if r["system"] == "case-mgmt")
    servers = tagged(cli, rid)
    assert {k: len(v) for k, v in servers.items()} == dict.fromkeys(NETWORKS, 3)
    # the db server has its 100 GB data volume
    conn = cli.cloud("PROD")
    db = next(s for s in servers["PROD"] if s.name == "case-mgmt-db-1")
    volumes = [conn.block_storage.get_volume(a["id"]) for a in db.attached_volumes]
    conn.close()
    assert [v.size for v in volumes] == [100]
    assert main(["request", "show", str(rid)]) == 0
    shown = capsys.readouterr().out
    assert "PROD (primary): 3 servers" in shown and "DR-REMOTE (cold)" in shown
    assert main(["request", "show", str(rid), "--follow"]) == 0  # final: events, then exit
    followed = capsys.readouterr().out
    assert "approved     approved by" in followed and "active       PROD: case-mgmt-db-1" \
        in followed and "done         done by provisioner" in followed


def test_provision_apply_exit_codes(cli: ProvPlane, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from govcloud.cli import main
    from govcloud.cli_requests import EXIT_REJECTED, EXIT_TIMEOUT

    def write(system: str) -> str:
        path = tmp_path / f"{system}.yaml"
        path.write_text(yaml.safe_dump(request(system, count=1)), encoding="utf-8")
        return str(path)

    # nobody decides: timed out (24), and the request is still there, submitted
    assert main(["provision", "apply", write("slow"), "--wait", "--timeout", "1"]) == \
        EXIT_TIMEOUT
    assert "timed out after 1 s" in capsys.readouterr().err
    # rejected (20), with the bureau's reason
    rejecter = approve_next(cli, "nope-sys", verb="reject", body={"reason": "use the shared "
                                                                            "cluster"})
    assert main(["provision", "apply", write("nope-sys"), "--wait", "--timeout",
                 str(WAIT)]) == EXIT_REJECTED
    rejecter.join()
    assert "rejected: use the shared cluster" in capsys.readouterr().out
    # a malformed file: exit 2, a clear message, nothing submitted
    bad = tmp_path / "bad.yaml"
    bad.write_text("department: gd-psd\nservers: [unclosed\n", encoding="utf-8")
    before = cli.admin.get("/requests")["count"]
    assert main(["provision", "apply", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot parse request file {bad}")
    assert cli.admin.get("/requests")["count"] == before
    # the operator may list and cancel, not approve
    listed = main(["request", "list", "--state", "submitted", "--json"])
    assert listed == 0
    slow = next(r for r in yaml.safe_load(capsys.readouterr().out)["requests"]
                if r["system"] == "slow")
    assert main(["request", "approve", str(slow["id"])]) == 5
    assert "may not request.approve" in capsys.readouterr().err
    assert main(["request", "cancel", str(slow["id"]), "--reason", "obsolete"]) == 0
    assert "slow): cancelled" in capsys.readouterr().out
