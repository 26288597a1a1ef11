"""`govcloud demo --migration` as a process: gd-tax's legacy hosts and the cloud's new servers
are sshd sandboxes; the wave is surveyed and planned by the demo, then run through the
provisioning service and the real playbooks, and rolled back — all through the CLI."""

from __future__ import annotations

import hashlib
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.processes import read_lines, run_cli

pytestmark = pytest.mark.slow
TIMEOUT = 180  # the demo's start; each CLI call has tests/processes.py's own


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_demo_migrates_gd_tax_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-m", "govcloud.cli", "demo", "--scale", "small", "--no-tui",
         "--migration", "--state-dir", str(state)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    err: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=read_lines, args=(proc.stderr, err), daemon=True).start()
    try:
        seen: list[str] = []
        while not any("keeps running" in line for line in seen):
            line = err.get(timeout=TIMEOUT)
            assert line is not None, f"demo exited: {proc.wait()} {''.join(seen)}"
            seen.append(line)
        assert any("migration demo: 2 legacy hosts of gd-tax" in line for line in seen)
        shown = run_cli(env, "migrate", "show", "gd-tax-w1")
        assert shown.returncode == 0, shown.stderr
        run_cli(env, "migrate", "override", "gd-tax-w1", "--reason", "demo test")
        run = run_cli(env, "migrate", "run", "gd-tax-w1", "--follow")
        assert run.returncode == 0, run.stdout + run.stderr
        assert "gd-tax-w1: done" in run.stdout
        requests = run_cli(env, "request", "list")
        assert "migration-gate" in requests.stdout  # targets came from the provisioning service
        boxes = state / "sandboxes"
        legacy = _tree(boxes / "tax-db1" / "root" / "var/lib/etax")
        copies = [_tree(p) for p in boxes.glob("cloud-vm*/root/var/lib/etax")]
        # DR level 6: the target and its DR-LOCAL and DR-REMOTE copies hold the data
        assert legacy and copies.count(legacy) == 3
        back = run_cli(env, "migrate", "rollback", "gd-tax-w1", "--follow")
        assert back.returncode == 0, back.stdout + back.stderr
        assert (boxes / "tax-db1" / "root" / "run" / "tax-db1.running").exists()
        assert back.stdout.count("deleted ") == 6  # 2 hosts x 3 sites
        # running the wave again after the rollback provisions new servers
        again = run_cli(env, "migrate", "run", "gd-tax-w1", "--follow")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "gd-tax-w1: done" in again.stdout
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
