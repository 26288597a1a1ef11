"""Pure parts of the inventory services: department mapping from Keystone projects, server
cursors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govcloud.domain.tenancy import ProjectRecord
from govcloud.errors import InvalidInput
from govcloud.services.server_listing import decode_cursor, encode_cursor
from govcloud.services.sync import project_mapping


def project(pid: str, name: str, *tags: str) -> ProjectRecord:
    return ProjectRecord(id=pid, name=name, description="", tags=tags)


def test_projects_map_by_tag_then_by_name_and_keep_the_city() -> None:
    projects = [
        project("p1", "psd-prod", "dept:gd-psd"),  # tagged: wins over the name
        project("p2", "gd-psd"),
        project("p3", "shenzhen"),  # adopted by name (catalogue code)
        project("p4", "x", "dept:gd-new"),  # tagged with a code the catalogue lacks
        project("p5", "gd-tax", "dept:other"),  # claimed elsewhere: not adopted by name
        project("p6", "admin"),
    ]
    got = project_mapping(projects, {"gd-psd": None, "shenzhen": "shenzhen", "gd-tax": None})
    assert [(m.department, m.project_id, m.city) for m in got] == [
        ("gd-new", "p4", None), ("gd-psd", "p1", None), ("other", "p5", None),
        ("shenzhen", "p3", "shenzhen")]


def test_two_projects_tagged_for_one_department_map_neither() -> None:
    projects = [project("a", "one", "dept:gd-psd"), project("b", "two", "dept:gd-psd")]
    assert project_mapping(projects, {"gd-psd": None}) == []


@given(st.text(alphabet=st.characters(blacklist_characters="\n",
                                      blacklist_categories=("Cs",)), min_size=1, max_size=20),
       st.text(min_size=1, max_size=40))
def test_cursors_round_trip(site: str, server_id: str) -> None:
    assert decode_cursor(encode_cursor(site, server_id)) == (site, server_id, None)
    assert decode_cursor(encode_cursor(site, server_id, 7)) == (site, server_id, 7)


@pytest.mark.parametrize("bad", ["!!!", "bm8tbmV3bGluZQ", "%%"])
def test_bad_cursors_are_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput, match="invalid cursor"):
        decode_cursor(bad)
