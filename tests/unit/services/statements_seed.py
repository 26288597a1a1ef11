"""A small metering scenario whose statements are computed by hand (docs/reports.md's example
sheet, tenants/prices/2026.yaml), for the statement tests on SQLite and PostgreSQL.

November 2026 (720 hours), sites PROD (production) and DR-REMOTE (remote DR). Read: the first
10 hours of 1 November in both sites; PROD's 11th hour failed ("timeout"); every other hour is
a gap ("no sync").

* gd-tax (provincial, DR level 5: +20 %): two m1.small (1 vCPU, 2 GiB, 20 GB each) in PROD for
  10 hours, one shelved copy (cold, x 0.1) in DR-REMOTE (vCPU at 0.07 there) for 10 hours, and
  a 100 GB volume for 10 hours.
* shenzhen (city shenzhen, DR level 3: +5 %): one m1.large (a priced flavor, 0.45 per
  server-hour; 4 vCPU, 8 GiB, 80 GB not charged again) in PROD for 5 hours.
* no department: one m1.small in PROD for 2 hours (no DR level: no surcharge).
* gd-edu (provincial, in the catalogue): used nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from govcloud.domain.catalogue import Department, DepartmentKind
from govcloud.domain.metering import Month, Resource, UsageKind, UsageRow
from govcloud.services.prices import parse_sheet_text
from govcloud.store import metering_repo as repo
from govcloud.store.engine import write_begin

NOV = Month(2026, 11)
HOUR = dt.timedelta(hours=1)
SITES = ("DR-REMOTE", "PROD")
AFTER = dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)  # the month is over
SHEET = (Path(__file__).resolve().parents[3] / "tenants" / "prices" / "2026.yaml").read_text(
    encoding="utf-8")


def department(code: str, kind: DepartmentKind, city: str, level: int) -> Department:
    return Department(code, "部门", code.title(), kind, city, level, {}, ())


CATALOGUE = (department("gd-tax", DepartmentKind.DEPARTMENT, "guangzhou", 5),
             department("gd-edu", DepartmentKind.DEPARTMENT, "guangzhou", 1),
             department("shenzhen", DepartmentKind.CITY, "shenzhen", 3))

# The hand calculation, line by line (base, DR surcharge), each rounded half-even to the cent.
EXPECTED = {
    "gd-tax": {
        # PROD m1.small: 20 vCPU-h x 0.08, 40 GiB-h x 0.02, 400 GB-h x 0.0001 (+20 %)
        ("PROD", "vcpu"): ("1.60", "0.32"), ("PROD", "ram_gib"): ("0.80", "0.16"),
        ("PROD", "disk_gb"): ("0.04", "0.01"),  # surcharge 0.008
        # the volume: 1000 GB-h x 0.35 / 720 = 0.48611.. (+20 %: 0.09722..)
        ("PROD", "volume_gb"): ("0.49", "0.10"),
        # DR-REMOTE cold: 10 vCPU-h x 0.07 x 0.1 = 0.07, 20 GiB-h x 0.02 x 0.1 = 0.04,
        # 200 GB-h x 0.0001 x 0.1 = 0.002; surcharges 0.014, 0.008, 0.0004
        ("DR-REMOTE", "vcpu"): ("0.07", "0.01"), ("DR-REMOTE", "ram_gib"): ("0.04", "0.01"),
        ("DR-REMOTE", "disk_gb"): ("0.00", "0.00"),
    },
    # 5 server-hours x 0.45 = 2.25 (+5 %: 0.1125)
    "shenzhen": {("PROD", "servers"): ("2.25", "0.11")},
    # 2 vCPU-h x 0.08 = 0.16, 4 GiB-h x 0.02 = 0.08, 40 GB-h x 0.0001 = 0.004
    "": {("PROD", "vcpu"): ("0.16", "0.00"), ("PROD", "ram_gib"): ("0.08", "0.00"),
         ("PROD", "disk_gb"): ("0.00", "0.00")},
}
TOTALS = {"gd-tax": "3.65", "shenzhen": "2.36", "": "0.24", "gd-edu": "0.00"}
PROVINCE = "6.25"


def _rows(hours: range, department: str, site: str, flavor: str, kind: UsageKind,
          servers: int, vcpu: int, ram_gib: int, disk: int) -> list[UsageRow]:
    out = []
    for h in hours:
        at = NOV.start + h * HOUR
        for resource, q in ((Resource.SERVERS, servers), (Resource.VCPU, vcpu),
                            (Resource.RAM_GIB, ram_gib), (Resource.DISK_GB, disk)):
            out.append(UsageRow(at, department, site, flavor, kind, resource, Decimal(q)))
    return out


def seed(engine: Engine, *, extra_prod_hours: int = 0, sheet: bool = True) -> None:
    """Store the scenario (``extra_prod_hours``: gd-tax's servers stay that many hours more,
    read, so that a rebuild differs)."""
    ten = range(10)
    prod = (_rows(range(10 + extra_prod_hours), "gd-tax", "PROD", "m1.small",
                  UsageKind.PRIMARY, 2, 2, 4, 40)
            + _rows(range(5), "shenzhen", "PROD", "m1.large", UsageKind.PRIMARY, 1, 4, 8, 80)
            + _rows(range(2), "", "PROD", "m1.small", UsageKind.PRIMARY, 1, 1, 2, 20)
            + [UsageRow(NOV.start + h * HOUR, "gd-tax", "PROD", "", UsageKind.PRIMARY,
                        Resource.VOLUME_GB, Decimal(100)) for h in ten])
    dr = _rows(ten, "gd-tax", "DR-REMOTE", "m1.small", UsageKind.COLD, 1, 1, 2, 20)
    read = {NOV.start + h * HOUR for h in range(10 + extra_prod_hours)}
    with write_begin(engine) as conn:
        repo.replace_month(conn, "PROD", NOV, prod, read, at=AFTER)
        repo.replace_month(conn, "DR-REMOTE", NOV, dr, {NOV.start + h * HOUR for h in ten},
                           at=AFTER)
        if not extra_prod_hours:
            repo.record_gap(conn, "PROD", NOV.start + 10 * HOUR + dt.timedelta(minutes=5),
                            "timeout")
        parsed = parse_sheet_text(SHEET, source="2026.yaml")
        if sheet and not repo.list_sheets(conn):
            repo.add_sheet(conn, parsed, SHEET, by="operator", person="Op", at=AFTER)
            repo.approve_sheet(conn, parsed.version, by="admin", person="Admin", at=AFTER)


def close_and_die(url: str) -> None:
    """Close the month in this process and SIGKILL it once the statements are written, just
    before the audit entry (the kill -9 test runs it in a child process)."""
    import os
    import signal
    import sys

    from govcloud.domain.rbac import Principal, Role
    from govcloud.services import statements as service
    from govcloud.store.audit import AuditLog
    from govcloud.store.engine import make_engine

    def die(*_a: object, **_k: object) -> None:
        sys.stdout.write("writing\n")
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    AuditLog.append = die  # type: ignore[method-assign,assignment]
    service.close_month(make_engine(url), Principal("admin", Role.BUREAU_ADMIN), NOV,
                        catalogue=CATALOGUE, sites=SITES, clock=lambda: AFTER)
