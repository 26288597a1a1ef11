"""Role scoping of every migration and inventory endpoint (issue 25, "Scoped migration and
inventory endpoints"): each read and write under ``/hosts``, ``/inventory`` and ``/migrate`` as
each role of docs/security.md's permission table, with the expectations of the server and
request endpoints.

* A list (``/hosts``, ``/inventory``, ``/migrate/waves``) shows exactly the departments the
  caller may view — not more, not fewer; a list narrowed to a department the caller may not
  view is 404 (as a department that does not exist).
* A wave or host of another department is 404; one of a department the caller may view but
  not act on is 403 with the reason; either way nothing changes: the hosts, the waves and the
  audit log are as they were.
* What a role may do passes the RBAC check (its answer is neither 403 nor 404).

The one-principal-per-role "answered as absent" comparisons (same message and hint as an
absent object) are tests/integration/control/test_scoped_not_found.py's; this module is the
full role × endpoint × department matrix. Four departments have legacy hosts and a plan: a
provincial one (gd-tax, which belongs to no city) and three cities' own tenants.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from .conftest import Plane

pytestmark = pytest.mark.slow

DEPARTMENTS = ("gd-tax", "guangzhou", "shenzhen", "shantou")
EVERY = frozenset(DEPARTMENTS)
FAR = "2099-01-03T01:00:00+00:00"  # every wave's window: a permitted run never starts


@dataclass(frozen=True)
class Who:
    role: str
    scope: dict[str, str]
    views: frozenset[str]  # department.view
    runs: frozenset[str]  # migration.run (survey, plan, import, key, trust, run, cancel, ...)
    overrides: frozenset[str]  # a readiness-gate override (bureau-admin only)


# docs/security.md's table: the three whole-cloud operators, the two whole-cloud readers, a
# city-operator of a city with a provincial department in it (guangzhou: gd-tax is not its
# own) and of another city, and a department-viewer of a provincial and of a city department.
WHO: dict[str, Who] = {
    "bureau-admin": Who("bureau-admin", {}, EVERY, EVERY, EVERY),
    "operator": Who("operator", {}, EVERY, EVERY, frozenset()),
    "bureau-auditor": Who("bureau-auditor", {}, EVERY, frozenset(), frozenset()),
    "ci": Who("ci", {}, EVERY, frozenset(), frozenset()),
    "city-operator@guangzhou": Who("city-operator", {"city": "guangzhou"},
                                   frozenset({"guangzhou"}), frozenset({"guangzhou"}),
                                   frozenset()),
    "city-operator@shenzhen": Who("city-operator", {"city": "shenzhen"},
                                  frozenset({"shenzhen"}), frozenset({"shenzhen"}),
                                  frozenset()),
    "department-viewer@gd-tax": Who("department-viewer", {"department": "gd-tax"},
                                    frozenset({"gd-tax"}), frozenset(), frozenset()),
    "department-viewer@shenzhen": Who("department-viewer", {"department": "shenzhen"},
                                      frozenset({"shenzhen"}), frozenset(), frozenset()),
}


_ADDRESSES = itertools.count(1)


def _inventory(department: str, *names: str) -> str:
    """An inventory of ``department``'s legacy hosts, each at its own loopback address on
    port 1, which refuses at once: a key scan or a survey that passes the RBAC check fails
    fast."""
    return yaml.safe_dump({"all": {"vars": {"govcloud_department": department}, "hosts": {
        name: {"govcloud_system": "ledger", "ansible_port": 1,
               "ansible_host": f"127.0.{n // 250}.{n % 250 + 1}"}
        for name, n in zip(names, _ADDRESSES, strict=False)}}})


@dataclass
class World:
    plane: Plane
    tokens: dict[str, str]

    def call(self, who: str, method: str, path: str, body: Any = None,
             **params: Any) -> httpx.Response:
        token = self.plane.admin_token if who == "admin" else self.tokens[who]
        return httpx.request(method, f"{self.plane.url}/api/v1{path}", params=params,
                             json=body, timeout=60,
                             headers={"Authorization": f"Bearer {token}"})

    def ok(self, who: str, path: str, **params: Any) -> Any:
        response = self.call(who, "GET", path, **params)
        assert response.status_code == 200, (who, path, response.text[:300])
        return response.json()

    def wave(self, department: str) -> str:
        """The department's first wave (re-read: a plan made by a test replaces the waves)."""
        waves = self.ok("admin", "/migrate/waves", department=department)["waves"]
        return str(min(waves, key=lambda w: w["number"])["wave"])

    def host(self, department: str) -> str:
        return f"{department}-legacy-1"

    def state(self) -> tuple[Any, Any, Any]:
        """What a refused write must leave as it was: every legacy host (with its survey and
        wave), every wave (status, window, override) and the newest audit entry."""
        newest = self.ok("admin", "/audit", newest_first="true", limit=1)["entries"]
        return (self.ok("admin", "/hosts"), self.ok("admin", "/migrate/waves"), newest)


