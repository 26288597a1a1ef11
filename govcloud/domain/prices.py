"""Price sheets: what the bureau pays the operator, per unit or per flavor (issue 20).

A sheet has a ``version``, the dates it is in effect (``effective_from``, optionally
``effective_until``; without it a sheet runs until the next one starts), prices per unit
(:class:`Unit`) and per flavor (per server-hour: a priced flavor's servers are not charged per
vCPU, RAM or disk), multipliers per copy kind (a shelved cold copy costs less than a running
standby) and per DR level (the department's), and per-site overrides of unit and flavor prices
(city clouds). Money is :class:`~decimal.Decimal`, never float: the loader hands every scalar
over as the text written in the file.

``parse_sheet`` checks one document and reports every problem with its field and line;
``check_sheets`` checks sheets against each other (a version given twice, overlapping dates).
Rating a month with the sheets is ``govcloud.domain.rating``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from govcloud.domain.catalogue import DR_LEVELS
from govcloud.domain.metering import UsageKind
from govcloud.errors import InvalidInput

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_PRICE = Decimal(1_000_000)
MAX_MULTIPLIER = Decimal(100)
MAX_PLACES = 8  # decimal places a price or multiplier may have
_FIELDS = ("version", "effective_from", "effective_until", "currency", "description", "units",
           "flavors", "copy_kinds", "dr_levels", "sites")
_REQUIRED = ("version", "effective_from", "currency", "units")
_SITE_FIELDS = ("units", "flavors")


class Unit(StrEnum):
    """What a unit price is per."""

    VCPU_HOUR = "vcpu_hour"
    RAM_GIB_HOUR = "ram_gib_hour"
    DISK_GB_HOUR = "disk_gb_hour"
    VOLUME_GB_MONTH = "volume_gb_month"


class SheetState(StrEnum):
    """A sheet is proposed, then approved by the bureau (a second person); an approved sheet
    is effective from its date. Approved sheets are never edited: a correction is a new
    version."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    EFFECTIVE = "effective"


@dataclass(frozen=True, slots=True)
class PriceProblem:
    """One thing wrong in a price sheet file: where (field and line), what, how to fix it."""

    source: str
    field: str
    message: str
    hint: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message} (fix: {self.hint})"


