"""Test modules import their helpers from helper modules (``tests/waiting.py``,
``tests/tui/pilot.py``, ...) or take them as fixtures from a ``conftest.py`` — never from
another test module (issue 18): importing one runs its module-level code twice over, collects
nothing more, and hides shared helpers among tests. An AST walk over every module of
``tests/`` finds each import of a ``test_*`` module, however it is spelt."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def _package(path: Path) -> list[str]:
    """The dotted package ``path`` (a module under ROOT) is in, as parts."""
    return list(path.relative_to(ROOT).parent.parts)


def _is_test_module(parts: list[str]) -> bool:
    """``parts`` name a module under tests/ whose own name is test_*."""
    return len(parts) > 1 and parts[0] == "tests" and parts[-1].startswith("test_")


def imported_test_modules(source: str, path: Path) -> list[str]:
    """Each test module that ``source`` (the text of ``path``) imports, as a dotted name."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if _is_test_module(a.name.split("."))]
        elif isinstance(node, ast.ImportFrom):
            base = node.module.split(".") if node.module else []
            if node.level:
                package = _package(path)
                base = package[:len(package) - node.level + 1] + base
            if _is_test_module(base):
                found.append(".".join(base))
            # ``from tests.sim import test_nova_servers``: the name imported is the module
            found += [".".join([*base, a.name]) for a in node.names
                      if _is_test_module([*base, a.name])]
    return found



@pytest.mark.parametrize(("source", "expected"), [
    ("from tests.sim.test_nova_servers import raw", ["tests.sim.test_nova_servers"]),
    ("from .test_console_pilot import SIZE", ["tests.tui.test_console_pilot"]),
    ("from ..integration.test_no_orphans import alive", ["tests.integration.test_no_orphans"]),
    ("from . import test_pure", ["tests.tui.test_pure"]),
    ("import tests.unit.test_tenancy_plan as plan", ["tests.unit.test_tenancy_plan"]),
    ("def f():\n    from tests.unit.store.test_fleet import srv", ["tests.unit.store.test_fleet"]),
    ("from .pilot import SIZE, open_view", []),
    ("from .conftest import wait_for", []),
    ("from tests.waiting import wait_until", []),
    ("from hypothesis import given", []),
    ("import pytest", []),
])
def test_every_spelling_of_a_test_module_import_is_found(source: str,
                                                         expected: list[str]) -> None:
    assert imported_test_modules(source, TESTS / "tui" / "test_x.py") == expected


def test_no_module_under_tests_imports_a_test_module() -> None:
    modules = sorted(TESTS.rglob("*.py"))
    assert len(modules) > 100 and TESTS / "tui" / "test_console_pilot.py" in modules
    offenders = [f"{path.relative_to(ROOT)} imports {name}" for path in modules
                 for name in imported_test_modules(path.read_text(encoding="utf-8"), path)]
    assert offenders == [], "move the shared helper into a helper module or a conftest.py:\n" \
        + "\n".join(offenders)