@pytest.fixture(scope="module")
def world(plane: Plane) -> World:
    for department in DEPARTMENTS:
        plane.admin.post("/hosts/import", {
            "text": _inventory(department, f"{department}-legacy-1", f"{department}-legacy-2"),
            "name": f"{department}.yaml"})
        assert plane.admin.post("/migrate/plan", {"department": department,
                                                  "first_window": FAR})["waves"]
    tokens = {label: plane.add_principal(f"scoped-{label.replace('@', '-')}", w.role, **w.scope)
              for label, w in WHO.items()}
    return World(plane, tokens)


# --- lists ---------------------------------------------------------------------------------------

def _hosts(answer: Any) -> set[str]:
    return {h["department"] for h in answer["hosts"]}


def _waves(answer: Any) -> set[str]:
    return {w["department"] for w in answer["waves"]}


def _inventory_departments(answer: Any) -> set[str]:
    """The departments an Ansible inventory names: its hosts' and its ``dept_*`` groups."""
    hosts = {v["govcloud_department"] for v in answer["_meta"]["hostvars"].values()}
    groups = {g.removeprefix("dept_").replace("_", "-") for g in answer
              if g.startswith("dept_")}
    assert groups == hosts
    return hosts


LISTS: dict[str, tuple[str, Callable[[Any], set[str]]]] = {
    "hosts": ("/hosts", _hosts),
    "inventory": ("/inventory", _inventory_departments),
    "waves": ("/migrate/waves", _waves),
}


@pytest.mark.parametrize("who", sorted(WHO))
@pytest.mark.parametrize("what", sorted(LISTS))
def test_a_list_shows_exactly_the_departments_the_caller_may_view(world: World, what: str,
                                                                  who: str) -> None:
    path, departments = LISTS[what]
    assert departments(world.ok(who, path)) == WHO[who].views, (what, who)


@pytest.mark.parametrize("who", sorted(WHO))
@pytest.mark.parametrize("what", ["hosts", "waves"])
def test_a_list_of_one_department_is_that_department_or_404(world: World, what: str,
                                                            who: str) -> None:
    path, departments = LISTS[what]
    for department in DEPARTMENTS:
        response = world.call(who, "GET", path, department=department)
        if department in WHO[who].views:
            assert response.status_code == 200, (who, department, response.text[:300])
            assert departments(response.json()) == {department}
        else:
            assert response.status_code == 404, (who, department, response.text[:300])
            assert response.json()["error"]["type"] == "NotFound"


# --- one wave, one host: reads -----------------------------------------------------------------

WAVE_READS: dict[str, Callable[[str], str]] = {
    "show": lambda w: f"/migrate/waves/{w}",
    "events": lambda w: f"/migrate/waves/{w}/events",
}


@pytest.mark.parametrize("who", sorted(WHO))
@pytest.mark.parametrize("what", sorted(WAVE_READS))
def test_a_wave_is_read_in_the_callers_departments_only(world: World, what: str,
                                                         who: str) -> None:
    for department in DEPARTMENTS:
        wave = world.wave(department)
        response = world.call(who, "GET", WAVE_READS[what](wave))
        if department in WHO[who].views:
            assert response.status_code == 200, (who, wave, response.text[:300])
            assert response.json()["wave"] == wave
        else:
            assert response.status_code == 404, (who, wave, response.text[:300])
            assert response.json()["error"]["type"] == "NotFound"


