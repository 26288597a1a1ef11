"""``GET /dr/posture``, ``GET /dr/systems/{department}/{system}`` and ``govcloud dr posture``
through a served control plane (SQLite, and PostgreSQL when GOVCLOUD_TEST_DATABASE_URL is
set): the answer's shape and verdicts, each role's scope, a hidden or unknown department or
city answered as absent (404, CLI exit 4), one system's copy servers, points and drills, the
CLI's table (worst first, hostile names escaped), its totals and ``--json``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from govcloud.api.models import DrPosture, DrSystemDetail
from govcloud.cli import main
from govcloud.client import ApiClient, as_json
from govcloud.domain.recovery import PointStatus
from govcloud.errors import GovCloudError, InvalidInput, NotFound
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from tests.unit.services.dr_seed import NOW, drill, point, protected, request
from tests.waiting import wait_until

from .conftest import Plane
from .metrics_util import Series, parse, promtool_check, scrape, select, value
from .openapi_answers import Answers

HOSTILE = "evil\x1b]0;pwned\x07\x1b[2Jsys"  # a system name stored by someone else's hand
ALL = {("gd-psd", "case"), ("gd-tax", "ledger"), ("guangzhou", "portal"), ("shenzhen", "web"),
       ("gd-data", HOSTILE)}


@pytest.fixture(scope="module")
def seeded(plane: Plane) -> Plane:
    """Five systems: gd-psd/case and shenzhen/web compliant, gd-tax/ledger missing a copy
    (non-compliant), guangzhou/portal's cold copy running (at risk), and a gd-data system of a
    hostile name whose request no longer reads (no plan can be made: non-compliant). The
    server's clock is moved to the seeds' NOW."""
    plane.clock.offset = NOW - utcnow()
    with write_begin(plane.engine) as conn:
        protected(conn, "gd-psd", "case")
        protected(conn, "gd-tax", "ledger", skip=("DR-REMOTE", "ledger-vm-2"))
        protected(conn, "guangzhou", "portal", statuses={"DR-REMOTE": "ACTIVE"})
        protected(conn, "shenzhen", "web")
        request(conn, "gd-data", HOSTILE, servers=1)
    return plane


def systems(answer: DrPosture) -> set[tuple[str, str]]:
    return {(s.department, s.system) for s in answer.systems}


def totals(answer: DrPosture) -> dict[str, tuple[int, int, int]]:
    def three(t: Any) -> tuple[int, int, int]:
        return t.compliant, t.at_risk, t.non_compliant
    return {"province": three(answer.province),
            **{f"city {c}": three(t) for c, t in answer.cities.items()},
            **{d: three(t) for d, t in answer.departments.items()}}


def test_the_bureau_sees_every_system_judged(seeded: Plane) -> None:
    answer = seeded.admin.dr_posture()
    assert systems(answer) == ALL
    by = {(s.department, s.system): s for s in answer.systems}
    case = by[("gd-psd", "case")]
    assert (case.verdict, case.level, case.members) == ("compliant", 5, 2)
    assert case.reasons == ["2 copies within RPO 30m; last drill 2026-10-01 passed"]
    assert (case.target_rpo_s, case.target_rto_s, case.drill_every_months) == (
        1800, 2 * 86400, 6)
    assert [(c.site, c.kind, c.state) for c in case.copies] == [
        ("DR-LOCAL", "hot", "present"), ("DR-REMOTE", "cold", "present")]
    assert all(c.rpo_s is not None and 600 <= c.rpo_s < 900 for c in case.copies)
    assert case.last_drill is not None
    assert (case.last_drill.at[:10], case.last_drill.result, case.last_drill.rto_s) == (
        "2026-10-01", "passed", 3600)
    assert (case.drill.state, case.drill.due_at) == ("ok", "2027-04-01T00:00:00+00:00")
    ledger = by[("gd-tax", "ledger")]
    assert ledger.verdict == "non-compliant"
    assert ledger.reasons[0] == "DR-REMOTE (cold copy): 1 of 2 servers missing (ledger-vm-2)"
    assert [c.state for c in ledger.copies] == ["present", "missing"]
    assert by[("guangzhou", "portal")].verdict == "at risk"
    assert by[("guangzhou", "portal")].copies[1].state == "holds capacity"
    hostile = by[("gd-data", HOSTILE)]
    assert (hostile.verdict, hostile.members) == ("non-compliant", 0)
    assert hostile.reasons == [f"{HOSTILE!r} is not a valid system"]  # no plan can be made
    assert (hostile.target_rpo_s, hostile.copies, hostile.drill.state) == (
        None, [], "not required")
    assert totals(answer) == {"province": (2, 1, 2), "city guangzhou": (0, 1, 0),
                              "city shenzhen": (1, 0, 0), "gd-data": (0, 0, 1),
                              "gd-psd": (1, 0, 0), "gd-tax": (0, 0, 1),
                              "guangzhou": (0, 1, 0), "shenzhen": (1, 0, 0)}
    assert (by[("guangzhou", "portal")].city, by[("gd-tax", "ledger")].city) == (
        "guangzhou", None)  # a vertical branch counts for no city (RBAC's cities)


def test_the_model_keeps_every_key_the_route_returns(seeded: Plane,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A narrowed answer goes through the model as every route's does; the province's is
    encoded through the same model once per held posture: it is the narrowed ones together."""
    answers = Answers()
    answers.watch(monkeypatch)
    whole = seeded.admin.get("/dr/posture")
    assert json.dumps(as_json(DrPosture.model_validate(whole))) == json.dumps(whole)
    parts = [seeded.admin.get("/dr/posture", department=d) for d in sorted(whole["departments"])]
    assert answers.seen == {"GET /api/v1/dr/posture": len(parts)} and not answers.changed
    assert [s for p in parts for s in p["systems"]] == whole["systems"]
    assert {d: t for p in parts for d, t in p["departments"].items()} == whole["departments"]
    assert all(p["at"] == whole["at"] for p in parts)  # one held posture


