"""Monthly statements (issue 20): what each department used and owes for a month, rolled up
per city and for the province, with the month's gaps and the price sheets used.

A department's statement is a plain JSON document (every amount and quantity a decimal
written as text, never a float), so that the one built from the store and the one frozen when
the month is closed are the same thing, and its digest (``statement_digest``) is that of its
canonical JSON. The rollups (``rollup``) are sums of the departments' rounded totals, which
are sums of their rounded lines: every total reconciles with its lines to the cent.

* ``usage``: unit-hours per site, resource and copy kind (flavors summed);
* ``lines``: the rating's lines (``govcloud.domain.rating``), base + DR surcharge = amount;
* ``gaps``: the hours a site was not read, as runs of consecutive hours with one reason —
  the department's usage in them is unknown, not zero;
* ``daily``: vCPU-hours per site and day (the PDF's chart).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from govcloud.domain.metering import BILLED, HOUR, Gap, Month, Resource, UsageRow
from govcloud.domain.rating import ZERO, StatementLine, cents
from govcloud.errors import ConflictError

PROVINCIAL = "(provincial)"  # the rollup of departments that belong to no city
NO_DEPARTMENT = "(no department)"  # the name of the usage of projects no department owns


class MonthClosed(ConflictError):
    """A closed month's statements would change: refused, never rewritten."""

    _retryable = False


@dataclass(frozen=True, slots=True)
class DepartmentInfo:
    """What a statement says about its department: ``city`` is the RBAC city (None for a
    provincial department or a vertical branch)."""

    code: str
    name: str
    city: str | None
    dr_level: int


def text(value: Decimal) -> str:
    """A decimal as JSON text, without an exponent (``0E-8`` is ``0``)."""
    out = format(value, "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return out or "0"


def money(value: Decimal) -> str:
    """An amount as JSON text, to the cent (``2.4`` is ``2.40``)."""
    return format(cents(value), "f")


def gap_runs(gaps: Iterable[Gap]) -> list[dict[str, Any]]:
    """Gaps as runs of consecutive hours of one site with one reason."""
    runs: list[dict[str, Any]] = []
    for g in sorted(gaps, key=lambda g: (g.site, g.hour)):
        last = runs[-1] if runs else None
        if (last is not None and last["site"] == g.site and last["reason"] == g.reason
                and last["_end"] == g.hour):
            last["_end"] = g.hour + HOUR
            last["hours"] += 1
            continue
        runs.append({"site": g.site, "from": g.hour.isoformat(), "_end": g.hour + HOUR,
                     "hours": 1, "reason": g.reason})
    for r in runs:
        r["until"] = r.pop("_end").isoformat()
    return runs


def _line(line: StatementLine) -> dict[str, str]:
    return {"site": line.site, "flavor": line.flavor, "kind": line.kind,
            "resource": line.resource, "sheet": line.sheet, "quantity": text(line.quantity),
            "unit": line.unit, "price": text(line.price), "base": money(line.base),
            "surcharge": money(line.surcharge), "amount": money(line.amount)}


def department_statement(month: Month, info: DepartmentInfo, rows: Iterable[UsageRow],
                         lines: Sequence[StatementLine], gaps: Iterable[Gap], *,
                         currency: str) -> dict[str, Any]:
    """One department's statement for ``month`` (``rows`` and ``lines`` are its own)."""
    usage: dict[tuple[str, str, str], Decimal] = defaultdict(lambda: ZERO)
    daily: dict[str, list[Decimal]] = {}
    days = (month.end - month.start).days
    for r in rows:
        if r.department != info.code or not month.start <= r.hour < month.end or \
                r.resource not in BILLED:
            continue
        usage[(r.site, r.resource.value, r.kind.value)] += r.quantity
        if r.resource is Resource.VCPU:
            daily.setdefault(r.site, [ZERO] * days)[r.hour.day - 1] += r.quantity
    own = [line for line in lines if line.department == info.code]
    base = sum((line.base for line in own), ZERO)
    surcharge = sum((line.surcharge for line in own), ZERO)
    return {
        "month": str(month), "department": info.code, "name": info.name, "city": info.city,
        "dr_level": info.dr_level, "currency": currency,
        "sheets": sorted({line.sheet for line in own}),
        "usage": [{"site": s, "resource": res, "kind": k, "quantity": text(q)}
                  for (s, res, k), q in sorted(usage.items())],
        "lines": [_line(line) for line in sorted(own)],
        "base": money(base), "surcharge": money(surcharge), "total": money(base + surcharge),
        "gaps": gap_runs(gaps),
        "daily": {site: [text(v) for v in values] for site, values in sorted(daily.items())},
    }


def _sum(docs: Iterable[Mapping[str, Any]], field: str) -> Decimal:
    return sum((Decimal(d[field]) for d in docs), ZERO)


def rollup(statements: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals per city (provincial departments under ``(provincial)``) and for all the
    ``statements`` given, each a sum of the departments' totals."""
    by_city: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for s in statements:
        by_city[s["city"] or PROVINCIAL].append(s)

    def totals(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return {"departments": len(docs), "base": money(_sum(docs, "base")),
                "surcharge": money(_sum(docs, "surcharge")),
                "total": money(_sum(docs, "total"))}

    return {"cities": [{"city": city, **totals(docs)} for city, docs in sorted(by_city.items())],
            "province": totals(statements),
            "sheets": sorted({v for s in statements for v in s["sheets"]})}


def canonical(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def statement_digest(doc: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(doc)).hexdigest()


def month_digest(digests: Mapping[str, str]) -> str:
    """The seal of a closed month: a digest of every department's statement digest."""
    body = "\n".join(f"{code}\t{digests[code]}" for code in sorted(digests))
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()


def differences(frozen: Mapping[str, Mapping[str, Any]],
                rebuilt: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What a rebuild would change in a closed month, one line per department."""
    out: list[str] = []
    for code in sorted(set(frozen) | set(rebuilt)):
        old, new = frozen.get(code), rebuilt.get(code)
        name = code or NO_DEPARTMENT
        if old is None:
            out.append(f"{name}: not in the closed month (a rebuild adds it, total "
                       f"{new['total'] if new else '0'})")
        elif new is None:
            out.append(f"{name}: a rebuild drops it (closed total {old['total']})")
        elif statement_digest(old) != statement_digest(new):
            what = [k for k in ("usage", "lines", "gaps", "sheets", "dr_level", "city")
                    if old.get(k) != new.get(k)]
            out.append(f"{name}: total {old['total']} closed, {new['total']} rebuilt "
                       f"({', '.join(what) or 'details'} differ)")
    return out
