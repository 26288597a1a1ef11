"""Ending what a cancelled or timed-out step left running on its hosts (docs/migration.md,
"Timeouts and cancellation").

Cancelling a step ends its local job — ansible-playbook and its ssh connections — but sshd
leaves a remote command running when its connection goes (without a terminal nothing signals
it): a hung service stop would keep running on the legacy host after the cancel. So every
command a step runs on a host is started ``tracked`` (``migration_commands``: a mark in its
environment, a process group of its own), and after a job that did not finish ``reap`` runs
``playbooks/migrate/reap.yml`` over the same hosts, as the step ran (become), to end what
carries the job's mark and say what it ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govcloud.errors import GovCloudError
from govcloud.runner.playbook import PlaybookEvent, run_playbook

REAP_PLAYBOOK = "reap.yml"
REAP_EVENT = "remote_ended"  # a wave event: what a cancelled or timed-out step left, ended
TIMEOUT_S = 120.0
_WHERE = {"ended on the legacy host": "legacy host", "ended on the target": "target"}


@dataclass(frozen=True, slots=True)
class Reaped:
    """What was found on one side of one host: ``ended`` (one line per process), or why it
    could not be looked at (``error``)."""

    host: str
    where: str                      # legacy host, target
    ended: tuple[str, ...] = ()
    error: str | None = None

    def line(self) -> str:
        if self.error is not None:
            return f"{self.host} ({self.where}): could not end what the step left: {self.error}"
        if not self.ended:
            return f"{self.host} ({self.where}): nothing was left running"
        return f"{self.host} ({self.where}): " + "; ".join(self.ended)


def reap(playbooks: Path, *, base: Path, inventory: Mapping[str, Any],
         envvars: Mapping[str, str], ident: str, forks: int,
         timeout_s: float = TIMEOUT_S) -> list[Reaped]:
    """End what job ``ident`` left on its hosts (``inventory``: the job's own, with its
    ``gc_reap_*`` commands); what was ended, host by host."""
    path = playbooks / REAP_PLAYBOOK
    if not path.is_file():
        return [Reaped("*", "hosts", error=f"no {REAP_PLAYBOOK} in {playbooks}")]
    found: list[Reaped] = []

    def on_event(ev: PlaybookEvent) -> None:
        where = _WHERE.get(ev.task or "")
        if ev.host is None:
            return
        if where is not None and ev.kind == "ok":
            lines = tuple(x.strip() for x in ev.message.split(" | ") if x.strip() not in ("", "-"))
            found.append(Reaped(ev.host, where, lines))
        elif ev.kind in ("failed", "unreachable"):
            side = "target" if "target" in (ev.task or "") else "legacy host"
            found.append(Reaped(ev.host, side, error=ev.message or ev.kind))

    try:
        run_playbook(path, private_data_dir=base, inventory=inventory, envvars=envvars,
                     timeout_s=timeout_s, ident=f"{ident}-reap", on_event=on_event,
                     forks=forks)
    except GovCloudError as exc:
        return [*found, Reaped("*", "hosts", error=exc.message)]
    return found