def test_filters_narrow_the_systems_and_the_totals(seeded: Plane) -> None:
    answer = seeded.admin.dr_posture(department="gd-tax")
    assert systems(answer) == {("gd-tax", "ledger")}
    assert totals(answer) == {"province": (0, 0, 1), "gd-tax": (0, 0, 1)}
    answer = seeded.admin.dr_posture(city="guangzhou")
    assert systems(answer) == {("guangzhou", "portal")}
    assert seeded.admin.dr_posture(department="gd-tax", city="guangzhou").systems == []


ROLES = [("bureau-auditor", {}, ALL), ("operator", {}, ALL), ("ci", {}, ALL),
         ("city-operator", {"city": "guangzhou"}, {("guangzhou", "portal")}),
         ("city-operator", {"city": "shenzhen"}, {("shenzhen", "web")}),
         ("department-viewer", {"department": "gd-tax"}, {("gd-tax", "ledger")})]


@pytest.mark.parametrize(("role", "scope", "expected"), [
    pytest.param(*r, id="@".join([r[0], *r[1].values()])) for r in ROLES])
def test_each_role_sees_its_scope(seeded: Plane, role: str, scope: dict[str, str],
                                  expected: set[tuple[str, str]]) -> None:
    _, api = seeded.principal(role, **scope)
    answer = api.dr_posture()
    assert systems(answer) == expected
    assert set(answer.departments) == {d for d, _ in expected}
    assert answer.province.systems == len(expected)


def _refusal(call: Callable[[], Any]) -> GovCloudError:
    with pytest.raises(GovCloudError) as info:
        call()
    return info.value


