"""What the migration use cases decide before any work (RBAC first), in a real database with
no hosts reached: an inventory naming a department the caller may not see is refused as if the
department did not exist, one it may only view is forbidden, and nothing is stored; hosts and
waves are listed only for visible departments; a sign-off needs a department and
``migration.run``; a readiness gate is overridden by a bureau-admin only, and another
department's wave is absent. (Through the API: tests/integration/migrate/.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from govcloud.domain.rbac import Principal
from govcloud.errors import Forbidden, InvalidInput, NotFound
from govcloud.services.migration_access import (
    Caller,
    import_hosts,
    list_hosts,
    list_waves,
    override,
    plan,
    signoff,
)
from tests.databases import Clock
from tests.unit.services.provisioning_setup import catalogue

ADMIN = Principal("boss", "bureau-admin")
OPERATOR = Principal("alice", "operator")
PSD_VIEWER = Principal("psdview", "department-viewer", department="gd-psd")
TAX_VIEWER = Principal("taxman", "department-viewer", department="gd-tax")


def inventory(department: str, host: str = "db1") -> str:
    return (f"all:\n  vars: {{govcloud_department: {department}}}\n  hosts:\n"
            f"    {host}: {{ansible_host: 10.0.0.1, govcloud_system: hukou}}\n")


def caller(principal: Principal) -> Caller:
    return Caller(principal, catalogue())


def hosts(engine: Engine, principal: Principal, **kw: str) -> list[str]:
    return sorted(h["name"] for h in list_hosts(engine, caller(principal),
                                                department=kw.get("department"))["hosts"])


def test_importing_hosts_of_a_department_one_may_not_see_or_run(db: Engine) -> None:
    for who, error in ((TAX_VIEWER, InvalidInput), (PSD_VIEWER, Forbidden)):
        with pytest.raises(error) as err:
            import_hosts(db, caller(who), text=inventory("gd-psd"), name="psd.yaml")
        if error is InvalidInput:  # as for a code the catalogue lacks: nothing leaks
            assert err.value.message == \
                "psd.yaml: department 'gd-psd' is not in the catalogue"
    with pytest.raises(InvalidInput):
        import_hosts(db, caller(ADMIN), text=inventory("gd-nowhere"), name="x.yaml")
    assert hosts(db, ADMIN) == []
    out = import_hosts(db, caller(OPERATOR), text=inventory("gd-psd"), name="psd.yaml")
    assert (out["hosts"], out["departments"]) == (1, ["gd-psd"])


def test_hosts_are_listed_for_the_visible_departments_only(db: Engine) -> None:
    import_hosts(db, caller(ADMIN), text=inventory("gd-psd", "psd1"), name="a")
    import_hosts(db, caller(ADMIN), text=inventory("gd-tax", "tax1"), name="b")
    assert hosts(db, ADMIN) == ["psd1", "tax1"]
    assert hosts(db, PSD_VIEWER) == ["psd1"]
    with pytest.raises(NotFound):
        hosts(db, PSD_VIEWER, department="gd-tax")


def test_a_signoff_needs_a_department_and_migration_run(db: Engine) -> None:
    with pytest.raises(NotFound):
        signoff(db, caller(ADMIN), department="gd-nowhere", note=None)
    with pytest.raises(Forbidden):
        signoff(db, caller(PSD_VIEWER), department="gd-psd", note=None)
    with pytest.raises(NotFound):
        signoff(db, caller(TAX_VIEWER), department="gd-psd", note=None)
    assert signoff(db, caller(OPERATOR), department="gd-psd", note="ok") == \
        {"department": "gd-psd", "by": "alice"}


def test_only_a_bureau_admin_overrides_a_gate_and_other_departments_waves_are_absent(
        db: Engine) -> None:
    clock = Clock()
    import_hosts(db, caller(ADMIN), text=inventory("gd-psd"), name="psd.yaml", clock=clock)
    with pytest.raises(Forbidden):
        plan(db, caller(PSD_VIEWER), department="gd-psd", first_window=None,
             window_hours=4, every_days=7, max_hosts=10, clock=clock)
    waves = plan(db, caller(OPERATOR), department="gd-psd",
                 first_window=datetime(2026, 12, 5, 1, tzinfo=UTC), window_hours=4,
                 every_days=7, max_hosts=10, clock=clock)["waves"]
    wave = waves[0]["wave"]
    assert [w["wave"] for w in list_waves(db, caller(PSD_VIEWER), department=None)["waves"]] \
        == [w["wave"] for w in waves]
    assert list_waves(db, caller(TAX_VIEWER), department=None)["waves"] == []
    with pytest.raises(NotFound):
        override(db, caller(TAX_VIEWER), wave, reason="x", clock=clock)
    with pytest.raises(Forbidden):
        override(db, caller(OPERATOR), wave, reason="x", clock=clock)
    assert override(db, caller(ADMIN), wave, reason="tested by hand", clock=clock) == \
        {"wave": wave, "override_by": "boss"}
