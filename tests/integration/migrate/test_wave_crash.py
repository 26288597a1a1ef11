"""kill -9 of the control plane in the middle of a wave, for real: `govcloud serve` runs as a
process; it is killed while the final sync runs (the rerun on a new server completes with equal
checksums) and while the cutover runs (the rollback restores the legacy endpoint, no data
lost).

The kill lands inside the step by construction, not by polling for a window: a ``Gate`` holds
the step's own command (the final sync's rsync, the cutover's service start) until the test has
seen it reached and killed the server, so a loaded machine only makes the test slower."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from govcloud.children import tied_to_parent
from govcloud.demo.sandbox import Sandbox, make_key, service_vars
from govcloud.sim.server import start
from tests.integration.control.conftest import small_catalogue
from tests.integration.migrate.waves import DATA, cli, make_hosts, ready_wave, tree
from tests.served import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
TIMEOUT = 120


@dataclass
class Served:
    root: Path
    env: dict[str, str]
    db: str
    catalogue: Path
    proc: subprocess.Popen[bytes] | None = None
    url: str = ""
    token: str = ""
    killed: list[int] = field(default_factory=list)

    def start(self) -> None:
        port = free_port()
        self.proc = subprocess.Popen(
            tied_to_parent([sys.executable, "-m", "govcloud.cli", "serve", "--port", str(port),
                            "--database-url", self.db, "--catalogue", str(self.catalogue)]),
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        with httpx.Client(transport=httpx.HTTPTransport(retries=12)) as http:
            assert http.get(f"{self.url}/api/v1/health", timeout=TIMEOUT).status_code == 200

    def kill9(self) -> None:
        """The control plane dies at once, with the playbook jobs it started."""
        assert self.proc is not None
        state = str(self.root / "migrate")
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        for pid in os.listdir("/proc"):  # ansible-runner puts its jobs in sessions of their own
            if not pid.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                if state in cmdline and int(pid) != os.getpid():
                    os.kill(int(pid), signal.SIGKILL)
                    self.killed.append(int(pid))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)


@dataclass
class Gate:
    """A shell snippet that holds the first command to reach it: it marks ``reached``, waits
    (at most 120 s) for ``release``, then fails that command — the server is dead by then, so
    the held command must not change anything. Later commands pass straight through."""

    root: Path

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "armed").touch()

    @property
    def reached(self) -> Path:
        return self.root / "reached"

    def release(self) -> None:
        (self.root / "release").touch()

    def hold(self, condition: str = "true") -> str:
        """Hold here when armed and ``condition`` (a shell test) holds; else do nothing."""
        g = shlex.quote(str(self.root))
        return (f"if [ -e {g}/armed ] && {condition}; then rm -f {g}/armed; "
                f"touch {g}/reached; i=0; while [ ! -e {g}/release ] && [ $i -lt 1200 ]; "
                "do sleep 0.1; i=$((i+1)); done; exit 1; fi")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    clouds_yaml = tmp_path / "clouds.yaml"
    sim = start(scale="small", seed=42, clouds_yaml=clouds_yaml, build_delay=0.2)
    key = make_key(tmp_path / "keys" / "id_ed25519")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), GOVCLOUD_CLOUDS_YAML=str(clouds_yaml),
               GOVCLOUD_MIGRATE_DIR=str(tmp_path / "migrate"), GOVCLOUD_SSH_KEY=str(key),
               GOVCLOUD_MIGRATE_PYTHON="/usr/bin/python3", GOVCLOUD_MIGRATE_STALE_AFTER_S="2")
    # the steps' rsync is found on PATH: a wrapper that a test may gate (``rsync_gate``)
    rsync, bin_dir = shutil.which("rsync"), tmp_path / "bin"
    assert rsync is not None
    bin_dir.mkdir()
    wrapper = bin_dir / "rsync"
    gate_sh = shlex.quote(str(tmp_path / "rsync-gate.sh"))
    wrapper.write_text(f"#!/bin/sh\nif [ -e {gate_sh} ]; then . {gate_sh}; fi\n"
                       f"exec {shlex.quote(rsync)} \"$@\"\n")
    wrapper.chmod(0o755)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    db = f"sqlite:///{tmp_path / 'govcloud.db'}"
    served = Served(tmp_path, env, db, small_catalogue(tmp_path / "tenants"))
    served.start()
    served.token = subprocess.run(
        [sys.executable, "-m", "govcloud.cli", "admin", "bootstrap", "--database-url", db],
        env=env, text=True, capture_output=True, timeout=TIMEOUT, check=True).stdout.strip()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("GOVCLOUD_TOKEN", served.token)
    monkeypatch.setenv("GOVCLOUD_SERVER", served.url)
    try:
        yield served
    finally:
        served.stop()
        sim.stop()


def _show(capsys: pytest.CaptureFixture[str], wave: str) -> dict[str, object]:
    code, out, err = cli(capsys, "migrate", "show", wave, "--json")
    assert code == 0, err
    shown: dict[str, object] = json.loads(out)
    return shown


def _kill_when(served: Served, capsys: pytest.CaptureFixture[str], wave: str,
               step: str, gate: Gate) -> None:
    """kill -9 once ``step``'s command is held at ``gate`` (so the step is running), then
    let the held command go (it fails: its server is gone)."""
    wait_until(gate.reached.exists, TIMEOUT, f"{step} to reach its gate")
    hosts = _show(capsys, wave)["hosts"]
    assert isinstance(hosts, list)
    assert any(h["steps"][step]["status"] == "running" for h in hosts), hosts
    served.kill9()
    gate.release()


def _restart(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    served.start()
    monkeypatch.setenv("GOVCLOUD_SERVER", served.url)


def _rerun(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Rerun once the dead run's heartbeat is stale (the server refuses until then)."""
    deadline = time.monotonic() + 30
    while True:
        code, out, err = cli(capsys, *argv)
        if code != 3 or "is being run" not in err or time.monotonic() > deadline:
            return code, out, err
        time.sleep(0.5)