def test_a_hidden_department_or_city_is_answered_as_an_unknown_one(seeded: Plane) -> None:
    viewer = seeded.principal("department-viewer", department="gd-tax")[1]
    city_op = seeded.principal("city-operator", city="shenzhen")[1]

    def same(api: ApiClient, hidden: dict[str, str], absent: dict[str, str]) -> None:
        seen, unknown = (_refusal(lambda: api.dr_posture(**hidden)),
                         _refusal(lambda: api.dr_posture(**absent)))
        assert isinstance(seen, NotFound) and isinstance(unknown, NotFound)
        assert seen.hint == unknown.hint and seen.hint
        key = next(iter(hidden))
        assert seen.message == f"no {key} {hidden[key]!r}"
        assert unknown.message == f"no {key} {absent[key]!r}"

    same(viewer, {"department": "gd-psd"}, {"department": "gd-nope"})
    same(viewer, {"city": "guangzhou"}, {"city": "atlantis"})
    same(city_op, {"department": "guangzhou"}, {"department": "gd-nope"})
    same(city_op, {"city": "guangzhou"}, {"city": "atlantis"})
    same(seeded.admin, {"city": "atlantis"}, {"city": "nowhere"})
    assert isinstance(_refusal(lambda: seeded.admin.dr_posture(department="gd-nope")),
                      NotFound)
    assert systems(viewer.dr_posture(department="gd-tax")) == {("gd-tax", "ledger")}


def test_a_filter_given_twice_or_misspelt_is_refused(seeded: Plane) -> None:
    with pytest.raises(InvalidInput, match="given 2 times"):
        seeded.admin.get("/dr/posture", department=["gd-tax", "gd-psd"])
    with pytest.raises(InvalidInput, match="not a parameter"):
        seeded.admin.get("/dr/posture", departmnet="gd-tax")


def test_a_new_drill_shows_once_the_held_posture_is_rebuilt(seeded: Plane) -> None:
    """The server holds the judged posture and rebuilds it when the store changed."""
    seeded.admin.dr_posture()
    with write_begin(seeded.engine) as conn:
        drill(conn, "shenzhen", "web", NOW.replace(hour=1))

    def drilled_today() -> bool:
        (web,) = seeded.admin.dr_posture(department="shenzhen").systems
        return web.last_drill is not None and web.last_drill.at.startswith("2026-12-07T01")

    wait_until(drilled_today, what="the new drill in the posture")


# --- the CLI ------------------------------------------------------------------------------------

