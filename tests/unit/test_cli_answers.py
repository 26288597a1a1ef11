"""The CLI reads typed answers (issue 18) and prints them as the server sent them.

A fake control plane (httpx.MockTransport) answers each command with a canned body in its
route's model order, as the server does (``answers(Model)``: the model's field order, the
keys the service set). Each command must send the request it always sent, print ``--json``
byte for byte as ``safe_json`` of the body the server sent (no key added, dropped or
reordered; a field the server left out stays out), and print its text and exit code."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcloud import cli
from govcloud.client import ApiClient
from govcloud.domain.text import safe_json

T0 = "2026-12-01T08:00:00+00:00"
T1 = "2026-12-01T08:05:07.123456+00:00"
PRINCIPAL = {"name": "li.wei", "role": "operator", "city": None, "department": None,
             "person": "Li Wei", "status": "pending", "created_at": T0, "issued_by": "admin",
             "approved_by": None, "approved_at": None, "expires_at": "2027-03-01T08:00:00+00:00",
             "revoked_at": None}
NEW_TOKEN = {"principal": PRINCIPAL, "token": "gct_new", "pending": True}
ENTRY = {"seq": 7, "at": T0, "actor": "admin", "action": "principal.add",
         "target": "principal:li.wei", "before": None,
         "after": {"role": "operator", "name": "li.wei", "ttl": 90.0}, "prev_hash": "0" * 64,
         "hash": "a" * 64, "mac": None}
AUDIT_PAGE = {"entries": [ENTRY], "next": {"after_seq": 7}}  # the unset before_seq left out
BROKEN = {"ok": False, "checked": 7, "head": {"seq": 7, "hash": "a" * 64}, "seq": 5,
          "kind": "edited", "reason": "hash",
          "description": "audit chain broken at entry 5: its hash does not match",
          "keyed": True, "checkpoint": None}
PLAN = {"empty": False, "refused": False, "summary": "1 change in 1 site", "departments": 1,
        "sites": [{"site": "PROD", "create_projects": [], "update_projects": [],
                   "quota_changes": [{"code": "gd-psd", "project_id": "p1", "field": "cores",
                                      "current": 10, "desired": 20, "in_use": 4}],
                   "drift": [], "refusals": [], "in_sync": 0}],
        "lines": ["PROD gd-psd: cores 10 → 20", "1 change in 1 site"]}
APPLIED = {"changed": True, "summary": "1 change in 1 site", "per_site": {"PROD": {"quota": 1}},
           "changes": [{"site": "PROD", "department": "gd-psd", "action": "quota cores 10 → 20",
                        "before": {"cores": 10}, "after": {"cores": 20}}], "drift": []}
DEPARTMENT = {
    "code": "gd-psd", "name_zh": "省公安厅", "name_en": "Public Security", "kind": "provincial",
    "city": "guangzhou", "dr_level": 6, "quotas": {"PROD": {"cores": 100, "ram_mb": 204800}},
    "contacts": [{"name": "Chen Jing", "phone": None, "email": "chen@example.gov.cn"}],
    "sites": [{"site": "PROD", "project_id": "p1", "desired": {"cores": 100},
               "quotas": {"cores": {"limit": 100, "in_use": 12},
                          "ram_mb": {"limit": 204800, "in_use": 8192},
                          "server_group_members": {"limit": 10, "in_use": 3}},
               "in_sync": True, "servers": {"total": 3, "by_status": {"ACTIVE": 2, "ERROR": 1}},
               "error": None},
              {"site": "DR-REMOTE", "project_id": None, "desired": None, "quotas": {},
               "in_sync": None, "servers": {"total": 0, "by_status": {}},
               "error": "cannot reach the site"}]}
REQUEST = {"id": 12, "department": "gd-psd", "system": "web", "dr_level": 4,
           "state": "approved", "requester": "ci", "approver": "admin", "reason": None,
           "error": None, "spec": {"system": "web", "servers": [{"flavor": "gc.c2m4",
                                                                 "count": 2}]},
           "placement": {"ok": True, "sites": [
               {"site": "PROD", "kind": "primary",
                "demand": {"vcpu": 4, "ram_mb": 8192, "disk_gb": 0, "instances": 2},
                "ok": True, "problems": [], "hosts_used": 1}],
               "explanation": "fits in every site"},
           "created_at": T0, "updated_at": T1}
DETAIL = {**REQUEST, "state": "done",
          "servers": [{"site": "PROD", "ordinal": 1, "name": "web-1", "key": "k1",
                       "server_id": "s-1", "status": "ACTIVE", "error": None}],
          "events": [{"id": 3, "at": T1, "kind": "done", "message": "2 servers ACTIVE"}]}
SUBMITTED = {**REQUEST, "state": "submitted", "approver": None, "placement": None,
             "unchanged": True}
IMPORTED = {"hosts": 2, "created": 1, "updated": 1, "departments": ["gd-tax"]}
HOST_KEY = {"host": "tax-web1", "address": "10.0.0.5", "key_type": "ssh-ed25519",
            "fingerprint": "SHA256:abc", "recorded": [], "changed": False}
TRUSTED = {"host": "tax-web1", "address": "10.0.0.5", "fingerprint": "SHA256:abc"}
INVENTORY = {"_meta": {"hostvars": {"tax-web1": {"ansible_port": 22, "ansible_host": "10.0.0.5"}}},
             "all": {"children": ["gd_tax"]}, "gd_tax": {"hosts": ["tax-web1"]}}
SURVEYED = {"host": "tax-web1", "reachable": True, "error": None, "os_id": "rocky",
            "os_version": "8.9", "os_name": "Rocky Linux", "kernel": "4.18", "cpus": 4,
            "ram_mb": 8192, "disks": [{"mount": "/", "size_kb": 100, "used_kb": 50}],
            "data_kb": {"/srv": 1024}, "data_bytes": 3 * 1024 * 1024, "listening": [22, 443],
            "connections": [{"local": "10.0.0.5", "local_port": 443, "peer": "10.0.0.6",
                             "peer_port": 5432}], "services": ["nginx"], "cron": [],
            "mounts": []}
UNREACHABLE = {**SURVEYED, "host": "tax-db1", "reachable": False, "error": "timed out",
               "os_id": None, "os_version": None, "os_name": None, "kernel": None,
               "cpus": None, "ram_mb": None, "disks": [], "data_kb": {}, "data_bytes": 0,
               "listening": [], "connections": []}
SURVEY = {"department": "gd-tax", "at": T0, "hosts": [SURVEYED, UNREACHABLE]}
WAVES = {"department": "gd-tax", "waves": [
    {"wave": "gd-tax-w1", "number": 1, "hosts": ["tax-web1", "tax-db1"], "rehearsal": True,
     "dr_level": 4, "data_bytes": 3 * 1024 * 1024,
     "window": {"start": "2026-12-12T01:00:00+00:00", "end": "2026-12-12T05:00:00+00:00"},
     "groups": [["tax-web1", "tax-db1"]]}]}
STARTED = {"wave": "gd-tax-w1", "action": "rollback", "run_id": "r-9", "after": 3}


@dataclass
class FakePlane:
    """Answers ``(method, path)`` with a canned body and records what was sent."""

    answers: dict[tuple[str, str], Any]
    sent: list[tuple[str, str, dict[str, list[str]], Any]] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        params: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            params.setdefault(key, []).append(value)
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, path, params, body))
        return httpx.Response(200, json=copy.deepcopy(self.answers[(request.method, path)]))


@pytest.fixture
def plane(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePlane]:
    fake = FakePlane({})

    def from_options(cls: type[ApiClient], /, **_: object) -> ApiClient:
        return ApiClient("http://plane.test", "gct_t", transport=httpx.MockTransport(fake.handle))

    monkeypatch.setattr(ApiClient, "from_options", classmethod(from_options))
    yield fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# argv, (method, path), the answer, the body sent, what --json prints (of the answer)
JSON_CASES: list[tuple[list[str], tuple[str, str], Any, Any, Any]] = [
    (["principals", "add", "li.wei", "--role", "operator", "--person", "Li Wei"],
     ("POST", "/principals"), NEW_TOKEN,
     {"name": "li.wei", "role": "operator", "person": "Li Wei", "city": None,
      "department": None, "ttl_days": 90.0}, NEW_TOKEN),
    (["principals", "approve", "li.wei"], ("POST", "/principals/li.wei/approve"),
     {"principal": PRINCIPAL}, None, {"principal": PRINCIPAL}),
    (["principals", "rotate", "li.wei", "--no-expiry"], ("POST", "/principals/li.wei/rotate"),
     NEW_TOKEN, {"ttl_days": None}, NEW_TOKEN),
    (["principals", "revoke", "li.wei"], ("DELETE", "/principals/li.wei"),
     {"principal": PRINCIPAL}, None, {"principal": PRINCIPAL}),
    (["audit", "list"], ("GET", "/audit"), AUDIT_PAGE, None, [ENTRY]),
    (["audit", "verify"], ("GET", "/audit/verify"), BROKEN, None, BROKEN),
    (["tenants", "plan"], ("GET", "/tenants/plan"), PLAN, None,
     {k: v for k, v in PLAN.items() if k != "lines"}),
    (["tenants", "apply"], ("POST", "/tenants/apply"), APPLIED, None, APPLIED),
    (["departments", "show", "gd-psd"], ("GET", "/departments/gd-psd"), DEPARTMENT, None,
     DEPARTMENT),
    (["request", "show", "12"], ("GET", "/requests/12"), DETAIL, None, DETAIL),
    (["request", "approve", "12"], ("POST", "/requests/12/approve"), REQUEST, None, REQUEST),
    (["request", "reject", "12", "--reason", "too big"], ("POST", "/requests/12/reject"),
     REQUEST, {"reason": "too big"}, REQUEST),
    (["request", "cancel", "12"], ("POST", "/requests/12/cancel"), REQUEST,
     {"reason": None}, REQUEST),
    (["hosts", "trust", "tax-web1", "--yes", "--fingerprint", "SHA256:abc"],
     ("POST", "/hosts/tax-web1/trust"), TRUSTED,
     {"fingerprint": "SHA256:abc", "replace": False}, TRUSTED),
    (["inventory"], ("GET", "/inventory"), INVENTORY, None, INVENTORY),
    (["migrate", "survey", "--department", "gd-tax"], ("POST", "/migrate/survey"), SURVEY,
     {"department": "gd-tax", "hosts": None}, SURVEY),
    (["migrate", "plan", "--department", "gd-tax"], ("POST", "/migrate/plan"), WAVES,
     {"department": "gd-tax", "max_hosts": 10, "window_hours": 4.0, "every_days": 7}, WAVES),
    (["migrate", "rollback", "gd-tax-w1"], ("POST", "/migrate/rollback"), STARTED,
     {"target": "gd-tax-w1"}, STARTED),
]


@pytest.mark.parametrize(("argv", "route", "answer", "body", "printed"), JSON_CASES,
                         ids=[" ".join(c[0][:2]) for c in JSON_CASES])
def test_json_is_the_answer_as_the_server_sent_it(
        plane: FakePlane, capsys: pytest.CaptureFixture[str], argv: list[str],
        route: tuple[str, str], answer: Any, body: Any, printed: Any) -> None:
    plane.answers = {route: answer, ("GET", "/hosts/tax-web1/key"): HOST_KEY}
    json_flag = [] if argv[0] == "inventory" else ["--json"]
    code, out, _ = run(capsys, *argv, *json_flag)
    assert out == safe_json(printed) + "\n"
    method, path, _, sent = plane.sent[-1]
    assert (method, path) == route and sent == body
    # exit codes: a broken chain and an unreachable host are failures in JSON too
    assert code == (1 if answer in (BROKEN, SURVEY) else 0)


def test_a_field_the_server_left_out_stays_out(plane: FakePlane,
                                               capsys: pytest.CaptureFixture[str],
                                               request_file: str) -> None:
    fresh = {k: v for k, v in SUBMITTED.items() if k != "unchanged"}
    plane.answers = {("POST", "/requests"): fresh}
    code, out, _ = run(capsys, "request", "submit", request_file, "--json")
    assert code == 0 and out == safe_json(fresh) + "\n" and "unchanged" not in out


SPEC = {"department": "gd-psd", "system": "web", "dr_level": 4}


@pytest.fixture
def request_file(tmp_path: Path) -> str:
    path = tmp_path / "request.yaml"
    path.write_text(json.dumps(SPEC), encoding="utf-8")
    return str(path)


def test_submit_and_apply_send_the_file_and_say_what_came_back(
        plane: FakePlane, capsys: pytest.CaptureFixture[str],
        request_file: str) -> None:
    plane.answers = {("POST", "/requests"): SUBMITTED}
    code, out, _ = run(capsys, "request", "submit", request_file)
    assert code == 0 and plane.sent[-1][3] == SPEC
    assert out == ("request 12 (gd-psd/web): submitted — no change: this request was "
                   "submitted before\n")


def test_provision_apply_waits_and_exits_by_the_final_state(
        plane: FakePlane, capsys: pytest.CaptureFixture[str],
        request_file: str) -> None:
    failed = {**DETAIL, "state": "failed", "error": "no host \x1b[2J fits"}
    plane.answers = {("POST", "/requests"): SUBMITTED, ("GET", "/requests/12"): failed}
    code, out, _ = run(capsys, "provision", "apply", request_file, "--wait")
    assert code == 21
    assert out.splitlines()[1:] == [
        "08:05:07 done         2 servers ACTIVE",
        "request 12 (gd-psd/web): failed, approved by admin: no host \\x1b[2J fits"]
    assert plane.sent[-1][2] == {"after_event": ["0"]}
    code, out, _ = run(capsys, "provision", "apply", request_file, "--wait", "--json")
    assert code == 21 and out == safe_json(failed) + "\n"


def test_request_show_text(plane: FakePlane, capsys: pytest.CaptureFixture[str]) -> None:
    plane.answers = {("GET", "/requests/12"): DETAIL}
    code, out, _ = run(capsys, "request", "show", "12")
    lines = out.splitlines()
    assert code == 0
    assert lines[:3] == ["request 12 (gd-psd/web): done, approved by admin",
                         "  requester ci, DR level 4",
                         "  PROD (primary): 2 servers, 4 vCPU, 8 GiB RAM"]
    assert lines[3].split() == ["SITE", "#", "NAME", "STATUS", "SERVER", "ID", "ERROR"]
    assert lines[4].split() == ["PROD", "1", "web-1", "ACTIVE", "s-1"]


def test_principals_text(plane: FakePlane, capsys: pytest.CaptureFixture[str]) -> None:
    plane.answers = {("POST", "/principals"): NEW_TOKEN,
                     ("POST", "/principals/li.wei/approve"): {"principal": PRINCIPAL},
                     ("DELETE", "/principals/li.wei"): {"principal": PRINCIPAL}}
    code, out, err = run(capsys, "principals", "add", "li.wei", "--role", "operator",
                         "--person", "Li Wei")
    assert (code, out) == (0, "gct_new\n")
    assert err.startswith("li.wei is pending: its token works once a bureau-admin")
    assert run(capsys, "principals", "approve", "li.wei")[1] == \
        "approved li.wei (Li Wei, operator)\n"
    assert run(capsys, "principals", "revoke", "li.wei")[1] == "revoked li.wei\n"


def test_audit_text(plane: FakePlane, capsys: pytest.CaptureFixture[str]) -> None:
    plane.answers = {("GET", "/audit"): AUDIT_PAGE, ("GET", "/audit/verify"): BROKEN}
    code, out, _ = run(capsys, "audit", "list", "--actor", "admin", "--newest-first")
    assert code == 0 and out.splitlines()[1].split() == [
        "7", T0, "admin", "principal.add", "principal:li.wei"]
    assert plane.sent[-1][2] == {"actor": ["admin"], "limit": ["100"],
                                 "newest_first": ["true"]}
    code, out, err = run(capsys, "audit", "verify")
    assert code != 0 and out == ""
    assert err.splitlines() == ["error: audit chain broken at entry 5: its hash does not match",
                                "hint: entry 5 was edited; compare it with a backup or an "
                                "archived copy of the log"]


def test_tenancy_and_department_text(plane: FakePlane,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    plane.answers = {("GET", "/tenants/plan"): PLAN, ("POST", "/tenants/apply"): APPLIED,
                     ("GET", "/departments/gd-psd"): DEPARTMENT}
    code, out, _ = run(capsys, "tenants", "plan", "--department", "gd-psd",
                       "--department", "gd-tax")
    assert (code, out) == (0, "PROD gd-psd: cores 10 → 20\n1 change in 1 site\n")
    assert plane.sent[-1][2] == {"department": ["gd-psd", "gd-tax"]}
    assert run(capsys, "tenants", "apply")[1] == \
        "PROD gd-psd: quota cores 10 → 20\n1 change in 1 site\n"
    code, out, _ = run(capsys, "departments", "show", "gd-psd")
    lines = out.splitlines()
    assert lines[0] == ("gd-psd  省公安厅 Public Security  (provincial, city guangzhou, "
                        "DR level 6)")
    assert lines[1].split() == ["SITE", "PROJECT", "CORES", "RAM", "GIB", "INSTANCES",
                                "VOLUMES", "GIGABYTES", "PORTS", "GROUPS", "GROUP", "MEMBERS",
                                "SERVERS"]
    assert lines[2].split() == ["PROD", "p1", "12/100", "8/200", "-", "-", "-", "-", "-",
                                "3/10", "ACTIVE", "2,", "ERROR", "1"]
    assert lines[3].split()[:5] == ["DR-REMOTE", "error:", "cannot", "reach", "the"]


def test_hosts_text(plane: FakePlane, capsys: pytest.CaptureFixture[str],
                    monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    inventory = tmp_path / "gd-tax.yaml"
    inventory.write_text("all: {hosts: {}}\n", encoding="utf-8")
    plane.answers = {("POST", "/hosts/import"): IMPORTED,
                     ("GET", "/hosts/tax-web1/key"): {**HOST_KEY, "changed": True,
                                                      "recorded": ["SHA256:old"]},
                     ("POST", "/hosts/tax-web1/trust"): TRUSTED}
    code, out, _ = run(capsys, "hosts", "import", str(inventory))
    assert (code, out) == (0, "2 hosts of gd-tax: 1 new, 1 changed\n")
    assert plane.sent[-1][3] == {"text": "all: {hosts: {}}\n", "name": str(inventory)}
    code, out, _ = run(capsys, "hosts", "import", str(inventory), "--json")
    assert out == safe_json(IMPORTED) + "\n"
    code, out, _ = run(capsys, "hosts", "trust", "tax-web1", "--yes", "--fingerprint",
                       "SHA256:abc", "--replace")
    assert (code, out) == (0, "trusted tax-web1 (10.0.0.5): SHA256:abc\n")
    assert plane.sent[-1][3] == {"fingerprint": "SHA256:abc", "replace": True}
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # not a terminal: no question
    code, out, err = run(capsys, "hosts", "trust", "tax-web1")
    assert code == 2 and "cannot ask for confirmation" in err
    assert out == ("tax-web1 (10.0.0.5) presents a ssh-ed25519 key\n  fingerprint SHA256:abc\n"
                   "  WARNING: this differs from the recorded SHA256:old\n")


def test_migrate_text(plane: FakePlane, capsys: pytest.CaptureFixture[str]) -> None:
    wave = "/migrate/waves/gd-tax-w1"
    plane.answers = {("POST", "/migrate/survey"): SURVEY, ("POST", "/migrate/plan"): WAVES,
                     ("POST", "/migrate/signoff"): {"department": "gd-tax", "by": "admin"},
                     ("POST", f"{wave}/override"): {"wave": "gd-tax-w1", "override_by": "admin"},
                     ("POST", f"{wave}/run"): {**STARTED, "action": "run"},
                     ("POST", f"{wave}/cancel"): {"wave": "gd-tax-w1", "cancelled": False,
                                                  "stopped": True, "ended": []}}
    code, out, _ = run(capsys, "migrate", "survey", "--department", "gd-tax", "--host", "tax-db1")
    assert code == 1 and plane.sent[-1][3] == {"department": "gd-tax", "hosts": ["tax-db1"]}
    rows = [line.split() for line in out.splitlines()[1:]]
    assert rows[0][:7] == ["tax-web1", "rocky", "8.9", "4", "8.0", "GiB", "3"]
    assert rows[1] == ["tax-db1", "UNREACHABLE", "-", "-", "-", "-", "timed", "out"]
    code, out, _ = run(capsys, "migrate", "plan", "--department", "gd-tax", "--first-window",
                       "2026-12-12T01:00:00+00:00")
    assert plane.sent[-1][3]["first_window"] == "2026-12-12T01:00:00+00:00"
    assert out == ("gd-tax-w1 (rehearsal): DR level 4, 3 MiB, window 2026-12-12T01:00 – 05:00\n"
                   "  together: tax-web1, tax-db1\n")
    assert run(capsys, "migrate", "signoff", "--department", "gd-tax")[1] == \
        "sign-off of gd-tax recorded by admin\n"
    assert run(capsys, "migrate", "override", "gd-tax-w1", "--reason", "ok")[1] == \
        "gd-tax-w1 may start below the gate (override by admin, audited)\n"
    code, out, _ = run(capsys, "migrate", "run", "gd-tax-w1", "--outside-window",
                       "--reason", "quiet night")
    assert out == ("gd-tax-w1: run started (run r-9); `govcloud migrate events gd-tax-w1 "
                   "--follow` to watch\n")
    assert plane.sent[-1][3] == {"hook": None, "outside_window": True, "reason": "quiet night"}
    assert run(capsys, "migrate", "cancel", "gd-tax-w1")[1] == \
        "gd-tax-w1: nothing is running here\n"
    code, out, _ = run(capsys, "migrate", "run", "gd-tax-w1", "--trust-on-first-use",
                       "built by hand")
    assert plane.sent[-1][3] == {"hook": None, "trust_on_first_use": "built by hand"}
    plane.answers[("POST", f"{wave}/cancel")] = {
        "wave": "gd-tax-w1", "cancelled": True, "stopped": True,
        "ended": ["tax-db1 (legacy host): ended pid 7 (process group 7): sleep 60\x1b[2J"]}
    assert run(capsys, "migrate", "cancel", "gd-tax-w1")[1] == (
        "gd-tax-w1: cancelled; the run stopped\n"
        "  tax-db1 (legacy host): ended pid 7 (process group 7): sleep 60\\x1b[2J\n")
    code, out, _ = run(capsys, "migrate", "cancel", "gd-tax-w1", "--json")
    assert json.loads(out)["ended"][0].startswith("tax-db1 (legacy host): ended pid 7")
