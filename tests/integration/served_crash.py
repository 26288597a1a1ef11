"""A control plane served as a process (``govcloud serve``) that a test kills with -9 in the
middle of a step, on a simulator of its own with a client key for sshd sandboxes, and the
``Gate`` that holds a step's command until the test has killed it (the migration's and the
protection cycles' crash tests)."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from govcloud.children import tied_to_parent
from govcloud.demo.sandbox import make_key
from govcloud.sim.server import RunningSimulator, start
from tests.integration.control.conftest import small_catalogue
from tests.served import free_port

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
    sim: RunningSimulator | None = None

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
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           request: pytest.FixtureRequest) -> Iterator[Served]:
    """``govcloud serve`` as a process on a simulator of its own, rsync on its PATH behind
    a wrapper a test may gate (``tmp_path/rsync-gate.sh``); a ``served_env`` fixture, where a
    test module has one, adds GOVCLOUD_* settings."""
    clouds_yaml = tmp_path / "clouds.yaml"
    sim = start(scale="small", seed=42, clouds_yaml=clouds_yaml, build_delay=0.2)
    key = make_key(tmp_path / "keys" / "id_ed25519")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), GOVCLOUD_CLOUDS_YAML=str(clouds_yaml),
               GOVCLOUD_MIGRATE_DIR=str(tmp_path / "migrate"), GOVCLOUD_SSH_KEY=str(key),
               GOVCLOUD_MIGRATE_PYTHON="/usr/bin/python3", GOVCLOUD_MIGRATE_STALE_AFTER_S="2",
               GOVCLOUD_CHANGE_CONTROL="off")
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
    with contextlib.suppress(pytest.FixtureLookupError):
        env.update(request.getfixturevalue("served_env"))
    db = f"sqlite:///{tmp_path / 'govcloud.db'}"
    served = Served(tmp_path, env, db, small_catalogue(tmp_path / "tenants"), sim=sim)
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
