"""Monthly statements (issue 20), pure: a department's statement from its rows and rated
lines, gaps as runs of hours, rollups that reconcile to the cent, digests and what a rebuild
of a closed month would change."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from govcloud.domain.metering import Gap, Month, Resource, UsageKind, UsageRow
from govcloud.domain.rating import StatementLine
from govcloud.domain.statements import (
    PROVINCIAL,
    DepartmentInfo,
    department_statement,
    differences,
    money,
    month_digest,
    rollup,
    statement_digest,
    text,
)

NOV = Month(2026, 11)
H0 = NOV.start
HOUR = dt.timedelta(hours=1)
TAX = DepartmentInfo("gd-tax", "税务 Tax", None, 5)
SZ = DepartmentInfo("shenzhen", "深圳 Shenzhen", "shenzhen", 3)


def row(hour: int, department: str, resource: Resource, quantity: str, site: str = "PROD",
        kind: UsageKind = UsageKind.PRIMARY) -> UsageRow:
    return UsageRow(H0 + hour * HOUR, department, site, "m1.small", kind, resource,
                    Decimal(quantity))


def line(department: str, resource: str, base: str, surcharge: str,
         site: str = "PROD") -> StatementLine:
    return StatementLine(department, site, "m1.small", "primary", resource, "2026.1",
                         Decimal(10), "vcpu_hour", Decimal("0.08"), Decimal(base),
                         Decimal(surcharge))


def test_text_never_writes_an_exponent_or_trailing_zeros() -> None:
    assert [text(Decimal(x)) for x in ("0E-8", "1.500", "2.44", "100", "0.00")] == [
        "0", "1.5", "2.44", "100", "0"]
    assert [money(Decimal(x)) for x in ("0", "2.4", "0.005", "0.015", "12")] == [
        "0.00", "2.40", "0.00", "0.02", "12.00"]  # half-even


def test_a_statement_sums_usage_per_site_resource_and_kind_and_its_lines() -> None:
    rows = [row(h, "gd-tax", Resource.VCPU, "2") for h in range(10)]  # 20 vCPU-hours, day 1
    rows += [row(30, "gd-tax", Resource.VCPU, "1", site="DR-REMOTE", kind=UsageKind.COLD)]
    rows += [row(0, "shenzhen", Resource.VCPU, "8")]  # another department's: left out
    lines = [line("gd-tax", "vcpu", "1.60", "0.32"), line("gd-tax", "ram_gib", "0.80", "0.16"),
             line("shenzhen", "vcpu", "9.99", "0")]
    doc = department_statement(NOV, TAX, rows, lines, [], currency="CNY")
    assert doc["usage"] == [
        {"site": "DR-REMOTE", "resource": "vcpu", "kind": "cold", "quantity": "1"},
        {"site": "PROD", "resource": "vcpu", "kind": "primary", "quantity": "20"}]
    assert (doc["base"], doc["surcharge"], doc["total"]) == ("2.40", "0.48", "2.88")
    assert [x["amount"] for x in doc["lines"]] == ["0.96", "1.92"]  # ram_gib, vcpu (sorted)
    assert doc["sheets"] == ["2026.1"] and doc["city"] is None and doc["dr_level"] == 5
    assert doc["daily"]["PROD"][0] == "20" and doc["daily"]["DR-REMOTE"][1] == "1"
    assert len(doc["daily"]["PROD"]) == 30 and doc["gaps"] == []


def test_gaps_are_runs_of_consecutive_hours_with_one_reason() -> None:
    found = [Gap(H0 + h * HOUR, "PROD", "no sync") for h in (0, 1, 2, 5)]
    found += [Gap(H0 + 3 * HOUR, "PROD", "timeout"), Gap(H0, "DR", "no sync")]
    doc = department_statement(NOV, TAX, [], [], found, currency="")
    assert [(g["site"], g["from"][11:16], g["until"][11:16], g["hours"], g["reason"])
            for g in doc["gaps"]] == [
        ("DR", "00:00", "01:00", 1, "no sync"), ("PROD", "00:00", "03:00", 3, "no sync"),
        ("PROD", "03:00", "04:00", 1, "timeout"), ("PROD", "05:00", "06:00", 1, "no sync")]


def test_rollups_reconcile_with_the_departments_to_the_cent() -> None:
    tax = department_statement(NOV, TAX, [], [line("gd-tax", "vcpu", "0.01", "0.01")] * 3, [],
                               currency="CNY")
    sz = department_statement(NOV, SZ, [], [line("shenzhen", "vcpu", "1.01", "0")], [],
                              currency="CNY")
    other = department_statement(NOV, DepartmentInfo("sz-2", "x", "shenzhen", 1), [], [], [],
                                 currency="CNY")
    out = rollup([tax, sz, other])
    assert out["cities"] == [
        {"city": PROVINCIAL, "departments": 1, "base": "0.03", "surcharge": "0.03",
         "total": "0.06"},
        {"city": "shenzhen", "departments": 2, "base": "1.01", "surcharge": "0.00",
         "total": "1.01"}]
    assert out["province"] == {"departments": 3, "base": "1.04", "surcharge": "0.03",
                               "total": "1.07"}
    assert out["sheets"] == ["2026.1"]


def test_digests_are_stable_and_a_rebuild_names_what_it_would_change() -> None:
    doc = department_statement(NOV, TAX, [row(0, "gd-tax", Resource.VCPU, "2")],
                               [line("gd-tax", "vcpu", "0.16", "0.03")], [], currency="CNY")
    again = department_statement(NOV, TAX, [row(0, "gd-tax", Resource.VCPU, "2")],
                                 [line("gd-tax", "vcpu", "0.16", "0.03")], [], currency="CNY")
    assert statement_digest(doc) == statement_digest(again)
    assert month_digest({"a": "x", "b": "y"}) == month_digest({"b": "y", "a": "x"})
    assert month_digest({"a": "x"}) != month_digest({"a": "y"})
    assert differences({"gd-tax": doc}, {"gd-tax": again}) == []
    changed = department_statement(NOV, TAX, [row(0, "gd-tax", Resource.VCPU, "3")],
                                   [line("gd-tax", "vcpu", "0.24", "0.05")], [],
                                   currency="CNY")
    assert differences({"gd-tax": doc}, {"gd-tax": changed, "": changed}) == [
        "(no department): not in the closed month (a rebuild adds it, total 0.29)",
        "gd-tax: total 0.19 closed, 0.29 rebuilt (usage, lines differ)"]
    assert differences({"gd-tax": doc}, {}) == [
        "gd-tax: a rebuild drops it (closed total 0.19)"]
