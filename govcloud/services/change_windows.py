"""Taking up the operations that wait for their change's window (docs/changes.md, "When a
window closes"): a wave or a drill stopped at a safe step when its window closed, or
planned for the window of a change that had not opened. ``resume_due`` finds the waiting
links whose change lets them run now (``change_gate.due``) and hands each to the resumer of
its kind, which checks it again, marks it running and starts the run in the background.
The change-window worker calls it every ``change_window_poll_s`` (``workers.change_windows``);
a test calls it with its own clock."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from govcloud.services.change_gate import due
from govcloud.services.changes import ChangeContext
from govcloud.store.changes_repo import OpenLink

log = logging.getLogger(__name__)

Resumer = Callable[[OpenLink], bool]  # True: the run started
__all__ = ["OpenLink", "Resumer", "resume_due"]


def resume_due(changes: ChangeContext, resumers: Mapping[str, Resumer]) -> list[str]:
    """Start every waiting operation whose change lets it run now, and that a resumer of its
    kind knows; the operations started (``kind ref``). One that fails to start is logged
    and keeps waiting."""
    started = []
    for link in due(changes):
        resumer = resumers.get(link.kind)
        if resumer is None:
            continue
        try:
            if resumer(link):
                started.append(f"{link.kind} {link.ref}")
        except Exception:  # one operation must not keep the others waiting
            log.exception("%s %s did not resume in its window", link.kind, link.ref)
    return started