def test_kill_during_final_sync_then_rerun_completes(
        served: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes_for: Callable[[str], Sandbox], monkeypatch: pytest.MonkeyPatch) -> None:
    inv, boxes = make_hosts(sandboxes_for, tmp_path, "gd-psd", ["psd-a", "psd-b"], files=20,
                            size=200_000)
    # rsync is held once the freeze stopped the legacy service: in the final sync, not before
    gate = Gate(tmp_path / "gate")
    marker = shlex.quote(str(boxes["psd-a"][0].root / "run" / "psd-a.running"))
    (tmp_path / "rsync-gate.sh").write_text(gate.hold(f"[ ! -e {marker} ]") + "\n")
    wave = ready_wave(capsys, inv, "gd-psd", boxes)
    assert cli(capsys, "migrate", "run", wave)[0] == 0
    _kill_when(served, capsys, wave, "final_sync", gate)
    _restart(served, monkeypatch)
    code, out, err = _rerun(capsys, "migrate", "run", wave, "--follow")
    assert code == 0, out + err
    for legacy, target in boxes.values():
        assert tree(legacy.root / DATA.lstrip("/")) == tree(target.root / DATA.lstrip("/"))
    hosts = _show(capsys, wave)["hosts"]
    assert isinstance(hosts, list)
    for h in hosts:
        assert h["steps"]["precheck"]["attempts"] == 1      # resumed, not restarted
        assert h["steps"]["final_sync"]["attempts"] == 2
        assert h["live"] == "target"


def test_kill_during_cutover_then_rollback_restores_the_legacy_side(
        served: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes_for: Callable[[str], Sandbox], monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate(tmp_path / "gate")  # the cutover's service start on the target is held
    start = service_vars("gz-a")["govcloud_service_start"]
    inv, boxes = make_hosts(sandboxes_for, tmp_path, "guangzhou", ["gz-a"], **{"gz-a": {
        "govcloud_service_start": f"{gate.hold()}; {start}"}})
    wave = ready_wave(capsys, inv, "guangzhou", boxes)
    legacy, target = boxes["gz-a"]
    before = tree(legacy.root / DATA.lstrip("/"))
    assert cli(capsys, "migrate", "run", wave)[0] == 0
    _kill_when(served, capsys, wave, "cutover", gate)
    _restart(served, monkeypatch)
    shown = _show(capsys, wave)
    hosts = shown["hosts"]
    assert isinstance(hosts, list)
    assert hosts[0]["steps"]["cutover"]["status"] in ("running", "interrupted")
    code, out, err = _rerun(capsys, "migrate", "rollback", wave, "--follow")
    assert code == 0, out + err
    assert tree(legacy.root / DATA.lstrip("/")) == before  # nothing lost
    assert (legacy.root / "run" / "gz-a.running").exists()
    assert not (target.root / "run" / "gz-a.running").exists()
    code, out, _ = cli(capsys, "hosts", "list", "--department", "guangzhou", "--json")
    assert json.loads(out)[0]["live"] == "legacy"
