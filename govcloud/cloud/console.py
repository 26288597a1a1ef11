"""A server's console log through the compute API (``os-getConsoleOutput``), and the SSH host
keys cloud-init printed there (``govcloud.domain.host_keys``)."""

from __future__ import annotations

from typing import Any

from openstack.connection import Connection

from govcloud.cloud.errors import sdk_errors
from govcloud.domain.host_keys import MAX_CONSOLE, BootKeys, parse_boot_keys


def read_console_output(conn: Connection, site: str, server_id: str) -> str:
    """The server's console log (its tail: at most ``MAX_CONSOLE`` characters)."""
    compute: Any = conn.compute
    with sdk_errors(f"site {site}: console log of server {server_id}"):
        answer = compute.get_server_console_output(server_id)
    output = answer.get("output") if isinstance(answer, dict) else None
    return str(output or "")[-MAX_CONSOLE:]


def read_boot_keys(conn: Connection, site: str, server_id: str) -> BootKeys | None:
    """The host keys the server's console log shows for its newest boot (None: none yet)."""
    return parse_boot_keys(read_console_output(conn, site, server_id))
