"""A simulated server's console log (``os-getConsoleOutput``): the kernel's first lines, then
what cloud-init's ``keys_to_console`` prints — the server's SSH host key fingerprints and keys
— then the login prompt. A server backed by an SSH sandbox shows the sandbox's real host keys
(so the keys a client reads here are the keys its sshd presents), or none when the sandbox was
given none (an image without cloud-init); any other server an ed25519 key of its own, made
from its id."""

from __future__ import annotations

import base64
import hashlib
import struct

from govcloud.sim.model import Server

RULE = "#" * 61


def _wire(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def made_up_key(server_id: str) -> str:
    """An ed25519 public key line of a server without a sandbox (stable for its id)."""
    raw = hashlib.sha256(f"govcloud-sim host key {server_id}".encode()).digest()
    return "ssh-ed25519 " + base64.b64encode(_wire(b"ssh-ed25519") + _wire(raw)).decode()


def _bits(kind: str, blob: bytes) -> int:
    if kind.startswith("ecdsa-sha2-nistp"):
        return int(kind.removeprefix("ecdsa-sha2-nistp") or 256)
    if kind == "ssh-rsa":  # string type, mpint e, mpint n
        offset = 0
        for _ in range(2):
            (size,) = struct.unpack(">I", blob[offset:offset + 4])
            offset += 4 + size
        (size,) = struct.unpack(">I", blob[offset:offset + 4])
        return int.from_bytes(blob[offset + 4:offset + 4 + size], "big").bit_length()
    return 1024 if kind == "ssh-dss" else 256


def _label(kind: str) -> str:
    return {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA", "ssh-dss": "DSA"}.get(
        kind, "ECDSA" if kind.startswith("ecdsa") else kind.upper())


def console_lines(s: Server) -> list[str]:
    """The console log of ``s``, one boot (no key blocks when its sandbox gave no keys)."""
    stamp = f"<14>{s.created_at.strftime('%b %d %H:%M:%S')} cloud-init:"
    keys = [k.split()[:2] for k in (s.host_keys if s.host_keys is not None
                                    else [made_up_key(s.id)])]
    boot = ["[    0.000000] Linux version 5.15.0 (buildd@govcloud) #1 SMP",
            f"[    1.204511] systemd[1]: Set hostname to <{s.hostname}>.",
            "[    2.118844] cloud-init[512]: Cloud-init v. 23.1 running 'init' "]
    if not keys:
        return [*boot, f"{s.hostname} login: "]
    fingerprints = []
    for kind, text in keys:
        blob = base64.b64decode(text)
        digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        fingerprints.append(f"{stamp} {_bits(kind, blob)} SHA256:{digest} "
                            f"root@{s.hostname} ({_label(kind)})")
    return [*boot,
            f"{stamp} {RULE}",
            f"{stamp} -----BEGIN SSH HOST KEY FINGERPRINTS-----",
            *fingerprints,
            f"{stamp} -----END SSH HOST KEY FINGERPRINTS-----",
            f"{stamp} {RULE}",
            "-----BEGIN SSH HOST KEY KEYS-----",
            *(f"{kind} {text} root@{s.hostname}" for kind, text in keys),
            "-----END SSH HOST KEY KEYS-----",
            "[    9.884120] cloud-init[601]: Cloud-init v. 23.1 finished. Datasource "
            "DataSourceOpenStackLocal.",
            f"{s.hostname} login: "]
