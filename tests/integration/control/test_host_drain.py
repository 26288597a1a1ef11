"""Host maintenance against the simulator over HTTP, with the real openstacksdk on both sides:
a drain disables the host, moves every server (live, or cold and confirmed when shut off) to
hosts that fit, keeps anti-affinity, reports and leaves what cannot move, and marks the host
in maintenance — which takes it out of every capacity figure — and a restore brings it back.
Bad input is a clear error that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcloud.cli import main
from tests.waiting import wait_until

from .conftest import Plane
from .host_helpers import anti_affinity_group, placement_of, schedulable, sim_conn, wait_status

SITE = "PROD"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _as(plane: Plane, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("GOVCLOUD_SERVER", plane.url)
    monkeypatch.setenv("GOVCLOUD_TOKEN", token)


def _region(plane: Plane) -> Any:
    return plane.sim.sim.cloud.regions[SITE]


def _clouds(plane: Plane) -> Path:
    assert plane.sim.clouds_yaml is not None
    return Path(plane.sim.clouds_yaml)


def _ended(plane: Plane, drain_id: int) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        d: dict[str, Any] = plane.admin.get(f"/hosts/drains/{drain_id}")
        return d if not d["running"] and d["state"] != "running" else None
    return wait_until(ended, timeout=120, what=f"drain {drain_id} to end", interval=0.2)


def _capacity(plane: Plane) -> dict[str, Any]:
    site: dict[str, Any] = plane.admin.get("/capacity", site=SITE)["sites"][0]
    return site


def _host_actions(plane: Plane, host: str) -> list[str]:
    entries = plane.admin.get("/audit", target=f"host:{SITE}/{host}")["entries"]
    return [e["action"] for e in entries]


def test_drain_moves_every_server_keeps_anti_affinity_and_restore_brings_it_back(
        fresh_plane: Plane, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plane, region = fresh_plane, _region(fresh_plane)
    assert plane.admin.post("/sync", {"full": True})["ok"]
    admin = sim_conn(_clouds(plane))
    _, members = anti_affinity_group(_clouds(plane), region, "db", 3)
    host = region.servers[members[0]].host
    # one server on the host is shut off: it moves cold, and is confirmed
    stopped = next(s for s in region.servers.values()
                   if s.host == host and s.status == "ACTIVE" and s.id not in members)
    admin.compute.stop_server(stopped.id)
    wait_status(admin, stopped.id, "SHUTOFF")
    on_host = {sid: region.servers[sid].status for sid in region.hv_by_host[host].servers}
    every = set(region.servers)
    assert plane.admin.post("/sync", {"full": True})["ok"]
    before = _capacity(plane)
    host_cap = region.hv_by_host[host].provider.inventories["VCPU"].capacity()

    _as(plane, monkeypatch, tmp_path, plane.admin_token)
    code, out, err = _cli(capsys, "host", "drain", SITE, host, "--json")
    assert code == 0, out + err
    drain = json.loads(out)
    # change control is off in this plane: no change (test_changes_hosts.py runs it on)
    assert drain["state"] == "done" and drain["change"] is None
    assert drain["counts"]["moved"] == len(on_host) == drain["counts"]["total"]
    assert "gd-psd" in drain["departments"]
    assert {s["id"] for s in drain["servers"]} == set(on_host)
    assert next(s for s in drain["servers"] if s["id"] == stopped.id)["kind"] == "cold"
    # in Nova: the host disabled for this drain, empty; every server where it was, moved
    svc = region.hv_by_host[host].service
    assert (svc.status, svc.disabled_reason) == ("disabled", f"govcloud drain {drain['id']}")
    assert not region.hv_by_host[host].servers
    assert set(region.servers) == every  # none lost, none made
    for sid, status in on_host.items():
        moved = region.servers[sid]
        assert moved.host != host and moved.status == status and moved.task_state is None
        assert list(placement_of(region, sid)) == [region.hv_by_host[moved.host].provider.uuid]
    assert region.hv_by_host[host].provider.used.get("VCPU", 0) == 0
    assert not [m for m in region.migrations.values() if m.uuid in region.consumers]
    assert len({region.servers[m].host for m in members}) == 3  # anti-affinity kept
    # in govcloud: out of every capacity figure while in maintenance
    during = _capacity(plane)
    assert during["hypervisors"] == before["hypervisors"] - 1
    assert during["vcpus"]["capacity"] == before["vcpus"]["capacity"] - host_cap
    listed = {h["hostname"]: h for h in plane.admin.get("/hypervisors",
                                                        site=SITE)["hypervisors"]}
    assert listed[host]["maintenance"] and not any(
        h["maintenance"] for name, h in listed.items() if name != host)
    status = next(s for s in plane.admin.get("/status")["sites"] if s["site"] == SITE)
    assert status["hypervisors"]["total"] == before["hypervisors"] - 1
    hosts = {h["host"]: h for h in plane.admin.get("/hosts/compute", site=SITE)["hosts"]}
    assert hosts[host]["maintenance"] and hosts[host]["last_drain"] == drain["id"]
    code, out, err = _cli(capsys, "host", "list", SITE)
    assert code == 0 and host in out and f"{drain['id']} (done)" in out

    code, out, err = _cli(capsys, "host", "restore", SITE, host, "--json")
    assert code == 0, out + err
    assert json.loads(out) == {"site": SITE, "host": host, "enabled": True,
                               "was_in_maintenance": True, "drain": drain["id"],
                               "change": None}
    assert (svc.status, svc.disabled_reason) == ("enabled", None)
    after = _capacity(plane)
    assert after["hypervisors"] == before["hypervisors"]
    assert after["vcpus"]["capacity"] == before["vcpus"]["capacity"]
    assert _host_actions(plane, host) == ["host.drain", "host.drain.end", "host.restore"]


def test_a_server_that_cannot_move_is_reported_and_left_in_place(
        fresh_plane: Plane, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plane, region = fresh_plane, _region(fresh_plane)
    assert plane.admin.post("/sync", {"full": True})["ok"]
    admin = sim_conn(_clouds(plane))
    # a member on every host that can take servers: the drained host's member has nowhere
    _, members = anti_affinity_group(_clouds(plane), region, "wide", len(schedulable(region)))
    host = region.servers[members[0]].host
    suspended = next(s for s in region.servers.values()
                     if s.host == host and s.status == "ACTIVE" and s.id not in members)
    admin.compute.suspend_server(suspended.id)
    wait_status(admin, suspended.id, "SUSPENDED")
    on_host = set(region.hv_by_host[host].servers)
    started = plane.admin.post(f"/hosts/{SITE}/{host}/drain")
    # while it runs: the same host, or another of the site, is refused
    other = next(h for h in schedulable(region) if h != host)
    for target in (host, other):
        busy = _raw(plane, plane.admin_token, "POST", f"/hosts/{SITE}/{target}/drain")
        assert busy.status_code == 409, busy.text
        assert f"drain {started['drain']} of {host}" in busy.json()["error"]["message"]
    assert region.hv_by_host[other].service.status == "enabled"
    drain = _ended(plane, started["drain"])
    assert drain["state"] == "partial"
    why = {s["id"]: s for s in drain["servers"]}
    assert why[members[0]]["status"] == "left"
    assert "anti-affinity group wide" in why[members[0]]["reason"]
    assert "leaves no host" in why[members[0]]["reason"]
    assert why[suspended.id]["status"] == "left"
    assert why[suspended.id]["reason"] == (
        f"Nova refused the live migration: Cannot 'os-migrateLive' instance {suspended.id} "
        "while it is in vm_state suspended")
    assert {sid for sid, s in why.items() if s["status"] == "moved"} == \
        on_host - {members[0], suspended.id}
    # left in place, the rest gone; the host disabled and in maintenance all the same
    assert set(region.hv_by_host[host].servers) == {members[0], suspended.id}
    assert region.servers[suspended.id].status == "SUSPENDED"
    assert region.hv_by_host[host].service.status == "disabled"
    hosts = {h["host"]: h for h in plane.admin.get("/hosts/compute", site=SITE)["hosts"]}
    assert hosts[host]["maintenance"] and hosts[host]["last_drain_state"] == "partial"
    kinds = [e["kind"] for e in drain["events"]]
    assert kinds[:4] == ["start", "disabled", "servers", "plan"] and kinds[-1] == "partial"
    assert kinds.count("left") == 2
    _as(plane, monkeypatch, tmp_path, plane.admin_token)
    code, out, _ = _cli(capsys, "host", "show", str(drain["id"]), "--follow")
    assert code == 20  # partial
    assert "vm_state suspended" in out and "leaves no host" in out


def _services(plane: Plane) -> dict[str, tuple[str, str | None]]:
    return {f"{name}/{hv.hostname}": (hv.service.status, hv.service.disabled_reason)
            for name, r in plane.sim.sim.cloud.regions.items() for hv in r.hypervisors.values()}


def _raw(plane: Plane, token: str, method: str, path: str, body: Any = None
         ) -> httpx.Response:
    return httpx.request(method, f"{plane.url}/api/v1{path}", json=body, timeout=30,
                         headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(("path", "body", "status", "kind"), [
    ("/hosts/NOWHERE/prod-cmp-0001/drain", None, 404, "NotFound"),
    ("/hosts/PROD/no-such-host/drain", None, 404, "NotFound"),
    ("/hosts/PROD/no-such-host/restore", None, 404, "NotFound"),
    ("/hosts/PROD/%2E%2E/drain", None, 422, None),
    ("/hosts/PROD/a%1B%5B31m/drain", None, 422, None),
    ("/hosts/PROD/" + "h" * 200 + "/drain", None, 422, None),
    ("/hosts/PROD/prod-cmp-0001%3Fx/drain", None, 422, None),
    ("/hosts/PROD/prod-cmp-0001/drain", {"change": "chg\x1b[2J"}, 422, "InvalidInput"),
    ("/hosts/PROD/prod-cmp-0001/drain", {"change": "c" * 65}, 422, "InvalidInput"),
    ("/hosts/PROD/prod-cmp-0001/drain", {"change": "../x"}, 422, "InvalidInput"),
    ("/hosts/PROD/prod-cmp-0001/drain", {"other": 1}, 422, "InvalidInput"),
    ("/hosts/PROD/prod-cmp-0001/restore", {"change": ""}, 422, "InvalidInput"),
    ("/hosts/PROD/prod-cmp-0001/restore", {"change": 0}, 422, "InvalidInput"),
    ("/hosts/PROD/prod-cmp-0001/drain", {"change": 2**31}, 422, "InvalidInput"),
])
def test_bad_input_is_a_clear_error_that_changes_nothing(
        plane: Plane, path: str, body: Any, status: int, kind: str | None) -> None:
    services, audit = _services(plane), plane.admin.get("/audit")["entries"]
    answer = _raw(plane, plane.admin_token, "POST", path, body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["message"] and (kind is None or error["type"] == kind)
    if status == 404:
        assert "govcloud host list" in error["hint"] or "configured sites" in error["hint"]
    assert _services(plane) == services
    assert _raw(plane, plane.admin_token, "GET", "/hosts/drains/1").status_code == 404
    assert not [e for e in plane.admin.get("/audit")["entries"][len(audit):]
                if e["action"].startswith("host.")]


def test_only_operators_and_the_bureau_drain_and_restore(plane: Plane) -> None:
    services = _services(plane)
    for role, city in (("city-operator", "guangzhou"), ("bureau-auditor", None),
                       ("ci", None)):
        token = plane.add_principal(f"hosts-{role}", role, city=city)
        for verb in ("drain", "restore"):
            answer = _raw(plane, token, "POST", f"/hosts/PROD/prod-cmp-0002/{verb}")
            assert answer.status_code == 403, (role, answer.text)
            assert "host.maintain" in answer.json()["error"]["message"]
    viewer = plane.add_principal("hosts-viewer", "department-viewer", department="gd-psd")
    assert _raw(plane, viewer, "GET", "/hosts/compute").status_code == 403
    assert _raw(plane, viewer, "GET", "/hosts/drains/1").status_code == 403
    assert _services(plane) == services


def test_a_host_disabled_outside_govcloud_is_not_restored(plane: Plane) -> None:
    region = plane.sim.sim.cloud.regions["DR-LOCAL"]
    hv = next(h for h in region.hypervisors.values() if h.service.status == "disabled")
    answer = _raw(plane, plane.admin_token, "POST", f"/hosts/DR-LOCAL/{hv.hostname}/restore")
    assert answer.status_code == 409
    assert "disabled outside govcloud" in answer.json()["error"]["message"]
    assert hv.service.status == "disabled"


def test_the_cli_refuses_hostile_names_before_calling(
        cli_env: Plane, capsys: pytest.CaptureFixture[str]) -> None:
    services = _services(cli_env)
    for argv in (("host", "drain", "PROD", "../x"), ("host", "restore", "PROD", "a\x1b[2J"),
                 ("host", "drain", "PROD", "prod-cmp-0001", "--change", "x/y"),
                 ("host", "restore", "PROD", "prod-cmp-0001", "--change", "chg-7"),
                 ("host", "list", "PR OD")):
        with pytest.raises(SystemExit) as exited:
            main(list(argv))
        assert exited.value.code == 2
    assert "\x1b" not in capsys.readouterr().err
    assert _services(cli_env) == services
