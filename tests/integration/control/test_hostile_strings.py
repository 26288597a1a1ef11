"""Hostile strings through the real control plane (issue 17 items 4 and 5): control characters
in stored text never reach the admin's terminal raw, are refused on input, and a value put
into a URL path can never name another endpoint."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from govcloud.cli import main
from govcloud.client import ApiClient, api_path
from govcloud.domain.text import CONTROL
from govcloud.errors import GovCloudError, InvalidInput

from .conftest import Plane

NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}
IMAGE = "cirros-0.6.2-x86_64-disk"
# clears the screen, retitles the window "pwned" and rings; then CR and a fake line
HOSTILE = "\x1b[2J\x1b]0;pwned\x07gone\rrequest 1 (x/y): done\u202eevil\x9b31m"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The CLI's exit code and output (a usage error, found by argparse, exits 2)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def raw_controls(output: str) -> list[str]:
    """The control characters in ``output`` other than the newlines between lines."""
    return [m.group() for m in CONTROL.finditer(output) if m.group() != "\n"]


@pytest.fixture(scope="module")
def synced(plane: Plane) -> Plane:
    assert plane.admin.post("/sync", {"full": True})["ok"]
    return plane


def submit(plane: Plane, system: str) -> int:
    body: dict[str, Any] = {
        "department": "gd-psd", "system": system, "justification": "hostile strings test",
        "servers": [{"name_prefix": "app", "flavor": "gc.c2m4", "image": IMAGE, "count": 1,
                     "network": NETWORKS}]}
    answer = plane.admin.post("/requests", body)
    assert answer["state"] == "submitted", answer
    return int(answer["id"])


# --- item 4: control characters on output and on input ---------------------------------------

def test_request_show_escapes_a_stored_reason_with_terminal_controls(
        synced: Plane, cli_env: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    """A reason stored before input was checked (or by any other way in) is printed with its
    controls escaped: no ESC, BEL, CR or C1 byte reaches the terminal, in text or JSON."""
    rid = submit(synced, "hostile-show")
    synced.admin.post(api_path("requests", rid, "cancel"), {"reason": "plain"})
    with synced.engine.begin() as conn:
        conn.execute(text("UPDATE provision_request SET reason = :r WHERE id = :i"),
                     {"r": HOSTILE, "i": rid})
    code, out, _ = run(capsys, "request", "show", str(rid))
    assert code == 0
    assert raw_controls(out) == []
    assert "reason: \\x1b[2J\\x1b]0;pwned\\x07gone\\rrequest 1 (x/y): done\\u202eevil" in out
    code, out, _ = run(capsys, "request", "list")
    assert code == 0 and raw_controls(out) == []
    code, out, _ = run(capsys, "request", "show", str(rid), "--json")
    assert code == 0 and raw_controls(out) == []
    assert json.loads(out)["reason"] == HOSTILE  # escaped by JSON, not altered


def test_control_characters_in_a_cancel_reason_are_refused_and_change_nothing(
        synced: Plane, cli_env: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    rid = submit(synced, "hostile-cancel")
    with pytest.raises(InvalidInput, match=r"control characters \(U\+001B at position 1"):
        synced.admin.post(api_path("requests", rid, "cancel"), {"reason": HOSTILE})
    assert synced.admin.get(api_path("requests", rid))["state"] == "submitted"
    code, out, err = run(capsys, "request", "cancel", str(rid), "--reason", "a\x1b[2Jb")
    assert code == InvalidInput.exit_code and "control characters" in err
    assert raw_controls(err) == []  # the error does not echo the input raw either
    assert synced.admin.get(api_path("requests", rid))["state"] == "submitted"
    with pytest.raises(InvalidInput, match="control characters"):
        synced.admin.post(api_path("requests", rid, "reject"), {"reason": "no\x07"})
    assert synced.admin.post(api_path("requests", rid, "cancel"),
                             {"reason": "duplicate — 重复"})["state"] == "cancelled"


# --- item 5: values in URL paths ---------------------------------------------------------------

def _principal_names(plane: Plane) -> list[str]:
    return [p["name"] for p in plane.admin.get("/principals")["principals"]]


def test_departments_show_cannot_climb_to_the_principal_list(
        cli_env: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    names = _principal_names(cli_env)
    for argv in (("departments", "show", "../principals"),
                 ("departments", "show", "../principals", "--json"),
                 ("departments", "show", "..%2Fprincipals")):
        code, out, err = run(capsys, *argv)
        assert not any(n in out for n in names) and "bureau-admin" not in out, out
        assert code == InvalidInput.exit_code, (argv, out, err)
        assert "not a valid department code" in err
    # the client quotes the segment whole; the server refuses what is not an identifier
    with pytest.raises(GovCloudError) as info:
        cli_env.admin.get(api_path("departments", "../principals"))
    assert info.value.http_status in (404, 422)
    with pytest.raises(InvalidInput):
        cli_env.admin.get(api_path("departments", ".."))
    with pytest.raises(InvalidInput, match="refusing to call the API path"):
        cli_env.admin.get("/departments/../principals")
    # and straight over HTTP, past any client: %2F and dot segments reach no other route
    for raw in ("/api/v1/departments/..%2Fprincipals", "/api/v1/departments/%2E%2E",
                "/api/v1/departments/gd-psd%3Fx%3D"):
        answer = httpx.get(cli_env.url + raw, timeout=10,
                           headers={"Authorization": f"Bearer {cli_env.admin_token}"})
        assert answer.status_code in (404, 422), (raw, answer.text)
        assert "principals" not in answer.json() and "bureau-admin" not in answer.text


def test_migrate_cancel_cannot_trigger_a_sync(
        synced: Plane, cli_env: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    before = synced.admin.get("/sync/status")
    code, _, err = run(capsys, "migrate", "cancel", "../../sync?x=")
    assert synced.admin.get("/sync/status") == before, "the CLI ran a sync"
    assert code == InvalidInput.exit_code and "not a valid wave id" in err
    for wave in ("../../sync?x=", "../../sync"):
        with pytest.raises(GovCloudError) as info:
            synced.admin.post(api_path("migrate", "waves", wave, "cancel"))
        assert info.value.http_status in (404, 422)
    assert synced.admin.get("/sync/status") == before, "a sync ran"


def test_every_path_parameter_refuses_what_is_not_an_identifier(cli_env: Plane) -> None:
    api: ApiClient = cli_env.admin
    for path in (api_path("principals", "a b"), api_path("hosts", "x?y", "key"),
                 api_path("migrate", "waves", "w#1"), api_path("servers", "PROD", "a%b"),
                 api_path("hypervisors", "PROD", "h\x1bx", "servers")):
        with pytest.raises(InvalidInput, match="invalid request: path"):
            api.get(path) if "principals" not in path else api.delete(path)
