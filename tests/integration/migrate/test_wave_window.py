"""A wave runs in its planned maintenance window: outside it the run is refused (nothing runs)
unless it is overridden on purpose, with a reason, which is audited (issue 17, item 14)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from govcloud.demo.sandbox import Sandbox
from govcloud.domain.limits import text_digest
from govcloud.store.tables import AuditEntryRow
from govcloud.store.tables_migration import MigrationEventRow
from tests.integration.migrate.conftest import Plane
from tests.integration.migrate.waves import DATA, cli, make_hosts, ready_wave, tree

pytestmark = pytest.mark.slow


def test_a_wave_outside_its_window_is_refused_unless_overridden_with_a_reason(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox]) -> None:
    inv, boxes = make_hosts(sandboxes, tmp_path, "gd-hrss", ["hrss-w"])
    later = datetime.now(UTC) + timedelta(days=2)
    wave = ready_wave(capsys, inv, "gd-hrss", boxes, first_window=later)
    legacy, target = boxes["hrss-w"]

    code, out, err = cli(capsys, "migrate", "run", wave, "--follow")
    assert code == 3, out + err
    assert "maintenance window" in err and "has not opened yet" in err
    assert "--outside-window" in err and "nothing was run" in err
    with Session(cli_env.engine) as session:
        assert not session.exec(select(MigrationEventRow).where(
            MigrationEventRow.wave == wave)).all()
    code, out, _ = cli(capsys, "migrate", "show", wave, "--json")
    assert json.loads(out)["status"] == "planned"
    assert (legacy.root / "run" / "hrss-w.running").exists()  # not frozen
    assert not (target.root / DATA.lstrip("/")).exists()

    # the override needs a reason (bad input, nothing runs)
    code, _, err = cli(capsys, "migrate", "run", wave, "--outside-window")
    assert code == 2 and "--reason" in err

    code, out, err = cli(capsys, "migrate", "run", wave, "--follow", "--outside-window",
                         "--reason", "the department agreed to move it forward")
    assert code == 0, out + err
    assert tree(legacy.root / DATA.lstrip("/")) == tree(target.root / DATA.lstrip("/"))
    with Session(cli_env.engine) as session:
        audited = [r for r in session.exec(select(AuditEntryRow))
                   if r.action == "migrate.window_override"]
    assert len(audited) == 1 and audited[0].actor == "admin"
    after = json.loads(audited[0].after_json or "{}")
    reason = "the department agreed to move it forward"
    # the chain keeps the reason's digest (docs/security.md, "Input limits"); the wave's
    # event log keeps the text
    assert after["wave"] == wave and after["reason"] == text_digest(reason)
    assert reason not in (audited[0].after_json or "")
    with Session(cli_env.engine) as session:
        events = session.exec(select(MigrationEventRow).where(
            MigrationEventRow.wave == wave, MigrationEventRow.event == "window_override")).all()
    assert [e.message for e in events] == [f"run outside the maintenance window by admin: {reason}"]
    assert after["window"]["start"].startswith(later.isoformat()[:16])
