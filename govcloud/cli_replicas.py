"""What ``govcloud status`` adds about the control plane itself: the replica this client is
on (and the others it may fail over to), the replicas sharing the database, which one holds
each background worker, and the database's role and replication lag
(``GET /status/replicas``; docs/high-availability.md)."""

from __future__ import annotations

from typing import Any

from govcloud.api.models import ControlPlaneStatus
from govcloud.cli_control import _table, echo
from govcloud.client import ApiClient, as_json
from govcloud.domain.text import printable
from govcloud.errors import Forbidden


def read_control_plane(api: ApiClient) -> ControlPlaneStatus | None:
    """``/status/replicas`` (None for a role that may not see the control plane's
    machinery: a city-operator or a department-viewer)."""
    try:
        return api.replicas_status()
    except Forbidden:
        return None


def control_plane_json(api: ApiClient, plane: ControlPlaneStatus | None) -> dict[str, Any]:
    """The ``control_plane`` key of ``govcloud status --json``: the server this client used
    (``server``), every one it may use, and the server's answer when the role may read it."""
    out: dict[str, Any] = {"server": api.server, "servers": api.server_urls}
    if plane is not None:
        out.update(as_json(plane))
    return out


def _when(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else "-"


def _lag(standby: Any) -> str:
    lag = "lag ?" if standby.lag_bytes is None else f"lag {standby.lag_bytes:,} B"
    replay = f", replay {standby.replay_lag_s:.1f} s" if standby.replay_lag_s is not None \
        else ""
    return f"{printable(standby.name)} {printable(standby.sync_state or '?')} " \
           f"({printable(standby.state or '?')}), {lag}{replay}"


def _worker_process(plane: ControlPlaneStatus) -> str:
    """One line on where this replica's background workers run."""
    process = plane.worker_process
    if process is None:
        return "workers: inline, in the API process (govcloud serve --workers inline)"
    running = ", ".join(plane.running_here) or "none"
    if not process.alive:
        return f"worker process: DOWN, being started again (restarts {process.restarts}, " \
               f"last exit {process.last_exit})"
    up = "" if process.up_s is None else f", up {process.up_s:,.0f} s"
    return f"worker process: pid {process.pid}{up}, restarts {process.restarts}; " \
           f"running here: {running}"


def print_control_plane(api: ApiClient, plane: ControlPlaneStatus | None) -> None:
    on = f"this client is on {printable(api.server)}"
    if len(api.server_urls) > 1:
        on += f" (of {', '.join(printable(s) for s in api.server_urls)})"
    if plane is None:
        echo(f"\ncontrol plane: {on}; replicas not shown to your role")
        return
    db = plane.database
    echo(f"\ncontrol plane: {plane.mode}, {len(plane.replicas)} replica(s); {on}, "
         f"replica {printable(plane.replica)}")
    echo(_table([(r.id, r.host, r.url or "-", r.state, _when(r.last_seen),
                  ", ".join(r.workers) or "-") for r in plane.replicas],
                ("REPLICA", "HOST", "URL", "STATE", "LAST SEEN", "WORKERS")))
    echo(_worker_process(plane))
    echo(_table([(w.name, w.state, w.holder or "-", _when(w.acquired_at),
                  str(w.takeovers)) for w in plane.workers],
                ("WORKER", "STATE", "HOLDER", "SINCE", "TAKEOVERS")))
    if db.backend != "postgresql":
        echo(f"database: {printable(db.backend)}, {printable(db.role)} (SQLite: no replicas)")
        return
    echo(f"database: PostgreSQL {printable(db.version or '?')} {printable(db.role)} at "
         f"{printable(db.server or '?')}; takeover of a dead replica's workers within "
         f"{plane.lease.takeover_bound_s:g} s")
    if db.role == "standby":
        delay = "?" if db.replay_delay_s is None else f"{db.replay_delay_s:.1f} s"
        echo(f"  connected to a standby (read-only), replay {delay} behind")
    for standby in db.standbys:
        echo(f"  standby {_lag(standby)}")
    if db.role == "primary" and not db.standbys:
        echo("  no standby streams from it: a lost primary cannot fail over")
