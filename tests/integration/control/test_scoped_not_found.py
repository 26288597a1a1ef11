"""A scoped principal cannot tell another department's objects from absent ones (issue 17,
item 9): a wave or legacy host of a department it may not view is answered exactly as one
that does not exist — 404, the same message and hint — never 403."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from govcloud.client import ApiClient
from govcloud.errors import GovCloudError, InvalidInput, NotFound

from .conftest import Plane

Call = Callable[[ApiClient, str], Any]


@pytest.fixture(scope="module")
def tax_wave(plane: Plane) -> tuple[str, str]:
    """gd-tax's legacy host and its wave (imported and planned by the admin)."""
    inventory = yaml.safe_dump({"all": {"vars": {"govcloud_department": "gd-tax"}, "hosts": {
        "tax-legacy-1": {"govcloud_system": "ledger", "ansible_host": "10.9.9.1"}}}})
    plane.admin.post("/hosts/import", {"text": inventory, "name": "gd-tax.yaml"})
    waves = plane.admin.post("/migrate/plan", {"department": "gd-tax"})["waves"]
    return "tax-legacy-1", waves[0]["wave"]


WAVE_CALLS: dict[str, Call] = {
    "show": lambda api, w: api.get(f"/migrate/waves/{w}"),
    "events": lambda api, w: api.get(f"/migrate/waves/{w}/events"),
    "run": lambda api, w: api.post(f"/migrate/waves/{w}/run", {}),
    "cancel": lambda api, w: api.post(f"/migrate/waves/{w}/cancel"),
    "override": lambda api, w: api.post(f"/migrate/waves/{w}/override", {"reason": "x"}),
    "rollback": lambda api, w: api.post("/migrate/rollback", {"target": w}),
}
HOST_CALLS: dict[str, Call] = {
    "key": lambda api, h: api.get(f"/hosts/{h}/key"),
    "trust": lambda api, h: api.post(f"/hosts/{h}/trust", {"fingerprint": "SHA256:x"}),
    "rollback": lambda api, h: api.post("/migrate/rollback", {"target": h}),
}


def _refusal(call: Call, api: ApiClient, ident: str) -> GovCloudError:
    with pytest.raises(GovCloudError) as info:
        call(api, ident)
    return info.value


def _scoped(plane: Plane) -> list[ApiClient]:
    """A viewer of another department, and an operator of a city gd-tax is not in."""
    return [plane.principal("department-viewer", department="gd-psd")[1],
            plane.principal("city-operator", city="shenzhen")[1]]


@pytest.mark.parametrize("what", sorted(WAVE_CALLS))
def test_another_departments_wave_is_answered_as_absent(plane: Plane, tax_wave: tuple[str, str],
                                                        what: str) -> None:
    _, wave = tax_wave
    absent = wave.replace("gd-tax", "gd-none")
    call = WAVE_CALLS[what]
    for api in _scoped(plane):
        theirs, missing = _refusal(call, api, wave), _refusal(call, api, absent)
        assert isinstance(theirs, NotFound), (what, theirs)
        assert type(theirs) is type(missing)
        assert theirs.message.replace(wave, absent) == missing.message
        assert theirs.hint == missing.hint


@pytest.mark.parametrize("what", sorted(HOST_CALLS))
def test_another_departments_host_is_answered_as_absent(plane: Plane, tax_wave: tuple[str, str],
                                                        what: str) -> None:
    host, _ = tax_wave
    call = HOST_CALLS[what]
    for api in _scoped(plane):
        theirs, missing = _refusal(call, api, host), _refusal(call, api, "tax-legacy-404")
        assert isinstance(theirs, NotFound), (what, theirs)
        assert theirs.message.replace(host, "tax-legacy-404") == missing.message
        assert theirs.hint == missing.hint


@pytest.mark.parametrize(("path", "body"), [
    ("/hosts", None), ("/migrate/waves", None),
    ("/migrate/survey", {}), ("/migrate/plan", {}), ("/migrate/signoff", {}),
])
def test_another_department_by_code_is_answered_as_absent(
        plane: Plane, tax_wave: tuple[str, str], path: str, body: dict[str, Any] | None) -> None:
    for api in _scoped(plane):
        answers = []
        for code in ("gd-tax", "gd-none"):
            with pytest.raises(GovCloudError) as info:
                if body is None:
                    api.get(path, department=code)
                else:
                    api.post(path, {**body, "department": code})
            answers.append(info.value)
        theirs, missing = answers
        assert isinstance(theirs, NotFound), (path, theirs)
        assert theirs.message.replace("gd-tax", "gd-none") == missing.message
        assert theirs.hint == missing.hint


def test_importing_another_departments_hosts_is_answered_as_unknown(plane: Plane) -> None:
    _, city_op = plane.principal("city-operator", city="shenzhen")
    answers = []
    for code in ("gd-tax", "gd-none"):
        text = yaml.safe_dump({"all": {"vars": {"govcloud_department": code}, "hosts": {
            f"{code}-h": {"govcloud_system": "s", "ansible_host": "10.9.9.2"}}}})
        with pytest.raises(InvalidInput) as info:
            city_op.post("/hosts/import", {"text": text, "name": "inv.yaml"})
        answers.append(info.value)
    assert answers[0].message.replace("gd-tax", "gd-none") == answers[1].message
