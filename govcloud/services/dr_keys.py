"""Pinning the SSH host keys of the servers disaster recovery reaches — production servers
and their copies in protection cycles and failovers, the servers a drill brings up — to what
their cloud shows (docs/dr.md, "Host keys"), as a migration's targets are
(``govcloud.services.migration_keys``, whose ``Expected`` and ``pin`` do the checking).

The expected keys are the ones cloud-init printed to the server's console log, read through
the compute API. A server whose key is recorded already (an earlier cycle pinned it) is read
once and checked against both; one new to known_hosts that was just booted (a drill's, a copy
unshelved) is waited for up to ``migrate_host_key_wait_s`` (cloud-init prints the keys once
booted). ``fresh`` servers (a drill's, just made) replace whatever was recorded for their
address, but only with a key the cloud vouches for. A key the cloud does not show is refused
before anything is recorded or run (``HostKeyChanged``); a server nobody vouches for is
refused too (``HostKeyUnknown``), unless the operator set ``dr_trust_on_first_use`` (the
reason), and each key then trusted on first use is written to the audit log
(``dr.trust_on_first_use``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine

from govcloud.cloud.console import read_boot_keys
from govcloud.domain.legacy import Endpoint
from govcloud.domain.limits import text_digest
from govcloud.services.migration import known_hosts
from govcloud.services.migration_keys import TOFU, Expected, Pinned, pin, wait_for_boot_keys
from govcloud.settings import Settings
from govcloud.ssh.hosts import HostKeyChanged, HostKeyUnknown
from govcloud.store.audit import append_committed
from govcloud.store.tables import utcnow

ACTION = "dr.trust_on_first_use"
CHANGED_HINT = ("someone may be intercepting the connection to the server (or its address "
                "belongs to another machine); check its console log (`openstack console log "
                "show SERVER`) and the network before running it again")


@dataclass(frozen=True)
class KeyCheck:
    """What pinning needs: settings (known_hosts, waits, the override), the engine (the
    audit) and who is pinning (said in the audit: ``protection``, ``drill 12``, ...)."""

    settings: Settings
    engine: Engine
    actor: str
    clock: Callable[[], datetime] = utcnow


@dataclass(frozen=True)
class CloudServer:
    """A server as the cloud knows it: where to read its console log."""

    conn: Any          # a connection that may see the server (its project's, or admin)
    site: str
    server_id: str


def cloud_keys(server: CloudServer, *, wait_s: float) -> Expected | None:
    """The keys ``server``'s console log shows (waited for up to ``wait_s``), or None."""
    read = partial(read_boot_keys, server.conn, server.site, server.server_id)
    boot = wait_for_boot_keys(read, timeout_s=wait_s)
    return None if boot is None else Expected.from_boot(
        boot, f"the console log of server {server.server_id} in {server.site}")


def unknown(endpoint: Endpoint, server: CloudServer, waited_s: float) -> HostKeyUnknown:
    """The refusal of a server nobody vouches for, with what to do in DR's words."""
    name = endpoint.known_hosts_name
    return HostKeyUnknown(
        f"no expected host key for {name} (server {server.server_id} in {server.site}): "
        f"its console log showed none within {waited_s:g} s and none is recorded; nothing "
        "was recorded and nothing was run",
        hint="check that the server's image runs cloud-init and prints its keys (`openstack "
             "console log show SERVER`); or, knowing the risk, set dr_trust_on_first_use "
             "(GOVCLOUD_DR_TRUST_ON_FIRST_USE) to the reason: each key it lets in is audited")


def pin_server(check: KeyCheck, endpoint: Endpoint, server: CloudServer, *,
               booted: bool = False, fresh: bool = False) -> Pinned:
    """Pin ``endpoint`` (``server``'s address) to the keys its cloud shows; raise
    ``HostKeyChanged`` or ``HostKeyUnknown`` (nothing recorded) when it cannot be.
    ``booted``: the server was just booted (or unshelved), so its console log may show the
    keys a little later — waited for when none is recorded; ``fresh``: it was just made."""
    settings = check.settings
    recorded = bool(known_hosts(settings).recorded(endpoint)) and not fresh
    wait = settings.migrate_host_key_wait_s if (booted or fresh) and not recorded else 0.0
    expected = cloud_keys(server, wait_s=wait)
    tofu = settings.dr_trust_on_first_use
    if expected is None and not recorded and tofu is None:
        raise unknown(endpoint, server, wait)
    try:
        pinned = pin(endpoint, expected, settings, tofu=tofu,
                     replace=fresh and expected is not None)
    except HostKeyChanged as exc:
        raise HostKeyChanged(exc.message, hint=CHANGED_HINT) from exc
    if pinned.source == TOFU:
        append_committed(check.engine, actor=check.actor, action=ACTION,
                         target=f"server:{server.site}/{server.server_id}"[:255],
                         after={**pinned.to_dict(), "reason": text_digest(tofu)},
                         clock=check.clock)
    return pinned


__all__ = ["ACTION", "KeyCheck", "CloudServer", "cloud_keys", "pin_server", "unknown"]
