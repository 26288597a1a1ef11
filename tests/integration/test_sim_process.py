"""SimProcess against stand-in simulators (small scripts), for the paths a healthy simulator
never takes: dying during start-up, never becoming ready, and being stopped."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from govcloud.demo.process import SimProcess
from govcloud.errors import PermanentError, TemporaryError

READY_THEN_SERVE = """
import json, signal, sys, time
args = sys.argv[1:]
ready = args[args.index("--ready-file") + 1]
clouds = args[args.index("--clouds-yaml") + 1]
open(clouds, "w").write("clouds: {}\\n")
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print("serving", flush=True)
json.dump({"base_url": "http://127.0.0.1:9", "clouds_yaml": clouds, "pid": 1}, open(ready, "w"))
while True:
    time.sleep(0.05)
"""

DIE = """
import sys
print("seeding the province...", flush=True)
print("ValueError: bad seed data", file=sys.stderr, flush=True)
sys.exit(3)
"""

NEVER_READY = """
import time
while True:
    time.sleep(0.05)
"""


def fake_python(tmp_path: Path, body: str) -> str:
    """An executable that stands in for `python -m govcloud.sim serve ...`."""
    path = tmp_path / "fake-python"
    path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


def test_ready_then_stopped(tmp_path: Path) -> None:
    sim = SimProcess(state_dir=tmp_path / "state", scale="small", seed=7,
                     python=fake_python(tmp_path, READY_THEN_SERVE))
    assert sim.command()[1:4] == ["-m", "govcloud.sim", "serve"]
    assert sim.command()[-2:] == ["--seed", "7"]
    with sim:
        info = sim.wait_ready(timeout=30)
        assert info.base_url == "http://127.0.0.1:9"
        assert info.clouds_yaml == tmp_path / "state" / "clouds.yaml"
        proc = sim.proc
        assert proc is not None and proc.poll() is None
    assert proc.returncode == 0  # stopped by SIGTERM, cleanly
    assert not sim.ready_file.exists()
    assert "serving" in sim.log_file.read_text()


def test_death_during_start_reports_the_log_tail(tmp_path: Path) -> None:
    sim = SimProcess(state_dir=tmp_path, python=fake_python(tmp_path, DIE))
    with sim, pytest.raises(PermanentError) as info:
        sim.wait_ready(timeout=30)
    assert "exited with status 3" in info.value.message
    assert "ValueError: bad seed data" in info.value.message
    assert str(sim.log_file) in (info.value.hint or "")


def test_not_ready_in_time_is_temporary_and_the_process_is_stopped(tmp_path: Path) -> None:
    sim = SimProcess(state_dir=tmp_path, python=fake_python(tmp_path, NEVER_READY))
    progress: list[float] = []
    with sim, pytest.raises(TemporaryError, match="not ready after"):
        proc = sim.proc
        sim.wait_ready(timeout=0.5, progress=progress.append, poll=0.05)
    assert progress and progress == sorted(progress)
    assert proc is not None and proc.returncode is not None


def test_a_stale_ready_file_is_not_trusted(tmp_path: Path) -> None:
    (tmp_path / "sim.ready").write_text(json.dumps({"base_url": "http://stale"}))
    sim = SimProcess(state_dir=tmp_path, python=fake_python(tmp_path, DIE))
    with sim, pytest.raises(PermanentError):
        sim.wait_ready(timeout=30)


def test_stop_kills_a_simulator_that_ignores_sigterm(tmp_path: Path) -> None:
    body = READY_THEN_SERVE.replace("lambda *a: sys.exit(0)", "signal.SIG_IGN")
    sim = SimProcess(state_dir=tmp_path, python=fake_python(tmp_path, body))
    sim.start()
    sim.wait_ready(timeout=30)  # by now SIGTERM is ignored
    proc = sim.proc
    assert proc is not None
    assert sim.stop(timeout=0.5) == -9
    assert proc.returncode == -9
