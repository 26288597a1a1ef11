"""The suite's leftover check (tests/leftovers.py) finds a marked process that outlives its
parent — reparented to init, in a session of its own — and kills it; processes without the
mark, and ones that end within the grace, are not reported."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid

from tests.leftovers import MARK, carrying, leftovers

ORPHAN = ("import os, subprocess, sys; "
          "p = subprocess.Popen(['sleep', '300'], start_new_session=True, "
          "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
          "print(p.pid, flush=True)")


def spawn_orphan(mark: str | None) -> int:
    """A ``sleep`` whose parent exits at once: an orphan, as a leaked server would be."""
    env = {k: v for k, v in os.environ.items() if k != MARK}
    if mark is not None:
        env[MARK] = mark
    out = subprocess.run([sys.executable, "-c", ORPHAN], env=env, capture_output=True,
                         text=True, check=True, timeout=30)
    return int(out.stdout.split()[0])


def test_an_orphan_carrying_the_mark_is_reported_and_killed() -> None:
    mark = uuid.uuid4().hex
    pid = spawn_orphan(mark)
    unmarked = spawn_orphan(None)
    try:
        assert pid in carrying(mark)
        found = leftovers(mark, grace_s=0.5)
        assert list(found) == [pid] and "sleep 300" in found[pid]
        deadline = time.monotonic() + 10
        while pid in carrying(mark) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pid not in carrying(mark)
    finally:
        for p in (pid, unmarked):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, 9)


def test_a_process_ending_within_the_grace_is_not_reported() -> None:
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark}
    proc = subprocess.Popen(["sleep", "1"], env=env)
    try:
        assert leftovers(mark, grace_s=15) == {}
    finally:
        proc.wait(timeout=10)
