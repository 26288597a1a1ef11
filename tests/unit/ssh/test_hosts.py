"""Strict host keys without a network: which key a host may present, what is recorded, replaced
or forgotten in govcloud's known_hosts, and when trusting a host is refused. (A real sshd:
the migration tests.)"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from pathlib import Path

import paramiko
import pytest

from govcloud.domain.legacy import Endpoint
from govcloud.errors import InvalidInput
from govcloud.ssh import hosts
from govcloud.ssh.hosts import (
    HostKey,
    HostKeyChanged,
    HostKeyUnknown,
    KnownHosts,
    fingerprint,
    trust,
)

HOST = Endpoint("10.0.0.5")
OTHER_PORT = Endpoint("10.0.0.5", port=2222)


def host_key(endpoint: Endpoint, key: paramiko.PKey | None = None) -> HostKey:
    key = key or paramiko.ECDSAKey.generate()
    name = endpoint.known_hosts_name
    return HostKey(name, key.get_name(), fingerprint(key), f"{name} {key.get_name()} "
                                                           f"{key.get_base64()}")


@pytest.fixture
def known(tmp_path: Path) -> KnownHosts:
    return KnownHosts(tmp_path / "govcloud" / "known_hosts")


def test_the_fingerprint_is_openssh_sha256(tmp_path: Path) -> None:
    key = paramiko.ECDSAKey.generate()
    digest = hashlib.sha256(base64.b64decode(key.get_base64())).digest()
    assert fingerprint(key) == "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    assert "=" not in fingerprint(key)
    public = tmp_path / "key.pub"
    public.write_text(f"{key.get_name()} {key.get_base64()}\n")
    try:
        out = subprocess.run(["ssh-keygen", "-lf", str(public)], capture_output=True,
                             text=True, check=True).stdout
    except FileNotFoundError:
        return  # no OpenSSH client here: the formula above is what it prints
    assert fingerprint(key) in out.split()


def test_a_host_with_no_recorded_key_is_unknown_and_nothing_runs(known: KnownHosts) -> None:
    with pytest.raises(HostKeyUnknown, match="no host key is recorded for 10.0.0.5") as caught:
        known.check(HOST, host_key(HOST))
    assert "govcloud hosts trust" in (caught.value.hint or "")


def test_the_recorded_key_passes_and_another_is_a_change(known: KnownHosts) -> None:
    good = host_key(HOST)
    known.record(good)
    known.check(HOST, good)
    intruder = host_key(HOST)
    with pytest.raises(HostKeyChanged, match="CHANGED") as caught:
        known.check(HOST, intruder)
    assert good.fingerprint in caught.value.message
    assert intruder.fingerprint in caught.value.message
    assert not caught.value.retryable  # never retried: someone may be in the middle


def test_a_key_recorded_for_one_port_does_not_vouch_for_another(known: KnownHosts) -> None:
    key = paramiko.ECDSAKey.generate()
    known.record(host_key(HOST, key))
    with pytest.raises(HostKeyUnknown, match=r"\[10.0.0.5\]:2222"):
        known.check(OTHER_PORT, host_key(OTHER_PORT, key))


def test_recording_the_same_key_twice_keeps_one_line(known: KnownHosts) -> None:
    key = host_key(HOST)
    known.record(key)
    known.record(key)
    assert known.path.read_text().splitlines() == [key.line]
    assert [k.fingerprint for k in known.recorded(HOST)] == [key.fingerprint]


def test_a_different_key_is_not_recorded_over_the_old_one_unless_replaced(
        known: KnownHosts) -> None:
    old, new = host_key(HOST), host_key(HOST)
    known.record(old)
    with pytest.raises(HostKeyChanged, match="already recorded"):
        known.record(new)
    assert known.path.read_text().splitlines() == [old.line]
    known.record(new, replace=True)
    assert known.path.read_text().splitlines() == [new.line]


def test_replacing_one_host_keeps_the_others(known: KnownHosts) -> None:
    a, b = host_key(HOST), host_key(OTHER_PORT)
    known.record(a)
    known.record(b)
    known.record(host_key(HOST), replace=True)
    lines = known.path.read_text().splitlines()
    assert b.line in lines and a.line not in lines and len(lines) == 2


def test_forget_removes_only_that_host(known: KnownHosts) -> None:
    assert not known.forget(HOST)  # no file yet
    a, b = host_key(HOST), host_key(OTHER_PORT)
    known.record(a)
    known.record(b)
    assert known.forget(HOST)
    assert known.path.read_text().splitlines() == [b.line]
    assert not known.forget(HOST)  # nothing left to remove


def test_the_file_is_readable_by_ssh_and_ansible(known: KnownHosts) -> None:
    known.record(host_key(HOST))
    assert known.path.stat().st_mode & 0o777 == 0o644
    assert not known.path.with_suffix(".tmp").exists()


def test_trust_records_the_scanned_key_when_it_has_the_pinned_fingerprint(
        known: KnownHosts, monkeypatch: pytest.MonkeyPatch) -> None:
    presented = host_key(HOST)
    monkeypatch.setattr(hosts, "scan", lambda endpoint, timeout: presented)
    assert trust(known, HOST, expected=f"  {presented.fingerprint}\n") == presented
    known.check(HOST, presented)


def test_trust_refuses_a_host_that_presents_another_fingerprint(
        known: KnownHosts, monkeypatch: pytest.MonkeyPatch) -> None:
    presented = host_key(HOST)
    monkeypatch.setattr(hosts, "scan", lambda endpoint, timeout: presented)
    with pytest.raises(InvalidInput, match="nothing was recorded"):
        trust(known, HOST, expected="SHA256:" + "A" * 43)
    assert known.recorded(HOST) == []


def test_trust_without_a_pin_still_will_not_replace_a_recorded_key(
        known: KnownHosts, monkeypatch: pytest.MonkeyPatch) -> None:
    known.record(host_key(HOST))
    monkeypatch.setattr(hosts, "scan", lambda endpoint, timeout: host_key(HOST))
    with pytest.raises(HostKeyChanged):
        trust(known, HOST)
