"""Reading the SSH host keys cloud-init printed to a server's console log
(govcloud/domain/host_keys.py): both of its blocks, behind syslog prefixes or not; the newest
boot's; keys whose blob is not of their type ignored; both blocks must agree; anything else
(no block, a block cut off, MD5 fingerprints only) shows no keys."""

from __future__ import annotations

import base64
import hashlib
import struct

from hypothesis import given
from hypothesis import strategies as st

from govcloud.domain.host_keys import BootKeys, parse_boot_keys, sha256_fingerprint


def wire(*parts: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def ed25519(seed: str) -> tuple[str, str]:
    """An ed25519 public key (type, base64) and its OpenSSH fingerprint."""
    blob = wire(b"ssh-ed25519", hashlib.sha256(seed.encode()).digest())
    return base64.b64encode(blob).decode(), sha256_fingerprint(blob)


def console(keys: list[str], fingerprints: list[str], prefix: str = "<14>Dec 10 08:00:01 "
            "cloud-init: ") -> str:
    return "\n".join([
        "[    2.118844] cloud-init[512]: Cloud-init v. 23.1 running 'init'",
        f"{prefix}{'#' * 61}",
        f"{prefix}-----BEGIN SSH HOST KEY FINGERPRINTS-----",
        *(f"{prefix}256 {fp} root@web-1 (ED25519)" for fp in fingerprints),
        f"{prefix}-----END SSH HOST KEY FINGERPRINTS-----",
        f"{prefix}{'#' * 61}",
        "-----BEGIN SSH HOST KEY KEYS-----",
        *(f"ssh-ed25519 {k} root@web-1" for k in keys),
        "-----END SSH HOST KEY KEYS-----",
        "web-1 login: "])


def test_both_blocks_of_a_cloud_init_console() -> None:
    (k1, f1), (k2, f2) = ed25519("one"), ed25519("two")
    boot = parse_boot_keys(console([k1, k2], [f1, f2]))
    assert boot == BootKeys((("ssh-ed25519", k1), ("ssh-ed25519", k2)), (f1, f2))
    assert boot.expected == {f1, f2}
    assert boot.known_hosts_lines("[10.0.0.5]:22") == [
        f"[10.0.0.5]:22 ssh-ed25519 {k1}", f"[10.0.0.5]:22 ssh-ed25519 {k2}"]


def test_one_block_is_enough_and_older_prefixes_are_read() -> None:
    k, f = ed25519("one")
    only_fingerprints = console([], [f], prefix="ec2: ").replace(
        "-----BEGIN SSH HOST KEY KEYS-----\n-----END SSH HOST KEY KEYS-----\n", "")
    assert parse_boot_keys(only_fingerprints) == BootKeys((), (f,))
    only_keys = console([k], []).split("\n")
    only_keys = [ln for ln in only_keys if "FINGERPRINTS" not in ln]
    boot = parse_boot_keys("\n".join(only_keys))
    assert boot is not None and boot.expected == {f}


def test_the_newest_boot_counts() -> None:
    (old, _), (new, f_new) = ed25519("before rebuild"), ed25519("after rebuild")
    text = console([old], [sha256_fingerprint(base64.b64decode(old))]) + "\n" + \
        console([new], [f_new])
    boot = parse_boot_keys(text)
    assert boot is not None and boot.expected == {f_new}


def test_blocks_that_disagree_expect_nothing() -> None:
    (k1, _), (_, f2) = ed25519("one"), ed25519("two")
    boot = parse_boot_keys(console([k1], [f2]))
    assert boot is not None and boot.expected == frozenset()  # every key will be refused


def test_what_is_not_a_key_or_a_whole_block_shows_nothing() -> None:
    k, f = ed25519("one")
    assert parse_boot_keys("") is None
    assert parse_boot_keys("[ 0.0] Linux version 5.15\nlogin: ") is None
    cut = console([k], [f]).split("\n")
    cut = [ln for ln in cut if "-----END" not in ln]  # a log cut off mid-block
    assert parse_boot_keys("\n".join(cut)) is None
    lying = base64.b64encode(wire(b"ssh-rsa", b"\x01\x00\x01", b"\x00" * 64)).decode()
    assert parse_boot_keys(console([lying], [])) is None  # an rsa blob as ed25519
    md5 = "256 12:f8:7e:78:61:b4:bf:e2:de:24:15:96:4e:d4:72:53 root@web-1 (ECDSA)"
    assert parse_boot_keys(console([], []).replace("#" * 61, md5, 1)) is None


@given(st.text(max_size=400))
def test_any_console_text_parses_or_shows_nothing(text: str) -> None:
    found = parse_boot_keys(text)
    assert found is None or found.keys or found.fingerprints
    wrapped = parse_boot_keys("-----BEGIN SSH HOST KEY KEYS-----\n" + text +
                              "\n-----END SSH HOST KEY KEYS-----")
    assert wrapped is None or all(t == "ssh-ed25519" or t.startswith(("ssh-", "ecdsa", "sk-"))
                                  for t, _ in wrapped.keys)
