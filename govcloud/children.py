"""Child processes that end with their parent, however the parent ends.

A child started in a session of its own (so that a Ctrl-C reaches govcloud first, which then
stops the child in order) receives none of the terminal's signals: when the parent is killed
with SIGKILL, or dies of a signal it does not handle, the child would live on. On Linux the
kernel can send a child a signal when its parent dies (``PR_SET_PDEATHSIG``); ``setpriv
--pdeathsig`` (util-linux) sets it and then executes the command, so it works for any
program (the simulator, sshd, a server) without code running between fork and exec in a
threaded parent.

The death signal is tied to the *thread* that started the child: start long-lived children
from a thread that outlives them (the main thread, or the thread that waits for them).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Sequence

# SIGTERM: every child govcloud starts stops cleanly on it (the simulator, sshd, uvicorn).
DEATH_SIGNAL = "TERM"


def setpriv() -> str | None:
    """The ``setpriv`` program, where this system has one that can set a parent-death signal."""
    if not sys.platform.startswith("linux"):
        return None
    return shutil.which("setpriv")


def tied_to_parent(command: Sequence[str]) -> list[str]:
    """``command`` wrapped so that the kernel sends it SIGTERM when this process dies.

    Where ``setpriv`` is missing (not Linux) the command is returned as it is: the child then
    ends only when the parent stops it (as on SIGINT, SIGTERM and SIGHUP)."""
    tool = setpriv()
    if tool is None:
        return list(command)
    # The pid check closes the window in which the parent died before the signal was set:
    # the kernel would then have nothing to send, so the child checks for itself.
    parent = os.getpid()
    return [tool, "--pdeathsig", DEATH_SIGNAL, "--",
            "/bin/sh", "-c", 'test "$PPID" = "$1" || exit 0; shift; exec "$@"', "sh",
            str(parent), *command]


# set in a worker process: the ``govcloud serve`` it works for (govcloud/workers/process.py)
_serving: list[int] = []


def works_for(pid: int) -> None:
    """This process is the worker process of the ``govcloud serve`` of pid ``pid``."""
    _serving[:] = [pid]


def kill_control_plane() -> None:
    """The crash tests' fault: SIGKILL the control plane now — in a worker process, the
    ``govcloud serve`` it works for first (the whole control plane dies, as with kill -9 of
    it), then itself."""
    for pid in _serving:
        if pid > 1 and pid == os.getppid():
            os.kill(pid, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
