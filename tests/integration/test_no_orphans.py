"""No orphans: every process govcloud starts ends with its parent, however the parent ends —
SIGHUP (terminal closed), SIGTERM, SIGINT, and SIGKILL (nothing of the parent runs then: the
kernel's parent-death signal stops the children). Real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.processes import alive, children_of, command_of, wait_gone

pytestmark = pytest.mark.slow

READY_TIMEOUT = 120
# the harness starts a simulator, an sshd and a served control plane one after the other
HARNESS_READY_TIMEOUT = 300
ROOT = Path(__file__).resolve().parents[2]


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCLOUD_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    return env


def start_demo(tmp_path: Path, state: Path) -> tuple[subprocess.Popen[str], Path]:
    """``govcloud demo --no-tui --scale small``, up to 'keeps running' (stderr to a file)."""
    err = tmp_path / f"demo-{time.monotonic_ns()}.err"
    with err.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "govcloud.cli", "demo", "--scale", "small", "--no-tui",
             "--seed", "42", "--state-dir", str(state)],
            stdout=subprocess.DEVNULL, stderr=sink, text=True, env=clean_env(tmp_path),
            start_new_session=True)  # our signals reach it only when we send them
    deadline = time.monotonic() + READY_TIMEOUT
    while "keeps running" not in err.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the demo did not come up: {err.read_text()[-2000:]}")
        time.sleep(0.2)
    return proc, err


@pytest.mark.parametrize("stop", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT,
                                  signal.SIGKILL], ids=lambda s: signal.Signals(s).name)
def test_demo_leaves_no_process_behind(tmp_path: Path, stop: signal.Signals) -> None:
    state = tmp_path / "demo"
    proc, err = start_demo(tmp_path, state)
    try:
        sim_pid = json.loads((state / "sim.ready").read_text())["pid"]
        started = children_of(proc.pid)
        assert sim_pid in started and alive(sim_pid)
        proc.send_signal(stop)
        code = proc.wait(timeout=60)
        wait_gone(started, f"the demo's children after {stop.name}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if stop == signal.SIGKILL:
        assert code == -signal.SIGKILL
        return
    # stopped in order, as on `q`: its state directory is left ready to be used again
    assert code == 0, err.read_text()[-2000:]
    assert "stopping the control plane and the simulator" in err.read_text()
    assert not (state / "sim.ready").exists()
    if stop == signal.SIGHUP:
        again, _ = start_demo(tmp_path, state)  # the same --state-dir, reused
        try:
            sim_pid = json.loads((state / "sim.ready").read_text())["pid"]
            started = children_of(again.pid)
            again.send_signal(signal.SIGTERM)
            assert again.wait(timeout=60) == 0
            wait_gone(started | {sim_pid}, "the second demo's children")
        finally:
            if again.poll() is None:
                again.kill()
                again.wait()


@pytest.mark.parametrize("stop", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT,
                                  signal.SIGKILL], ids=lambda s: signal.Signals(s).name)
def test_sim_serve_leaves_no_process_behind(tmp_path: Path, stop: signal.Signals) -> None:
    """`govcloud sim serve` on its own: a hang-up, `kill` or Ctrl-C stops it cleanly (status
    0, not killed by the signal), and nothing it started outlives it, whatever the signal."""
    ready = tmp_path / "sim.ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "govcloud.cli", "sim", "serve", "--scale", "small", "--port",
         "0", "--ready-file", str(ready)], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env=clean_env(tmp_path), start_new_session=True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "no simulator"
            time.sleep(0.1)
        started = children_of(proc.pid) | {proc.pid}
        proc.send_signal(stop)
        code = proc.wait(timeout=30)
        wait_gone(started, f"`govcloud sim serve` after {stop.name}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == (-signal.SIGKILL if stop == signal.SIGKILL else 0)


# A test run that starts what the suite's fixtures start — a simulator process, an sshd
# sandbox and `govcloud serve` (uvicorn) — writes their pids, then waits to be interrupted.
HARNESS = textwrap.dedent('''
    import faulthandler, json, os, signal, sys, time
    from pathlib import Path
    from govcloud.demo.process import SimProcess
    from govcloud.demo.sandbox import Sandbox, make_key
    from tests.integration.control.conftest import small_catalogue
    from tests.served import ServedPlane

    # Ctrl-C as at a terminal: a suite started as a background job (`make test &`, some CI
    # runners) hands its children SIGINT and SIGQUIT ignored, and Python keeps them so
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # where it hangs, if it does: into a file of its own (pytest captures fd 2 during a test)
    STACKS = open(os.path.join(os.environ["HARNESS_DIR"], "stacks.txt"), "w")
    faulthandler.register(signal.SIGUSR1, file=STACKS, all_threads=True)

    def test_holds_servers(tmp_path):
        base = Path(os.environ["HARNESS_DIR"])
        sim = SimProcess(state_dir=tmp_path / "sim", scale="small", seed=1)
        sim.start()
        info = sim.wait_ready()
        key = make_key(tmp_path / "id_ed25519")
        box = Sandbox("h1", tmp_path / "box", key.with_suffix(".pub")).start()
        plane = ServedPlane(tmp_path / "plane", database_url=f"sqlite:///{tmp_path}/g.db",
                            catalogue=small_catalogue(tmp_path / "tenants"),
                            clouds_yaml=info.clouds_yaml)
        plane.bootstrap()
        plane.serve()
        (base / "pids.json").write_text(json.dumps(
            {"sim": info.pid, "sshd": box.proc.pid, "serve": plane.proc.pid}))
        time.sleep(600)
''')


@pytest.mark.parametrize("stop", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT,
                                  signal.SIGKILL], ids=lambda s: signal.Signals(s).name)
def test_interrupted_test_run_leaves_no_server(tmp_path: Path, stop: signal.Signals) -> None:
    (tmp_path / "test_harness.py").write_text(HARNESS)
    env = clean_env(tmp_path)
    env.update(HARNESS_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    output = tmp_path / "harness.out"  # a file, not a pipe nobody reads while it runs
    with output.open("wb") as sink:
        run = subprocess.Popen(
            [sys.executable, "-u", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
             "no:randomly", "--rootdir", str(tmp_path), "-c", "/dev/null",
             str(tmp_path / "test_harness.py")],
            cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True)
    pids_file = tmp_path / "pids.json"

    def said() -> str:
        return output.read_bytes().decode(errors="replace")[-3000:]

    try:
        deadline = time.monotonic() + HARNESS_READY_TIMEOUT
        while not pids_file.exists():
            if run.poll() is not None or time.monotonic() > deadline:
                how = (f"exited with {run.returncode}" if run.poll() is not None
                       else f"not ready in {HARNESS_READY_TIMEOUT} s")
                run.kill()
                run.wait()
                raise AssertionError(f"the harness did not start its servers ({how}):\n"
                                     f"{said()}")
            time.sleep(0.2)
        pids = json.loads(pids_file.read_text())
        started = children_of(run.pid)
        assert set(pids.values()) <= started and all(alive(p) for p in pids.values())
        # Ctrl-C; its terminal closed; `kill`; or the run killed outright
        run.send_signal(stop)
        try:
            run.wait(timeout=READY_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the test run did not end after {stop.name}:\n{said()}\n"
                                 + hung_state(run.pid, tmp_path / "stacks.txt")) from None
        wait_gone(started, f"the test run's servers after {stop.name}")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def hung_state(pid: int, stacks: Path) -> str:
    """What a process that does not end is doing: each thread's kernel wait channel, its
    children, and (SIGUSR1 to its faulthandler) each Python thread's stack."""
    try:  # a SIGINT blocked or ignored from its parent shows here
        lines = [line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                 if line.startswith(("SigBlk:", "SigIgn:", "SigCgt:"))]
    except OSError:
        lines = []
    for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
        try:
            wchan = (task / "wchan").read_text() or "-"
            state = next(line for line in (task / "status").read_text().splitlines()
                         if line.startswith("State:"))
        except OSError:
            continue
        lines.append(f"thread {task.name}: {state.split(':', 1)[1].strip()} in {wchan}")
    lines += [f"child {p}: {command_of(p)}" for p in sorted(children_of(pid))]
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (stacks.exists() and stacks.stat().st_size):
        time.sleep(0.2)
    time.sleep(0.5)
    lines.append(stacks.read_text()[-6000:] if stacks.exists() else "(no stacks written)")
    return "\n".join(lines)