# --- writes ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Write:
    """A write of a department's object: how to send it, what the caller needs, what a
    refusal of a department it may not view is (404, or 422 for an inventory naming one), and
    what the permitted call answers (None: the call is not made when permitted — it starts
    background work or an SSH session another module tests)."""

    send: Callable[[World, str, str], httpx.Response]
    needs: Callable[[Who], frozenset[str]]
    unseen: int = 404
    permitted: Callable[[httpx.Response], bool] | None = None


def _runs(w: Who) -> frozenset[str]:
    return w.runs


def _passed_rbac(response: httpx.Response) -> bool:
    return response.status_code not in (401, 403, 404)


def _import(world: World, who: str, department: str) -> httpx.Response:
    name = f"{department}-extra-{who.replace('@', '-')}"
    return world.call(who, "POST", "/hosts/import",
                      {"text": _inventory(department, name), "name": "extra.yaml"})


WRITES: dict[str, Write] = {
    "import": Write(_import, _runs, unseen=422, permitted=lambda r: r.status_code == 200),
    "survey": Write(lambda w, who, d: w.call(who, "POST", "/migrate/survey", {
        "department": d, "hosts": [w.host(d)]}), _runs, permitted=_passed_rbac),
    "plan": Write(lambda w, who, d: w.call(who, "POST", "/migrate/plan", {
        "department": d, "first_window": FAR}), _runs, permitted=lambda r: r.status_code == 200),
    "signoff": Write(lambda w, who, d: w.call(who, "POST", "/migrate/signoff", {
        "department": d, "note": "scoped"}), _runs, permitted=lambda r: r.status_code == 200),
    "host-key": Write(lambda w, who, d: w.call(who, "GET", f"/hosts/{w.host(d)}/key"),
                      _runs, permitted=_passed_rbac),
    "host-trust": Write(lambda w, who, d: w.call(who, "POST", f"/hosts/{w.host(d)}/trust", {
        "fingerprint": "SHA256:" + "A" * 43}), _runs, permitted=_passed_rbac),
    "run": Write(lambda w, who, d: w.call(who, "POST", f"/migrate/waves/{w.wave(d)}/run", {}),
                 _runs, permitted=lambda r: r.status_code == 409),  # the entry gate: no survey
    "cancel": Write(lambda w, who, d: w.call(who, "POST", f"/migrate/waves/{w.wave(d)}/cancel"),
                    _runs, permitted=lambda r: r.status_code == 200
                    and r.json()["cancelled"] is False),
    "override": Write(lambda w, who, d: w.call(
        who, "POST", f"/migrate/waves/{w.wave(d)}/override", {"reason": "scoped test"}),
        lambda w: w.overrides, permitted=lambda r: r.status_code == 200),
    "rollback-wave": Write(lambda w, who, d: w.call(who, "POST", "/migrate/rollback", {
        "target": w.wave(d)}), _runs),
    "rollback-host": Write(lambda w, who, d: w.call(who, "POST", "/migrate/rollback", {
        "target": w.host(d)}), _runs),
}


@pytest.mark.parametrize("who", sorted(WHO))
@pytest.mark.parametrize("what", sorted(WRITES))
def test_a_write_is_refused_outside_the_callers_scope_and_changes_nothing(
        world: World, what: str, who: str) -> None:
    write, me = WRITES[what], WHO[who]
    for department in DEPARTMENTS:
        if department in write.needs(me):
            if write.permitted is None:
                continue
            response = write.send(world, who, department)
            assert write.permitted(response), (what, who, department, response.status_code,
                                               response.text[:300])
            continue
        before = world.state()
        response = write.send(world, who, department)
        expected = 403 if department in me.views else write.unseen
        assert response.status_code == expected, (what, who, department, response.text[:300])
        assert response.json()["error"]["type"] == {
            403: "Forbidden", 404: "NotFound", 422: "InvalidInput"}[expected]
        assert world.state() == before, (what, who, department)
