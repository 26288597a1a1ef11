"""Price sheets over HTTP (issue 20): proposed by the operator or the bureau, approved by a
bureau-admin who is another person than the proposer, never changed once approved; a sheet
with a mistake or overlapping an approved one is refused naming the line, and nothing is
stored; every change is audited. The CLI ``report prices`` does the same through the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from govcloud.cli import main
from govcloud.errors import ConflictError, Forbidden, InvalidInput

from .conftest import Plane

EXAMPLE = (Path(__file__).resolve().parents[3] / "tenants" / "prices" / "2026.yaml").read_text(
    encoding="utf-8")


def sheet(year: int, version: str | None = None) -> str:
    return (EXAMPLE.replace('"2026.1"', f'"{version or f"{year}.1"}"')
            .replace("2026-01-01", f"{year}-01-01").replace("2026-12-31", f"{year}-12-31"))


def versions(plane: Plane) -> dict[str, str]:
    return {s.version: s.state for s in plane.admin.list_price_sheets().sheets}


def test_the_operator_proposes_and_another_person_of_the_bureau_approves(plane: Plane) -> None:
    _, operator = plane.principal("operator")
    proposed = operator.propose_price_sheet(sheet(2031)).sheet
    assert (proposed.version, proposed.state, proposed.effective_from) == (
        "2031.1", "proposed", "2031-01-01")
    assert proposed.digest.startswith("sha256:") and proposed.approved_by is None
    with pytest.raises(Forbidden, match="may not prices.approve"):
        operator.approve_price_sheet("2031.1")
    approved = plane.admin.approve_price_sheet("2031.1").sheet
    assert (approved.state, approved.approved_by) == ("approved", "admin")  # from 2031 on
    assert approved.digest == proposed.digest
    with pytest.raises(ConflictError, match="already approved"):
        plane.approver.approve_price_sheet("2031.1")
    with pytest.raises(ConflictError, match="already exists"):  # a correction: a new version
        operator.propose_price_sheet(sheet(2031).replace("0.0800", "0.0900"))
    entries = plane.admin.get("/audit", target="price-sheet:2031.1")["entries"]
    assert [e["action"] for e in entries] == ["prices.propose", "prices.approve"]
    assert entries[1]["after"]["approved_by_person"] == "admin"


def test_the_proposer_may_not_approve_with_any_of_their_principals(plane: Plane) -> None:
    plane.admin.propose_price_sheet(sheet(2026))
    with pytest.raises(Forbidden, match="proposer and approver must differ"):
        plane.admin.approve_price_sheet("2026.1")
    assert versions(plane)["2026.1"] == "proposed"
    assert plane.approver.approve_price_sheet("2026.1").sheet.state == "effective"


def test_a_mistake_or_an_overlap_is_refused_naming_the_line_and_nothing_changes(
        plane: Plane) -> None:
    assert plane.admin.post("/sync", {"full": True})["ok"]  # the flavors the sites offer
    before = versions(plane)
    with pytest.raises(InvalidInput, match=r"the price sheet:11: units.vcpu_hour: price "
                                           r"-0.0800 is negative"):
        plane.admin.propose_price_sheet(sheet(2032).replace('"0.0800"', '"-0.0800"'))
    with pytest.raises(InvalidInput, match="flavors.m1.huge: unknown flavor"):
        plane.admin.propose_price_sheet(sheet(2032).replace("m1.xlarge", "m1.huge"))
    with pytest.raises(InvalidInput, match="sites.XX: unknown site"):
        plane.admin.propose_price_sheet(sheet(2032).replace("DR-REMOTE:", "XX:"))
    plane.admin.propose_price_sheet(sheet(2033))
    plane.approver.approve_price_sheet("2033.1")
    with pytest.raises(InvalidInput, match="overlaps 2033.1"):
        plane.admin.propose_price_sheet(sheet(2033, "2033.2"))
    assert versions(plane) == {**before, "2033.1": "approved"}


def test_who_may_see_and_propose_sheets(plane: Plane) -> None:
    _, viewer = plane.principal("department-viewer", department="gd-psd")
    _, auditor = plane.principal("bureau-auditor")
    with pytest.raises(Forbidden):
        viewer.list_price_sheets()
    assert auditor.list_price_sheets().sheets is not None
    with pytest.raises(Forbidden, match="may not prices.propose"):
        auditor.propose_price_sheet(sheet(2040))


def test_the_cli_proposes_lists_and_approves(cli_env: Plane, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "2035.yaml"
    path.write_text(sheet(2035), encoding="utf-8")
    assert main(["report", "prices", "propose", str(path)]) == 0
    out = capsys.readouterr().out
    assert "price sheet 2035.1 proposed: proposed, from 2035-01-01 until 2035-12-31" in out
    assert main(["report", "prices", "approve", "2035.1"]) == 5  # the same person: refused
    assert "proposer and approver must differ" in capsys.readouterr().err
    cli_env.approver.approve_price_sheet("2035.1")
    assert main(["report", "prices", "list", "--json"]) == 0
    listed = {s["version"]: s for s in json.loads(capsys.readouterr().out)["sheets"]}
    assert listed["2035.1"]["state"] == "approved"
    assert listed["2035.1"]["approved_by_person"] == "Second Admin"
    assert main(["report", "prices", "list"]) == 0
    assert "2035.1" in capsys.readouterr().out
