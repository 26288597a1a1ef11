"""SQLite stays one process: a second ``govcloud serve`` of the same file is refused with a
clear message naming the first (its lock goes with it, however it ends: a restart after
kill -9 starts); ``/status/replicas`` says ``single process``. And the CLI, given two server
URLs with the dead one first, works and says which one it used (stderr, and ``--json`` of
``govcloud status``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from govcloud.errors import TemporaryError
from tests.integration.control.conftest import small_catalogue
from tests.integration.ha.replicas import run_cli
from tests.served import TIMEOUT, ServedPlane, free_port

pytestmark = [pytest.mark.slow, pytest.mark.ha]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedPlane, str]]:
    """One ``govcloud serve`` on a SQLite file (no cloud is reached here), and the admin's
    token; a test that stops it leaves it to the next to start it again."""
    tmp = tmp_path_factory.mktemp("sqlite-one")
    plane = ServedPlane(tmp / "one", database_url=f"sqlite:///{tmp / 'gc.db'}",
                        catalogue=small_catalogue(tmp / "tenants"),
                        clouds_yaml=tmp / "clouds.yaml")
    try:
        yield plane, plane.bootstrap()
    finally:
        plane.stop()


def _serving(plane: ServedPlane) -> ServedPlane:
    if plane.proc is None or plane.proc.poll() is not None:
        plane.serve()
    return plane


def test_a_second_replica_on_sqlite_is_refused(served: tuple[ServedPlane, str]) -> None:
    plane, admin = served
    _serving(plane)
    assert plane.proc is not None
    second = subprocess.run([sys.executable, "-m", "govcloud.cli", "serve", "--port",
                             str(free_port()), "--database-url", plane.db, "--catalogue",
                             str(plane.catalogue)], env=plane.env(), text=True,
                            capture_output=True, timeout=TIMEOUT, check=False)
    assert second.returncode == 1, second.stderr
    assert f"error: another govcloud serve (pid {plane.proc.pid} on " in second.stderr
    assert f"already serves the SQLite database {plane.db.removeprefix('sqlite:///')}" \
        in second.stderr
    assert "hint: SQLite is for one process" in second.stderr
    assert "Traceback" not in second.stderr
    status = plane.api(admin, "GET", "/status/replicas")
    assert status["mode"] == "single process"
    assert status["database"] == {"backend": "sqlite", "role": "single process",
                                  "server": None, "version": None,
                                  "synchronous_standby_names": None, "standbys": [],
                                  "replay_delay_s": None}
    assert [r["id"] for r in status["replicas"]] == [status["replica"]]
    assert set(status["running_here"]) == {"sync", "provision", "probe", "change-windows",
                                          "compaction"}
    assert {w["name"]: w["state"] for w in status["workers"]} == {
        "sync": "held", "provision": "held", "probe": "held", "protection": "off",
        "notifier": "off", "change-windows": "held", "compaction": "held",
        "migration": "off", "drills": "off"}  # no takeover on SQLite: no other replica
    plane.proc.send_signal(signal.SIGKILL)  # the lock goes with the process
    plane.wait_exit()
    plane.serve()
    assert plane.api(admin, "GET", "/whoami")["name"] == "admin"


def test_the_cli_fails_over_to_the_server_that_answers(
        served: tuple[ServedPlane, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    plane, admin = served
    _serving(plane)
    dead = f"http://127.0.0.1:{free_port()}"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "GOVCLOUD_TOKEN": admin}
    monkeypatch.delenv("GOVCLOUD_SERVER", raising=False)
    code, _, err = run_cli(monkeypatch, capsys, env, "context", "add", "pair", "--server",
                           dead, "--server", plane.url, "--use")
    assert code == 0 and "2 replicas" in err, err
    code, out, _ = run_cli(monkeypatch, capsys, env, "context", "list", "--json")
    assert json.loads(out)["contexts"][0]["servers"] == [dead, plane.url]
    code, out, err = run_cli(monkeypatch, capsys, env, "status", "--json")
    assert code == 0, err
    assert f"note: {dead} did not answer; using {plane.url}" in err
    control = json.loads(out)["control_plane"]
    assert (control["server"], control["servers"]) == (plane.url, [dead, plane.url])
    assert control["mode"] == "single process"
    code, out, err = run_cli(monkeypatch, capsys, env, "status")
    assert code == 0, err
    assert f"this client is on {plane.url} (of {dead}, {plane.url})" in out
    assert "control plane: single process, 1 replica(s)" in out
    plane.stop()  # both dead: one try each, then exit 75
    code, _, err = run_cli(monkeypatch, capsys, env, "status")
    assert code == TemporaryError.exit_code, err
    assert f"error: cannot reach the control plane at {dead}, {plane.url}" in err
