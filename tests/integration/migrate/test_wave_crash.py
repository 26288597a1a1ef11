"""kill -9 of the control plane in the middle of a wave, for real: `govcloud serve` runs as a
process; it is killed while the final sync runs (the rerun on a new server completes with equal
checksums) and while the cutover runs (the rollback restores the legacy endpoint, no data
lost).

The kill lands inside the step by construction, not by polling for a window: a ``Gate`` holds
the step's own command (the final sync's rsync, the cutover's service start) until the test has
seen it reached and killed the server, so a loaded machine only makes the test slower."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from govcloud.demo.sandbox import Sandbox, service_vars
from tests.integration.migrate.waves import DATA, cli, make_hosts, ready_wave, tree
from tests.integration.served_crash import TIMEOUT, Gate, Served
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


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
