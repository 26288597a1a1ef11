"""Scaling a provisioned system end to end over real HTTP (docs/lifecycle.md): the simulator
driven by unmodified openstacksdk, the control plane with its job worker, SQLite and
PostgreSQL. A DR-5 system (gd-data: primary in PROD, standby in DR-LOCAL, cold copy in
DR-REMOTE) is scaled out and in across every site; the bureau approves (four eyes), a
scale-out reserves and never over-commits, and bad input changes nothing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from govcloud.api.models import RequestDetail, Submitted
from govcloud.api.models.lifecycle import SystemDetail
from govcloud.cli import main
from govcloud.client import as_json
from govcloud.errors import GovCloudError
from govcloud.services import provisioning as svc
from govcloud.workers.provision import start_provision_worker

from .conftest import Plane
from .lifecycle_plane import provision, run, servers, submit
from .provisioning_plane import ProvPlane, held, wait_final

DEPARTMENT = "gd-data"  # DR level 5


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    return {"provision_retries": 2, "provision_backoff_s": 0.05, "provision_poll_s": 0.2,
            "provision_active_timeout_s": 20}


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    return start_provision_worker


@pytest.fixture(scope="module")
def prov(plane: Plane) -> ProvPlane:
    token = plane.add_principal("ops-scale", "operator")
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    assert plane.sim.clouds_yaml is not None
    return ProvPlane(plane.url, plane.engine, plane.sim, plane.admin,
                     plane.client(token), plane.sim.clouds_yaml, token)


def _groups(prov: ProvPlane, system: str) -> dict[str, set[str]]:
    """The members of the system's server group in each running site."""
    out = {}
    for region in ("PROD", "DR-LOCAL"):
        conn = prov.cloud(region)
        try:
            found = [g for g in conn.compute.server_groups(all_projects=True)
                     if g.name == f"govcloud-{DEPARTMENT}-{system}"]
            assert len(found) == 1, found
            out[region] = set(found[0].member_ids or ())
        finally:
            conn.close()
    return out


def test_scale_out_then_in_across_every_site_of_a_dr5_system(prov: ProvPlane) -> None:
    provision(prov, "grow", department=DEPARTMENT, count=2)
    asked = submit(prov.operator, DEPARTMENT, "grow", "scale", {"servers": 3})
    assert asked["kind"] == "scale" and asked["state"] == "submitted"
    assert sorted((a["site"], a["name"]) for a in asked["plan"]["adds"]) == [
        ("DR-LOCAL", "grow-app-3"), ("DR-REMOTE", "grow-app-3"), ("PROD", "grow-app-3")]
    with pytest.raises(GovCloudError, match="may not request.approve"):
        prov.operator.post(f"/requests/{asked['id']}/approve")
    approved = prov.admin.post(f"/requests/{asked['id']}/approve")
    assert {s["site"]: s["demand"]["instances"] for s in approved["placement"]["sites"]} == {
        "PROD": 1, "DR-LOCAL": 1, "DR-REMOTE": 1}
    done = wait_final(prov.admin, asked["id"])
    assert done["state"] == "done", done
    found = servers(prov, "grow")
    for region, listed in found.items():
        assert [s.name for s in listed] == ["grow-app-1", "grow-app-2", "grow-app-3"], region
        want = "SHELVED_OFFLOADED" if region == "DR-REMOTE" else "ACTIVE"
        assert {s.status for s in listed} == {want}, region
        added = [s for s in listed if s.name == "grow-app-3"][0]
        assert added.metadata["govcloud_request"] == str(asked["id"])  # its idempotency key
    for region in ("PROD", "DR-LOCAL"):  # anti-affinity kept: three members, three hosts
        assert len({s.compute_host for s in found[region]}) == 3, region
    groups = _groups(prov, "grow")
    for region in groups:
        assert groups[region] == {s.id for s in found[region]}, "the new one joined the group"
    shown = prov.admin.get(f"/systems/{DEPARTMENT}/grow")
    assert len(shown["members"]) == 9 and shown["groups"][0]["count"] == 3
    for model, answer in ((SystemDetail, shown), (Submitted, asked),
                          (RequestDetail, prov.admin.get(f"/requests/{asked['id']}"))):
        assert as_json(model.model_validate(answer)) == answer  # the models keep every key
    assert held(prov.engine, asked["id"]) == 0 and svc.ledger_check(prov.engine)["matches"]

    inward = run(prov, DEPARTMENT, "grow", "scale", {"servers": 1})
    assert inward["state"] == "done", inward
    assert any(e["kind"] == "approved" and "reserved nothing" in e["message"]
               for e in prov.admin.get(f"/requests/{inward['id']}")["events"])
    after = servers(prov, "grow")
    assert {r: [s.name for s in v] for r, v in after.items()} == {
        r: ["grow-app-1"] for r in after}
    shown = prov.admin.get(f"/systems/{DEPARTMENT}/grow")
    assert sorted(m["name"] for m in shown["members"]) == ["grow-app-1"] * 3
    listed = prov.admin.get("/servers", department=DEPARTMENT, limit=1000)["servers"]
    assert not [s for s in listed if s["name"] in ("grow-app-2", "grow-app-3")], \
        "the inventory still lists removed servers"
    audit = prov.admin.get("/audit", action="request.scale")["entries"]
    assert {e["after"]["request"] for e in audit} >= {asked["id"], inward["id"]}
    assert svc.ledger_check(prov.engine)["matches"]


