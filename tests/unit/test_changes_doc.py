"""docs/changes.md says what the code does: its calendar example is valid, the problems it
shows for a broken copy are the ones the checks report, and the example calendar in
tenants/calendar is valid against the real catalogue and the default sites."""

from __future__ import annotations

from pathlib import Path

import pytest

from govcloud.domain.calendar_file import CalendarError
from govcloud.domain.sites import default_sites
from govcloud.services.catalogue import load_catalogue
from govcloud.services.change_calendar import parse_calendar_text

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "changes.md").read_text(encoding="utf-8")
SITES = {s.name for s in default_sites()}


def codes() -> set[str]:
    return set(load_catalogue(ROOT / "tenants").codes)


def test_the_documented_calendar_is_valid_and_its_broken_copy_fails_as_shown() -> None:
    example = DOC.split("### The file\n\n```yaml\n")[1].split("```")[0]
    calendar = parse_calendar_text(example, source="the calendar", departments=codes(),
                                   sites=SITES)
    assert [w.name for w in calendar.windows] == ["weekly-saturday", "dr-sunday",
                                                  "tax-weeknights"]
    broken = example.replace("[gd-tax]", "[gd-taxx]").replace("until: 2027-03-15",
                                                              "until: 2027-02-27")
    with pytest.raises(CalendarError) as caught:
        parse_calendar_text(broken, source="the calendar", departments=codes(), sites=SITES)
    shown = DOC.split("congress freeze ending on `2027-02-27`:\n\n```\n")[1].split("```")[0]
    assert shown == f"error: {caught.value.message}\nhint: {caught.value.hint}\n"


def test_the_example_calendar_file_is_valid() -> None:
    text = (ROOT / "tenants" / "calendar" / "2027.yaml").read_text(encoding="utf-8")
    calendar = parse_calendar_text(text, source="2027.yaml", departments=codes(), sites=SITES)
    assert calendar.version == "2027.1" and len(calendar.freezes) == 5
