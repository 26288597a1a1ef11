"""Whole waves for real: legacy hosts and targets are sshd sandboxes, the playbooks run through
ansible-runner, files move with rsync; then a rollback brings back what the target wrote."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session, select

from govcloud.demo.sandbox import Sandbox
from govcloud.store.tables import AuditEntryRow
from govcloud.store.tables_migration import MigrationEventRow
from tests.integration.migrate.conftest import Plane
from tests.integration.migrate.waves import DATA, cli, make_hosts, ready_wave, tree

pytestmark = pytest.mark.slow


def test_a_wave_runs_end_to_end_and_rolls_back(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox]) -> None:
    inv, boxes = make_hosts(sandboxes, tmp_path, "gd-hrss", ["hrss-a", "hrss-b"])
    wave = ready_wave(capsys, inv, "gd-hrss", boxes)

    code, out, err = cli(capsys, "migrate", "run", wave, "--follow", "--hook", "example-dns")
    assert code == 0, out + err
    assert f"{wave}: done" in out
    for step in ("precheck", "initial_sync", "freeze", "final_sync", "cutover", "verify"):
        assert step in out
    for name, (legacy, target) in boxes.items():
        src, dst = legacy.root / DATA.lstrip("/"), target.root / DATA.lstrip("/")
        assert tree(src) == tree(dst) and len(tree(dst)) == 4
        assert not (legacy.root / "run" / f"{name}.running").exists()  # frozen
        assert (target.root / "run" / f"{name}.running").exists()      # started
    code, out, _ = cli(capsys, "migrate", "show", wave, "--json")
    shown = json.loads(out)
    assert shown["status"] == "done" and shown["exit_gate"]["passed"]
    assert {h["live"] for h in shown["hosts"]} == {"target"}

    # a second run changes nothing and succeeds (every step is done)
    code, out, _ = cli(capsys, "migrate", "run", wave, "--follow")
    assert code == 0 and f"{wave}: done" in out

    # the target takes writes after the cutover; the rollback brings them back — a new file,
    # and a file edited in place that keeps its size and time (as a database's pages do)
    legacy, target = boxes["hrss-a"]
    (target.root / DATA.lstrip("/") / "written-after-cutover.txt").write_text("keep me\n")
    edited = target.root / DATA.lstrip("/") / "f0.bin"
    before = edited.stat()
    content = bytearray(edited.read_bytes())
    content[:4] = b"EDIT"
    edited.write_bytes(bytes(content))
    os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
    code, out, err = cli(capsys, "migrate", "rollback", wave, "--follow")
    assert code == 0, out + err
    assert (legacy.root / DATA.lstrip("/") / "written-after-cutover.txt").read_text() == \
        "keep me\n"
    assert (legacy.root / DATA.lstrip("/") / "f0.bin").read_bytes() == bytes(content)
    assert tree(legacy.root / DATA.lstrip("/")) == tree(target.root / DATA.lstrip("/"))
    # declared targets were built outside govcloud: kept, and the rollback says so
    assert out.count("kept the declared target") == 2
    for name, (legacy, target) in boxes.items():
        assert (legacy.root / "run" / f"{name}.running").exists()
        assert not (target.root / "run" / f"{name}.running").exists()
    code, out, _ = cli(capsys, "hosts", "list", "--department", "gd-hrss", "--json")
    assert {h["live"] for h in json.loads(out)} == {"legacy"}

    with Session(cli_env.engine) as session:
        actions = {r.action for r in session.exec(select(AuditEntryRow))}
        events = session.exec(select(MigrationEventRow).where(
            MigrationEventRow.wave == wave)).all()
    assert {"migrate.run", "migrate.run.end", "migrate.rollback", "migrate.override",
            "hosts.trust"} <= actions
    assert {e.step for e in events} >= {"precheck", "provision", "cutover_hook", "verify",
                                        "rollback"}
    assert len({e.ident for e in events if e.step == "verify"}) == 1
