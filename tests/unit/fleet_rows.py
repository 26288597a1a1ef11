"""Rows of a stored snapshot for the console's fleet tests: a server row (``srv``) as the
inventory sync writes it. Shared by the store's queries (tests/unit/store/test_fleet.py) and the
fleet services (tests/unit/services/test_fleet.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.databases import T0


def srv(site: str, sid: str, department: str | None, *, host: str = "cn1",
        deleted: bool = False, minute: int = 0) -> dict[str, Any]:
    return {"site": site, "id": sid, "name": f"vm-{sid}", "project_id": f"p-{department}",
            "department": department, "status": "ACTIVE", "host": host, "created": T0,
            "updated": T0 + timedelta(minutes=minute),
            "deleted_at": T0 if deleted else None}
