"""The import contracts in pyproject.toml catch each leak they exist for (issue 18).

The packages and pyproject.toml are copied once to a temporary directory; each leak is then
injected in turn as one new module of the copy, ``lint-imports`` runs there, and must fail
naming the contract and the leaking import; the leak is removed before the next one. A clean
copy passes first, so a failure is the leak's, not the tree's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("govcloud", "tui", "monitors")

OPENSTACK = "only govcloud.cloud talks to OpenStack"
THROUGH_SERVICES = "api, workers and monitors reach the store and the cloud only through services"
CONSOLE = "the console stays behind the API client"
SIMULATOR = "only govcloud.cli imports the simulator"
REPORTS = "only govcloud.reports draws PDFs"
LAYERS = "layers: api/workers -> services -> adapters and store -> domain"

# (where the leaking module goes, what it imports, the contract that must name it)
LEAKS = [
    ("govcloud/services/leak.py", "import openstack", OPENSTACK),
    ("govcloud/services/leak.py", "from keystoneauth1 import session", OPENSTACK),
    ("govcloud/api/routes_leak.py", "from govcloud.store import tables", THROUGH_SERVICES),
    ("govcloud/workers/leak.py", "from govcloud.cloud import inventory", THROUGH_SERVICES),
    ("monitors/leak.py", "from govcloud.store import tables", THROUGH_SERVICES),
    ("tui/leak.py", "from govcloud.domain import rbac", CONSOLE),
    ("tui/leak.py", "from govcloud.api import routes_core", CONSOLE),
    ("govcloud/services/leak.py", "from govcloud.sim import seed", SIMULATOR),
    ("govcloud/services/leak.py", "import reportlab", REPORTS),
    ("govcloud/api/routes_leak.py", "from govcloud.reports import pdf", THROUGH_SERVICES),
    ("govcloud/reports/leak.py", "from govcloud.services import plane", LAYERS),
]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the copy's packages, not the installed tree
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contracts")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "data", "*.tcss", "*.yaml")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, out / package, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", out / "pyproject.toml")
    return out


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    done = _lint(tree)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("path", "statement", "contract"), LEAKS,
                         ids=[f"{p}:{s}" for p, s, _ in LEAKS])
def test_each_leak_breaks_its_contract(tree: Path, path: str, statement: str,
                                       contract: str) -> None:
    leak = tree / path
    leak.write_text(f'"""A leak."""\n\n{statement}\n', encoding="utf-8")
    try:
        done = _lint(tree)
    finally:
        leak.unlink()
    module = path.removesuffix(".py").replace("/", ".")
    imported = statement.split()[1]
    out = " ".join(done.stdout.split())  # the report wraps long contract names
    assert done.returncode != 0, out
    assert f"{contract}" in out and "BROKEN" in out, out
    assert f"{module} -> {imported}" in out, out
