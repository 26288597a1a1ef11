"""`govcloud provision apply` as CI reruns it, and request files that are not what they claim,
against the real control plane (job worker on) and the simulator over HTTP (issue 17, items 10
and 13).

* The same file applied again for a system that has a live request is "no change" (exit 0;
  with --wait it follows that request); a changed file is a conflict (exit 3) naming what
  differs; two applies at once make one request.
* A network keyed by a site that does not exist, a key given twice, a binary file, ``count:
  .inf`` / ``.nan`` and ``/dev/zero`` are each a clear ``error:`` with exit 2, and nothing is
  submitted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from govcloud.cli import main
from govcloud.errors import ConflictError, InvalidInput
from govcloud.workers.provision import start_provision_worker

from .conftest import Plane

NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}
IMAGE = "cirros-0.6.2-x86_64-disk"
WAIT = 60


@pytest.fixture(scope="module")
def plane_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"provision_retries": 1, "provision_backoff_s": 0.05, "provision_poll_s": 0.2,
            "provision_active_timeout_s": 20,
            "provision_runner_dir": tmp_path_factory.mktemp("runner")}


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    return start_provision_worker


@pytest.fixture(scope="module")
def operator(plane: Plane) -> str:
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    return plane.add_principal("ci-rerun", "operator")


@pytest.fixture
def cli(plane: Plane, operator: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Plane:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("GOVCLOUD_SERVER", plane.url)
    monkeypatch.setenv("GOVCLOUD_TOKEN", operator)
    return plane


def request(system: str, *, count: int = 1, network: Any = None) -> dict[str, Any]:
    return {"department": "gd-psd", "system": system, "justification": "CI rerun test",
            "servers": [{"name_prefix": "app", "flavor": "gc.c2m4", "image": IMAGE,
                         "count": count, "network": NETWORKS if network is None else network}]}


def write(tmp_path: Path, body: dict[str, Any], name: str = "req.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return str(path)


def ours(plane: Plane, system: str) -> list[dict[str, Any]]:
    return [r for r in plane.admin.get("/requests", department="gd-psd")["requests"]
            if r["system"] == system]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def when(check: Callable[[], Any], then: Callable[[Any], None]) -> threading.Thread:
    """Run ``then(found)`` as soon as ``check()`` finds something (a bureau-admin's decision
    while the CLI waits)."""
    def loop() -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            found = check()
            if found:
                then(found)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=loop)
    thread.start()
    return thread


def test_the_same_file_again_is_no_change_and_a_changed_file_a_conflict(
        cli: Plane, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, request("rerun-sys"))
    code, out, _ = run(capsys, "provision", "apply", path)
    assert code == 0 and "rerun-sys): submitted" in out and "no change" not in out
    [first] = ours(cli, "rerun-sys")
    # the CI job runs again: nothing new
    code, out, _ = run(capsys, "provision", "apply", path)
    assert code == 0
    assert f"request {first['id']} (gd-psd/rerun-sys): submitted — no change" in out
    assert [r["id"] for r in ours(cli, "rerun-sys")] == [first["id"]]
    # again, waiting: it follows the existing request to the end (approved meanwhile)
    approver = when(lambda: ours(cli, "rerun-sys")[0]["state"] == "submitted",
                    lambda _: cli.admin.post(f"/requests/{first['id']}/approve"))
    code, out, _ = run(capsys, "provision", "apply", path, "--wait", "--timeout", str(WAIT))
    approver.join()
    assert code == 0, out
    assert "no change" in out and "rerun-sys): done" in out
    assert [(r["id"], r["state"]) for r in ours(cli, "rerun-sys")] == [(first["id"], "done")]
    # and once done, the same file is still no change — with or without --wait
    code, out, _ = run(capsys, "provision", "apply", path, "--wait", "--timeout", "5")
    assert code == 0 and "done" in out and "no change" in out
    code, out, _ = run(capsys, "request", "submit", path)
    assert code == 0 and "no change" in out
    assert len(ours(cli, "rerun-sys")) == 1
    # a changed file: a conflict that says what differs and what to do
    changed = write(tmp_path, request("rerun-sys", count=2), "changed.yaml")
    code, out, err = run(capsys, "provision", "apply", changed)
    assert code == ConflictError.exit_code and out == ""
    assert (f"error: gd-psd/rerun-sys already has request {first['id']} (done), which asks "
            "for something else: servers differ") in err
    assert "the same file again is no change" in err and "new name" in err
    assert len(ours(cli, "rerun-sys")) == 1


def test_a_changed_file_for_a_pending_request_says_cancel_first_and_then_goes_through(
        cli: Plane, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "provision", "apply", write(tmp_path, request("pending-sys")))[0] == 0
    [first] = ours(cli, "pending-sys")
    changed = write(tmp_path, {**request("pending-sys"), "justification": "a better reason"},
                    "changed.yaml")
    code, _, err = run(capsys, "provision", "apply", changed)
    assert code == ConflictError.exit_code
    assert "justification differ" in err and f"govcloud request cancel {first['id']}" in err
    assert run(capsys, "request", "cancel", str(first["id"]), "--reason", "changed")[0] == 0
    code, out, _ = run(capsys, "provision", "apply", changed)  # a cancelled one is no obstacle
    assert code == 0 and "submitted" in out and "no change" not in out
    assert [r["state"] for r in ours(cli, "pending-sys")] == ["submitted", "cancelled"]


def test_two_applies_at_once_make_one_request(cli: Plane, tmp_path: Path) -> None:
    body = request("race-sys")
    answers: list[dict[str, Any]] = []
    start = threading.Barrier(4)

    def submit() -> None:
        api = cli.client(cli.admin_token)
        start.wait()
        answers.append(api.post("/requests", body))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({a["id"] for a in answers}) == 1
    assert sorted(bool(a.get("unchanged")) for a in answers) == [False, True, True, True]
    assert len(ours(cli, "race-sys")) == 1


@pytest.mark.parametrize(("content", "message"), [
    (yaml.safe_dump(request("bad-site", network={"PROD": "prod-net", "DR-LOCAL": "dr-local-net",
                                                 "DR-REMOTE": "dr-remote-net",
                                                 "PRODD": "prod-net"})),
     "servers[0].network: unknown site 'PRODD' (sites: PROD, DR-LOCAL, DR-REMOTE)"),
    ("department: gd-psd\ndepartment: gd-tax\nsystem: dup-key\n",
     'found duplicate key \'department\''),
    (yaml.safe_dump(request("inf-count")).replace("count: 1", "count: .inf"),
     "servers[0].count is inf, not a finite number"),
    (yaml.safe_dump(request("nan-count")).replace("count: 1", "count: .nan"),
     "servers[0].count is nan, not a finite number"),
    (yaml.safe_dump(request("date-just")).replace("justification: CI rerun test",
                                                 "justification: 2026-12-06"),
     "justification is a date, not plain data"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not UTF-8 text (byte 0 is not)"),
])
def test_bad_request_files_are_a_clear_error_and_submit_nothing(
        cli: Plane, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes,
        message: str) -> None:
    path = tmp_path / "bad.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    before = cli.admin.get("/requests")["count"]
    for command in (("provision", "apply"), ("request", "submit")):
        code, out, err = run(capsys, *command, str(path))
        assert code == InvalidInput.exit_code, err
        assert err.startswith("error: ") and message in err, err
        assert out == ""
    assert cli.admin.get("/requests")["count"] == before


def test_devices_and_huge_files_are_refused_before_reading(
        cli: Plane, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "provision", "apply", "/dev/zero")
    assert code == InvalidInput.exit_code
    assert "error: request file /dev/zero is not a regular file" in err
    big = tmp_path / "big.yaml"
    big.write_text("department: gd-psd\n" + "#" * (2 * 1024 * 1024) + "\n", encoding="utf-8")
    code, _, err = run(capsys, "provision", "apply", str(big))
    assert code == InvalidInput.exit_code and "is larger than 1024 KiB" in err
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True))
    (tmp_path / "bomb.yaml").write_text(bomb, encoding="utf-8")
    code, _, err = run(capsys, "provision", "apply", str(tmp_path / "bomb.yaml"))
    assert code == InvalidInput.exit_code and "more than 100000 values" in err
