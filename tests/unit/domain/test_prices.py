"""Price sheets from YAML: the province's example loads exactly (no float anywhere); a typo,
a negative price, an unknown flavor or site and overlapping dates are errors naming the file,
line and field, and nothing is loaded."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from govcloud.domain.metering import UsageKind
from govcloud.domain.prices import PriceSheetError, Unit, check_sheets, sheet_for
from govcloud.services.prices import load_price_sheets, parse_sheet_text

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "tenants" / "prices" / "2026.yaml"
FLAVORS = {"m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"}
SITES = {"PROD", "DR-LOCAL", "DR-REMOTE"}
SHEET = """\
version: "2027.1"
effective_from: 2027-01-01
currency: CNY
units:
  vcpu_hour: 0.1
  ram_gib_hour: "0.02"
  disk_gb_hour: 0.0001
  volume_gb_month: 0.35
flavors:
  m1.large: 0.45
copy_kinds: {cold: 0.1}
dr_levels: {5: 1.2}
sites:
  DR-REMOTE:
    units: {vcpu_hour: 0.07}
"""


def parse(text: str, source: str = "2027.yaml") -> object:
    return parse_sheet_text(text, source=source, flavors=FLAVORS, sites=SITES)


def problems(text: str) -> list[str]:
    with pytest.raises(PriceSheetError) as caught:
        parse(text)
    return [str(p) for p in caught.value.problems]


def test_the_provinces_example_loads_with_exact_decimals() -> None:
    (sheet,) = load_price_sheets(EXAMPLE.parent, flavors=FLAVORS, sites=SITES)
    assert sheet.version == "2026.1" and sheet.currency == "CNY"
    assert sheet.effective_from == dt.date(2026, 1, 1)
    assert sheet.effective_until == dt.date(2026, 12, 31)
    assert sheet.unit_price(Unit.VCPU_HOUR, "PROD") == Decimal("0.0800")
    assert sheet.unit_price(Unit.VCPU_HOUR, "DR-REMOTE") == Decimal("0.0700")
    assert sheet.flavor_price("m1.large", "PROD") == Decimal("0.4500")
    assert sheet.flavor_price("m1.small", "PROD") is None
    assert sheet.copy_multiplier(UsageKind.COLD) < sheet.copy_multiplier(UsageKind.HOT)
    assert sheet.level_multiplier(5) == Decimal("1.20") and sheet.level_multiplier(None) == 1


def test_unquoted_numbers_are_read_as_written_never_as_floats() -> None:
    sheet = parse(SHEET)
    assert sheet.units[Unit.VCPU_HOUR] == Decimal("0.1")
    assert str(sheet.units[Unit.VCPU_HOUR]) == "0.1"  # a float would be 0.1000000000000000055...
    assert sheet.copy_multiplier(UsageKind.WARM) == 1  # unlisted kinds and levels: 1
    assert sheet.level_multiplier(3) == 1 and sheet.level_multiplier(5) == Decimal("1.2")


def test_a_typo_names_its_line_and_the_field_it_meant() -> None:
    (msg,) = problems(SHEET.replace("flavors:\n", "flavours:\n"))
    assert msg.startswith("2027.yaml:9: flavours: unknown field") and "did you mean flavors?" in msg
    (msg,) = problems(SHEET.replace("  vcpu_hour: 0.1", "  vcpu_hours: 0.1"))
    assert msg.startswith("2027.yaml:5: units.vcpu_hours: unknown field")


def test_a_negative_or_malformed_price_names_its_line() -> None:
    (msg,) = problems(SHEET.replace("0.35", "-0.35"))
    assert msg.startswith("2027.yaml:8: units.volume_gb_month: price -0.35 is negative")
    (msg,) = problems(SHEET.replace("m1.large: 0.45", "m1.large: 0,45"))
    assert msg.startswith("2027.yaml:10: flavors.m1.large: '0,45' is not a number")
    assert len(problems(SHEET.replace("0.1}", "NaN}").replace("1.2}", "1e400}"))) == 2


def test_an_unknown_flavor_site_or_level_is_named() -> None:
    (msg,) = problems(SHEET.replace("m1.large", "m1.lrage"))
    assert msg.startswith("2027.yaml:10: flavors.m1.lrage: unknown flavor") and "m1.large" in msg
    (msg,) = problems(SHEET.replace("DR-REMOTE", "DR-FAR"))
    assert msg.startswith("2027.yaml:14: sites.DR-FAR: unknown site")
    (msg,) = problems(SHEET.replace("{5: 1.2}", "{7: 1.2}"))
    assert msg.startswith("2027.yaml:12: dr_levels.7: unknown field")


def test_missing_fields_and_bad_dates_are_each_reported() -> None:
    found = problems(SHEET.replace("currency: CNY\n", "").replace("2027-01-01", "2027-02-30")
                     .replace("  disk_gb_hour: 0.0001\n", ""))
    assert any("effective_from: '2027-02-30' is not a date" in m for m in found)
    assert any(m.startswith("2027.yaml:1: currency: is missing") for m in found)
    assert any(m.startswith("2027.yaml:3: units.disk_gb_hour: is missing") for m in found)


def test_a_key_given_twice_or_broken_yaml_is_an_error_with_its_line() -> None:
    (msg,) = problems(SHEET + "currency: EUR\n")
    assert "line 16" in msg and "currency is given twice" in msg
    (msg,) = problems("version: [\n")
    assert "cannot parse" in msg


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_overlapping_dates_across_files_load_nothing(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "2026.yaml")
    write(tmp_path, "2026b.yaml", SHEET.replace("2027.1", "2026.2")
          .replace("2027-01-01", "2026-12-01"))
    with pytest.raises(PriceSheetError) as caught:
        load_price_sheets(tmp_path, flavors=FLAVORS, sites=SITES)
    (p,) = caught.value.problems
    assert p.field == "effective_from" and p.source.endswith("2026b.yaml")
    assert "2026.2 from 2026-12-01 overlaps 2026.1" in str(p)


def test_sheets_follow_each_other_and_a_version_is_given_once(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "2026.yaml")
    write(tmp_path, "2027.yaml", SHEET)
    first, second = load_price_sheets(tmp_path, flavors=FLAVORS, sites=SITES)
    assert (first.version, second.version) == ("2026.1", "2027.1")
    assert sheet_for((first, second), dt.date(2026, 12, 31)) is first
    assert sheet_for((first, second), dt.date(2027, 6, 1)) is second
    assert sheet_for((first, second), dt.date(2025, 12, 31)) is None
    with pytest.raises(PriceSheetError, match="version 2027.1 is also in"):
        check_sheets([second, parse(SHEET.replace("2027-01-01", "2028-01-01"), "b.yaml")])
    write(tmp_path, "broken.yaml", SHEET.replace("2027.1", "2028.1").replace("0.45", "-1"))
    with pytest.raises(PriceSheetError, match="price -1 is negative"):
        load_price_sheets(tmp_path, flavors=FLAVORS, sites=SITES)
