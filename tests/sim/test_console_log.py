"""A server's console log (``os-getConsoleOutput``) shows the SSH host keys cloud-init prints:
a sandboxed server the sandbox's real key (so a client may check what its sshd presents against
it), any other server a made-up key of its own, a sandbox given no keys none (an image without
cloud-init). Unmodified openstacksdk over HTTP; no sshd is needed to read a console."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcloud.demo.sandbox import fingerprint_of, make_key
from govcloud.domain.host_keys import parse_boot_keys
from tests.sim.conftest import SimHandle

MEMBER = "govcloud-sim-gd-psd"


def _pool(sim: SimHandle, *boxes: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{sim.base_url}/_sim/sandboxes", json={"sandboxes": list(boxes)},
                      timeout=10)


def _boot(conn: Any, name: str) -> Any:
    flavor = conn.compute.find_flavor("gc.c1m2", ignore_missing=False)
    image = conn.image.find_image("cirros-0.6.2-x86_64-disk", ignore_missing=False)
    server = conn.compute.create_server(name=name, image_id=image.id, flavor_id=flavor.id,
                                        networks="none")
    return conn.compute.wait_for_server(server, wait=30, interval=0.1)


def _console(conn: Any, server: Any, length: int | None = None) -> str:
    output: str = conn.compute.get_server_console_output(server, length=length)["output"]
    return output


def test_a_sandboxed_server_shows_its_sandboxes_host_key(sim: SimHandle,
                                                         tmp_path: Path) -> None:
    key = make_key(tmp_path / "ssh_host_ed25519_key", "host-box")
    public = key.with_suffix(".pub").read_text()
    assert _pool(sim, {"address": "127.0.0.1", "port": 40022, "root": str(tmp_path),
                       "host_keys": [public]}).status_code == 200
    user = sim.connect(MEMBER)
    server = _boot(user, "keyed")
    text = _console(user, server)
    assert "-----BEGIN SSH HOST KEY FINGERPRINTS-----" in text
    boot = parse_boot_keys(text)
    assert boot is not None
    assert boot.expected == {fingerprint_of(key.with_suffix(".pub"))}  # as ssh-keygen -l says
    assert boot.keys == (tuple(public.split()[:2]),)
    # the fingerprint line reads as ssh-keygen -l prints it (bits, fingerprint, ..., type)
    keygen = subprocess.run(["ssh-keygen", "-lf", str(key.with_suffix(".pub"))], check=True,
                            capture_output=True, text=True).stdout.split()
    assert f"{keygen[0]} {keygen[1]} root@keyed (ED25519)" in text
    assert _console(user, server, length=2).splitlines()[-1] == "keyed login: "


def test_other_servers_show_a_key_of_their_own_or_none(sim: SimHandle, tmp_path: Path) -> None:
    user = sim.connect(MEMBER)
    plain = _boot(user, "plain")
    first = parse_boot_keys(_console(user, plain))
    assert first is not None and len(first.expected) == 1
    assert parse_boot_keys(_console(user, plain)) == first  # stable
    other = parse_boot_keys(_console(user, _boot(user, "plain-2")))
    assert other is not None and other.expected != first.expected
    assert _pool(sim, {"address": "127.0.0.1", "port": 40023, "root": str(tmp_path),
                       "host_keys": []}).status_code == 200
    bare = _console(user, _boot(user, "no-cloud-init"))
    assert parse_boot_keys(bare) is None and "SSH HOST KEY" not in bare


@pytest.mark.parametrize("keys", [["ssh-ed25519"], ["ssh-ed25519 not*base64"], "x",
                                  ["k AAAA"] * 9])
def test_bad_host_keys_are_refused(sim: SimHandle, keys: Any) -> None:
    answer = _pool(sim, {"address": "127.0.0.1", "port": 40024, "host_keys": keys})
    assert answer.status_code == 400 and "host_keys" in answer.text
    assert httpx.get(f"{sim.base_url}/_sim/sandboxes", timeout=10).json()["sandboxes"] == []


def test_an_unshelved_server_still_shows_its_keys(sim: SimHandle, tmp_path: Path) -> None:
    """A cold copy unshelved for its protection cycle (docs/dr.md, "Host keys"): its console
    log shows the keys its sshd presents, as a cloud whose images print them at each boot."""
    key = make_key(tmp_path / "ssh_host_ed25519_key", "host-cold")
    assert _pool(sim, {"address": "127.0.0.1", "port": 40025, "root": str(tmp_path),
                       "host_keys": [key.with_suffix(".pub").read_text()]}).status_code == 200
    user = sim.connect(MEMBER)
    server = _boot(user, "cold-copy")
    before = parse_boot_keys(_console(user, server))
    user.compute.shelve_server(server)
    user.compute.wait_for_server(server, status="SHELVED_OFFLOADED", wait=30, interval=0.1)
    user.compute.unshelve_server(server)
    user.compute.wait_for_server(server, status="ACTIVE", wait=30, interval=0.1)
    after = parse_boot_keys(_console(user, server))
    assert after is not None and after == before
    assert after.expected == {fingerprint_of(key.with_suffix(".pub"))}
