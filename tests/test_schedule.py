"""The suite's file order (tests/schedule.py): the files it names exist, and the long ones
are handed out first, longest first, the rest by number of tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from tests.schedule import SECONDS, files_in_order, longest_files_first

ROOT = Path(__file__).resolve().parents[1]


class _Item:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid


def test_every_long_file_named_exists() -> None:
    missing = [name for name in SECONDS if not (ROOT / name).is_file()]
    assert not missing, f"tests/schedule.py names files that are not there: {missing}"


def test_long_files_first_then_by_number_of_tests() -> None:
    items = [_Item(n) for n in (
        "tests/a.py::t1", "tests/b.py::t1", "tests/c.py::t1", "tests/c.py::t2",
        "tests/d.py::t2", "tests/d.py::t1", "tests/e.py::t1")]
    known = {"tests/b.py": 60, "tests/d.py": 200}
    ordered = cast(list[Any], list(items))
    longest_files_first(ordered, known)
    assert files_in_order(ordered) == [
        "tests/d.py", "tests/b.py", "tests/c.py", "tests/a.py", "tests/e.py"]
    # inside a file, the order pytest-randomly chose stays
    assert [i.nodeid for i in ordered[:2]] == ["tests/d.py::t2", "tests/d.py::t1"]
