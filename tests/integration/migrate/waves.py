"""Helpers for tests that run waves: legacy hosts with data and a service, their targets,
and the commands that bring a department to a startable wave."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from govcloud.cli import main
from govcloud.demo.sandbox import Sandbox, service_vars, write_files
from tests.integration.migrate.conftest import declared_target, host_vars, inventory_file

DATA = "/srv/app/data"


def cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tree(root: Path) -> dict[str, str]:
    """path → sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def make_hosts(sandboxes: Callable[[str], Sandbox], tmp_path: Path, department: str,
               names: list[str], *, files: int = 3, size: int = 4096, system: str = "portal",
               **overrides: Any) -> tuple[Path, dict[str, tuple[Sandbox, Sandbox]]]:
    """Legacy and target sandboxes per name, data under DATA, service running on legacy."""
    boxes: dict[str, tuple[Sandbox, Sandbox]] = {}
    hosts: dict[str, Any] = {}
    for name in names:
        legacy, target = sandboxes(name), sandboxes(f"{name}-t")
        write_files(legacy.root, DATA, {f"f{i}.bin": os.urandom(size) for i in range(files)}
                    | {"nested/readme.txt": f"{name}\n".encode()})
        (legacy.root / "run").mkdir()
        (legacy.root / "run" / f"{name}.running").touch()
        hosts[name] = host_vars(legacy, system, govcloud_data_paths=[DATA],
                                govcloud_target=declared_target(target),
                                **{**service_vars(name), **overrides.get(name, {})})
        boxes[name] = (legacy, target)
    return inventory_file(tmp_path / f"{department}.yaml", department, hosts), boxes


def ready_wave(capsys: Any, inv: Path, department: str,
               boxes: dict[str, tuple[Sandbox, Sandbox]],
               first_window: datetime | None = None) -> str:
    """Import, trust, survey, plan (one wave, its window open now), sign off and override the
    gate: the wave id."""
    code, out, err = cli(capsys, "hosts", "import", str(inv))
    assert code == 0, out + err
    for name, (legacy, _) in boxes.items():
        code, _, err = cli(capsys, "hosts", "trust", name, "--yes", "--fingerprint",
                           legacy.fingerprint)
        assert code == 0, err
    code, _, err = cli(capsys, "migrate", "survey", "--department", department)
    assert code == 0, err
    # the wave's maintenance window is open now (a run outside it is refused)
    opened = (first_window or datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    code, out, err = cli(capsys, "migrate", "plan", "--department", department,
                         "--max-hosts", "50", "--first-window", opened, "--json")
    assert code == 0, err
    waves = json.loads(out)["waves"]
    assert cli(capsys, "migrate", "signoff", "--department", department)[0] == 0
    wave: str = waves[0]["wave"]
    # the simulator's flavors and quotas decide the rest of readiness; the bureau overrides
    code, _, err = cli(capsys, "migrate", "override", wave, "--reason", "test sandboxes")
    assert code == 0, err
    return wave
