"""Hostile inventory values: nothing that reaches ssh, rsync or Ansible may be read as an
option (``-oProxyCommand=...``) or break out of its quoting (issue 17, item 6)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from govcloud.domain.legacy import Endpoint, LegacyHost, parse_inventory
from govcloud.errors import InvalidInput
from govcloud.services.migration_commands import host_commands
from govcloud.settings import Settings


def inv(**host: Any) -> dict[str, Any]:
    return {"all": {"vars": {"govcloud_department": "gd-psd"},
                    "hosts": {"psd-db1": {"govcloud_system": "hukou",
                                          "ansible_host": "10.0.0.1", **host}}}}


@pytest.mark.parametrize("host, words", [
    ({"ansible_host": "-oProxyCommand=touch /tmp/x"}, "ansible_host"),
    ({"ansible_host": "-oProxyCommand=x"}, "not a host name"),
    ({"ansible_host": "db1.psd.gov\nevil ssh-ed25519 AAAA"}, "ansible_host"),
    ({"ansible_host": "a b"}, "ansible_host"),
    ({"ansible_host": "db1.psd.gov\n"}, "ansible_host"),  # $ matches before a final newline
    ({"ansible_user": "root\n"}, "ansible_user"),
    ({"govcloud_target": {"address": "10.0.0.9\n"}}, "target address"),
    ({"govcloud_target": {"address": "db2\n"}}, "target address"),
    ({"govcloud_target": {"address": "10.0.0.9", "user": "ops\n"}}, "target user"),
    ({"govcloud_service": "sshd\n"}, "govcloud_service"),
    ({"govcloud_department": "gd-psd\n"}, "govcloud_department"),
    ({"ansible_host": "host-.psd.gov"}, "ansible_host"),
    ({"ansible_host": "fe80::1%-oProxyCommand=x"}, "ansible_host"),
    ({"ansible_user": "-oProxyCommand=touch /tmp/x"}, "ansible_user"),
    ({"ansible_user": "Root"}, "ansible_user"),
    ({"ansible_user": "ops;id"}, "ansible_user"),
    ({"ansible_user": "a" * 33}, "ansible_user"),
    ({"govcloud_target": {"address": "-oProxyCommand=x"}}, "target address"),
    ({"govcloud_target": {"address": "10.0.0.9", "user": "-l"}}, "target user"),
    ({"govcloud_target": {"address": "10.0.0.9", "root": "srv"}}, "target root"),
    ({"govcloud_target": {"address": "10.0.0.9", "host_key": "SHA256:" + "a" * 42 + "\n"}},
     "govcloud_target.host_key"),
    ({"govcloud_target": {"address": "10.0.0.9", "host_key": "MD5:12:f8:7e:78"}},
     "govcloud_target.host_key"),
    ({"govcloud_target": {"address": "10.0.0.9", "host_key": ["SHA256:x"]}},
     "govcloud_target.host_key"),
    ({"govcloud_service": "-H evil"}, "govcloud_service"),
    ({"govcloud_service": "x; rm -rf /"}, "govcloud_service"),
    ({"govcloud_data_paths": ["/srv/a\rb"]}, "data path"),
    ({"govcloud_root": "/srv/\x1b[2Jroot"}, "govcloud_root"),
    ({"govcloud_system": "hukou\n"}, "govcloud_system"),
])
def test_hostile_values_are_refused_naming_host_and_variable(host: dict[str, Any],
                                                            words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_inventory(inv(**host))
    assert "psd-db1" in err.value.message and words in err.value.message
    assert "\n" not in err.value.message and "\x1b" not in err.value.message


def test_a_host_name_with_a_final_newline_is_refused() -> None:
    data = inv()
    data["all"]["hosts"] = {"psd-db1\n": data["all"]["hosts"]["psd-db1"]}
    with pytest.raises(InvalidInput, match="invalid host name"):
        parse_inventory(data)


@pytest.mark.parametrize("address", ["10.20.1.11", "db1.psd.gov", "DB-1.example.",
                                     "2001:db8::5", "::1", "localhost"])
def test_host_names_and_ip_addresses_are_accepted(address: str) -> None:
    (host,) = parse_inventory(inv(ansible_host=address, ansible_user="_svc-ops1"))
    assert host.endpoint.address == address and host.endpoint.user == "_svc-ops1"


def test_an_endpoint_is_never_hostile_wherever_it_comes_from() -> None:
    # stored rows and a server's metadata make endpoints too: the type itself refuses
    for bad in ({"address": "-oProxyCommand=x"}, {"address": "h", "user": "-x"},
                {"address": "h", "root": "relative"}, {"address": "h", "port": 0}):
        with pytest.raises(InvalidInput):
            Endpoint.from_dict(bad, where="stored")
    with pytest.raises(InvalidInput):
        Endpoint("-oProxyCommand=x")
    with pytest.raises(InvalidInput):
        Endpoint("10.0.0.1", 22, "-oX")


def _commands(tmp_path: Path, host: LegacyHost, target: Endpoint) -> dict[str, str]:
    settings = Settings(migrate_dir=tmp_path / "m", ssh_key=tmp_path / "id")
    return host_commands(host, target, settings=settings, stage=tmp_path / "stage")


def test_rsync_takes_its_paths_after_double_dash_and_ipv6_in_brackets(tmp_path: Path) -> None:
    (host,) = parse_inventory(inv(ansible_host="2001:db8::5", ansible_user="ops",
                                  govcloud_data_paths=["/srv/data"]))
    cmds = _commands(tmp_path, host, Endpoint("10.0.0.9", 2222, "root", "/sandbox"))
    syncs = [shlex.split(c) for c in cmds["gc_sync"].split(" && ")]
    assert len(syncs) == 2
    for argv in syncs:
        assert argv[0] == "rsync" and argv[-3] == "--"
        assert not any(a.startswith("-") for a in argv[-2:])
    assert syncs[0][-2] == "ops@[2001:db8::5]:/srv/data/"
    assert syncs[1][-1] == "root@10.0.0.9:/sandbox/srv/data/"
    ssh = shlex.split(syncs[0][syncs[0].index("-e") + 1])
    assert ssh[0] == "ssh" and "StrictHostKeyChecking=yes" in ssh


def test_a_data_path_with_quotes_stays_one_word(tmp_path: Path) -> None:
    """The precheck's message names a missing path: a quote in the path must not end the
    quoting (before the fix it was put inside '...' as is)."""
    mark = tmp_path / "pwned"
    path = f"/nowhere/it's'; touch {mark}; echo '"
    (host,) = parse_inventory(inv(govcloud_data_paths=[path]))
    cmd = _commands(tmp_path, host, Endpoint("10.0.0.9"))["gc_precheck_legacy"]
    cmd = cmd.replace("command -v rsync >/dev/null && ", "")  # rsync or not, here
    done = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=10)
    assert done.returncode == 1 and not mark.exists()
    assert done.stdout.strip() == f"missing data path {path}"


def test_the_default_service_commands_take_the_unit_after_double_dash() -> None:
    (host,) = parse_inventory(inv(govcloud_service="postgresql@15-main.service"))
    assert host.stop_command == "systemctl stop -- postgresql@15-main.service"
    assert host.start_command == "systemctl start -- postgresql@15-main.service"


@pytest.mark.parametrize("endpoint, reach", [
    ("10.0.0.7", {"ansible_host": "10.0.0.7"}),
    ("127.0.0.5:2222", {"ansible_host": "127.0.0.5", "ansible_port": 2222}),
    ("-oProxyCommand=touch x:22", {}),
    ("-oProxyCommand=x", {}),
    ("a b:22", {}),
    (None, {}),
])
def test_a_servers_ssh_endpoint_reaches_the_inventory_only_when_valid(
        endpoint: str | None, reach: dict[str, Any]) -> None:
    """A server's SSH endpoint comes from the cloud (its metadata is its owner's to set)."""
    from govcloud.services.migration import _reach

    assert _reach(endpoint) == reach


def test_ansible_ssh_args_keep_a_known_hosts_path_with_spaces_whole(tmp_path: Path) -> None:
    from govcloud.services.migration_commands import ansible_ssh_args

    known = tmp_path / "state dir" / "known_hosts"
    args = shlex.split(ansible_ssh_args(known))
    assert args[:2] == ["-o", f"UserKnownHostsFile={known}"]
    assert "StrictHostKeyChecking=yes" in args
