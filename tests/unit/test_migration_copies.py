"""DR copies of a migration target: every sync reaches them, verify compares them, and the
rollback's sync back compares contents (issue 17, item 14)."""

from __future__ import annotations

import shlex
from pathlib import Path

from govcloud.domain.legacy import Endpoint, TargetCopy, parse_inventory
from govcloud.services.migration_commands import host_commands
from govcloud.settings import Settings
from govcloud.ssh.hosts import HostKey, KnownHosts

INV = {"all": {"vars": {"govcloud_department": "gd-psd"},
               "hosts": {"psd-db1": {"govcloud_system": "hukou", "ansible_host": "10.0.0.1",
                                     "govcloud_data_paths": ["/srv/a", "/srv/b"]}}}}


def test_syncs_reach_every_copy_and_verify_compares_them(tmp_path: Path) -> None:
    (host,) = parse_inventory(INV)
    copies = [TargetCopy("DR-LOCAL", "standby", Endpoint("10.1.0.2", 22, "root", "/x"), "s2"),
              TargetCopy("DR-REMOTE", "cold", Endpoint("10.2.0.3"), "s3")]
    cmds = host_commands(host, Endpoint("10.0.0.9"),
                         settings=Settings(migrate_dir=tmp_path / "m"),
                         stage=tmp_path / "stage", copies=copies)
    pushed = [shlex.split(c)[-1] for c in cmds["gc_sync"].split(" && ")]
    for p in ("/srv/a/", "/srv/b/"):
        assert f"root@10.0.0.9:{p}" in pushed
        assert f"root@10.1.0.2:/x{p}" in pushed and f"root@10.2.0.3:{p}" in pushed
    check = cmds["gc_check_copies"]
    assert check.count("rsync -rnc --delete") == 4 and "DR-REMOTE cold copy" in check
    # the sync back (rollback) compares contents; the forward syncs need not
    assert all("--checksum" in c for c in cmds["gc_sync_back"].split(" && "))
    assert "--checksum" not in cmds["gc_sync"]
    # a target without copies checks nothing more
    bare = host_commands(host, Endpoint("10.0.0.9"), settings=Settings(migrate_dir=tmp_path),
                         stage=tmp_path / "stage")
    assert bare["gc_check_copies"] == "" and bare["gc_sync"].count("rsync") == 4


def test_a_copy_round_trips_and_a_deleted_server_is_forgotten(tmp_path: Path) -> None:
    copy = TargetCopy("DR-REMOTE", "cold", Endpoint("10.2.0.3", 2222), "srv-1")
    assert TargetCopy.from_dict(copy.to_dict(), where="x") == copy
    known = KnownHosts(tmp_path / "known_hosts")
    for ep, key in ((copy.endpoint, "AAAA1"), (Endpoint("10.0.0.9"), "AAAA2")):
        known.record(HostKey(ep.known_hosts_name, "ssh-ed25519", "SHA256:x",
                             f"{ep.known_hosts_name} ssh-ed25519 {key}"))
    assert known.forget(copy.endpoint) is True
    assert known.forget(copy.endpoint) is False  # idempotent
    assert (tmp_path / "known_hosts").read_text() == "10.0.0.9 ssh-ed25519 AAAA2\n"
