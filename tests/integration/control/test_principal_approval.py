"""Four eyes on privileged principals, over HTTP (issue 17, item 2): a bureau-admin cannot mint
a second admin token and use it to approve their own requests. A privileged principal (and a
privileged token rotated by someone else) waits for a bureau-admin who is another person;
separation of duties compares persons, not tokens; every step is audited."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from govcloud.client import ApiClient
from govcloud.errors import ConflictError, Forbidden, InvalidInput

from .conftest import Plane


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _status(plane: Plane, name: str) -> str:
    listed = {p["name"]: p for p in plane.admin.get("/principals")["principals"]}
    status: str = listed[name]["status"]
    return status


@pytest.mark.parametrize("role", ["bureau-admin", "operator", "ci"])
def test_a_privileged_principal_waits_for_another_persons_approval(plane: Plane,
                                                                   role: str) -> None:
    name = _name("sock")
    answer = plane.admin.post("/principals", {"name": name, "role": role,
                                              "person": "Mallory"})
    assert answer["pending"] is True and answer["principal"]["status"] == "pending"
    assert answer["principal"]["person"] == "Mallory"
    assert answer["principal"]["issued_by"] == "admin"
    sock = plane.client(answer["token"])
    with pytest.raises(Forbidden, match="unknown, expired or revoked"):  # 401 until approved
        sock.get("/whoami")
    with pytest.raises(Forbidden, match="issuer and approver must differ"):
        plane.admin.post(f"/principals/{name}/approve")  # the admin who issued it
    assert _status(plane, name) == "pending"
    # another person approves: the token works from now on
    approved = plane.approver.post(f"/principals/{name}/approve")["principal"]
    assert approved["status"] == "active" and approved["approved_by"] == "second-admin"
    assert sock.get("/whoami")["person"] == "Mallory"
    with pytest.raises(ConflictError, match="not waiting for approval"):
        plane.approver.post(f"/principals/{name}/approve")
    entries = plane.admin.get("/audit", target=f"principal:{name}")["entries"]
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("admin", "principal.add"), ("second-admin", "principal.approve")]
    assert entries[0]["after"]["pending"] is True
    assert entries[0]["after"]["issued_by_person"] == "admin"
    assert entries[1]["after"]["approved_by_person"] == "Second Admin"
    assert all("gct_" not in str(e) for e in entries)


def test_the_issuers_other_principal_cannot_approve(plane: Plane) -> None:
    """One person, several tokens: a second bureau-admin principal of the issuing person is
    still the issuing person."""
    twin = _name("admin-twin")
    token = plane.admin.post("/principals", {"name": twin, "role": "bureau-admin",
                                             "person": "admin"})["token"]
    plane.approver.post(f"/principals/{twin}/approve")
    twin_api = plane.client(token)
    assert twin_api.get("/whoami")["person"] == "admin"
    name = _name("sock")
    plane.admin.post("/principals", {"name": name, "role": "bureau-admin", "person": "Eve"})
    with pytest.raises(Forbidden, match="issuer and approver must differ"):
        twin_api.post(f"/principals/{name}/approve")
    assert _status(plane, name) == "pending"


def test_unprivileged_principals_need_no_approval(plane: Plane) -> None:
    for role, scope in (("bureau-auditor", {}), ("city-operator", {"city": "shenzhen"}),
                        ("department-viewer", {"department": "gd-psd"})):
        name = _name(role)
        answer = plane.admin.post("/principals", {"name": name, "role": role,
                                                  "person": "Li Wei", **scope})
        assert answer["pending"] is False
        assert plane.client(answer["token"]).get("/whoami")["name"] == name


def test_only_a_bureau_admin_approves(plane: Plane) -> None:
    name = _name("sock")
    plane.admin.post("/principals", {"name": name, "role": "operator", "person": "Zhao"})
    _, operator = plane.principal("operator")
    with pytest.raises(Forbidden, match="may not principal.manage"):
        operator.post(f"/principals/{name}/approve")
    assert _status(plane, name) == "pending"


def test_rotating_someone_elses_privileged_token_needs_approval_again(plane: Plane) -> None:
    name, operator = plane.principal("operator")
    assert operator.get("/whoami")["name"] == name
    answer = plane.admin.post(f"/principals/{name}/rotate", {"ttl_days": 30})
    assert answer["pending"] is True
    new = plane.client(answer["token"])
    for api in (operator, new):  # the old token is gone, the new one waits for approval
        with pytest.raises(Forbidden, match="unknown, expired or revoked"):
            api.get("/whoami")
    with pytest.raises(Forbidden, match="issuer and approver must differ"):
        plane.admin.post(f"/principals/{name}/approve")
    plane.approver.post(f"/principals/{name}/approve")
    assert new.get("/whoami")["name"] == name
    entries = plane.admin.get("/audit", target=f"principal:{name}")["entries"]
    assert [e["action"] for e in entries] == ["principal.add", "principal.approve",
                                              "principal.rotate", "principal.approve"]
    # one's own token, rotated: the same person holds it, so it works at once
    mine = plane.add_principal(_name("own"), "bureau-admin")
    me = plane.client(mine)
    own = me.get("/whoami")["name"]
    rotated = me.post(f"/principals/{own}/rotate")
    assert rotated["pending"] is False
    assert ApiClient(plane.url, rotated["token"]).get("/whoami")["name"] == own


def test_a_principal_names_a_person(plane: Plane) -> None:
    for person in ("", "   ", "bad\x1b[31mred", "x" * 129):
        with pytest.raises(InvalidInput):
            plane.admin.post("/principals", {"name": _name("p"), "role": "bureau-auditor",
                                             "person": person})
    with pytest.raises(InvalidInput, match="person"):
        plane.admin.post("/principals", {"name": _name("p"), "role": "bureau-auditor"})
    answer = plane.admin.post("/principals", {"name": _name("p"), "role": "bureau-auditor",
                                              "person": "  李  伟 "})
    assert answer["principal"]["person"] == "李 伟"


@pytest.mark.parametrize(("body", "match"), [
    ({"role": "city-operator", "city": "atlantis"}, "no city 'atlantis'"),
    ({"role": "department-viewer", "department": "gd-nowhere"}, "no department 'gd-nowhere'"),
])
def test_a_scope_must_exist(plane: Plane, body: dict[str, str], match: str) -> None:
    name = _name("scoped")
    before = len(plane.admin.get("/audit", limit=1000)["entries"])
    with pytest.raises(InvalidInput, match=match) as info:
        plane.admin.post("/principals", {"name": name, "person": "Li Wei", **body})
    assert info.value.hint
    assert name not in {p["name"] for p in plane.admin.get("/principals")["principals"]}
    assert len(plane.admin.get("/audit", limit=1000)["entries"]) == before


def test_the_cli_adds_approves_and_rotates(cli_env: Plane,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from govcloud.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    name = _name("ci")
    code, out, err = run("principals", "add", name, "--role", "ci", "--person", "Zhou Min")
    token = out.strip()
    assert code == 0 and out == token + "\n" and token.startswith("gct_")  # the token alone
    assert f"govcloud principals approve {name}" in err
    code, out, _ = run("principals", "list")
    line = next(row for row in out.splitlines() if row.startswith(name))
    assert "Zhou Min" in line and "pending" in line
    code, _, err = run("principals", "approve", name)
    assert code == Forbidden.exit_code and "issuer and approver must differ" in err
    code, out, _ = run("principals", "approve", name, "--token", cli_env.approver_token)
    assert code == 0 and f"approved {name} (Zhou Min, ci)" in out
    assert cli_env.client(token).get("/whoami")["person"] == "Zhou Min"
    code, out, err = run("principals", "rotate", name, "--json")
    assert code == 0 and json.loads(out)["pending"] is True
    with pytest.raises(SystemExit) as usage:  # argparse: a usage error, nothing sent
        main(["principals", "add", "x-y", "--role", "ci"])
    assert usage.value.code == 2 and "--person" in capsys.readouterr().err


def test_database_approval_is_refused_once_another_person_could_approve(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`admin approve` is the second admin's way in only: here a second person holds
    bureau-admin, so it is refused, names who must approve, and changes nothing."""
    from govcloud.cli import main

    for var in ("XDG_STATE_HOME", "XDG_DATA_HOME"):  # nothing of this test in the real home
        monkeypatch.setenv(var, str(tmp_path / var.lower()))

    name = _name("sock")
    cli_env.admin.post("/principals", {"name": name, "role": "bureau-admin",
                                       "person": "Mallory"})
    # who could approve: every active bureau-admin of another person than the issuer — the
    # plane's second admin, and those the module's other tests added (any order)
    issuer = cli_env.admin.get("/whoami")["person"]
    admins = cli_env.admin.get("/principals", role="bureau-admin", active_only=True)
    others = sorted({p["person"] for p in admins["principals"]} - {issuer})
    assert "Second Admin" in others
    url = cli_env.engine.url.render_as_string(hide_password=False)
    code = main(["admin", "approve", name, "--database-url", url])
    err = capsys.readouterr().err
    assert code == ConflictError.exit_code
    assert f"can be approved by a bureau-admin ({', '.join(others)})" in err
    assert f"govcloud principals approve {name}" in err
    assert _status(cli_env, name) == "pending"
