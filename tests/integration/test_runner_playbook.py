"""The ansible-runner adapter with real ansible-runner and ansible-core (local connection)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from govcloud.errors import InvalidInput
from govcloud.runner.playbook import PlaybookEvent, job_processes, run_playbook
from tests.processes import processes_naming

DATA = Path(__file__).resolve().parents[1] / "data" / "playbooks"


def inventory(tmp_path: Path, fail_on: str | None = None) -> dict[str, object]:
    hosts = {name: {"govcloud_site": "PROD", "fail_here": name == fail_on,
                    "ansible_python_interpreter": sys.executable}
             for name in ("web-1", "web-2")}
    return {"all": {"hosts": hosts, "vars": {"out_dir": str(tmp_path / "out")}}}


def test_events_stream_and_the_job_keeps_its_own_artifacts(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    events: list[PlaybookEvent] = []
    result = run_playbook(DATA / "touch.yml", private_data_dir=tmp_path / "runner",
                          inventory=inventory(tmp_path), ident="job-1", on_event=events.append,
                          timeout_s=120, host_key_checking=False)
    assert result.ok, result.summary()
    assert result.artifact_dir == tmp_path / "runner" / "artifacts" / "job-1"
    assert (result.artifact_dir / "job_events").is_dir()
    assert not (tmp_path / "runner" / "env" / "extravars").exists()  # suppress_env_files
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["web-1.txt", "web-2.txt"]
    changed = [(e.host, e.task) for e in events if e.kind == "changed"]
    assert sorted(changed) == [("web-1", "record the host"), ("web-2", "record the host")]
    assert events[-1].kind == "recap"
    # a second run changes nothing, in a job of its own
    again = run_playbook(DATA / "touch.yml", private_data_dir=tmp_path / "runner",
                         inventory=inventory(tmp_path), timeout_s=120, host_key_checking=False)
    assert again.ok and again.changed == 0 and again.ident != "job-1"


def test_a_failing_host_is_reported(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    events: list[PlaybookEvent] = []
    result = run_playbook(DATA / "touch.yml", private_data_dir=tmp_path / "runner",
                          inventory=inventory(tmp_path, fail_on="web-2"),
                          on_event=events.append, timeout_s=120, host_key_checking=False)
    assert result.status == "failed" and not result.ok
    assert "failed on web-2" in result.summary()
    assert [e.message for e in events if e.kind == "failed"] == ["asked to fail on web-2"]


def test_timeout_and_cancel_leave_no_process_of_the_job(tmp_path: Path) -> None:
    """Ansible's workers run in sessions of their own, out of reach of the process-group kill
    that ends a job on timeout or cancel: none of them may outlive the job."""
    local = {"all": {"hosts": {"localhost": {"ansible_python_interpreter":
                                             sys.executable}}}}
    timed = run_playbook(DATA / "sleep.yml", private_data_dir=tmp_path / "r", inventory=local,
                         timeout_s=3, host_key_checking=False)
    assert timed.status == "timeout"
    cancelled = run_playbook(DATA / "sleep.yml", private_data_dir=tmp_path / "r",
                             inventory=local, timeout_s=60, cancel=lambda: True,
                             host_key_checking=False)
    assert cancelled.status == "canceled"
    assert processes_naming(str(tmp_path)) == []
    assert job_processes(timed.ident) == [] and job_processes(cancelled.ident) == []


def test_the_jobs_ssh_connection_masters_end_with_it(tmp_path: Path) -> None:
    """ssh's ControlPersist masters run detached with a clean environment (no job tag): the
    job gets a control-socket folder of its own, and what names it ends with the job."""
    local = {"all": {"hosts": {"localhost": {"ansible_python_interpreter":
                                             sys.executable}}}}
    base = tmp_path / "cp"
    result = run_playbook(DATA / "control_master.yml", private_data_dir=tmp_path / "r",
                          inventory=local, timeout_s=60, host_key_checking=False,
                          envvars={"ANSIBLE_SSH_CONTROL_PATH_DIR": str(base)})
    assert result.ok, result.summary()
    assert processes_naming(f"{base}/") == []
    assert not any(base.iterdir()) if base.exists() else True


def test_a_running_job_is_found_by_its_tag(tmp_path: Path) -> None:
    local = {"all": {"hosts": {"localhost": {"ansible_python_interpreter":
                                             sys.executable}}}}
    stop = threading.Event()
    job = threading.Thread(target=run_playbook, args=(DATA / "sleep.yml",), kwargs={
        "private_data_dir": tmp_path / "r", "inventory": local, "timeout_s": 60,
        "ident": "tagged-job", "cancel": stop.is_set, "host_key_checking": False})
    job.start()
    try:
        deadline = time.monotonic() + 60
        while len(job_processes("tagged-job")) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # ansible-playbook and its worker
        assert len(job_processes("tagged-job")) >= 2
        assert job_processes("tagged-job-2") == []
    finally:
        stop.set()
        job.join(60)
    assert job_processes("tagged-job") == []


def test_a_missing_playbook_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        run_playbook(tmp_path / "nope.yml", private_data_dir=tmp_path, inventory={})


def test_inventory_values_are_data_never_templates(tmp_path: Path) -> None:
    """A host variable holding a Jinja lookup (an imported inventory is hostile) is passed on
    as text: the lookup never runs on the control node."""
    (tmp_path / "out").mkdir()
    mark = tmp_path / "pwned"
    hostile = "{{ lookup('pipe', 'touch " + str(mark) + "') }}"
    inv = inventory(tmp_path)
    inv["all"]["hosts"]["web-1"]["govcloud_site"] = hostile  # type: ignore[index]
    result = run_playbook(DATA / "touch.yml", private_data_dir=tmp_path / "runner",
                          inventory=inv, timeout_s=120, host_key_checking=False)
    assert result.ok, result.summary()
    assert not mark.exists()
    assert (tmp_path / "out" / "web-1.txt").read_text() == f"hardened web-1 in {hostile}\n"


def test_an_empty_inventory_string_stays_an_empty_string(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    inv = inventory(tmp_path)
    inv["all"]["hosts"]["web-1"]["govcloud_site"] = ""  # type: ignore[index]
    result = run_playbook(DATA / "touch.yml", private_data_dir=tmp_path / "runner",
                          inventory=inv, timeout_s=120, host_key_checking=False)
    assert result.ok, result.summary()
    assert (tmp_path / "out" / "web-1.txt").read_text() == "hardened web-1 in \n"
