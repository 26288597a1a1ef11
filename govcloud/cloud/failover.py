"""What a DR failover does to servers, with plain openstacksdk calls: bring a server to
``ACTIVE`` (unshelve a cold copy, start a warm one; a hot one runs already) or to
``SHUTOFF`` (stop the primary), and wait until it is there. Idempotent: a server already
there is left as it is, one in the middle of a task is waited for."""

from __future__ import annotations

import time
from typing import Any

from govcloud.cloud.errors import sdk_errors
from govcloud.errors import PermanentError, TemporaryError

SHELVED = frozenset({"SHELVED", "SHELVED_OFFLOADED"})


def _fault(server: Any) -> str | None:
    fault = getattr(server, "fault", None) or {}
    return str(fault.get("message")) if isinstance(fault, dict) and fault.get("message") \
        else None


def _act(pconn: Any, server: Any, status: str, want: str) -> str | None:
    """Ask for the action that moves ``server`` from ``status`` towards ``want``; the action's
    name, or None when there is none."""
    if want == "ACTIVE":
        actions = {"SHELVED": "unshelve", "SHELVED_OFFLOADED": "unshelve",
                   "SHUTOFF": "start", "PAUSED": "unpause", "SUSPENDED": "resume"}
    else:
        actions = {"ACTIVE": "stop", "PAUSED": "stop", "SUSPENDED": "stop"}
    action = actions.get(status)
    if action is not None:
        getattr(pconn.compute, f"{action}_server")(server)
    return action


def bring_to(pconn: Any, site: str, server_id: str, want: str, *, timeout_s: float,
             interval_s: float = 0.3) -> list[str]:
    """Bring the server to ``want`` (``ACTIVE`` or ``SHUTOFF``) and wait for it; what was
    done, one line each. PermanentError when it goes to ERROR, disappears, or its action
    came back with a fault (a cold copy no host can take); TemporaryError on timeout."""
    deadline = time.monotonic() + timeout_s
    done: list[str] = []
    asked: set[str] = set()  # the statuses an action was asked from (each once)
    while True:
        with sdk_errors(f"site {site}: server {server_id} to {want}"):
            s: Any = pconn.compute.find_server(server_id, ignore_missing=True)
            if s is None:
                raise PermanentError(f"site {site}: server {server_id} is gone")
            status, task = str(s.status), getattr(s, "task_state", None)
            if status == want and not task:
                return done or [f"{s.name} ({server_id}) was {want} already"]
            if status == "ERROR":
                raise PermanentError(f"site {site}: {s.name} ({server_id}) is in ERROR: "
                                     f"{_fault(s) or 'no fault given'}")
            if not task and status in asked and status in SHELVED and _fault(s):
                raise PermanentError(f"site {site}: {s.name} could not be unshelved: "
                                     f"{_fault(s)}", hint="free capacity in the site, "
                                     "then run the failover again to resume")
            if not task and status not in asked:
                action = _act(pconn, s, status, want)
                if action is None:
                    raise PermanentError(f"site {site}: {s.name} is {status}; it cannot be "
                                         f"brought to {want}")
                asked.add(status)
                done.append(f"{s.name} ({server_id}): {action} ({status} → {want})")
        if time.monotonic() >= deadline:
            raise TemporaryError(f"site {site}: server {server_id} still {status} "
                                 f"({task or 'no task'}) after {timeout_s:.0f} s, not {want}",
                                 hint="run the failover again to resume")
        time.sleep(interval_s)
