"""What the simulator's Nova tests share: a compute call at a chosen microversion whose error
status is the test's to check (openstacksdk raises on none)."""

from __future__ import annotations

from typing import Any


def raw(conn: Any, method: str, path: str, mv: str = "2.96", **kw: Any) -> Any:
    return getattr(conn.compute, method)(path, microversion=mv, raise_exc=False, **kw)
