"""A store seeded with systems, copies, recovery points and drills for the DR posture tests
(test_dr_posture.py, test_dr_posture_held.py, tests/integration/control/test_dr_posture_api.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import count

from sqlalchemy import Connection, insert

from govcloud.domain.recovery import DrillRecord, DrillResult, PointKind, PointRecord, PointStatus
from govcloud.domain.sites import default_sites
from govcloud.store import inventory as inv
from govcloud.store.protection_repo import add_drill, add_recovery_point

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SINCE = datetime(2026, 9, 1, tzinfo=UTC)          # first drill due 2027-03-01 (6 months)
DIGEST = "sha256:" + "0f" * 32
SITES = default_sites()                           # PROD, DR-LOCAL (same city), DR-REMOTE
TARGETS = {5: [("PROD", "primary"), ("DR-LOCAL", "standby"), ("DR-REMOTE", "cold")],
           4: [("PROD", "primary"), ("DR-REMOTE", "cold")],
           1: [("PROD", "primary")]}
READY = {"DR-LOCAL": "ACTIVE", "DR-REMOTE": "SHELVED_OFFLOADED"}
_ids = count(1)


def request(conn: Connection, department: str, system: str, *, level: int = 5, servers: int = 2,
            state: str = "done", created: datetime = SINCE, flavor: str = "gc.c4m8") -> None:
    spec = {"department": department, "system": system, "justification": "test",
            "servers": [{"name_prefix": "vm", "flavor": flavor, "image": "cirros",
                         "count": servers, "network": "net"}]}
    conn.execute(insert(inv.table("provision_request")).values(
        department=department, system=system, dr_level=level, state=state, requester="alice",
        requester_person="alice", spec_json=json.dumps(spec),
        placement_json=json.dumps({"targets": [{"site": s, "kind": k}
                                               for s, k in TARGETS[level]]}),
        created_at=created, updated_at=created))


def server(conn: Connection, site: str, department: str, name: str, *, status: str = "ACTIVE",
           flavor: str = "gc.c4m8", deleted: bool = False) -> str:
    sid = f"s{next(_ids)}"
    conn.execute(insert(inv.table("server")).values(
        site=site, id=sid, name=name, project_id=f"p-{department}", department=department,
        status=status, flavor_name=flavor, vcpus=4, ram_mb=8192, disk_gb=40, ephemeral_gb=0,
        swap_mb=0, boot_from_volume=False, created=SINCE, updated=SINCE,
        deleted_at=NOW if deleted else None))
    return sid


def point(conn: Connection, department: str, system: str, site: str, sid: str, age: timedelta,
          status: PointStatus = PointStatus.OK) -> None:
    add_recovery_point(conn, PointRecord(
        department, system, site, sid, NOW - age, PointKind.FILE_SYNC, 2**20,
        DIGEST if status is PointStatus.OK else None, status,
        None if status is PointStatus.OK else "killed mid-transfer"))


def drill(conn: Connection, department: str, system: str, at: datetime, *,
          passed: bool = True, rto: timedelta | None = timedelta(hours=1)) -> None:
    add_drill(conn, DrillRecord(department, system, "DR-LOCAL", at,
                                DrillResult.PASSED if passed else DrillResult.FAILED,
                                rto if passed else None))


def protected(conn: Connection, department: str, system: str, *, level: int = 5,
              servers: int = 2, age: timedelta = timedelta(minutes=10),
              statuses: dict[str, str] | None = None, skip: tuple[str, str] | None = None,
              drilled: datetime | None = datetime(2026, 10, 1, tzinfo=UTC)) -> dict[str, str]:
    """A system with every copy in place and fresh; ``statuses``: a DR site's status instead
    of the ready one; ``skip``: (site, name) of a copy left out. Returns copy ids by
    'site/name'."""
    request(conn, department, system, level=level, servers=servers)
    ids = {}
    for n in range(1, servers + 1):
        name = f"{system}-vm-{n}"
        server(conn, "PROD", department, name)
        for site, _kind in TARGETS[level][1:]:
            if skip == (site, name):
                continue
            status = (statuses or {}).get(site, READY[site])
            sid = ids[f"{site}/{name}"] = server(conn, site, department, name, status=status)
            point(conn, department, system, site, sid, age)
    if drilled is not None:
        drill(conn, department, system, drilled)
    return ids
