"""Rating: a month's hourly usage priced with the sheets in effect, as statement lines that
reconcile to the cent (issue 20).

Each hour is priced with the sheet in effect on its (UTC) day. A line gathers the unit-hours of
one (department, site, flavor, kind, resource) under one sheet:

* a server of a flavor the sheet prices (in the site, else province-wide) is charged per
  server-hour at the flavor's price, and its vCPU, RAM and disk are not charged again;
  any other server is charged per vCPU-hour, GiB-hour of RAM and GB-hour of disk;
* volumes are charged per GB-month: a GB held for every hour of the month costs the
  GB-month price (a month's hours divide it);
* ``base`` = unit-hours x price x the copy kind's multiplier, rounded half-even to the cent;
  ``surcharge`` = the exact base x (the DR level's multiplier - 1), rounded the same way;
  ``amount`` = base + surcharge.

Totals are sums of the rounded lines, so a department's, a city's and the province's totals
equal the sum of their lines to the cent.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from govcloud.domain.metering import BILLED, Month, Resource, UsageKey, UsageRow
from govcloud.domain.prices import PriceSheet, Unit, sheet_for
from govcloud.errors import InvalidInput

CENT = Decimal("0.01")
ZERO = Decimal(0)
_PRECISION = 50
_UNIT_OF = {Resource.VCPU: Unit.VCPU_HOUR, Resource.RAM_GIB: Unit.RAM_GIB_HOUR,
            Resource.DISK_GB: Unit.DISK_GB_HOUR, Resource.VOLUME_GB: Unit.VOLUME_GB_MONTH}
_FLAVOR_PRICED = frozenset({Resource.VCPU, Resource.RAM_GIB, Resource.DISK_GB})


@dataclass(frozen=True, slots=True, order=True)
class StatementLine:
    """What one department owes for one resource in one site under one sheet."""

    department: str
    site: str
    flavor: str
    kind: str
    resource: str
    sheet: str  # the price sheet's version
    quantity: Decimal  # unit-hours (server-hours, vCPU-hours, GiB-hours, GB-hours)
    unit: str  # what the price is per: a Unit, or "server_hour" for a priced flavor
    price: Decimal
    base: Decimal
    surcharge: Decimal

    @property
    def amount(self) -> Decimal:
        return self.base + self.surcharge


@dataclass(frozen=True, slots=True)
class Rating:
    month: Month
    lines: tuple[StatementLine, ...]
    sheets: tuple[str, ...]  # the versions used, in order

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    def by_department(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for line in self.lines:
            out[line.department] += line.amount
        return dict(out)


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def _line(key: UsageKey, sheet: PriceSheet, quantity: Decimal, level: int | None,
          month: Month) -> StatementLine | None:
    if key.resource not in BILLED:
        return None  # metered, not billed (the ACTIVE servers)
    flavor_price = sheet.flavor_price(key.flavor, key.site) if key.flavor else None
    if key.resource is Resource.SERVERS:
        if flavor_price is None:
            return None  # priced by its vCPU, RAM and disk
        unit, price, rate = "server_hour", flavor_price, flavor_price
    elif key.resource in _FLAVOR_PRICED and flavor_price is not None:
        return None  # in the flavor's price
    else:
        u = _UNIT_OF[key.resource]
        unit, price = u.value, sheet.unit_price(u, key.site)
        rate = price / month.hours if u is Unit.VOLUME_GB_MONTH else price
    exact = quantity * rate * sheet.copy_multiplier(key.kind)
    surcharge = exact * (sheet.level_multiplier(level) - 1)
    return StatementLine(key.department, key.site, key.flavor, key.kind.value,
                         key.resource.value, sheet.version, quantity, unit, price,
                         cents(exact), cents(surcharge))


def rate_month(month: Month, rows: Iterable[UsageRow], sheets: Sequence[PriceSheet],
               levels: Mapping[str, int]) -> Rating:
    """Price ``rows`` (the month's hourly usage) with ``sheets`` (as ``check_sheets`` returns
    them); ``levels`` gives each department's DR level (others pay no DR surcharge). An hour
    no sheet covers is an error naming the day."""
    grouped: dict[tuple[UsageKey, str], Decimal] = defaultdict(lambda: ZERO)
    by_version = {s.version: s for s in sheets}
    day_sheet: dict[dt.date, PriceSheet] = {}
    for row in rows:
        if not month.start <= row.hour < month.end:
            continue
        day = row.hour.date()
        sheet = day_sheet.get(day)
        if sheet is None:
            found = sheet_for(sheets, day)
            if found is None:
                raise InvalidInput(f"no approved price sheet is in effect on {day}",
                                   hint="propose and approve a sheet covering the month "
                                        "(docs/reports.md)")
            sheet = day_sheet[day] = found
        grouped[(row.key, sheet.version)] += row.quantity
    lines: list[StatementLine] = []
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        for (key, version), quantity in grouped.items():
            line = _line(key, by_version[version], quantity, levels.get(key.department),
                         month)
            if line is not None:
                lines.append(line)
    lines.sort()
    used = tuple(s.version for s in sheets if s.version in {v for _, v in grouped})
    return Rating(month, tuple(lines), used)