# A control plane's playbook job, as the provisioning and migration workers run it (in a
# worker thread), in a process that is then killed outright.
PLAYBOOK_RUNNER = textwrap.dedent('''
    import sys, threading
    from pathlib import Path
    from govcloud.runner.playbook import run_playbook

    playbook, root = Path(sys.argv[1]), Path(sys.argv[2])
    local = {"all": {"hosts": {"localhost": {"ansible_python_interpreter": sys.executable}}}}
    job = threading.Thread(target=run_playbook, args=(playbook,), kwargs=dict(
        private_data_dir=root, inventory=local, timeout_s=300, host_key_checking=False))
    job.start()
    job.join()
''')


def test_a_killed_control_plane_leaves_no_playbook_running(tmp_path: Path) -> None:
    playbook = ROOT / "tests" / "data" / "playbooks" / "sleep.yml"  # `sleep 30` on localhost
    plane = subprocess.Popen([sys.executable, "-c", PLAYBOOK_RUNNER, str(playbook),
                              str(tmp_path / "runner")], env=clean_env(tmp_path),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not any(command_of(p).startswith("sleep 30") for p in children_of(plane.pid)):
            assert plane.poll() is None and time.monotonic() < deadline, "no playbook ran"
            time.sleep(0.1)
        started = children_of(plane.pid)
        assert any("ansible-playbook" in command_of(p) for p in started)
        plane.kill()
        plane.wait(timeout=30)
        wait_gone(started, "the killed control plane's playbook")
    finally:
        if plane.poll() is None:
            plane.kill()
            plane.wait()
