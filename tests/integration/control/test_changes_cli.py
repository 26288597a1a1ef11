"""``govcloud change`` and ``govcloud calendar`` as clients of the server, change control
enforced: a calendar proposed from its file and approved by another person; a change
submitted from a YAML file, approved, and ``tenants apply --change`` refused before its
window (exit 7, message and hint, nothing changed) and run inside it; tables and --json."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from govcloud.cli import main
from govcloud.errors import ChangeRefused, Forbidden

from .changes_plane import calendar_text, next_saturday, pending, server_time
from .conftest import Plane

W = next_saturday()
EXAMPLE = Path(__file__).resolve().parents[3] / "tenants" / "calendar" / "2027.yaml"


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    return {"change_control": "enforce"}


@pytest.fixture(autouse=True)
def calendar(cli_env: Plane) -> Plane:
    """A test calendar in force (Saturdays 01:00-05:00), whatever another test approved."""
    version = f"cli.{len(cli_env.admin.get('/calendar', month='2030-01')['versions']) + 1}"
    cli_env.admin.post("/calendar", {"document": calendar_text(version)})
    cli_env.approver.post(f"/calendar/{version}/approve")
    return cli_env


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def as_approver(monkeypatch: pytest.MonkeyPatch, plane: Plane) -> None:
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.approver_token)


def test_the_calendar_from_its_file(cli_env: Plane, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run(capsys, "calendar", "propose", str(EXAMPLE))
    assert code == 0 and "calendar 2027.1 proposed (sha256:" in out
    assert "govcloud calendar approve 2027.1" in out
    code, _, err = run(capsys, "calendar", "approve", "2027.1")
    assert code == Forbidden.exit_code and "proposer and approver must differ" in err
    as_approver(monkeypatch, cli_env)
    code, out, _ = run(capsys, "calendar", "approve", "2027.1", "--json")
    assert code == 0 and json.loads(out)["calendar"]["in_force"] is True
    code, out, _ = run(capsys, "calendar", "show", "--month", "2027-03")
    assert code == 0 and "calendar 2027.1, 2027-03, times in UTC+08:00" in out
    assert "npc-cppcc-2027" in out and "全国两会" in out and "2027-03-06 01:00" in out
    code, out, _ = run(capsys, "calendar", "show", "--month", "2027-06", "--department",
                       "gd-edu", "--json")
    shown = json.loads(out)
    assert [f["name"] for f in shown["freezes"]] == ["gaokao-results-2027"]
    assert shown["freezes"][0]["from"] == "2027-06-22"
    code, out, _ = run(capsys, "calendar", "show", "--month", "2027-06", "--site", "DR-LOCAL",
                       "--json")
    assert {o["window"] for o in json.loads(out)["openings"]} == {"weekly-saturday",
                                                                 "dr-sunday", "tax-weeknights"}
    bad = EXAMPLE.parent.parent.parent / "pyproject.toml"
    code, _, err = run(capsys, "calendar", "propose", str(bad))
    assert code == 2 and "error:" in err


def test_a_change_from_a_file_through_tenants_apply(cli_env: Plane, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    plane = cli_env
    code, _, err = run(capsys, "tenants", "apply", "--department", "gd-edu")
    assert code == ChangeRefused.exit_code == 7
    assert "error: tenancy-apply needs an approved change" in err and "hint:" in err
    spec = tmp_path / "change.yaml"
    spec.write_text(f"kind: tenancy-apply\ntitle: 教育厅 quotas for the new term\n"
                    f"departments: [gd-edu]\nstart: {(W + dt.timedelta(minutes=5)).isoformat()}"
                    f"\nend: {(W + dt.timedelta(hours=2)).isoformat()}\nrollback_plan: |\n"
                    "  revert tenants/gd-edu.yaml\n  apply again\n", encoding="utf-8")
    code, out, _ = run(capsys, "change", "submit", "--file", str(spec), "--json")
    change = json.loads(out)
    assert code == 0 and (change["state"], change["type"]) == ("submitted", "normal")
    assert change["rollback_plan"] == "revert tenants/gd-edu.yaml\napply again\n"
    cid = str(change["id"])
    code, _, err = run(capsys, "change", "approve", cid)
    assert code == Forbidden.exit_code and "requester and approver must differ" in err
    as_approver(monkeypatch, plane)
    code, out, _ = run(capsys, "change", "approve", cid)
    assert code == 0 and f"change {cid}: 1 of 1 approvals; approved" in out
    before = pending(plane, "gd-edu")
    code, _, err = run(capsys, "tenants", "apply", "--change", cid)
    assert code == 7 and "has not opened yet" in err and "hint: run it inside the window" in err
    assert pending(plane, "gd-edu") == before > 0
    with server_time(plane, W + dt.timedelta(minutes=20)):
        code, out, _ = run(capsys, "tenants", "apply", "--change", cid)
    assert code == 0 and f"(under change {cid})" in out
    assert pending(plane, "gd-edu") == 0
    code, out, _ = run(capsys, "change", "show", cid)
    assert code == 0 and "done" in out and "ran tenancy-apply tenancy-apply gd-edu" in out
    assert "rollback plan:" in out and "  apply again" in out
    code, out, _ = run(capsys, "change", "list", "--department", "gd-edu", "--state", "done")
    assert code == 0 and "ID" in out and "教育厅 quotas for the new term" in out
    code, out, _ = run(capsys, "change", "list", "--json", "--kind", "dr-drill")
    assert code == 0 and int(cid) not in [c["id"] for c in json.loads(out)["changes"]]
    assert {c["kind"] for c in json.loads(out)["changes"]} <= {"dr-drill"}


def test_submit_from_flags_reject_and_cancel(cli_env: Plane, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(capsys, "change", "submit", "--kind", "dr-drill", "--title", "drill")
    assert code == 2 and "a change needs departments, start, end, rollback_plan" in err
    flags = ["change", "submit", "--kind", "dr-drill", "--title", "drill gd-agri",
             "--department", "gd-agri", "--site", "DR-REMOTE", "--start",
             (W + dt.timedelta(hours=1)).isoformat(), "--end",
             (W + dt.timedelta(hours=2)).isoformat(), "--rollback", "clean up the drill"]
    code, out, _ = run(capsys, *flags, "--json")
    first = json.loads(out)
    assert code == 0 and first["sites"] == ["DR-REMOTE"]
    code, out, _ = run(capsys, *flags)
    assert code == 0 and "submitted; the bureau approves it" in out
    found = re.search(r"change (\d+) submitted; the bureau approves it", out)
    assert found is not None
    second = found.group(1)
    code, out, _ = run(capsys, "change", "cancel", str(first["id"]), "--reason", "moved")
    assert code == 0 and f"change {first['id']} cancelled" in out
    as_approver(monkeypatch, cli_env)
    with pytest.raises(SystemExit) as usage:  # --reason is required
        run(capsys, "change", "reject", second)
    assert usage.value.code == 2
    code, out, _ = run(capsys, "change", "reject", second, "--reason", "not now", "--json")
    assert code == 0 and json.loads(out)["state"] == "rejected"
    code, _, err = run(capsys, "change", "cancel", second)
    assert code == 3 and "only a change that has not run is cancelled" in err
    tuesday = W + dt.timedelta(days=3)
    code, _, err = run(capsys, "change", "submit", "--kind", "tenancy-apply", "--title", "x",
                       "--department", "gd-agri", "--start", tuesday.isoformat(), "--end",
                       (tuesday + dt.timedelta(hours=1)).isoformat(), "--rollback", "x")
    assert code == 7 and "not inside a maintenance window of gd-agri" in err
    assert "govcloud calendar show" in err
