"""The CLI as a client of the server: contexts, principals, tenants, departments, audit list
and verify (failing with the bad seq after tampering by raw SQL), and errors (message, hint,
exit code, no traceback)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from govcloud.cli import main
from govcloud.errors import Forbidden, NotFound, TemporaryError

from .conftest import Plane


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_contexts_are_kept_0600_and_used(cli_env: Plane, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVCLOUD_SERVER")
    monkeypatch.delenv("GOVCLOUD_TOKEN")
    code, _, err = run(capsys, "departments", "list")
    assert code == 2 and "no control-plane server given" in err and "hint:" in err
    assert run(capsys, "context", "add", "dead", "--server", "http://127.0.0.1:9",
               "--token", "gct_x")[0] == 0
    assert run(capsys, "context", "add", "plane", "--server", cli_env.url, "--token",
               cli_env.admin_token)[0] == 0
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "govcloud" / "contexts.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text())["current"] == "dead"  # the first one added
    code, _, err = run(capsys, "departments", "list")
    assert code == TemporaryError.exit_code
    assert "cannot reach the control plane at http://127.0.0.1:9" in err
    assert "govcloud serve" in err
    assert run(capsys, "context", "use", "plane")[0] == 0
    code, out, _ = run(capsys, "context", "list", "--json")
    listing = json.loads(out)
    assert listing["current"] == "plane"
    assert {c["name"] for c in listing["contexts"]} == {"dead", "plane"}
    assert "gct_" not in out  # tokens are not printed
    code, out, _ = run(capsys, "departments", "list", "--json")
    assert code == 0 and {d["code"] for d in json.loads(out)} >= {"gd-psd", "shantou"}
    code, out, _ = run(capsys, "departments", "list", "--context", "dead")
    assert code == TemporaryError.exit_code
    code, _, err = run(capsys, "context", "use", "nope")
    assert code == NotFound.exit_code and "no context named 'nope'" in err


def test_principals_add_prints_the_token_alone(cli_env: Plane,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "principals", "add", "wang.fang", "--role",
                       "department-viewer", "--department", "gd-edu", "--person", "Wang Fang")
    assert code == 0
    token = out.strip()
    assert token.startswith("gct_") and out == token + "\n"
    code, out, _ = run(capsys, "departments", "list", "--json", "--token", token)
    assert [d["code"] for d in json.loads(out)] == ["gd-edu"]
    code, out, _ = run(capsys, "principals", "list", "--json")
    assert any(p["name"] == "wang.fang" and p["status"] == "active" for p in json.loads(out))
    code, out, _ = run(capsys, "principals", "revoke", "wang.fang")
    assert code == 0 and "revoked wang.fang" in out
    code, _, err = run(capsys, "departments", "list", "--token", token)
    assert code == Forbidden.exit_code
    assert "error: the API token is unknown, expired or revoked" in err and "hint:" in err
    code, _, err = run(capsys, "principals", "add", "bad", "--role", "city-operator",
                       "--person", "Wang Fang")
    assert code == 2 and "error:" in err and "hint: use --city CITY" in err


def test_tenants_and_departments_text(cli_env: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tenants", "apply")
    assert code == 0
    code, out, _ = run(capsys, "tenants", "apply")
    assert code == 0 and out.strip().endswith("already match the catalogue in 3 sites")
    code, out, _ = run(capsys, "tenants", "plan", "--department", "gd-psd")
    assert code == 0 and "no changes" in out
    code, out, _ = run(capsys, "departments", "show", "gd-psd")
    assert code == 0 and "PROD" in out and "DR-REMOTE" in out
    # RAM in GiB, as everywhere else (issue 17), not Nova's MiB
    header = next(line for line in out.splitlines() if line.startswith("SITE"))
    assert "RAM GIB" in header and "RAM_MB" not in header
    ram = cli_env.admin.get("/departments/gd-psd")["sites"][0]["quotas"]["ram_mb"]
    prod = next(line for line in out.splitlines() if line.startswith("PROD"))
    assert f"{ram['in_use'] / 1024:,.0f}/{ram['limit'] / 1024:,.0f}" in prod
    code, _, err = run(capsys, "departments", "show", "gd-nope")
    assert code == NotFound.exit_code and "no department 'gd-nope'" in err


def test_audit_verify_names_the_tampered_entry(cli_env: Plane,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "principals", "add", "zhao.lei", "--role", "operator", "--person", "Zhao Lei")
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0 and out.startswith("audit chain intact")
    code, out, _ = run(capsys, "audit", "list", "--json", "--actor", "admin",
                       "--target", "principal:zhao.lei")
    [entry] = json.loads(out)
    code, out, _ = run(capsys, "audit", "list", "--limit", "1000")
    assert "principal:zhao.lei" in out
    with cli_env.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_entry SET actor = 'someone-else' WHERE seq = "
                             f"{int(entry['seq'])}")
    try:
        code, _, err = run(capsys, "audit", "verify")
        assert code != 0
        assert f"audit chain broken at entry {entry['seq']}" in err and "hint:" in err
        code, out, _ = run(capsys, "audit", "verify", "--json")
        assert code != 0 and json.loads(out)["seq"] == entry["seq"]
    finally:
        with cli_env.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE audit_entry SET actor = 'admin' WHERE seq = "
                                 f"{int(entry['seq'])}")
    assert run(capsys, "audit", "verify")[0] == 0


def test_admin_bootstrap_prints_the_token_alone_and_refuses_a_second_admin(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    code, out, _ = run(capsys, "admin", "bootstrap", "--database-url", url)
    assert code == 0 and out.startswith("gct_") and out.count("\n") == 1
    code, out, err = run(capsys, "admin", "bootstrap", "--database-url", url)
    assert code == 3 and out == ""
    assert "error: a bureau-admin already exists (admin)" in err and "hint:" in err
