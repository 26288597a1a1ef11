"""The department catalogue's semantic checks (pure domain): every problem names the file, the
field and the fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govcloud.domain.catalogue import (
    QUOTA_FIELDS,
    CatalogueError,
    DepartmentKind,
    SiteQuota,
    build_catalogue,
    department_problems,
    odd_characters_zh,
    parse_department,
)
from govcloud.errors import InvalidInput, NotFound

SOURCE = "tenants/gd-tax.yaml"
QUOTA = {"cores": 100, "ram_mb": 204800, "instances": 20, "volumes": 20, "gigabytes": 2000,
         "ports": 40, "server_groups": 10, "server_group_members": 10}


def doc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "code": "gd-tax", "name_zh": "国家税务总局广东省税务局",
        "name_en": "Guangdong Provincial Tax Service", "kind": "vertical", "city": "guangzhou",
        "dr_level": 6, "quotas": {"PROD": dict(QUOTA), "DR-REMOTE": dict(QUOTA)},
        "contacts": [{"name": "王建国", "phone": "+86 20 8000 1234",
                      "email": "ops@tax.gd-gov.example"}],
    }
    base.update(changes)
    return base


def city(code: str = "guangzhou", zh: str = "广州市") -> dict[str, Any]:
    return doc(code=code, name_zh=zh, name_en=code.title(), kind="city", city=code)


def problems(document: Any) -> dict[str, str]:
    return {p.field: p.message for p in department_problems(document, source=SOURCE)}


def test_a_good_entry_parses() -> None:
    d = parse_department(doc(), source=SOURCE)
    assert d.code == "gd-tax"
    assert d.kind is DepartmentKind.VERTICAL
    assert d.description == "国家税务总局广东省税务局 Guangdong Provincial Tax Service"
    assert d.quota("PROD") == SiteQuota(**QUOTA)
    assert d.quota("DR-LOCAL") == SiteQuota()  # left out: no allocation
    assert d.sites == ("PROD", "DR-REMOTE")
    assert d.source == SOURCE
    assert d.to_dict()["quotas"]["PROD"] == QUOTA


@pytest.mark.parametrize("code", ["GD-TAX", "gd_tax", "1tax", "gd-", "g", "gd--tax",
                                  "a" * 33, "gd tax"])
def test_bad_codes_are_refused(code: str) -> None:
    found = problems(doc(code=code))
    assert "code" in found and repr(code) in found["code"]


@pytest.mark.parametrize("level", [0, 7, -1, True, 3.5, "6", None])
def test_dr_level_must_be_1_to_6(level: Any) -> None:
    assert "dr_level" in problems(doc(dr_level=level))


def test_unknown_site_is_named_with_a_suggestion() -> None:
    bad = doc(quotas={"PRDO": dict(QUOTA)})
    [problem] = department_problems(bad, source=SOURCE)
    assert problem.field == "quotas.PRDO"
    assert "did you mean PROD" in problem.message
    assert "PROD, DR-LOCAL, DR-REMOTE" in problem.hint


def test_sites_follow_the_configuration() -> None:
    bad = doc(quotas={"SZ-CITY": dict(QUOTA)})
    assert "quotas.SZ-CITY" in problems(bad)
    ok = parse_department(bad, source=SOURCE, sites=("PROD", "SZ-CITY"))
    assert ok.sites == ("SZ-CITY",)


@pytest.mark.parametrize("value", [-1, -5, True, 1.5, "10", 2**31, None])
def test_negative_or_odd_quotas_are_refused(value: Any) -> None:
    quotas = {"PROD": {**QUOTA, "cores": value}}
    found = problems(doc(quotas=quotas))
    assert list(found) == ["quotas.PROD.cores"]


def test_missing_and_unknown_quota_fields() -> None:
    quota = {k: v for k, v in QUOTA.items() if k != "ports"} | {"core": 5}
    found = problems(doc(quotas={"PROD": quota}))
    assert found["quotas.PROD.ports"] == "is missing"
    assert "did you mean cores" in found["quotas.PROD.core"]


@pytest.mark.parametrize("name, bad", [
    ("国家税务总局\u3000广东省税务局", "U+3000 IDEOGRAPHIC SPACE"),
    ("国家税务总局\u200d广东省税务局", "U+200D ZERO WIDTH JOINER"),
    ("\ufeff国家税务总局广东省税务局", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    ("国家税务总局 广东省税务局", "U+0020 SPACE"),
    ("广东省\u2f54利厅", "U+2F54 KANGXI RADICAL WATER"),  # looks like 水
    ("广东省\uf9e9务局", "U+F9E9 CJK COMPATIBILITY IDEOGRAPH-F9E9"),
    ("广东省税务局\x07", "U+0007"),
])
def test_odd_characters_in_chinese_names_are_errors(name: str, bad: str) -> None:
    [problem] = department_problems(doc(name_zh=name), source=SOURCE)
    assert problem.field == "name_zh"
    assert bad in problem.message
    assert "position" in problem.message
    assert "retype" in problem.hint


@pytest.mark.parametrize("name", ["广东省公安厅", "广东省人民政府港澳事务办公室",
                                  "广东省5G产业办公室", "广东省（深圳）联络处", "阿卜杜·热合曼"])
def test_ordinary_chinese_names_pass(name: str) -> None:
    assert odd_characters_zh(name) == []
    assert problems(doc(name_zh=name)) == {}


def test_a_chinese_name_needs_chinese() -> None:
    assert problems(doc(name_zh="Tax"))["name_zh"] == "has no Chinese characters"


@pytest.mark.parametrize("name", [" Tax", "Tax  Service", "Tax\u200bService", "Tax\u3000"])
def test_english_names_without_invisible_or_extra_spaces(name: str) -> None:
    assert "name_en" in problems(doc(name_en=name))


def test_contacts_are_checked_one_by_one() -> None:
    contacts = [{"name": "王建国", "phone": "call me", "email": "nobody"},
                {"name": "李\u200b丽", "phone": "+86 20 8000 1234", "email": "a@b.example"}]
    found = problems(doc(contacts=contacts))
    assert set(found) == {"contacts[0].phone", "contacts[0].email", "contacts[1].name"}
    # a regex's $ also matches before a final newline: the whole value must match
    found = problems(doc(contacts=[{"name": "王建国", "phone": "+86 20 8000 1234\n",
                                    "email": "ops@tax.gd-gov.example\n"}]))
    assert set(found) == {"contacts[0].phone", "contacts[0].email"}


def test_city_entries_name_themselves() -> None:
    assert "city" in problems(doc(kind="city", code="shantou", city="guangzhou"))
    assert problems(city("shantou", "汕头市")) == {}


def test_unknown_and_missing_fields() -> None:
    bad = doc(dr_levle=3)
    del bad["contacts"]
    found = problems(bad)
    assert "did you mean dr_level" in found["dr_levle"]
    assert found["contacts"] == "is missing"


def test_not_a_mapping() -> None:
    [problem] = department_problems(["code", "gd-tax"], source=SOURCE)
    assert problem.field == "" and "mapping" in problem.message


def test_every_problem_is_reported_at_once() -> None:
    bad = doc(code="GD", dr_level=9, kind="agency", quotas={"PROD": {**QUOTA, "cores": -1}})
    with pytest.raises(CatalogueError) as caught:
        parse_department(bad, source=SOURCE)
    err = caught.value
    assert isinstance(err, InvalidInput) and err.exit_code == 2
    assert {p.field for p in err.problems} == {"code", "dr_level", "kind", "quotas.PROD.cores"}
    assert "4 problems" in err.message
    for p in err.problems:
        assert f"{SOURCE}: {p.field}: " in err.message and p.hint in err.message


def test_one_problem_reads_as_one_error() -> None:
    with pytest.raises(CatalogueError) as caught:
        parse_department(doc(dr_level=0), source=SOURCE)
    assert caught.value.message.startswith(f"{SOURCE}: dr_level: ")
    assert "1 to 6" in (caught.value.hint or "")


def test_duplicate_codes_across_files_name_both() -> None:
    a = parse_department(doc(), source="tenants/gd-tax.yaml")
    b = parse_department(doc(), source="tenants/tax.yaml")
    gz = parse_department(city(), source="tenants/guangzhou.yaml")
    with pytest.raises(CatalogueError) as caught:
        build_catalogue([a, gz, b])
    [problem] = caught.value.problems
    assert problem.source == "tenants/tax.yaml" and "tenants/gd-tax.yaml" in problem.message


def test_departments_must_belong_to_a_city_in_the_catalogue() -> None:
    a = parse_department(doc(city="guangzou"), source=SOURCE)
    gz = parse_department(city(), source="tenants/guangzhou.yaml")
    with pytest.raises(CatalogueError) as caught:
        build_catalogue([a, gz])
    assert "did you mean guangzhou" in caught.value.problems[0].message
    assert build_catalogue([a, gz], other_cities={"guangzou"}).codes == ("gd-tax", "guangzhou")


def test_catalogue_lookup_and_filter() -> None:
    gz = parse_department(city(), source="tenants/guangzhou.yaml")
    tax = parse_department(doc(), source=SOURCE)
    cat = build_catalogue([tax, gz])
    assert cat.codes == ("gd-tax", "guangzhou")
    assert cat.get("gd-tax") is tax and cat.find("nope") is None
    with pytest.raises(NotFound, match="gd-taxx"):
        cat.get("gd-taxx")
    assert cat.only(["guangzhou"]).codes == ("guangzhou",)
    with pytest.raises(InvalidInput, match="unknown department code"):
        cat.only(["guangzhou", "gd-nope"])


quota_values = st.integers(min_value=0, max_value=2**31 - 1)


@given(st.fixed_dictionaries(dict.fromkeys(QUOTA_FIELDS, quota_values)))
def test_any_non_negative_quota_round_trips(values: dict[str, int]) -> None:
    d = parse_department(doc(quotas={"PROD": values}), source=SOURCE)
    assert d.quota("PROD").as_dict() == values


@given(st.text(min_size=1, max_size=12))
def test_chinese_name_check_never_crashes_and_reports_positions(name: str) -> None:
    for index, char in odd_characters_zh(name):
        assert name[index] == char
    found = department_problems(copy.deepcopy(doc(name_zh=name)), source=SOURCE)
    assert all(p.field == "name_zh" for p in found)
