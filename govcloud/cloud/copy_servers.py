"""A DR copy server brought up for a protection cycle and put back after it (docs/dr.md,
"Protection cycles"): a cold copy is unshelved and shelved again, a warm one started and
stopped again; and the snapshot image a shelved copy's data is held in.

Verbs as openstacksdk's (``find_x`` returns None, ``wait`` raises on timeout); every call goes
through ``sdk_errors`` so a cloud failure is a govcloud error naming the site.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openstack.connection import Connection

from govcloud.cloud.errors import sdk_errors
from govcloud.cloud.provision import OFFLOADED, SHELVED_STATUSES, ServerState, _fault
from govcloud.errors import PermanentError, TemporaryError


@dataclass(frozen=True, slots=True)
class ServerReach:
    """What says how to reach a server over SSH: its metadata (the simulator's sandbox) and
    addresses, and its status."""

    id: str
    name: str
    status: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    addresses: Mapping[str, Any] = field(default_factory=dict)


def find_server_reach(pconn: Connection, site: str, server_id: str) -> ServerReach | None:
    with sdk_errors(f"site {site}: server {server_id}"):
        s: Any = pconn.compute.find_server(server_id, ignore_missing=True)
    if s is None:
        return None
    return ServerReach(str(s.id), str(s.name), str(s.status),
                       {str(k): str(v) for k, v in (s.metadata or {}).items()},
                       dict(s.addresses or {}))


def _poll(pconn: Connection, site: str, server_id: str) -> tuple[Any, str, str | None]:
    with sdk_errors(f"site {site}: server {server_id}"):
        s: Any = pconn.compute.find_server(server_id, ignore_missing=True)
    if s is None:
        raise PermanentError(f"site {site}: server {server_id} disappeared")
    return s, str(s.status), getattr(s, "task_state", None)


def bring_up(pconn: Connection, site: str, server_id: str, *, timeout_s: float,
             interval_s: float = 0.5) -> ServerState:
    """Make a copy server ``ACTIVE``: unshelve a shelved one, start a stopped one, wait for
    one under way. PermanentError when the cloud cannot (ERROR, no valid host: it stays
    shelved with a fault), TemporaryError when ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    asked = False
    while True:
        s, status, task = _poll(pconn, site, server_id)
        if status == "ACTIVE" and not task:
            return ServerState(s.id, status, None)
        if status == "ERROR":
            raise PermanentError(f"site {site}: server {server_id} went to ERROR: "
                                 f"{_fault(s) or 'no fault given'}")
        if not task and asked and status in SHELVED_STATUSES and _fault(s):
            raise PermanentError(f"site {site}: server {server_id} could not be unshelved: "
                                 f"{_fault(s)}", hint="the DR site may lack capacity")
        if not task and not asked:
            with sdk_errors(f"site {site}: bringing up {server_id}"):
                if status in SHELVED_STATUSES:
                    pconn.compute.unshelve_server(s)
                    asked = True
                elif status == "SHUTOFF":
                    pconn.compute.start_server(s)
                    asked = True
        if time.monotonic() >= deadline:
            raise TemporaryError(f"site {site}: server {server_id} still {status} "
                                 f"({task or 'no task'}) after {timeout_s:.0f} s, not ACTIVE",
                                 hint="look at the DR site; the next cycle tries again")
        time.sleep(interval_s)


def stop(pconn: Connection, site: str, server_id: str, *, timeout_s: float,
         interval_s: float = 0.5) -> ServerState:
    """Stop a server (a warm copy after its cycle) and wait until ``SHUTOFF``."""
    deadline = time.monotonic() + timeout_s
    asked = False
    while True:
        s, status, task = _poll(pconn, site, server_id)
        if status == "SHUTOFF" and not task:
            return ServerState(s.id, status, None)
        if not task and not asked and status == "ACTIVE":
            with sdk_errors(f"site {site}: stopping {server_id}"):
                pconn.compute.stop_server(s)
            asked = True
        if time.monotonic() >= deadline:
            raise TemporaryError(f"site {site}: server {server_id} still {status} after "
                                 f"{timeout_s:.0f} s, not SHUTOFF",
                                 hint="stop it by hand; the posture shows it running")
        time.sleep(interval_s)


def find_shelved_image(pconn: Connection, site: str, server_id: str,
                       name: str) -> str | None:
    """The id of the snapshot image Nova made when it shelved the server (``<name>-shelved``,
    property ``instance_uuid`` = the server; the newest if several), None when there is
    none (a server booted from a volume has none)."""
    with sdk_errors(f"site {site}: the shelved image of {server_id}"):
        found = [i for i in pconn.image.images(name=f"{name}-shelved")
                 if (getattr(i, "properties", None) or {}).get("instance_uuid") == server_id
                 or getattr(i, "instance_uuid", None) == server_id]
    if not found:
        return None
    found.sort(key=lambda i: str(i.created_at or ""))
    return str(found[-1].id)


__all__ = ["OFFLOADED", "ServerReach", "bring_up", "find_server_reach", "find_shelved_image",
           "stop"]
