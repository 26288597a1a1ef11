"""Waiting on a condition instead of sleeping: a loaded CI machine only makes a wait longer,
never makes a check pass or fail by luck. The console's tests have the same for a Textual
pilot (``tests/tui/conftest.py``: ``wait_for``, ``settled``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 30.0, what: str = "condition",
               interval: float = 0.01) -> T:
    """Poll ``condition()`` until it returns something true and return that; fail with
    ``what`` when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
