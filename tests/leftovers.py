"""No process of a test run outlives it (issue 24): every process a test session starts
carries ``MARK`` in its environment (inherited from the session's own, unless a test hands
its child an environment made from scratch), and at the session's end none but the session
itself may still carry it. Orphans are found however they were left — reparented to init, in
a session of their own — since the mark travels with the environment, not the process tree."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

from tests.processes import command_of

MARK = "GC_TEST_SESSION_MARK"
GRACE_S = 15.0  # what was asked to stop just before the end may still be stopping


def mark_session() -> str:
    """Give this process (and so everything it starts from now on) a mark of its own."""
    value = uuid.uuid4().hex
    os.environ[MARK] = value
    return value


# multiprocessing's helpers of this process (its fork server, its resource tracker): they
# live as long as it does and end when it ends (end of file on its pipe to them)
_OWN_HELPERS = (b"from multiprocessing.forkserver import main",
                b"from multiprocessing.resource_tracker import main")


def carrying(value: str) -> set[int]:
    """The live processes, other than this one and its multiprocessing helpers, whose
    environment holds ``MARK=value``."""
    wanted = f"{MARK}={value}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":  # a zombie: its parent reaps it
            continue
        if int(fields[1]) == os.getpid() and any(h in cmdline for h in _OWN_HELPERS):
            continue
        if wanted in environ.split(b"\0"):
            found.add(int(entry.name))
    return found


def leftovers(value: str, grace_s: float = GRACE_S) -> dict[int, str]:
    """The marked processes still alive after ``grace_s``, each with its command line; they
    are then killed, so that one leak does not spill into the next run."""
    deadline = time.monotonic() + grace_s
    alive = carrying(value)
    while alive and time.monotonic() < deadline:
        time.sleep(0.25)
        alive = carrying(value)
    found = {pid: command_of(pid) for pid in sorted(alive)}
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found
