"""The demo's last resort (issue 24): after a stop signal, a process whose main thread cannot
finish (as a console blocked on a read of its hung-up terminal) still stops its children and
ends, ``grace_s`` later; one that finishes in time never runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    from govcloud.demo.run import _stop_signals_interrupt

    marker, stuck = Path(sys.argv[1]), sys.argv[2] == "stuck"
    never = threading.Event()
    with _stop_signals_interrupt(on_stuck=lambda: marker.write_text("stopped"), grace_s=1.0):
        try:
            print("ready", flush=True)
            never.wait()
        except KeyboardInterrupt:
            if stuck:
                never.wait()  # what a console blocked on its dead terminal does
    print("ended in order", flush=True)
""")


def _start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    marker = tmp_path / "on_stuck"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(marker), mode], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc, marker


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_a_stuck_demo_stops_its_children_and_ends(tmp_path: Path, sig: signal.Signals) -> None:
    proc, marker = _start(tmp_path, "stuck")
    started = time.monotonic()
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == 0
    assert marker.read_text() == "stopped"
    assert time.monotonic() - started >= 1.0  # not before the grace period
    assert proc.stdout is not None and "ended in order" not in proc.stdout.read()


def test_a_demo_that_ends_in_time_never_runs_the_last_resort(tmp_path: Path) -> None:
    proc, marker = _start(tmp_path, "orderly")
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=30) == 0
    assert proc.stdout is not None and proc.stdout.read() == "ended in order\n"
    time.sleep(1.5)  # past the grace period: the last resort did not fire
    assert not marker.exists()
