"""Processes a test starts and must see end: the ``govcloud`` CLI as a child process, in an
environment of its own (``process_env``, ``run_cli``), its output read line by line on a
thread (``read_lines``); and what runs below a process, from /proc (``children_of``), until
it is gone (``wait_gone``). Shared by tests/integration/control/test_processes.py and
test_serve_metrics.py, tests/integration/migrate/test_demo_migration.py,
tests/integration/test_demo.py, test_no_orphans.py and tests/tui/test_console_tmux.py."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

TIMEOUT = 120
GONE_TIMEOUT = 20


def process_env(tmp_path: Path) -> dict[str, str]:
    """The test's environment without the caller's GOVCLOUD_* settings, its own config dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["GOVCLOUD_CHANGE_CONTROL"] = "off"  # tests that need change control turn it on
    return env


def run_cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "govcloud.cli", *argv], env=env, text=True,
                          capture_output=True, timeout=TIMEOUT, check=False)


def read_lines(stream: object, sink: queue.Queue[str | None]) -> None:
    """Every line of ``stream`` into ``sink``, then None at its end."""
    for line in stream:  # type: ignore[attr-defined]
        sink.put(line)
    sink.put(None)


def children_of(pid: int) -> set[int]:
    """Every live process below ``pid`` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the fields follow its last ')'
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_gone(pids: Iterable[int], what: str) -> None:
    pids = set(pids)
    deadline = time.monotonic() + GONE_TIMEOUT
    while (left := {p for p in pids if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"{what} left running: " + ", ".join(
        f"{p} {command_of(p)!r}" for p in left)


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return "(gone)"


def processes_naming(text: str) -> list[str]:
    """Every process whose command line names ``text`` (as ps sees them, not govcloud)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if text in line and "ps -eo" not in line]


def marked_by(*parts: str) -> dict[int, str]:
    """The live processes (of those this user may read) whose environment has a
    ``GOVCLOUD_JOB=...`` mark containing every one of ``parts`` — what a migration step
    started on a host (the hosts of the tests are loopback): pid → command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not alive(int(entry.name)):
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        marks = [v.decode("utf-8", "replace") for v in environ
                 if v.startswith(b"GOVCLOUD_JOB=")]
        if any(all(p in m for p in parts) for m in marks):
            found[int(entry.name)] = command_of(int(entry.name))
    return found


def reap_marked(*parts: str) -> None:
    """Kill what ``marked_by(*parts)`` finds: a test's cleanup, so that a run that failed
    (or a mutant that breaks the cancel, scripts/mutation_gate.py) leaves nothing behind."""
    for pid in marked_by(*parts):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)

