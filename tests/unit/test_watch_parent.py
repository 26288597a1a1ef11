"""A worker child exits when its parent is gone, whatever its own threads do
(``govcloud.workers.process.watch_parent``): here its main thread sleeps, as one blocked in
a plane's build would, and no signal or end of file reaches it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.processes import alive

# a middle process starts the child (which watches the middle one), prints its pid, and waits
MIDDLE = ("import subprocess, sys, time\n"
          "child = subprocess.Popen([sys.executable, '-c', sys.argv[1]], start_new_session=True,"
          " stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
          "print(child.pid, flush=True)\n"
          "time.sleep(300)\n")
CHILD = ("import os, signal, sys, time\n"
         "parent = os.getppid()\n"
         "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
         "from govcloud.workers.process import watch_parent\n"
         "watch_parent(parent, poll_s=0.05)\n"
         "open({ready!r}, 'w').close()\n"
         "time.sleep(300)\n")


def test_a_child_whose_parent_is_killed_exits_by_itself(tmp_path: Path) -> None:
    ready = tmp_path / "watching"
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, CHILD.format(ready=str(ready))],
                              stdout=subprocess.PIPE, text=True)
    assert middle.stdout is not None
    child = int(middle.stdout.readline())
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:  # it imports, then watches
            time.sleep(0.05)
        assert ready.exists() and alive(child)
        middle.send_signal(signal.SIGKILL)
        middle.wait(10)
        deadline = time.monotonic() + 20
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
