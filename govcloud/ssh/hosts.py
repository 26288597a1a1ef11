"""SSH with strict host keys: govcloud's own known_hosts, fingerprints, trust, and commands.

Only keys recorded by ``trust`` are accepted: paramiko runs with ``RejectPolicy`` and
govcloud's known_hosts file (the same file Ansible is pointed at), never the user's. A host
whose key differs from the recorded one raises ``HostKeyChanged`` before anything runs.

paramiko is imported where a host is reached, not with this module: the services import it,
and ``govcloud serve`` and the CLI start without paramiko and its cryptography (~0.2 s CPU).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from govcloud.domain.legacy import Endpoint
from govcloud.errors import ConflictError, InvalidInput, PermanentError, TemporaryError

if TYPE_CHECKING:
    import paramiko

_LOCK = threading.Lock()


class HostKeyChanged(ConflictError):
    """The host presented a different key than the one recorded: maybe an attack."""

    _retryable = False


class HostKeyUnknown(PermanentError):
    """No key is recorded for the host: trust it first."""


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint: ``SHA256:`` + unpadded base64 of the key's hash."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class HostKey:
    name: str          # as filed in known_hosts
    key_type: str
    fingerprint: str
    line: str          # the known_hosts line


def scan(endpoint: Endpoint, *, timeout: float = 10.0) -> HostKey:
    """Fetch the key a host presents (no authentication, nothing runs)."""
    try:
        sock = socket.create_connection((endpoint.address, endpoint.port), timeout=timeout)
    except OSError as exc:
        raise TemporaryError(f"cannot reach {endpoint.known_hosts_name}: {exc}",
                             hint="check the address and port, and that sshd runs") from None
    import paramiko

    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise TemporaryError(f"no SSH handshake with {endpoint.known_hosts_name}: {exc}",
                             hint="is it an SSH server?") from None
    finally:
        transport.close()
    name = endpoint.known_hosts_name
    return HostKey(name, key.get_name(), fingerprint(key),
                   f"{name} {key.get_name()} {key.get_base64()}")


class KnownHosts:
    """govcloud's known_hosts file (OpenSSH format, so ssh and Ansible read it as well)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _load(self) -> paramiko.HostKeys:
        import paramiko

        keys = paramiko.HostKeys()
        if self.path.is_file():
            keys.load(str(self.path))
        return keys

    def recorded(self, endpoint: Endpoint) -> list[HostKey]:
        entry = self._load().lookup(endpoint.known_hosts_name) or {}
        return [HostKey(endpoint.known_hosts_name, t, fingerprint(k),
                        f"{endpoint.known_hosts_name} {t} {k.get_base64()}")
                for t, k in entry.items()]

    def check(self, endpoint: Endpoint, presented: HostKey) -> None:
        """Raise unless ``presented`` is the recorded key."""
        recorded = self.recorded(endpoint)
        if not recorded:
            raise HostKeyUnknown(
                f"no host key is recorded for {endpoint.known_hosts_name}; nothing was run",
                hint="check the fingerprint with the host's owner, then "
                     "`govcloud hosts trust HOST`")
        if presented.fingerprint not in {k.fingerprint for k in recorded}:
            raise HostKeyChanged(
                f"the host key of {endpoint.known_hosts_name} CHANGED: recorded "
                f"{recorded[0].fingerprint}, presented {presented.fingerprint}; "
                "nothing was run",
                hint="someone may be intercepting the connection; if the host was "
                     "reinstalled, confirm the new fingerprint out of band and "
                     "`govcloud hosts trust HOST --replace`")

    def record(self, key: HostKey, *, replace: bool = False) -> None:
        """Add ``key``; an existing different key for the host is kept unless ``replace``."""
        with _LOCK:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lines = self.path.read_text().splitlines() if self.path.is_file() else []
            mine = [ln for ln in lines if ln.split(" ", 1)[0] == key.name]
            if key.line in mine:
                return
            if mine and not replace:
                raise HostKeyChanged(
                    f"a different host key is already recorded for {key.name}",
                    hint="pass --replace after confirming the new fingerprint out of band")
            kept = [ln for ln in lines if ln.split(" ", 1)[0] != key.name]
            self._write([*kept, key.line])

    def _write(self, lines: list[str]) -> None:
        """Replace the file with ``lines`` at once (a reader never sees half of it)."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(ln + "\n" for ln in lines))
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.path)


    def forget(self, endpoint: Endpoint) -> bool:
        """Remove the endpoint's keys (its server was deleted: a new server at the same
        address has a new key); True when something was removed."""
        name = endpoint.known_hosts_name
        with _LOCK:
            if not self.path.is_file():
                return False
            lines = self.path.read_text().splitlines()
            kept = [ln for ln in lines if ln.split(" ", 1)[0] != name]
            if len(kept) == len(lines):
                return False
            self._write(kept)
            return True


def trust(known: KnownHosts, endpoint: Endpoint, *, expected: str | None = None,
          replace: bool = False, timeout: float = 10.0) -> HostKey:
    """Scan the host and record its key, provided it has the ``expected`` fingerprint."""
    key = scan(endpoint, timeout=timeout)
    if expected is not None and expected.strip() != key.fingerprint:
        raise InvalidInput(
            f"{endpoint.known_hosts_name} presents {key.fingerprint}, not the pinned "
            f"{expected.strip()}; nothing was recorded",
            hint="check the fingerprint with the host's owner (ssh-keygen -lf on the host)")
    known.record(key, replace=replace)
    return key


@contextlib.contextmanager
def connect(endpoint: Endpoint, *, known: KnownHosts, key_file: Path | None,
            timeout: float = 10.0) -> Iterator[paramiko.SSHClient]:
    """A paramiko client to ``endpoint`` with strict host keys (RejectPolicy, our known_hosts).

    A changed key raises ``HostKeyChanged`` and an unknown one ``HostKeyUnknown``, before
    authenticating; nothing is ever added to known_hosts here.
    """
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if known.path.is_file():
        client.load_host_keys(str(known.path))
    try:
        client.connect(endpoint.address, port=endpoint.port, username=endpoint.user,
                       key_filename=str(key_file) if key_file else None,
                       look_for_keys=False, allow_agent=False, timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout)
    except paramiko.BadHostKeyException as exc:
        client.close()
        recorded = fingerprint(exc.expected_key)
        raise HostKeyChanged(
            f"the host key of {endpoint.known_hosts_name} CHANGED: recorded {recorded}, "
            f"presented {fingerprint(exc.key)}; nothing was run",
            hint="someone may be intercepting the connection; if the host was reinstalled, "
                 "confirm the new fingerprint out of band and "
                 "`govcloud hosts trust HOST --replace`") from None
    except paramiko.SSHException as exc:
        client.close()
        if "not found in known_hosts" in str(exc):
            raise HostKeyUnknown(
                f"no host key is recorded for {endpoint.known_hosts_name}; nothing was run",
                hint="check the fingerprint with the host's owner, then "
                     "`govcloud hosts trust HOST`") from None
        raise TemporaryError(f"SSH to {endpoint.known_hosts_name} failed: {exc}",
                             hint="check the user and the key") from None
    except (OSError, EOFError) as exc:
        client.close()
        raise TemporaryError(f"cannot reach {endpoint.known_hosts_name}: {exc}",
                             hint="check the address, port and network") from None
    try:
        yield client
    finally:
        client.close()


def run(client: paramiko.SSHClient, command: str, *, timeout: float = 60.0) -> tuple[int, str]:
    """Run ``command``; its exit status and stdout (stderr is dropped). Raises on timeout."""
    try:
        _stdin, stdout, _stderr = client.exec_command(command, timeout=timeout)
        out = stdout.read().decode("utf-8", "replace")
        return stdout.channel.recv_exit_status(), out
    except TimeoutError:
        raise TemporaryError(f"a command did not finish within {timeout:g} s",
                             hint="the host may be overloaded; raise the timeout") from None
