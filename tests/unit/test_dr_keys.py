"""The pure parts of pinning DR servers' host keys (govcloud/services/dr_keys.py; docs/dr.md,
"Host keys"): the expected keys read from a console log and where they were learnt; the
refusal of a server nobody vouches for, in DR's words; the ``dr_trust_on_first_use`` setting
(a reason, bounded, never blank, unset by default). The checks against real sshd are in
tests/integration/dr/test_protect_host_keys.py and test_drill.py."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

import pytest

from govcloud.domain.host_keys import sha256_fingerprint
from govcloud.domain.legacy import Endpoint
from govcloud.errors import InvalidInput
from govcloud.services.dr_keys import CloudServer, cloud_keys, unknown
from govcloud.settings import load_settings
from govcloud.ssh.hosts import HostKeyUnknown


def _key(seed: str) -> tuple[str, str]:
    blob = b"".join(struct.pack(">I", len(p)) + p
                    for p in (b"ssh-ed25519", hashlib.sha256(seed.encode()).digest()))
    return base64.b64encode(blob).decode(), sha256_fingerprint(blob)


class _Compute:
    """The one call of the compute API ``cloud_keys`` makes: a server's console log."""

    def __init__(self, output: str) -> None:
        self.output = output
        self.asked: list[str] = []

    def get_server_console_output(self, server_id: str) -> dict[str, Any]:
        self.asked.append(server_id)
        return {"output": self.output}


class _Conn:
    def __init__(self, output: str) -> None:
        self.compute = _Compute(output)


def _console(key: str, fingerprint: str) -> str:
    return "\n".join(["<14>Dec 07 08:00:01 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
                      f"<14>Dec 07 08:00:01 cloud-init: 256 {fingerprint} root@a (ED25519)",
                      "<14>Dec 07 08:00:01 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----",
                      "-----BEGIN SSH HOST KEY KEYS-----", f"ssh-ed25519 {key} root@a",
                      "-----END SSH HOST KEY KEYS-----", "a login: "])


def test_the_expected_keys_are_the_console_logs_and_say_where_they_came_from() -> None:
    key, fingerprint = _key("copy")
    conn = _Conn(_console(key, fingerprint))
    expected = cloud_keys(CloudServer(conn, "DR-REMOTE", "srv-1"), wait_s=0)
    assert expected is not None
    assert expected.fingerprints == frozenset({fingerprint})
    assert expected.source == "the console log of server srv-1 in DR-REMOTE"
    assert conn.compute.asked == ["srv-1"]


def test_a_console_log_without_keys_expects_nothing_and_is_read_once_without_a_wait() -> None:
    conn = _Conn("[    0.000000] Linux version 5.15.0\na login: ")
    assert cloud_keys(CloudServer(conn, "PROD", "srv-2"), wait_s=0) is None
    assert conn.compute.asked == ["srv-2"]


def test_a_server_nobody_vouches_for_is_refused_with_the_override_named() -> None:
    refusal = unknown(Endpoint("10.0.0.7", 22, "root"), CloudServer(None, "DR-LOCAL", "s-9"),
                      3.0)
    assert isinstance(refusal, HostKeyUnknown)
    assert refusal.message.startswith("no expected host key for 10.0.0.7 (server s-9 in "
                                      "DR-LOCAL): its console log showed none within 3 s")
    assert "nothing was recorded and nothing was run" in refusal.message
    assert refusal.hint is not None
    assert "GOVCLOUD_DR_TRUST_ON_FIRST_USE" in refusal.hint and "audited" in refusal.hint


def test_the_override_is_a_reason_unset_by_default() -> None:
    assert load_settings().dr_trust_on_first_use is None
    settings = load_settings(dr_trust_on_first_use="  built by hand,\n checked by phone ")
    assert settings.dr_trust_on_first_use == "built by hand, checked by phone"
    with pytest.raises(InvalidInput, match="must give a reason"):
        load_settings(dr_trust_on_first_use=" \t\n")
    with pytest.raises(InvalidInput, match="dr_trust_on_first_use"):
        load_settings(dr_trust_on_first_use="x" * 501)


def test_the_override_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCLOUD_DR_TRUST_ON_FIRST_USE", "images without cloud-init")
    assert load_settings().dr_trust_on_first_use == "images without cloud-init"
