"""The SSH host keys a cloud server showed on its console at boot.

cloud-init writes a new server's host keys to its console (module ``keys_to_console``), which
the compute API serves (``os-getConsoleOutput``) to whoever may see the server — a channel
that does not go through the network the server is reached by, so a machine in the middle
cannot forge it. Two blocks, each line possibly behind a syslog prefix
(``<14>Dec 10 08:00:01 cloud-init: ``, or ``ec2: `` on older images)::

    -----BEGIN SSH HOST KEY FINGERPRINTS-----
    256 SHA256:Vq3... root@web-1 (ED25519)
    -----END SSH HOST KEY FINGERPRINTS-----
    -----BEGIN SSH HOST KEY KEYS-----
    ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... root@web-1
    -----END SSH HOST KEY KEYS-----

``parse_boot_keys`` reads the last complete block of each kind (the newest boot); when both are
there, only the keys both name are expected. Fingerprints are OpenSSH's SHA256 ones (older
images that print MD5 fingerprints print the keys too).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

FINGERPRINTS = ("-----BEGIN SSH HOST KEY FINGERPRINTS-----",
                "-----END SSH HOST KEY FINGERPRINTS-----")
KEYS = ("-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----")
MAX_CONSOLE = 1 << 20      # the tail of a console log that is read
MAX_BLOCK_LINES = 32       # a block longer than this is not cloud-init's
KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com"})
_SHA256 = re.compile(r"(?:^|\s)(SHA256:[A-Za-z0-9+/]{43})(?:\s|$)")
_KEY = re.compile(r"(?:^|\s)([a-z0-9@.-]+)\s+([A-Za-z0-9+/]{16,8192}={0,2})(?:\s|$)")


def sha256_fingerprint(blob: bytes) -> str:
    """OpenSSH's fingerprint of a public key blob: ``SHA256:`` + unpadded base64."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _blob(key_type: str, text: str) -> bytes | None:
    """The key blob of ``text`` (base64), if it is one of ``key_type`` (the SSH wire format
    starts with the type's name)."""
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(blob) < 4:
        return None
    (size,) = struct.unpack(">I", blob[:4])
    return blob if blob[4:4 + size] == key_type.encode() else None


@dataclass(frozen=True, slots=True)
class BootKeys:
    """The host keys of one boot: ``keys`` as (type, base64 blob), ``fingerprints`` SHA256."""

    keys: tuple[tuple[str, str], ...] = ()
    fingerprints: tuple[str, ...] = ()

    @property
    def expected(self) -> frozenset[str]:
        """The SHA256 fingerprints a server may present: those of the keys, those listed, or
        — when both blocks are there — those of both."""
        of_keys = frozenset(sha256_fingerprint(base64.b64decode(b)) for _, b in self.keys)
        listed = frozenset(self.fingerprints)
        if of_keys and listed:
            return of_keys & listed
        return of_keys or listed

    def known_hosts_lines(self, name: str) -> list[str]:
        """``name``'s known_hosts lines of the keys (none when only fingerprints were shown)."""
        return [f"{name} {t} {b}" for t, b in self.keys]


def _blocks(lines: list[str], markers: tuple[str, str]) -> list[list[str]]:
    """Every complete block between ``markers`` (each line after the marker's prefix)."""
    begin, end = markers
    found: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        if begin in line:
            current = []
        elif end in line:
            if current is not None:
                found.append(current)
            current = None
        elif current is not None:
            current.append(line)
            if len(current) > MAX_BLOCK_LINES:
                current = None
    return found


def parse_boot_keys(console: str) -> BootKeys | None:
    """The host keys of the newest boot in ``console`` (a server's console log); None when it
    shows no complete block with a usable key or fingerprint (cloud-init has not printed them
    yet, or the image has no cloud-init)."""
    lines = console[-MAX_CONSOLE:].splitlines()
    fingerprints: tuple[str, ...] = ()
    keys: tuple[tuple[str, str], ...] = ()
    printed = _blocks(lines, FINGERPRINTS)
    if printed:
        fingerprints = tuple(dict.fromkeys(
            m.group(1) for line in printed[-1] if (m := _SHA256.search(line))))
    shown = _blocks(lines, KEYS)
    if shown:
        found: list[tuple[str, str]] = []
        for line in shown[-1]:
            found += [(m.group(1), m.group(2)) for m in _KEY.finditer(line)
                      if m.group(1) in KEY_TYPES and _blob(m.group(1), m.group(2)) is not None]
        keys = tuple(dict.fromkeys(found))
    # both blocks naming different keys leave nothing expected: every key is then refused
    return BootKeys(keys, fingerprints) if keys or fingerprints else None