class PriceSheetError(InvalidInput):
    """The price sheets cannot be used; ``problems`` lists everything found. Nothing changes."""

    def __init__(self, problems: Iterable[PriceProblem]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            super().__init__(str(self.problems[0]).rsplit(" (fix: ", 1)[0],
                             hint=self.problems[0].hint)
        else:
            lines = "\n".join(f"  {p}" for p in self.problems)
            super().__init__(f"the price sheets have {len(self.problems)} problems:\n{lines}",
                             hint="fix each line named above (docs/reports.md describes every "
                                  "field); nothing changes until every sheet is valid")


@dataclass(frozen=True, slots=True)
class SitePrices:
    units: Mapping[Unit, Decimal] = field(default_factory=dict)
    flavors: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PriceSheet:
    version: str
    effective_from: dt.date
    currency: str
    units: Mapping[Unit, Decimal]
    flavors: Mapping[str, Decimal] = field(default_factory=dict)
    copy_kinds: Mapping[UsageKind, Decimal] = field(default_factory=dict)
    dr_levels: Mapping[int, Decimal] = field(default_factory=dict)
    sites: Mapping[str, SitePrices] = field(default_factory=dict)
    effective_until: dt.date | None = None
    description: str = ""
    source: str = field(default="", compare=False)

    def unit_price(self, unit: Unit, site: str) -> Decimal:
        over = self.sites.get(site)
        if over is not None and unit in over.units:
            return over.units[unit]
        return self.units[unit]

    def flavor_price(self, flavor: str, site: str) -> Decimal | None:
        """The price per server-hour of ``flavor`` in ``site``; None: priced per unit."""
        over = self.sites.get(site)
        if over is not None and flavor in over.flavors:
            return over.flavors[flavor]
        return self.flavors.get(flavor)

    def copy_multiplier(self, kind: UsageKind) -> Decimal:
        return self.copy_kinds.get(kind, Decimal(1))

    def level_multiplier(self, level: int | None) -> Decimal:
        return self.dr_levels.get(level, Decimal(1)) if level is not None else Decimal(1)

    def covers(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_until is None
                                               or day <= self.effective_until)


class _Checker:
    """Collects problems for one document; ``lines`` maps a field path to its line."""

    def __init__(self, source: str, lines: Mapping[str, int]) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[PriceProblem] = []

    def add(self, where: str, message: str, hint: str) -> None:
        line = self.lines.get(where)
        probe = where
        while line is None and probe:  # a missing field: the line of its parent
            probe = probe.rpartition(".")[0]
            line = self.lines.get(probe)
        self.problems.append(PriceProblem(self.source, where, message, hint, line))

    def mapping(self, value: Any, where: str, allowed: Collection[str] | None = None
                ) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.add(where, "must be a mapping of names to values",
                     "write it as `name: value` lines indented under it")
            return {}
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    close = difflib.get_close_matches(key, list(allowed), n=1)
                    hint = f"did you mean {close[0]}?" if close else \
                        f"allowed: {', '.join(allowed)}"
                    self.add(f"{where}.{key}" if where else key, "unknown field",
                             f"remove it or fix its spelling; {hint}")
        return value

    def decimal(self, value: Any, where: str, *, limit: Decimal, what: str) -> Decimal | None:
        try:
            number = Decimal(value) if isinstance(value, str) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            self.add(where, f"{str(value)[:40]!r} is not a number",
                     f"write the {what} as a decimal number, e.g. 0.12")
            return None
        if number < 0:
            self.add(where, f"{what} {value} is negative", f"a {what} is zero or more")
            return None
        if number > limit:
            self.add(where, f"{what} {value} is more than {limit}", "check the decimal point")
            return None
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MAX_PLACES:
            self.add(where, f"{what} {value} has more than {MAX_PLACES} decimal places",
                     f"round it to {MAX_PLACES} places")
            return None
        return number

    def date(self, value: Any, where: str) -> dt.date | None:
        try:
            if isinstance(value, str) and _DATE.fullmatch(value):
                return dt.date.fromisoformat(value)
        except ValueError:
            pass
        self.add(where, f"{str(value)[:40]!r} is not a date", "write it as YYYY-MM-DD")
        return None

    def prices(self, value: Any, where: str, names: Collection[str] | None,
               what: str) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for key, raw in self.mapping(value, where, names).items():
            if names is not None and key not in names:
                continue  # reported as unknown
            price = self.decimal(raw, f"{where}.{key}", limit=MAX_PRICE, what=what)
            if price is not None:
                out[key] = price
        return out

    def flavor_prices(self, value: Any, where: str,
                      flavors: Collection[str] | None) -> dict[str, Decimal]:
        out = self.prices(value, where, None, "price")
        if flavors is not None:
            for name in list(out):
                if name not in flavors:
                    close = difflib.get_close_matches(name, list(flavors), n=1)
                    self.add(f"{where}.{name}", f"unknown flavor {name!r}",
                             f"did you mean {close[0]}?" if close else
                             "price only flavors the sites offer (govcloud inventory)")
                    del out[name]
        return out


def parse_sheet(doc: Any, *, source: str, lines: Mapping[str, int] | None = None,
                flavors: Collection[str] | None = None,
                sites: Collection[str] | None = None) -> PriceSheet:
    """One price sheet from its document (every scalar as the text written), or a
    :class:`PriceSheetError` listing every problem with its line. ``flavors`` and ``sites``,
    when given, are the names a sheet may price."""
    c = _Checker(source, lines or {})
    top = c.mapping(doc, "", _FIELDS)
    for name in _REQUIRED:
        if isinstance(doc, dict) and name not in top:
            c.add(name, "is missing", f"add {name} (see docs/reports.md)")
    version = str(top.get("version", ""))
    if "version" in top and not _VERSION.fullmatch(version):
        c.add("version", f"{version[:40]!r} is not a version",
              "letters, digits, '.', '_' or '-', at most 64 characters, e.g. 2026.1")
    start = c.date(top["effective_from"], "effective_from") if "effective_from" in top else None
    until = c.date(top["effective_until"], "effective_until") \
        if top.get("effective_until") not in (None, "", "null", "~") else None
    if start and until and until < start:
        c.add("effective_until", f"{until} is before effective_from {start}",
              "a sheet ends on or after the day it starts")
    currency = str(top.get("currency", ""))
    if "currency" in top and not _CURRENCY.fullmatch(currency):
        c.add("currency", f"{currency[:10]!r} is not a currency code", "e.g. CNY")
    description = top.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        c.add("description", "must be one line of text, at most 500 characters",
              "shorten it")
    units = c.prices(top.get("units", {}), "units", [u.value for u in Unit], "price")
    if "units" in top:
        for u in Unit:
            if u.value not in units and not any(p.field.startswith("units.")
                                                for p in c.problems):
                c.add(f"units.{u.value}", "is missing", f"give the price per {u.value}")
    flavor_prices = c.flavor_prices(top.get("flavors", {}), "flavors", flavors)
    kinds = c.prices(top.get("copy_kinds", {}), "copy_kinds", [k.value for k in UsageKind],
                     "multiplier")
    levels = c.prices(top.get("dr_levels", {}), "dr_levels", [str(n) for n in DR_LEVELS],
                      "multiplier")
    site_prices = _sites(c, top.get("sites", {}), flavors, sites)
    if c.problems or start is None:  # a missing date is one of the problems
        raise PriceSheetError(c.problems)
    return PriceSheet(version, start, currency, {Unit(k): v for k, v in units.items()},
                      flavor_prices, {UsageKind(k): v for k, v in kinds.items()},
                      {int(k): v for k, v in levels.items()}, site_prices, until,
                      description if isinstance(description, str) else "", source)


def _sites(c: _Checker, value: Any, flavors: Collection[str] | None,
           sites: Collection[str] | None) -> dict[str, SitePrices]:
    out: dict[str, SitePrices] = {}
    for name, over in c.mapping(value, "sites").items():
        where = f"sites.{name}"
        if sites is not None and name not in sites:
            c.add(where, f"unknown site {name!r}",
                  f"configured sites: {', '.join(sorted(sites))}")
            continue
        body = c.mapping(over, where, _SITE_FIELDS)
        out[name] = SitePrices(
            {Unit(k): v for k, v in c.prices(body.get("units", {}), f"{where}.units",
                                             [u.value for u in Unit], "price").items()},
            c.flavor_prices(body.get("flavors", {}), f"{where}.flavors", flavors))
    return out


def check_sheets(sheets: Iterable[PriceSheet]) -> tuple[PriceSheet, ...]:
    """Sheets ordered by start date, or a :class:`PriceSheetError`: a version given twice,
    two sheets starting on the same day, or a sheet whose ``effective_until`` runs into the
    next one's start."""
    ordered = sorted(sheets, key=lambda s: (s.effective_from, s.version))
    problems: list[PriceProblem] = []
    seen: dict[str, PriceSheet] = {}
    for s in ordered:
        if s.version in seen:
            problems.append(PriceProblem(s.source, "version", f"version {s.version} is also "
                                         f"in {seen[s.version].source}",
                                         "give each sheet a version of its own"))
        seen[s.version] = s
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.effective_until is None and before.effective_from != after.effective_from:
            continue
        if before.effective_until is None or before.effective_until >= after.effective_from:
            problems.append(PriceProblem(
                after.source, "effective_from",
                f"{after.version} from {after.effective_from} overlaps {before.version} "
                f"({before.source}, from {before.effective_from}"
                f"{f' until {before.effective_until}' if before.effective_until else ''})",
                "end the earlier sheet the day before the next one starts"))
    if problems:
        raise PriceSheetError(problems)
    return tuple(ordered)


def sheet_for(sheets: Iterable[PriceSheet], day: dt.date) -> PriceSheet | None:
    """The sheet in effect on ``day``: the latest starting on or before it that has not
    ended (``sheets`` as ``check_sheets`` returns them)."""
    found = None
    for s in sheets:
        if s.effective_from <= day:
            found = s
    return found if found is not None and found.covers(day) else None
