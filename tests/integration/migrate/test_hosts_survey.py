"""Legacy hosts against real sshd sandboxes: import, trust (confirm, pin, refuse), changed keys,
the survey (facts, data sizes, dependencies, unreachable hosts), the dynamic inventory through
ansible-inventory, and the plan."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from govcloud.cli import main
from govcloud.demo.sandbox import Sandbox, write_files
from tests.integration.migrate.conftest import Plane, host_vars, inventory_file

REPO = Path(__file__).resolve().parents[3]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _known_hosts(plane_settings: dict[str, object]) -> Path:
    return Path(str(plane_settings["migrate_dir"])) / "known_hosts"


def test_import_trust_survey_inventory_and_plan(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox], plane_settings: dict[str, object]) -> None:
    app, db, gone = sandboxes("app1"), sandboxes("db1"), sandboxes("old1")
    write_files(app.root, "/srv/app", {"a.txt": b"x" * 5000, "sub/b.bin": os.urandom(20000)})
    write_files(db.root, "/var/lib/db", {"data": b"d" * 70000})
    inv = inventory_file(tmp_path / "gd-tax.yaml", "gd-tax", {
        "tax-app1": host_vars(app, "etax", govcloud_data_paths=["/srv/app"]),
        "tax-db1": host_vars(db, "etax-db", govcloud_data_paths=["/var/lib/db"]),
        "tax-old1": host_vars(gone, "archive", govcloud_data_paths=["/srv/old"])})
    code, out, err = run(capsys, "hosts", "import", str(inv))
    assert code == 0, err
    assert "3 hosts of gd-tax: 3 new" in out
    code, out, _ = run(capsys, "hosts", "import", str(inv))
    assert "0 new, 0 changed" in out

    # --yes without a pinned fingerprint, or with the wrong one: refused, nothing recorded
    code, _, err = run(capsys, "hosts", "trust", "tax-app1", "--yes")
    assert code == 2 and "--fingerprint" in err
    code, _, err = run(capsys, "hosts", "trust", "tax-app1", "--yes", "--fingerprint",
                       db.fingerprint)
    assert code == 2 and "not the pinned" in err
    # nothing recorded for it (the module's tests share one known_hosts, in any order)
    known = _known_hosts(plane_settings)
    assert not known.exists() or f"[{app.address}]:{app.port} " not in known.read_text()
    # the survey refuses untrusted hosts (recorded unreachable, nothing run)
    for box, name in ((app, "tax-app1"), (db, "tax-db1"), (gone, "tax-old1")):
        code, out, err = run(capsys, "hosts", "trust", name, "--yes", "--fingerprint",
                             box.fingerprint)
        assert code == 0, err
        assert box.fingerprint in out
    assert f"[{app.address}]:{app.port} ssh-ed25519" in _known_hosts(plane_settings).read_text()
    gone.stop()

    # a dependency: app1 holds an established connection to a port on db1
    with socket.socket() as server, socket.socket() as client:
        server.bind((db.address, 0))
        server.listen()
        client.bind((app.address, 0))
        client.connect(server.getsockname())
        conn, _ = server.accept()
        with conn:
            code, out, err = run(capsys, "migrate", "survey", "--department", "gd-tax",
                                 "--json")
    assert code == 1  # one host unreachable
    hosts = {h["host"]: h for h in json.loads(out)["hosts"]}
    assert hosts["tax-old1"]["reachable"] is False and hosts["tax-old1"]["error"]
    a = hosts["tax-app1"]
    assert a["reachable"] and a["os_id"] and a["kernel"].startswith("Linux")
    assert a["cpus"] >= 1 and a["ram_mb"] > 0 and a["disks"]
    assert 24 <= a["data_kb"]["/srv/app"] <= 40  # 25 000 bytes in two files
    assert app.port in a["listening"]
    assert any(c["peer"] == db.address for c in a["connections"])
    assert hosts["tax-db1"]["data_kb"]["/var/lib/db"] >= 68

    code, out, _ = run(capsys, "migrate", "plan", "--department", "gd-tax", "--json")
    assert code == 0
    waves = json.loads(out)["waves"]
    assert waves[0]["rehearsal"] is True
    together = [w for w in waves if "tax-app1" in w["hosts"]]
    assert len(together) == 1 and "tax-db1" in together[0]["hosts"]  # they talk: one wave
    code, out, _ = run(capsys, "migrate", "show", together[0]["wave"], "--json")
    wave = json.loads(out)
    assert wave["entry_gate"]["passed"] is False  # no sign-off yet, among others
    scores = {h["host"]: h["readiness"] for h in wave["hosts"]}
    assert any("sign-off" in r for r in scores["tax-app1"]["blocking"])

    # the dynamic inventory through Ansible itself
    env = {**os.environ, "GOVCLOUD_SERVER": cli_env.url, "GOVCLOUD_TOKEN": cli_env.admin_token}
    graph = subprocess.run([str(REPO / ".venv/bin/ansible-inventory"), "-i",
                            "inventory/govcloud.yml", "--graph"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
    assert graph.returncode == 0, graph.stderr
    for group in ("@dept_gd_tax", "@system_etax", "@site_legacy", f"@wave_{together[0]['wave']}"
                  .replace("-", "_")):
        assert group in graph.stdout
    assert "tax-db1" in graph.stdout


def test_changed_host_key_stops_the_survey(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox]) -> None:
    box = sandboxes("edu1")
    write_files(box.root, "/srv/edu", {"f": b"1"})
    inv = inventory_file(tmp_path / "gd-edu.yaml", "gd-edu", {
        "edu-web1": host_vars(box, "portal", govcloud_data_paths=["/srv/edu"])})
    assert run(capsys, "hosts", "import", str(inv))[0] == 0
    assert run(capsys, "hosts", "trust", "edu-web1", "--yes", "--fingerprint",
               box.fingerprint)[0] == 0
    box.stop()
    box.new_host_key()
    box.start()
    code, _, err = run(capsys, "migrate", "survey", "--department", "gd-edu")
    assert code == 3
    assert "CHANGED" in err and "nothing was run" in err and "hint:" in err
    code, out, _ = run(capsys, "hosts", "list", "--department", "gd-edu", "--json")
    assert json.loads(out)[0]["surveyed_at"] is None  # nothing was recorded
    # trusting the new key needs --replace
    code, _, err = run(capsys, "hosts", "trust", "edu-web1", "--yes", "--fingerprint",
                       box.fingerprint)
    assert code == 3 and "--replace" in err
    assert run(capsys, "hosts", "trust", "edu-web1", "--yes", "--fingerprint", box.fingerprint,
               "--replace")[0] == 0
    code, out, _ = run(capsys, "migrate", "survey", "--department", "gd-edu", "--json")
    assert code == 0 and json.loads(out)["hosts"][0]["reachable"]


def test_bad_inventory_is_refused_and_changes_nothing(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("all:\n  vars: {govcloud_department: gd-psd}\n  hosts:\n"
                   "    psd-a: {govcloud_system: x, govcloud_data_paths: [relative/path]}\n"
                   "    psd-b: {govcloud_system: y}\n")
    code, _, err = run(capsys, "hosts", "import", str(bad))
    assert code == 2 and "psd-a" in err and "absolute" in err
    code, out, _ = run(capsys, "hosts", "list", "--department", "gd-psd", "--json")
    assert json.loads(out) == []
    code, _, err = run(capsys, "hosts", "import", str(tmp_path / "missing.yaml"))
    assert code == 2 and "cannot read" in err


def test_option_injection_is_refused_on_import_and_changes_nothing(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # (one test, not parametrized: a parametrized one makes pytest reorder this module's
    # tests, which share one state directory per database)
    good = {"govcloud_system": "x", "ansible_host": "10.9.9.1"}
    for variable in ("ansible_host", "ansible_user"):
        value = "-oProxyCommand=touch /tmp/govcloud-pwned"
        inv = inventory_file(tmp_path / "gd-psd.yaml", "gd-psd", {
            "psd-ok": good, "psd-evil": {**good, "ansible_host": "10.9.9.2", variable: value}})
        code, out, err = run(capsys, "hosts", "import", str(inv))
        assert code == 2, out + err
        assert "psd-evil" in err and variable in err and "hint:" in err
        code, out, _ = run(capsys, "hosts", "list", "--department", "gd-psd", "--json")
        assert json.loads(out) == []  # not even the good host: all or nothing
