"""Faults in a wave, for real: a hung step times out (interrupted, then resumed), a run is
cancelled from another thread — and in both cases the hung command on the host (a real sshd on
loopback) is ended too, and said so — and afterwards no secret (the SSH key, the become
password) is anywhere in the artifacts, events, logs, database or audit."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from govcloud.demo.sandbox import Sandbox
from tests.integration.migrate.conftest import Plane
from tests.integration.migrate.waves import DATA, cli, make_hosts, ready_wave, tree
from tests.processes import marked_by, processes_naming, reap_marked

BECOME = "Become-P4ss-7f3a9c"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plane_settings(migrate_root: Path, client_key: Path,
                   plane_database: str) -> dict[str, Any]:
    backend = plane_database.split(":", 1)[0].split("+", 1)[0]
    return {"migrate_dir": migrate_root / f"state-{backend}", "ssh_key": client_key,
            "ssh_timeout_s": 5.0, "migrate_python": "/usr/bin/python3",
            "step_timeout_s": 60.0, "step_idle_timeout_s": 4.0, "become_password": BECOME}


def _steps(capsys: pytest.CaptureFixture[str], wave: str) -> dict[str, dict[str, Any]]:
    code, out, _ = cli(capsys, "migrate", "show", wave, "--json")
    assert code == 0
    return {h["host"]: h["steps"] for h in json.loads(out)["hosts"]}


def test_a_hung_step_times_out_and_the_rerun_resumes_there(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox], client_key: Path, plane_settings: dict[str, Any],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hung = {"govcloud_service_stop": "sleep 4011"}  # a service stop that never returns
    inv, boxes = make_hosts(sandboxes, tmp_path, "gd-agri", ["agri-a"],
                            **{"agri-a": hung})
    wave = ready_wave(capsys, inv, "gd-agri", boxes)
    code, out, _ = cli(capsys, "migrate", "run", wave, "--follow")
    assert code == 1 and f"{wave}: interrupted" in out
    steps = _steps(capsys, wave)["agri-a"]
    assert steps["freeze"]["status"] == "interrupted" and "timed out" in steps["freeze"]["error"]
    assert steps["initial_sync"]["status"] == "succeeded"
    # the hung stop on the legacy host (loopback) was ended too, and said so
    assert marked_by("freeze-", ":agri-a") == {}
    assert "remote_ended" in out and "sleep 4011" in out

    # the operator fixes the stop command; the rerun starts at the freeze
    data = yaml.safe_load(inv.read_text())
    data["all"]["hosts"]["agri-a"]["govcloud_service_stop"] = \
        "rm -f $GOVCLOUD_ROOT/run/agri-a.running"
    inv.write_text(yaml.safe_dump(data))
    assert cli(capsys, "hosts", "import", str(inv))[0] == 0
    code, out, err = cli(capsys, "migrate", "run", wave, "--follow")
    assert code == 0, out + err
    steps = _steps(capsys, wave)["agri-a"]
    assert steps["precheck"]["attempts"] == 1 and steps["initial_sync"]["attempts"] == 1
    assert steps["freeze"]["attempts"] == 2 and steps["done"]["status"] == "succeeded"
    legacy, target = boxes["agri-a"]
    assert tree(legacy.root / DATA.lstrip("/")) == tree(target.root / DATA.lstrip("/"))

    # --- the secrets scan: every file under the migration state, the database, the logs
    secrets = [BECOME] + [line for line in client_key.read_text().splitlines()
                          if line and not line.startswith("-----")]
    state = Path(str(plane_settings["migrate_dir"]))
    hits = []
    for path in state.rglob("*"):
        if path.is_file() and "stage" not in path.parts:
            content = path.read_bytes().decode("utf-8", "replace")
            hits += [f"{path}: {s[:6]}…" for s in secrets if s in content]
    with cli_env.engine.connect() as conn:
        tables = ["audit_entry", "migration_event", "step_run", "migration_wave", "wave_host",
                  "legacy_host", "host_survey", "system_endpoint", "migration_signoff"]
        for table in tables:
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                content = " ".join(str(v) for v in row)
                hits += [f"{table}: {s[:6]}…" for s in secrets if s in content]
    logs = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    hits += [f"log: {s[:6]}…" for s in secrets if s in logs]
    assert hits == []
    runs = list((state / "runs").rglob("command"))
    assert runs, "the scan must have seen ansible-runner's artifacts"
    assert not any(p.name == "passwords" for p in state.rglob("*"))  # suppress_env_files


def test_cancel_from_another_thread_interrupts_and_the_rerun_completes(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox], request: pytest.FixtureRequest) -> None:
    request.addfinalizer(lambda: reap_marked("freeze-", ":data-a"))  # even when it fails
    # hangs at once: the cancel must come before the module's 4 s idle timeout ends the step
    slow = {"govcloud_service_stop": "sleep 4012"}
    inv, boxes = make_hosts(sandboxes, tmp_path, "gd-data", ["data-a"], **{"data-a": slow})
    wave = ready_wave(capsys, inv, "gd-data", boxes)
    api = cli_env.admin
    api.post(f"/migrate/waves/{wave}/run")
    deadline = time.monotonic() + 60
    # the stop hangs on the legacy host (loopback): its processes carry the step's mark
    while not [c for c in marked_by("freeze-", ":data-a").values() if "sleep 4012" in c]:
        assert time.monotonic() < deadline, _steps(capsys, wave)["data-a"]
        time.sleep(0.1)
    left = marked_by("freeze-", ":data-a")
    code, out, err = cli(capsys, "migrate", "cancel", wave)
    assert code == 0, err
    assert out.startswith(f"{wave}: cancelled; the run stopped"), out
    # what the cancel ended on the host, pid by pid, and nothing of the step is left there
    for pid, command in left.items():
        if "sleep 4012" in command:
            assert f"ended pid {pid} (process group " in out and "sleep 4012" in out
    assert "data-a (legacy host): ended pid" in out
    assert marked_by("freeze-", ":data-a") == {}
    assert processes_naming("sleep 4012") == []
    assert not api.get(f"/migrate/waves/{wave}/events")["running"]
    steps = _steps(capsys, wave)["data-a"]
    assert steps["freeze"]["status"] == "interrupted" and "cancelled" in steps["freeze"]["error"]
    assert api.get("/migrate/waves")["waves"]  # still served
    data = yaml.safe_load(inv.read_text())
    data["all"]["hosts"]["data-a"]["govcloud_service_stop"] = "true"
    inv.write_text(yaml.safe_dump(data))
    assert cli(capsys, "hosts", "import", str(inv))[0] == 0
    code, out, err = cli(capsys, "migrate", "run", wave, "--follow")
    assert code == 0, out + err
    assert _steps(capsys, wave)["data-a"]["freeze"]["attempts"] == 2


def test_a_key_that_changed_stops_the_run_before_anything_runs(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox]) -> None:
    inv, boxes = make_hosts(sandboxes, tmp_path, "shantou", ["st-a"])
    wave = ready_wave(capsys, inv, "shantou", boxes)
    legacy, _ = boxes["st-a"]
    legacy.stop()
    legacy.new_host_key()
    legacy.start()
    code, _, err = cli(capsys, "migrate", "run", wave)
    assert code == 3 and "CHANGED" in err
    code, out, _ = cli(capsys, "migrate", "events", wave, "--json")
    assert json.loads(out)["events"] == []  # nothing ran
    assert all(s["status"] == "pending" for s in _steps(capsys, wave)["st-a"].values())


def test_a_login_that_prints_warnings_does_not_fail_the_checksums(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox]) -> None:
    """A legacy host whose shell profile prints a warning at every login (as a broken pyenv
    rehash does): with a pty the warning would land in the checksum list and verify would
    report a difference that is not in the data. The wave completes."""
    inv, boxes = make_hosts(sandboxes, tmp_path, "gd-edu", ["edu-a"])
    legacy, _ = boxes["edu-a"]
    legacy.stop()
    legacy.login_stderr = "pyenv: cannot rehash: /root/.pyenv/shims isn't writable"
    legacy.start()
    wave = ready_wave(capsys, inv, "gd-edu", boxes)
    code, out, err = cli(capsys, "migrate", "run", wave, "--follow")
    assert code == 0, out + err
    steps = _steps(capsys, wave)["edu-a"]
    assert steps["verify"]["status"] == "succeeded" and steps["verify"]["attempts"] == 1
    legacy, target = boxes["edu-a"]
    assert tree(legacy.root / DATA.lstrip("/")) == tree(target.root / DATA.lstrip("/"))


def test_verify_names_the_files_that_differ(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox]) -> None:
    """The target's service writes into the data at start (after the final sync): verify
    fails on that host and says which file."""
    start = {"govcloud_service_start":
             f"echo late > $GOVCLOUD_ROOT{DATA}/written-at-start.txt && "
             "mkdir -p $GOVCLOUD_ROOT/run && touch $GOVCLOUD_ROOT/run/tax-a.running"}
    inv, boxes = make_hosts(sandboxes, tmp_path, "gd-tax", ["tax-a"], **{"tax-a": start})
    wave = ready_wave(capsys, inv, "gd-tax", boxes)
    code, out, err = cli(capsys, "migrate", "run", wave, "--follow")
    assert code == 1, out + err
    verify = _steps(capsys, wave)["tax-a"]["verify"]
    assert verify["status"] == "failed", verify
    assert "differ" in verify["error"] and "./written-at-start.txt" in verify["error"]
