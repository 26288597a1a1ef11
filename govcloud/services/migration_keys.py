"""Pinning a migration target's SSH host key to what the cloud says it is (docs/migration.md,
"Target host keys").

A target govcloud provisioned is a new server: its key is not known yet, and trusting the first
key it presents would let a machine in the middle of that first connection be trusted for good.
So the expected keys come from elsewhere: from the cloud — the fingerprints and keys cloud-init
wrote to the server's console log, read through the compute API — or, for a target declared in
the inventory, from its pinned fingerprint (``govcloud_target.host_key``). The key the target
presents must be one of them, or nothing is recorded and nothing runs (``HostKeyChanged``); a
key recorded before must still be presented. Trust on first use remains, only as an explicit,
audited override of a run (``--trust-on-first-use REASON``) for a target whose cloud shows no
keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from govcloud.domain.host_keys import BootKeys
from govcloud.domain.legacy import Endpoint
from govcloud.errors import TemporaryError
from govcloud.services.migration import known_hosts
from govcloud.settings import Settings
from govcloud.ssh.hosts import HostKey, HostKeyChanged, HostKeyUnknown, scan

TOFU = "trusted on first use"


@dataclass(frozen=True, slots=True)
class Expected:
    """The keys a target may present, and where that was learnt (said in errors and audit)."""

    fingerprints: frozenset[str]
    source: str

    @classmethod
    def from_boot(cls, boot: BootKeys, source: str) -> Expected:
        return cls(boot.expected, source)


@dataclass(frozen=True, slots=True)
class Pinned:
    endpoint: Endpoint
    key: HostKey
    source: str      # the console log of ..., the inventory, recorded before, TOFU

    def to_dict(self) -> dict[str, str]:
        return {"endpoint": self.endpoint.known_hosts_name, "key_type": self.key.key_type,
                "fingerprint": self.key.fingerprint, "source": self.source}


def wait_for_boot_keys(read: Callable[[], BootKeys | None], *, timeout_s: float,
                       interval_s: float = 2.0,
                       sleep: Callable[[float], None] = time.sleep,
                       clock: Callable[[], float] = time.monotonic) -> BootKeys | None:
    """``read()`` (a server's console log, parsed) until it shows host keys, or None after
    ``timeout_s`` (cloud-init prints them once the server has booted). A transient error is
    tried again until then."""
    deadline = clock() + timeout_s
    while True:
        try:
            found = read()
        except TemporaryError:
            found = None
        if found is not None or clock() >= deadline:
            return found
        sleep(min(interval_s, max(0.0, deadline - clock())))


def pin(endpoint: Endpoint, expected: Expected | None, settings: Settings, *,
        tofu: str | None = None, replace: bool = False) -> Pinned:
    """Record ``endpoint``'s host key when it is one ``expected``; check it against the
    recorded one when there is one. Without expected keys the key is refused unless ``tofu``
    (the override's reason) is given. ``replace``: the server is new (made by the caller), so
    a key recorded for its address belonged to another machine and gives way to the one the
    cloud vouches for (never to one nobody vouches for). Raises before recording anything."""
    known = known_hosts(settings)
    presented = scan(endpoint, timeout=settings.ssh_timeout_s)
    name = endpoint.known_hosts_name
    if expected is not None and presented.fingerprint not in expected.fingerprints:
        shown = ", ".join(sorted(expected.fingerprints)) or "no key both of its blocks name"
        raise HostKeyChanged(
            f"the host key of {name} is not the one the cloud shows: {expected.source} "
            f"shows {shown}; {name} presents {presented.fingerprint}; nothing was recorded "
            "and nothing was run",
            hint="someone may be intercepting the connection to the new server (or the "
                 "address belongs to another machine); check the server's console log "
                 "(`openstack console log show SERVER`) and the network before running "
                 "the wave again")
    if replace and expected is not None:
        known.record(presented, replace=True)
        return Pinned(endpoint, presented, expected.source)
    if known.recorded(endpoint):
        known.check(endpoint, presented)  # HostKeyChanged when it differs
        return Pinned(endpoint, presented,
                      expected.source if expected is not None else "recorded before")
    if expected is None and tofu is None:
        raise HostKeyUnknown(
            f"no expected host key for {name}: neither its cloud (the server's console log "
            f"showed none within {settings.migrate_host_key_wait_s:g} s) nor the inventory "
            "(govcloud_target.host_key) gives one, and none is recorded; nothing was run",
            hint="check that the target's image runs cloud-init (`openstack console log show "
                 "SERVER`), or pin a declared target's fingerprint in the inventory; or, "
                 "knowing the risk, run the wave with --trust-on-first-use REASON "
                 "(migration.override, audited)")
    known.record(presented)
    return Pinned(endpoint, presented, expected.source if expected is not None else TOFU)


def pin_all(endpoints: Sequence[Endpoint], expected: Mapping[str, Expected | None],
            settings: Settings, *, tofu: str | None = None) -> list[Pinned]:
    """``pin`` each endpoint (``expected`` by known_hosts name); the first refusal stops
    the rest, with what was pinned before it kept (each is checked again on resume)."""
    return [pin(ep, expected.get(ep.known_hosts_name), settings, tofu=tofu)
            for ep in endpoints]
