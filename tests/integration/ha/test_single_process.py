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
from tests.processes import process_env
from tests.served import TIMEOUT, ServedPlane, free_port

pytestmark = [pytest.mark.slow, pytest.mark.ha]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedPlane]:
    plane = ServedPlane(tmp_path / "one", database_url=f"sqlite:///{tmp_path / 'gc.db'}",
                        catalogue=small_catalogue(tmp_path / "tenants"),
                        clouds_yaml=tmp_path / "clouds.yaml")  # no cloud is reached here
    try:
        yield plane
    finally:
        plane.stop()


def _serve_again(served: ServedPlane) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "govcloud.cli", "serve", "--port",
                           str(free_port()), "--database-url", served.db, "--catalogue",
                           str(served.catalogue)], env=served.env(), text=True,
                          capture_output=True, timeout=TIMEOUT, check=False)


def test_a_second_replica_on_sqlite_is_refused(served: ServedPlane) -> None:
    admin = served.bootstrap()
    served.serve()
    assert served.proc is not None
    second = _serve_again(served)
    assert second.returncode == 1, second.stderr
    assert f"error: another govcloud serve (pid {served.proc.pid} on " in second.stderr
    assert f"already serves the SQLite database {served.db.removeprefix('sqlite:///')}" \
        in second.stderr
    assert "hint: SQLite is for one process" in second.stderr
    assert "Traceback" not in second.stderr
    status = served.api(admin, "GET", "/status/replicas")
    assert status["mode"] == "single process"
    assert status["database"] == {"backend": "sqlite", "role": "single process",
                                  "server": None, "version": None,
                                  "synchronous_standby_names": None, "standbys": [],
                                  "replay_delay_s": None}
    assert [r["id"] for r in status["replicas"]] == [status["replica"]]
    assert set(status["running_here"]) == {"sync", "provision", "probe"}
    assert {w["name"]: w["state"] for w in status["workers"]} == {
        "sync": "held", "provision": "held", "probe": "held", "protection": "off"}
    served.proc.send_signal(signal.SIGKILL)  # the lock goes with the process
    served.wait_exit()
    served.serve()
    assert served.api(admin, "GET", "/whoami")["name"] == "admin"


def test_the_cli_fails_over_to_the_server_that_answers(served: ServedPlane) -> None:
    admin = served.bootstrap()
    served.serve()
    dead = f"http://127.0.0.1:{free_port()}"
    env = process_env(served.tmp)
    env["GOVCLOUD_TOKEN"] = admin
    cli = [sys.executable, "-m", "govcloud.cli"]
    added = subprocess.run([*cli, "context", "add", "pair", "--server", dead, "--server",
                            served.url, "--use"], env=env, text=True, capture_output=True,
                           timeout=TIMEOUT, check=False)
    assert added.returncode == 0 and "2 replicas" in added.stderr, added.stderr
    listed = json.loads(subprocess.run([*cli, "context", "list", "--json"], env=env,
                                       text=True, capture_output=True, timeout=TIMEOUT,
                                       check=True).stdout)
    assert listed["contexts"][0]["servers"] == [dead, served.url]
    run = subprocess.run([*cli, "status", "--json"], env=env, text=True,
                         capture_output=True, timeout=TIMEOUT, check=False)
    assert run.returncode == 0, run.stderr
    assert f"note: {dead} did not answer; using {served.url}" in run.stderr
    plane = json.loads(run.stdout)["control_plane"]
    assert (plane["server"], plane["servers"]) == (served.url, [dead, served.url])
    assert plane["mode"] == "single process"
    text = subprocess.run([*cli, "status"], env=env, text=True, capture_output=True,
                          timeout=TIMEOUT, check=False)
    assert text.returncode == 0, text.stderr
    assert f"this client is on {served.url} (of {dead}, {served.url})" in text.stdout
    assert "control plane: single process, 1 replica(s)" in text.stdout
    served.stop()  # both dead: one try each, then exit 75
    gone = subprocess.run([*cli, "status"], env=env, text=True, capture_output=True,
                          timeout=TIMEOUT, check=False)
    assert gone.returncode == TemporaryError.exit_code, gone.stderr
    assert f"error: cannot reach the control plane at {dead}, {served.url}" in gone.stderr
