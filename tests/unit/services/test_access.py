"""Who may reach which department, as the use cases share it (govcloud/services/access.py),
over the real department catalogue: a department one may not even view is answered as absent
— the same answer as a code the catalogue lacks — and one it may view but not act on is
forbidden; lists hold exactly what each role may reach (a city operator its city's own tenant,
never a provincial department in its city); "the whole cloud" is None, never every code."""

from __future__ import annotations

import pytest

from govcloud.domain.rbac import Action, Principal, Role
from govcloud.errors import Forbidden, InvalidInput, NotFound
from govcloud.services.access import (
    check_department,
    codes_asked,
    department_target,
    get_department,
    visible,
    visible_codes,
)
from tests.unit.services.provisioning_setup import catalogue

ADMIN = Principal("boss", Role.BUREAU_ADMIN)
AUDITOR = Principal("eve", Role.BUREAU_AUDITOR)
OPERATOR = Principal("alice", Role.OPERATOR)
CI = Principal("pipeline", Role.CI)
GZ_OPERATOR = Principal("gz", Role.CITY_OPERATOR, city="guangzhou")
PSD_VIEWER = Principal("psdview", Role.DEPARTMENT_VIEWER, department="gd-psd")
TAX_VIEWER = Principal("taxman", Role.DEPARTMENT_VIEWER, department="gd-tax")


def test_the_rbac_city_of_a_department_is_its_own_only_for_a_city_tenant() -> None:
    cat = catalogue()
    # gd-psd is a provincial department seated in Guangzhou: it belongs to no city
    assert (department_target(cat, "gd-psd").department,
            department_target(cat, "gd-psd").city) == ("gd-psd", None)
    assert department_target(cat, "guangzhou").city == "guangzhou"
    assert department_target(cat, "gd-tax").city is None  # a vertical branch
    gone = department_target(cat, "gd-gone")  # no longer in the catalogue: no city
    assert (gone.department, gone.city) == ("gd-gone", None)


def test_a_department_one_may_not_view_is_absent_not_forbidden() -> None:
    cat = catalogue()
    for who in (TAX_VIEWER, GZ_OPERATOR):
        with pytest.raises(NotFound) as err:
            check_department(who, cat, "gd-psd", Action.VIEW_DEPARTMENT)
        assert err.value.message == "no department 'gd-psd'"
    with pytest.raises(NotFound) as err:  # the same answer as for a code nobody has
        get_department(ADMIN, cat, "gd-nowhere", Action.VIEW_DEPARTMENT)
    assert err.value.message == "no department 'gd-nowhere'"
    # the caller's own "absent" is raised instead, for an object of the department
    with pytest.raises(InvalidInput, match="no request 7"):
        check_department(TAX_VIEWER, cat, "gd-psd", Action.REQUEST_CANCEL,
                         missing=lambda: InvalidInput("no request 7"))


def test_one_it_may_view_but_not_act_on_is_forbidden_with_the_reason() -> None:
    cat = catalogue()
    check_department(PSD_VIEWER, cat, "gd-psd", Action.VIEW_SERVERS)  # allowed: no raise
    with pytest.raises(Forbidden, match="a department viewer only reads its own department"):
        check_department(PSD_VIEWER, cat, "gd-psd", Action.REQUEST_SUBMIT)
    with pytest.raises(Forbidden, match="approving requests and managing principals"):
        check_department(OPERATOR, cat, "gd-psd", Action.REQUEST_APPROVE)
    with pytest.raises(Forbidden, match="never changes anything"):
        get_department(AUDITOR, cat, "gd-psd", Action.PROVISION)
    assert get_department(GZ_OPERATOR, cat, "guangzhou", Action.PROVISION).code == "guangzhou"
    assert get_department(ADMIN, cat, "gd-psd", Action.REQUEST_APPROVE).code == "gd-psd"
    assert get_department(CI, cat, "gd-tax", Action.PROVISION).code == "gd-tax"
    with pytest.raises(Forbidden):
        get_department(CI, cat, "gd-tax", Action.REQUEST_APPROVE)


def test_a_code_gone_from_the_catalogue_is_checked_as_a_department_of_no_city() -> None:
    cat = catalogue()
    check_department(ADMIN, cat, "gd-gone", Action.REQUEST_CANCEL)  # the bureau still may
    with pytest.raises(NotFound):
        check_department(GZ_OPERATOR, cat, "gd-gone", Action.VIEW_DEPARTMENT)


def test_lists_hold_exactly_what_each_role_may_reach() -> None:
    cat = catalogue()
    every = [d.code for d in cat]
    assert len(every) > 20
    assert [d.code for d in visible(ADMIN, cat, Action.REQUEST_APPROVE)] == every
    assert [d.code for d in visible(AUDITOR, cat, Action.VIEW_AUDIT)] == every
    assert visible(AUDITOR, cat, Action.TENANCY_APPLY) == []
    assert [d.code for d in visible(GZ_OPERATOR, cat, Action.SYNC_RUN)] == ["guangzhou"]
    assert [d.code for d in visible(PSD_VIEWER, cat, Action.VIEW_SERVERS)] == ["gd-psd"]
    assert visible(PSD_VIEWER, cat, Action.EXPORT) == []
    assert visible(OPERATOR, cat, Action.REQUEST_REJECT) == []


def test_the_whole_cloud_is_none_and_a_scope_its_codes() -> None:
    cat = catalogue()
    assert visible_codes(ADMIN, cat) is None
    assert visible_codes(AUDITOR, cat) is None
    assert visible_codes(CI, cat, Action.PROVISION) is None
    # a role that may do nothing of the kind anywhere gets an empty list, never "all"
    assert visible_codes(AUDITOR, cat, Action.PROVISION) == []
    assert visible_codes(OPERATOR, cat, Action.REQUEST_APPROVE) == []
    assert visible_codes(GZ_OPERATOR, cat) == ["guangzhou"]
    assert visible_codes(TAX_VIEWER, cat) == ["gd-tax"]


def test_the_codes_asked_for_are_each_checked_and_kept_once_in_order() -> None:
    cat = catalogue()
    assert codes_asked(GZ_OPERATOR, cat, Action.SYNC_RUN, None) == ["guangzhou"]
    assert codes_asked(GZ_OPERATOR, cat, Action.SYNC_RUN, []) == ["guangzhou"]
    assert codes_asked(OPERATOR, cat, Action.SYNC_RUN, ["gd-tax", "gd-psd", "gd-tax"]) == \
        ["gd-tax", "gd-psd"]
    with pytest.raises(NotFound):  # one not visible among them refuses the lot
        codes_asked(GZ_OPERATOR, cat, Action.SYNC_RUN, ["guangzhou", "gd-psd"])
    with pytest.raises(NotFound):  # nor one the catalogue lacks, even for the bureau
        codes_asked(ADMIN, cat, Action.SYNC_RUN, ["gd-psd", "gd-nowhere"])
    with pytest.raises(Forbidden):
        codes_asked(PSD_VIEWER, cat, Action.SYNC_RUN, ["gd-psd"])