def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_cli_prints_worst_first_with_reasons_and_totals(
        seeded: Plane, cli_env: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "dr", "posture")
    assert (code, err) == (0, "")
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b]0;pwned\\x07\\x1b[2Jsys" in out  # escaped, still readable
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["VERDICT", "DEPARTMENT", "SYSTEM"]
    verdicts = [line.split()[0] for line in lines[1:6]]
    assert verdicts == ["NON-COMPLIANT", "NON-COMPLIANT", "AT", "COMPLIANT", "COMPLIANT"]
    assert lines[1].split()[1] == "gd-data" and lines[2].split()[1:3] == ["gd-tax", "ledger"]
    assert lines[3].split()[2:4] == ["guangzhou", "portal"]
    assert "DR-REMOTE (cold copy): 1 of 2 servers missing (ledger-vm-2)" in lines[2]
    assert "DR-REMOTE cold missing, RPO 10m" in lines[2]  # its present server's point
    assert "DR-LOCAL hot present, RPO 10m" in lines[2]
    assert "2026-10-01 passed, RTO 1h" in lines[2]
    assert "30m/2d" in lines[2]
    assert "province: 5 systems — 2 non-compliant, 1 at risk, 2 compliant" in out
    assert "city guangzhou: 1 systems — 0 non-compliant, 1 at risk, 0 compliant" in out
    assert "department gd-tax: 1 systems — 1 non-compliant, 0 at risk, 0 compliant" in out


def test_cli_json_is_the_api_answer(seeded: Plane, cli_env: Plane,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "dr", "posture", "--json", "--city", "guangzhou")
    assert code == 0
    assert "\x1b" not in out
    got = json.loads(out)
    expected = as_json(seeded.admin.dr_posture(city="guangzhou"))
    got.pop("at"), expected.pop("at")  # judged a moment apart
    for s in (*got["systems"], *expected["systems"]):
        for c in s["copies"]:
            c.pop("rpo_s")
    assert got == expected
    code, out, _ = run(capsys, "dr", "posture", "--json", "--department", "gd-data")
    assert [s["system"] for s in json.loads(out)["systems"]] == [HOSTILE]
    code, out, _ = run(capsys, "dr", "posture", "--department", "gd-tax")
    assert "shown: 1 systems" in out and "province:" not in out


def test_cli_errors_say_what_and_exit_with_the_documented_code(
        seeded: Plane, cli_env: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "dr", "posture", "--department", "gd-nope")
    assert (code, out) == (NotFound.exit_code, "")
    assert "error: no department 'gd-nope'" in err and "hint: `govcloud departments list`" in err
    code, _, err = run(capsys, "dr", "posture", "--city", "atlantis\x1b[2J")
    assert code == NotFound.exit_code
    assert "error: no city 'atlantis\\x1b[2J'" in err and "\x1b" not in err
    code, _, err = run(capsys, "dr", "posture", "--department", "x" * 500)
    assert code == InvalidInput.exit_code and "hint:" in err


# --- one system: GET /dr/systems/{department}/{system} -------------------------------------------

def test_a_system_detail_shows_each_copy_server_its_points_and_the_drills(seeded: Plane) -> None:
    detail = seeded.admin.dr_system("gd-tax", "ledger")
    assert (detail.system.department, detail.system.system) == ("gd-tax", "ledger")
    assert detail.system.verdict == "non-compliant"
    by = {(s.site, s.member): s for s in detail.servers}
    assert sorted(by) == [("DR-LOCAL", "ledger-vm-1"), ("DR-LOCAL", "ledger-vm-2"),
                          ("DR-REMOTE", "ledger-vm-1"), ("DR-REMOTE", "ledger-vm-2")]
    missing = by[("DR-REMOTE", "ledger-vm-2")]
    assert (missing.state, missing.server_id, missing.status, missing.points) == (
        "missing", None, None, [])
    here = by[("DR-LOCAL", "ledger-vm-1")]
    assert (here.state, here.status, here.flavor, here.expected_flavor) == (
        "present", "ACTIVE", "gc.c4m8", "gc.c4m8")
    assert here.server_id and [(p.status, p.kind) for p in here.points] == [("ok", "file-sync")]
    assert by[("DR-REMOTE", "ledger-vm-1")].status == "SHELVED_OFFLOADED"
    assert [(d.at[:10], d.result, d.rto_s) for d in detail.drills] == [
        ("2026-10-01", "passed", 3600)]
    raw = seeded.admin.get("/dr/systems/gd-tax/ledger")  # the model keeps every key
    assert json.dumps(as_json(DrSystemDetail.model_validate(raw))) == json.dumps(raw)
    portal = seeded.admin.dr_system("guangzhou", "portal")
    remote = [s for s in portal.servers if s.site == "DR-REMOTE"]
    assert {s.state for s in remote} == {"holds capacity"}
    assert remote[0].detail.endswith("is ACTIVE")


def test_a_failed_cycle_shows_in_the_history_and_leaves_the_latest_point(seeded: Plane) -> None:
    before = seeded.admin.dr_system("shenzhen", "web")
    server = next(s for s in before.servers if s.site == "DR-LOCAL")
    assert server.server_id is not None
    with write_begin(seeded.engine) as conn:
        point(conn, "shenzhen", "web", "DR-LOCAL", server.server_id, timedelta(minutes=1),
              status=PointStatus.FAILED)
    after = seeded.admin.dr_system("shenzhen", "web")
    again = next(s for s in after.servers if (s.site, s.member) == (server.site, server.member))
    assert [p.status for p in again.points] == ["failed", "ok"]
    assert again.points[0].error == "killed mid-transfer"
    assert after.system.verdict == "compliant"


def test_a_system_of_a_hidden_department_is_answered_as_an_unknown_one(seeded: Plane) -> None:
    viewer = seeded.principal("department-viewer", department="gd-tax")[1]
    assert viewer.dr_system("gd-tax", "ledger").system.system == "ledger"
    hidden = _refusal(lambda: viewer.dr_system("gd-psd", "case"))
    unknown = _refusal(lambda: viewer.dr_system("gd-nope", "case"))
    assert isinstance(hidden, NotFound) and isinstance(unknown, NotFound)
    assert (hidden.message, unknown.message) == ("no department 'gd-psd'",
                                                 "no department 'gd-nope'")
    assert hidden.hint == unknown.hint
    nosystem = _refusal(lambda: viewer.dr_system("gd-tax", "nope"))
    assert isinstance(nosystem, NotFound)
    assert nosystem.message == "no DR system 'nope' in department 'gd-tax'"
    assert "govcloud dr posture --department gd-tax" in (nosystem.hint or "")


def test_a_system_path_segment_that_is_no_identifier_is_refused(seeded: Plane) -> None:
    for department, system in (("gd-data", "[bold]x"), ("gd-tax", "a b"), ("x" * 200, "s")):
        refused = _refusal(lambda d=department, s=system: seeded.admin.dr_system(d, s))
        assert isinstance(refused, InvalidInput), (department, system)


# --- /metrics ----------------------------------------------------------------------------------

def test_metrics_export_the_posture(seeded: Plane) -> None:
    """The served /metrics carries the held posture: the worst copy's RPO counted on the
    plane's clock at the scrape, the verdict counts, the missing copy, the targets."""

    def dr_scraped() -> Series:
        series = parse(scrape(seeded.url))
        return series if select(series, "govcloud_dr_systems") else {}

    series: Series = {}

    def ready() -> bool:
        series.update(dr_scraped())
        return bool(series)

    wait_until(ready, what="the DR families in /metrics")
    assert promtool_check(scrape(seeded.url)).returncode == 0
    rpo = value(series, "govcloud_dr_rpo_seconds", department="gd-tax", system="ledger",
                level="5")
    assert 600 <= rpo < 900  # 10 minutes on the plane's clock, and the scrape's seconds
    assert value(series, "govcloud_dr_copies_missing", department="gd-tax",
                 site="DR-REMOTE") == 1
    assert value(series, "govcloud_dr_systems", department="guangzhou", verdict="at risk") == 1
    assert value(series, "govcloud_dr_rpo_target_seconds", level="5") == 1800
    assert value(series, "govcloud_dr_last_drill_timestamp_seconds", department="gd-psd",
                 system="case") == datetime(2026, 10, 1, tzinfo=UTC).timestamp()
    assert not select(series, "govcloud_dr_rpo_seconds", department="gd-data")  # no plan


def test_a_new_drill_reaches_metrics_without_a_posture_read(seeded: Plane) -> None:
    """Scrapes alone: the metrics snapshot's fingerprint checks the held posture, which is
    judged again when the store changed; then the snapshot is rebuilt."""
    parse(scrape(seeded.url))
    with write_begin(seeded.engine) as conn:
        drill(conn, "guangzhou", "portal", NOW.replace(hour=2))  # passed: still at risk
    at = NOW.replace(hour=2).timestamp()

    def drilled() -> bool:
        series = parse(scrape(seeded.url))
        return value(series, "govcloud_dr_last_drill_timestamp_seconds",
                     department="guangzhou", system="portal") == at

    wait_until(drilled, what="the new drill in /metrics")