def test_bad_scales_are_refused_and_change_nothing(prov: ProvPlane) -> None:
    provision(prov, "steady", department=DEPARTMENT, count=1)
    before = prov.admin.get("/requests")["count"]
    for body, status, text in (
            ({"servers": 0}, 422, "greater than or equal to 1"),
            ({"servers": 10_000}, 422, "less than or equal to 500"),
            ({"servers": 2, "group": "nope"}, 422, "has no server group 'nope'"),
            ({"servers": 2, "sites": ["MARS"]}, 422, "is not in MARS"),
            ({"servers": 2, "sites": ["PROD"]}, 422, "same shape in every site"),
            ({"servers": 1}, 422, "nothing to change"),
            ({"servers": 2, "bogus": 1}, 422, "bogus"),
            ({"servers": 2, "change": "bad id\u0007"}, 422, "control")):
        with pytest.raises(GovCloudError, match=text) as err:
            submit(prov.operator, DEPARTMENT, "steady", "scale", body)
        assert err.value.http_status == status, body
    with pytest.raises(GovCloudError, match="no system 'ghost'") as err:
        submit(prov.operator, DEPARTMENT, "ghost", "scale", {"servers": 2})
    assert err.value.http_status == 404
    assert prov.admin.get("/requests")["count"] == before
    first = submit(prov.operator, DEPARTMENT, "steady", "scale", {"servers": 2})
    again = prov.operator.post(f"/systems/{DEPARTMENT}/steady/scale", {"servers": 2})
    assert again["id"] == first["id"] and again["unchanged"] is True
    with pytest.raises(GovCloudError, match="one lifecycle request at a time") as err:
        submit(prov.operator, DEPARTMENT, "steady", "retire", {"grace_days": 0})
    assert err.value.http_status == 409
    prov.operator.post(f"/requests/{first['id']}/cancel", {"reason": "test"})


def test_a_scale_out_that_does_not_fit_is_refused_at_approval(prov: ProvPlane) -> None:
    """DR-LOCAL has three schedulable hosts: a fourth member cannot go on a host of its own
    (anti-affinity), so approval refuses with 409 and reserves nothing."""
    provision(prov, "wide", department=DEPARTMENT, count=1)
    asked = submit(prov.operator, DEPARTMENT, "wide", "scale", {"servers": 4})
    ledger = svc.ledger_check(prov.engine)["ledger"]
    with pytest.raises(GovCloudError, match="DR-LOCAL.*anti-affinity") as err:
        prov.admin.post(f"/requests/{asked['id']}/approve")
    assert err.value.http_status == 409 and err.value.exit_code == 6
    assert prov.admin.get(f"/requests/{asked['id']}")["state"] == "submitted"
    assert svc.ledger_check(prov.engine)["ledger"] == ledger
    assert held(prov.engine, asked["id"]) == 0
    prov.operator.post(f"/requests/{asked['id']}/cancel", {"reason": "does not fit"})


def test_the_cli_submits_shows_and_follows(prov: ProvPlane, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    provision(prov, "viacli", department=DEPARTMENT, count=1)
    monkeypatch.setenv("GOVCLOUD_SERVER", prov.url)
    monkeypatch.setenv("GOVCLOUD_TOKEN", prov.operator_token)
    # a change the request runs under (emergency: it may run before it is approved)
    now = dt.datetime.now(dt.UTC)
    change = prov.operator.post("/changes", {
        "kind": "lifecycle", "type": "emergency", "title": "grow viacli",
        "departments": [DEPARTMENT], "start": now.isoformat(),
        "end": (now + dt.timedelta(hours=2)).isoformat(), "rollback_plan": "scale in"})
    tenancy = prov.operator.post("/changes", {
        "kind": "tenancy-apply", "type": "emergency", "title": "not for this",
        "departments": [DEPARTMENT], "start": now.isoformat(),
        "end": (now + dt.timedelta(hours=2)).isoformat(), "rollback_plan": "none"})
    before = prov.admin.get("/requests", department=DEPARTMENT)["count"]
    for bad, why in ((tenancy["id"], "is for tenancy-apply, not lifecycle"),
                     (99999, "no change 99999"), ("CHG-7", "change ids are numbers")):
        assert main(["system", "scale", DEPARTMENT, "viacli", "--servers", "2", "--change",
                     str(bad)]) != 0
        assert why in capsys.readouterr().err
    assert prov.admin.get("/requests", department=DEPARTMENT)["count"] == before  # none stored
    cid = str(change["id"])
    assert main(["system", "scale", DEPARTMENT, "viacli", "--servers", "2", "--change",
                 cid, "--json"]) == 0
    asked = json.loads(capsys.readouterr().out)
    assert (asked["kind"], asked["change"], asked["state"]) == ("scale", cid, "submitted")
    assert main(["system", "scale", DEPARTMENT, "viacli", "--servers", "2",
                 "--change", cid]) == 0
    assert "no change" in capsys.readouterr().out
    prov.admin.post(f"/requests/{asked['id']}/approve")
    assert main(["request", "show", str(asked["id"]), "--follow", "--timeout", "60"]) == 0
    assert "done" in capsys.readouterr().out
    assert main(["system", "show", DEPARTMENT, "viacli"]) == 0
    out = capsys.readouterr().out
    assert out.count("viacli-app-2") == 3 and "group app: 2 servers" in out
    assert main(["system", "scale", DEPARTMENT, "viacli", "--servers", "0"]) == 2
    assert "greater than or equal to 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["system", "scale", DEPARTMENT, "../x", "--servers", "2"])
    assert usage.value.code == 2
