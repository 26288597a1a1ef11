"""Keystone v3 in the simulator, driven by unmodified openstacksdk and raw HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import openstack.exceptions
import pytest


def _post(url: str, body: object, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    return urllib.request.urlopen(req, timeout=10)


def _password_auth(user: str, password: str, project: str | None = "admin") -> dict:
    auth: dict = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return {"auth": auth}


def test_token_has_catalog_for_three_regions(sim):
    resp = _post(sim.base_url + "/identity/v3/auth/tokens",
                 _password_auth("admin", "govcloud-admin"))
    assert resp.status == 201
    assert resp.headers["X-Subject-Token"]
    token = json.loads(resp.read())["token"]
    types = {s["type"]: s for s in token["catalog"]}
    assert {"identity", "compute", "placement", "image", "network", "volumev3"} <= set(types)
    for stype in ("compute", "placement", "image", "network", "volumev3"):
        regions = {e["region_id"] for e in types[stype]["endpoints"]}
        assert regions == {"PROD", "DR-LOCAL", "DR-REMOTE"}
    # the project id is substituted into the volume endpoint like Keystone does
    vol = types["volumev3"]["endpoints"][0]["url"]
    assert vol.endswith(token["project"]["id"])
    assert {r["name"] for r in token["roles"]} >= {"admin", "member", "reader"}


def test_bad_password_is_401_with_keystone_body(sim):
    with pytest.raises(urllib.error.HTTPError) as exc:
        _post(sim.base_url + "/identity/v3/auth/tokens", _password_auth("admin", "wrong"))
    assert exc.value.code == 401
    body = json.loads(exc.value.read())
    assert body["error"]["code"] == 401 and body["error"]["title"] == "Unauthorized"


def test_malformed_json_is_400_and_server_keeps_serving(sim):
    req = urllib.request.Request(sim.base_url + "/identity/v3/auth/tokens", data=b"{not json",
                                 method="POST", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=10)
    assert exc.value.code == 400
    assert "error" in json.loads(exc.value.read())
    ok = _post(sim.base_url + "/identity/v3/auth/tokens",
               _password_auth("admin", "govcloud-admin"))
    assert ok.status == 201


def test_sdk_project_user_role_lifecycle(sim):
    conn = sim.connect()
    project = conn.identity.create_project(name="gd-test-proj", domain_id="default",
                                           description="临时")
    user = conn.identity.create_user(name="tester", password="s3cret", domain_id="default",
                                     default_project_id=project.id)
    member = conn.identity.find_role("member")
    conn.identity.assign_project_role_to_user(project, user, member)
    assert conn.identity.validate_user_has_project_role(project, user, member)
    assignments = list(conn.identity.role_assignments(user_id=user.id))
    assert any(a.scope["project"]["id"] == project.id for a in assignments)
    # the new user can now log in to the project and sees itself scoped there
    doc = _post(sim.base_url + "/identity/v3/auth/tokens",
                _password_auth("tester", "s3cret", "gd-test-proj"))
    assert json.loads(doc.read())["token"]["project"]["id"] == project.id
    conn.identity.unassign_project_role_from_user(project, user, member)
    assert not conn.identity.validate_user_has_project_role(project, user, member)
    conn.identity.delete_user(user)
    conn.identity.delete_project(project)
    assert conn.identity.find_project("gd-test-proj") is None


def test_duplicate_project_is_409(sim):
    conn = sim.connect()
    with pytest.raises(openstack.exceptions.ConflictException):
        conn.identity.create_project(name="gd-psd", domain_id="default")


def test_non_admin_gets_403_on_admin_views(sim):
    user = sim.connect(cloud="govcloud-sim-gd-psd")
    with pytest.raises(openstack.exceptions.ForbiddenException):
        list(user.identity.users())
    with pytest.raises(openstack.exceptions.ForbiddenException):
        list(user.identity.projects())
    # but may see its own projects
    mine = list(user.identity.user_projects(user.current_user_id))
    assert [p.name for p in mine] == ["gd-psd"]


def test_system_scope_token(sim):
    conn = sim.connect(cloud="devstack-system-admin")
    token = conn.session.get_token()
    resp = urllib.request.urlopen(urllib.request.Request(
        sim.base_url + "/identity/v3/auth/tokens",
        headers={"X-Auth-Token": token, "X-Subject-Token": token}), timeout=10)
    body = json.loads(resp.read())["token"]
    assert body["system"] == {"all": True}
    assert "project" not in body
    assert len(list(conn.identity.users())) >= 3


def test_every_department_has_a_project_and_user(sim):
    conn = sim.connect()
    names = {p.name for p in conn.identity.projects()}
    assert {"gd-psd", "gd-tax", "guangzhou", "shenzhen"} <= names
    psd = conn.identity.find_project("gd-psd")
    assert "公安" in psd.description


def _call(url: str, method: str, token: str, body: object = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "X-Auth-Token": token})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# each admin resource, a body that creates one, and a field an update changes
ADMIN_RESOURCES = [
    ("domains", "domain", {"name": "gd-x"}, {"description": "changed"}),
    ("projects", "project", {"name": "gd-x", "custom": 1}, {"description": "changed"}),
    ("users", "user", {"name": "gd-x", "password": "pw"}, {"description": "changed"}),
    ("groups", "group", {"name": "gd-x"}, {"description": "changed"}),
    ("roles", "role", {"name": "gd-x"}, {"description": "changed"}),
    ("regions", "region", {"id": "gd-x"}, {"description": "changed"}),
    ("services", "service", {"type": "gd-x"}, {"description": "changed"}),
]


@pytest.mark.parametrize(("plural", "singular", "create", "update"), ADMIN_RESOURCES)
def test_admin_resource_lifecycle_and_policy(sim, plural, singular, create, update):
    """Every admin resource answers create/show/update/list/delete, Keystone's 404 and the
    policy 403 naming the resource, from the one shared implementation."""
    url = sim.base_url + f"/identity/v3/{plural}"
    admin = _post(sim.base_url + "/identity/v3/auth/tokens",
                  _password_auth("admin", "govcloud-admin")).headers["X-Subject-Token"]
    demo = _post(sim.base_url + "/identity/v3/auth/tokens",
                 _password_auth("demo", "demo-secret", "demo")).headers["X-Subject-Token"]

    status, body = _call(url, "POST", demo, {singular: create})
    assert status == 403
    assert body["error"]["message"].endswith(f"identity:create_{singular}.")
    status, body = _call(url, "POST", admin, {singular: create})
    assert status == 201
    item = body[singular]
    assert item["links"]["self"] == f"{url}/{item['id']}"
    status, body = _call(f"{url}/{item['id']}", "PATCH", admin, {singular: update})
    assert (status, body[singular]["description"]) == (200, "changed")
    status, body = _call(f"{url}/{item['id']}", "GET", admin)
    assert (status, body[singular]["description"]) == (200, "changed")
    status, body = _call(url, "GET", admin)
    assert status == 200 and item["id"] in {i["id"] for i in body[plural]}
    assert body["links"] == {"self": url, "previous": None, "next": None}
    status, body = _call(f"{url}/nope", "GET", admin)
    assert status == 404
    assert body["error"]["message"] == f"Could not find {singular}: nope."
    if plural == "domains":
        _call(f"{url}/{item['id']}", "PATCH", admin, {singular: {"enabled": False}})
    status, body = _call(f"{url}/{item['id']}", "DELETE", demo)
    assert status == 403
    assert body["error"]["message"].endswith(f"identity:delete_{singular}.")
    assert _call(f"{url}/{item['id']}", "DELETE", admin)[0] == 204
    assert _call(f"{url}/{item['id']}", "GET", admin)[0] == 404
