"""The API's basics over HTTP: health, auth (missing, malformed, revoked, expired tokens),
the OpenAPI document, principals and their audit entries, error bodies."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from govcloud.errors import ConflictError, Forbidden, InvalidInput, NotFound

from .conftest import Plane


def test_health_needs_no_token_and_openapi_is_served(plane: Plane) -> None:
    assert httpx.get(f"{plane.url}/api/v1/health").json()["status"] == "ok"
    doc = httpx.get(f"{plane.url}/api/v1/openapi.json").json()
    for path in ("/api/v1/whoami", "/api/v1/principals", "/api/v1/audit",
                 "/api/v1/audit/verify", "/api/v1/tenants/plan", "/api/v1/tenants/apply",
                 "/api/v1/departments", "/api/v1/departments/{code}"):
        assert path in doc["paths"], path


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer gct_nope",
                                    "Bearer not-a-token"])
def test_bad_or_missing_token_is_401_with_a_hint(plane: Plane, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.get(f"{plane.url}/api/v1/whoami", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "Unauthenticated"
    assert error["message"] and "token" in error["hint"]


def test_whoami(plane: Plane) -> None:
    name, api = plane.principal("city-operator", city="shenzhen")
    assert api.get("/whoami") == {"name": name, "person": f"person {name}",
                                  "role": "city-operator", "city": "shenzhen",
                                  "department": None, "scope": "city shenzhen",
                                  "actions": {"global": [], "scope": [
                                      "department.view", "servers.view", "capacity.view",
                                      "audit.view", "report.export", "tenancy.plan",
                                      "tenancy.apply", "sync.run", "request.submit",
                                      "request.cancel", "provision", "migration.run",
                                      "migration.override", "drill.run",
                                      "dr.protect", "prices.view", "prices.propose",
                                      "dr.failover", "statement.view",
                                      "notification.view", "notification.retry",
                                      "host.maintain", "change.view",
                                      "change.submit", "change.cancel", "change.close",
                                      "calendar.view", "calendar.propose", "system.scale",
                                      "system.resize", "system.retire", "reclaim.view"]}}


def test_revoked_token_is_401_and_revocation_is_audited(plane: Plane) -> None:
    name, api = plane.principal("operator")
    assert api.get("/whoami")["name"] == name
    plane.admin.delete(f"/principals/{name}")
    with pytest.raises(Forbidden, match="unknown, expired or revoked"):
        api.get("/whoami")
    entries = plane.admin.get("/audit", target=f"principal:{name}")["entries"]
    assert [e["action"] for e in entries] == ["principal.add", "principal.approve",
                                              "principal.revoke"]
    assert [e["actor"] for e in entries] == ["admin", "second-admin", "admin"]
    assert entries[2]["after"]["revoked"] is True
    assert all("gct_" not in str(e) for e in entries)  # never the token
    listed = {p["name"]: p for p in plane.admin.get("/principals")["principals"]}
    assert listed[name]["status"] == "revoked"


def test_expired_token_is_401(plane: Plane) -> None:
    name, api = plane.principal("bureau-auditor")
    assert api.get("/whoami")["name"] == name
    plane.clock.offset = timedelta(days=91)
    try:
        response = httpx.get(f"{plane.url}/api/v1/whoami",
                             headers=dict(api._http.headers))
        assert response.status_code == 401
    finally:
        plane.clock.offset = timedelta(0)
    assert api.get("/whoami")["name"] == name


def test_principal_errors_carry_message_hint_and_status(plane: Plane) -> None:
    name, _ = plane.principal("ci")
    with pytest.raises(ConflictError, match="already exists") as conflict:
        plane.admin.post("/principals", {"name": name, "role": "ci", "person": "Li Wei"})
    assert conflict.value.hint and "principals rotate NAME" in conflict.value.hint
    with pytest.raises(InvalidInput, match="city is given for, and only for"):
        plane.admin.post("/principals", {"name": "x-y", "role": "city-operator",
                                         "person": "Li Wei"})
    with pytest.raises(InvalidInput, match="invalid request"):
        plane.admin.post("/principals", {"name": "x-y", "role": "wizard", "person": "Li Wei"})
    with pytest.raises(NotFound, match="no principal named"):
        plane.admin.delete("/principals/nobody-at-all")
    with pytest.raises(NotFound, match="no such API path"):
        plane.admin.get("/no/such/thing")


@pytest.mark.parametrize("role,scope", [
    ("bureau-auditor", {}), ("operator", {}), ("city-operator", {"city": "shenzhen"}),
    ("department-viewer", {"department": "gd-psd"}), ("ci", {}),
])
def test_only_the_admin_manages_principals(plane: Plane, role: str,
                                           scope: dict[str, str]) -> None:
    _, api = plane.principal(role, **scope)
    with pytest.raises(Forbidden, match="may not principal.manage"):
        api.post("/principals", {"name": "sneaky", "role": "bureau-admin"})
    with pytest.raises(Forbidden):
        api.get("/principals")
    with pytest.raises(Forbidden):
        api.delete("/principals/admin")
    assert plane.admin.get("/whoami")["name"] == "admin"
