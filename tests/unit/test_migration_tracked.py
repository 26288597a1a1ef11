"""What a migration step runs on a host is ``tracked`` (govcloud/services/migration_commands.py):
run by a real ``sh`` here, a tracked command prints and exits as the command does, and every
process it starts carries the step's mark in a process group of its own; ``reap_command`` ends
exactly the processes of its job and host — and says which — and nothing of another host's.
(Over a real sshd, cancelled and timed out: tests/integration/migrate/test_wave_faults.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from govcloud.domain.legacy import Endpoint, LegacyHost
from govcloud.services.migration_commands import host_commands, reap_command, tracked
from govcloud.settings import Settings
from tests.processes import marked_by


def sh(command: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30,
                          check=False, **kwargs)  # type: ignore[call-overload]


def test_a_tracked_command_prints_and_exits_as_the_command() -> None:
    quoted = "printf '%s\\n' \"it's\" out; echo err >&2; exit 7"
    plain, wrapped = sh(quoted), sh(tracked(quoted, "freeze-1", "web1"))
    assert (wrapped.returncode, wrapped.stdout, wrapped.stderr) == \
        (plain.returncode, plain.stdout, plain.stderr) == (7, "it's\nout\n", "err\n")
    assert sh(tracked("echo $GOVCLOUD_JOB", "freeze-1", "web1")).stdout == "freeze-1:web1\n"
    assert tracked("", "freeze-1", "web1") == ""  # nothing to run stays nothing
    assert tracked("true", None, "web1") == "true"  # no job: as it was


def test_the_reaper_ends_its_jobs_processes_on_its_host_only() -> None:
    mine = subprocess.Popen(["sh", "-c", tracked("sleep 3021; echo never", "stop-9", "web1")],
                            stdout=subprocess.PIPE, text=True)
    other = subprocess.Popen(["sh", "-c", tracked("sleep 3022", "stop-9", "web1-target")])
    try:
        deadline = time.monotonic() + 10
        while len(marked_by("stop-9:web1")) < 2 or not marked_by("stop-9:web1-target"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        left = {p: c for p, c in marked_by("stop-9:web1").items()
                if not c.startswith("sh -c GOVCLOUD")}
        sleeper = next(p for p, c in left.items() if c.strip() == "sleep 3021")
        group = os.getpgid(sleeper)
        assert group != os.getpgid(0)  # a process group of its own
        out = sh(reap_command("stop-9", "web1"))
        assert out.returncode == 0 and out.stderr == ""
        assert f"ended pid {sleeper} (process group {group}): sleep 3021" in out.stdout
        assert mine.wait(10) == 128 + signal.SIGTERM and mine.stdout is not None
        assert mine.stdout.read() == ""  # ended before "never"
        assert not [c for c in marked_by("stop-9:web1").values() if "3021" in c]
        assert [c for c in marked_by("stop-9:web1-target").values() if "3022" in c]
        assert sh(reap_command("stop-9", "web1")).stdout == ""  # nothing left: says nothing
    finally:
        sh(reap_command("stop-9", "web1-target"))
        other.wait(10)


@pytest.mark.parametrize("key", ["gc_stop_legacy", "gc_precheck_target", "gc_sums_legacy",
                                 "gc_health_target"])
def test_a_steps_host_commands_are_tracked_and_its_syncs_are_not(key: str,
                                                                 tmp_path: Path) -> None:
    host = LegacyHost("web1", "gd-psd", "hukou", Endpoint("10.0.0.1"),
                      data_paths=("/srv/a",), service="hukou", health_check="true")
    commands = host_commands(host, Endpoint("10.0.0.2"), settings=Settings(),
                             stage=tmp_path, job="freeze-1")
    where = "web1-target" if key.endswith("_target") else "web1"
    assert commands[key].startswith(f"GOVCLOUD_JOB=freeze-1:{where}; export GOVCLOUD_JOB; ")
    assert not commands["gc_sync"].startswith("GOVCLOUD_JOB")  # on the control node
    assert commands["gc_reap_legacy"].startswith("m=GOVCLOUD_JOB=freeze-1:web1;")
    assert commands["gc_reap_target"].startswith("m=GOVCLOUD_JOB=freeze-1:web1-target;")
    untracked = host_commands(host, Endpoint("10.0.0.2"), settings=Settings(), stage=tmp_path)
    assert "GOVCLOUD_JOB" not in " ".join(untracked.values())
