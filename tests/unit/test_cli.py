from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from govcloud import __version__, cli
from govcloud.errors import InvalidInput
from govcloud.store.migrate import head


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "govcloud" / "config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("sites:\n  PROD: {cloud: c, region: r, role: primary}\n", encoding="utf-8")
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "version") == (0, f"govcloud {__version__}\n", "")


def test_version_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "version", "--json")
    assert code == 0
    assert json.loads(out)["govcloud"] == __version__


def test_sites_list_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sites", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["SITE", "ROLE", "CLOUD", "REGION"]
    assert [line.split()[0] for line in lines[1:]] == ["PROD", "DR-LOCAL", "DR-REMOTE"]
    code, out, _ = run(capsys, "sites", "list", "--json")
    assert code == 0
    assert json.loads(out)[1] == {"name": "DR-LOCAL", "role": "same-city-dr",
                                  "cloud": "govcloud-sim", "region": "DR-LOCAL"}


def test_bad_config_is_message_and_hint_not_a_traceback(
        capsys: pytest.CaptureFixture[str], isolated_env: Path) -> None:
    path = bad_config(isolated_env)
    code, out, err = run(capsys, "sites", "list", "--json")
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("error: invalid settings: sites.PROD.role")
    assert lines[1] == f"hint: fix the config file {path} (see docs/configuration.md)"
    assert "Traceback" not in err


def test_db_upgrade_then_current(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    code, out, _ = run(capsys, "db", "current", "--database-url", url, "--json")
    assert code == 0
    assert json.loads(out)["current"] is None
    code, out, _ = run(capsys, "db", "upgrade", "--database-url", url)
    assert code == 0
    newest = head()  # pinned in tests/integration/test_store.py
    assert f"at revision {newest} (head)" in out
    code, out, _ = run(capsys, "db", "current", "--database-url", url, "--json")
    assert json.loads(out) == {"database": url, "current": newest, "head": newest,
                               "up_to_date": True}


def test_db_uses_the_database_url_setting(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("GOVCLOUD_DATABASE_URL", url)
    assert run(capsys, "db", "upgrade", "--json")[0] == 0
    assert (tmp_path / "from-env.db").exists()


def test_unreachable_database_is_temporary(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "db", "current", "--database-url",
                       "postgresql://govcloud:s3cret@127.0.0.1:1/govcloud")
    assert code == 75
    assert err.startswith("error: cannot reach the database postgresql+psycopg://govcloud:***@")
    assert "s3cret" not in err
    assert "hint: " in err


def test_unexpected_errors_are_one_line_with_a_debug_hint(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(args: object) -> int:
        raise RuntimeError("kaput password=hunter2")

    monkeypatch.setattr(cli, "cmd_version", boom)
    code, _, err = run(capsys, "version")
    assert code == 1
    assert err.splitlines() == ["error: unexpected RuntimeError: kaput password=***",
                                "hint: this is a bug in govcloud; rerun with --debug to see "
                                "the traceback"]
    code, _, err = run(capsys, "--debug", "version")
    assert code == 1
    assert "Traceback (most recent call last)" in err
    code, _, err = run(capsys, "version", "--debug")
    assert "Traceback (most recent call last)" in err


def test_errors_are_printed_with_control_characters_escaped(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A message may quote what someone typed (or a cloud answered): it reaches the terminal
    with ESC, BEL, CR and bidi overrides escaped; its own line breaks stay."""
    def hostile(args: object) -> int:
        raise InvalidInput("no department '\x1b]0;pwned\x07'\nsecond line\u202e",
                           hint="clear\x1b[2J\r")

    monkeypatch.setattr(cli, "cmd_version", hostile)
    code, _, err = run(capsys, "version")
    assert code == 2
    assert err.splitlines() == ["error: no department '\\x1b]0;pwned\\x07'",
                                "second line\\u202e", "hint: clear\\x1b[2J\\r"]

    def crash(args: object) -> int:
        raise RuntimeError("bad \x1b[31m")

    monkeypatch.setattr(cli, "cmd_version", crash)
    code, _, err = run(capsys, "version")
    assert "\x1b" not in err and "bad \\x1b[31m" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["no-such-command"])
    assert info.value.code == 2


@pytest.mark.parametrize("argv", [
    ["principals", "add", "x", "--role", "ci", "--person", "P Q", "--ttl-days", "inf"],
    ["principals", "add", "x", "--role", "ci", "--person", "P Q", "--ttl-days", "1e400"],
    ["principals", "rotate", "x", "--ttl-days", "nan"],
    ["migrate", "plan", "gd-tax", "--window-hours", "Infinity"],
    ["request", "show", "1", "--follow", "--timeout", "nan"],
    ["provision", "apply", "f.yaml", "--timeout=-inf"],
    ["tui", "--refresh", "nan"],
])
def test_a_number_that_is_not_finite_is_a_usage_error(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # issue 17 item 8: `--ttl-days inf` was sent, failed to encode as JSON and exited 1
    # ("unexpected ValueError") instead of 2
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "is not a finite number" in capsys.readouterr().err


def test_sim_gets_every_remaining_argument(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    import govcloud.sim.cli as sim_cli

    monkeypatch.setattr(sim_cli, "main", lambda argv=None: seen.append(list(argv or [])) or 7)
    assert cli.main(["sim", "serve", "--port", "0", "--help"]) == 7
    assert cli.main(["--debug", "sim", "--help"]) == 7
    assert seen == [["serve", "--port", "0", "--help"], ["--help"]]


def test_console_script_has_no_traceback(isolated_env: Path) -> None:
    """The real entry point in a fresh interpreter: message, hint, exit code, nothing else."""
    bad_config(isolated_env)
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    env["XDG_CONFIG_HOME"] = str(isolated_env / "config")
    proc = subprocess.run([sys.executable, "-m", "govcloud.cli", "sites", "list"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: ")
    assert "\nhint: " in proc.stderr
    assert "Traceback" not in proc.stderr


def test_what_if_names_only_the_resources_that_are_short(capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    from govcloud.api.models import WhatIf
    from govcloud.cli_inventory import _print_what_if

    zero = {"vcpu": 0, "ram_mb": 0, "disk_gb": 0}
    room = {"vcpu": 100, "ram_mb": 200 * 1024, "disk_gb": 0}
    _print_what_if(WhatIf.model_validate({
        "lost_site": "PROD", "fits": False,
        "lost_load": {"servers": 10, "vcpu": 40, "ram_mb": 81920, "disk_gb": 0},
        "receiving": [
            {"site": "DR-LOCAL", "fits": True, "shortfall": zero, "departments": ["gd-psd"],
             "incoming": {"vcpu": 8, "ram_mb": 16384, "disk_gb": 0}, "free": room},
            {"site": "DR-REMOTE", "fits": False, "departments": ["gd-edu", "gd-tax"],
             "shortfall": {"vcpu": 0, "ram_mb": 2048 * 1024, "disk_gb": 0},
             "incoming": {"vcpu": 32, "ram_mb": 65536, "disk_gb": 0}, "free": room}],
        "moves": [], "not_protected": [], "copies_lost": [], "stale_sites": []}),
        # DR-LOCAL's free counts a host that is down: more than its headroom
        {"DR-LOCAL": (164, 328 * 1024)})
    out = capsys.readouterr().out
    # the room counted is the headroom, shown with the free figure it differs from
    assert ("DR-LOCAL: takes 1 department (8 vCPU, 16 GiB RAM) into headroom 100 vCPU, "
            "200 GiB; free 164 vCPU, 328 GiB — fits") in out
    assert out.rstrip().endswith("— SHORT by 2,048 GiB RAM")
