"""The API's typed contract: every operation in ``/api/v1/openapi.json`` has a response schema
for its success answer and for each of its error answers, every route declares a response
model (``govcloud.api.models``), and the models take nothing away from what the services
return.

Every request body is a typed object in the document too; ``POST /requests``'s, the request
spec, shows the fields, patterns and bounds of the provisioning service's parse, which still
checks the body as sent (its messages, not pydantic's).

The last one is the danger of ``response_model``: FastAPI drops every key the model does not
declare, so a model that misses a field silently takes it from the CLI's ``--json`` output and
the console. ``test_models_keep_every_key_the_routes_return`` watches the server serialise real
answers (a plane on the simulator, synced) and compares, per answer, the JSON the endpoint
returned with the JSON the model let through: they must be equal, byte for byte (same keys,
same order, same numbers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from govcloud.api.app import make_app
from govcloud.api.contract import ERROR_RESPONSES
from govcloud.api.models import ApiModel
from govcloud.api.reference import current_openapi
from govcloud.client import as_json
from govcloud.domain.limits import MAX_ITEMS, MAX_NAME, MAX_TEXT
from govcloud.domain.provisioning import (
    DEPARTMENT_PATTERN,
    DR_LEVELS,
    MAX_COUNT,
    MAX_VOLUME_GB,
    MAX_VOLUMES,
    NAME_PATTERN,
    REQUEST_FIELDS,
    SERVER_FIELDS,
)
from govcloud.settings import load_settings
from govcloud.store.engine import make_engine
from tests.integration.control.openapi_answers import (
    Answers,
)

from .conftest import Plane

_METHODS = ("get", "post", "put", "patch", "delete")
_ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def _json_schema(operation: dict[str, Any], status: str) -> dict[str, Any]:
    schema: dict[str, Any] = operation["responses"][status]["content"]["application/json"][
        "schema"]
    return schema


def test_every_operation_has_a_schema_for_its_answer_and_its_errors() -> None:
    doc = current_openapi()
    components = doc["components"]["schemas"]
    operations = 0
    for path, methods in doc["paths"].items():
        for method in _METHODS:
            if method not in methods:
                continue
            operations += 1
            operation = methods[method]
            where = f"{method.upper()} {path}"
            success = [s for s in operation["responses"] if s.startswith("2")]
            assert success, where
            for status in success:
                ref = _json_schema(operation, status).get("$ref", "")
                assert ref.startswith("#/components/schemas/"), (where, status)
                component = components[ref.rsplit("/", 1)[-1]]
                # a model: named fields, or (Ansible's inventory) values of a model
                assert component.get("properties") or isinstance(
                    component.get("additionalProperties"), dict), (where, component)
            for status in ERROR_RESPONSES:
                assert _json_schema(operation, str(status)) == _ERROR_BODY, (where, status)
    assert operations >= 46
    error = components["ErrorBody"]
    assert error["required"] == ["error"]
    assert set(components["ErrorDetail"]["properties"]) == {"message", "hint", "type"}


def _resolved(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or the component its ``$ref`` names."""
    ref = schema.get("$ref")
    return schema if ref is None else dict(components[ref.rsplit("/", 1)[-1]])


def _not_null(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The options of an optional value's ``anyOf`` but null (the schema itself otherwise)."""
    return [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]


def test_every_request_body_is_a_typed_object() -> None:
    """No route takes an undescribed body (``Any``, a bare dict): each one's schema, optional
    or not, is an object with named fields that refuses others where its model does (or, for
    Prometheus' alerts, whose shape Alertmanager's API v2 sets, a list of such objects)."""
    doc = current_openapi()
    components = doc["components"]["schemas"]
    bodies = 0
    for path, methods in doc["paths"].items():
        for method in _METHODS:
            body = methods.get(method, {}).get("requestBody")
            if body is None:
                continue
            bodies += 1
            for option in _not_null(body["content"]["application/json"]["schema"]):
                schema = _resolved(option, components)
                if schema["type"] == "array":  # a list of typed objects, as a foreign API
                    # dictates it (Prometheus posting alerts: Alertmanager's API v2)
                    assert path.endswith("/api/v2/alerts"), (method, path)
                    schema = _resolved(schema["items"], components)
                assert schema["type"] == "object" and schema["properties"], (method, path)
    assert bodies >= 14


def test_post_requests_documents_the_request_spec() -> None:
    """The request spec's fields, required ones, patterns and bounds are the parse's own
    (``govcloud.domain.provisioning``): unknown fields refused at both levels."""
    doc = current_openapi()
    components = doc["components"]["schemas"]
    body = doc["paths"]["/api/v1/requests"]["post"]["requestBody"]
    assert body["required"] is True
    spec = _resolved(body["content"]["application/json"]["schema"], components)
    assert spec["type"] == "object" and spec["additionalProperties"] is False
    fields = spec["properties"]
    assert set(fields) == set(REQUEST_FIELDS)
    assert set(spec["required"]) == {"department", "system", "justification", "servers"}
    assert (fields["department"]["pattern"], fields["department"]["maxLength"]) == (
        DEPARTMENT_PATTERN, MAX_NAME)
    assert fields["system"]["pattern"] == NAME_PATTERN
    [level] = _not_null(fields["dr_level"])
    assert (level["type"], level["minimum"], level["maximum"]) == (
        "integer", DR_LEVELS.start, DR_LEVELS.stop - 1)
    assert fields["justification"]["maxLength"] == MAX_TEXT
    assert (fields["servers"]["minItems"], fields["servers"]["maxItems"]) == (1, MAX_ITEMS)
    [books] = _not_null(fields["playbooks"])
    assert (books["maxItems"], books["items"]["maxLength"]) == (MAX_ITEMS, MAX_NAME)

    group = _resolved(fields["servers"]["items"], components)
    assert group["additionalProperties"] is False
    members = group["properties"]
    assert set(members) == set(SERVER_FIELDS)
    assert set(group["required"]) == set(SERVER_FIELDS) - {"volumes"}
    assert members["name_prefix"]["pattern"] == NAME_PATTERN
    assert members["flavor"]["maxLength"] == members["image"]["maxLength"] == MAX_NAME
    assert (members["count"]["minimum"], members["count"]["maximum"]) == (1, MAX_COUNT)
    one_name, per_site = _not_null(members["network"])
    assert one_name["type"] == "string" and one_name["maxLength"] == MAX_NAME
    assert per_site["type"] == "object" and per_site["maxProperties"] == MAX_ITEMS
    [volumes] = _not_null(members["volumes"])
    assert volumes["maxItems"] == MAX_VOLUMES
    assert (volumes["items"]["minimum"], volumes["items"]["maximum"]) == (1, MAX_VOLUME_GB)


_GROUP = {"name_prefix": "app", "flavor": "gc.c2m4", "image": "i", "count": 1, "network": "n"}
_SPEC = {"department": "gd-psd", "system": "typed", "justification": "the typed body",
         "servers": [_GROUP]}


@pytest.mark.parametrize(("body", "message"), [
    ({**_SPEC, "servers": [{**_GROUP, "count": MAX_COUNT + 1}]},
     f"servers[0].count: {MAX_COUNT + 1} is outside 1..{MAX_COUNT}"),
    ({**_SPEC, "servers": [{**_GROUP, "colour": "blue"}]},
     "servers[0]: unknown field(s) colour"),
    ({**_SPEC, "system": "S"}, "system: 'S' is not a valid name"),
    ({**_SPEC, "dr_level": float("inf")}, "dr_level: must be a whole number, not inf"),
    ({**_SPEC, "servers": [{**_GROUP, "volumes": [float("nan")]}]},
     "servers[0].volumes[0]: must be a whole number, not nan"),
    ([_SPEC], "a request must be a mapping"),
])
def test_a_body_the_document_refuses_gets_the_parse_s_message(
        plane: Plane, body: Any, message: str) -> None:
    """The route documents the spec but does not check it with pydantic: a bad body is the
    parse's 422, worded as for a request file (the CLI shows the same message either way)."""
    answer = httpx.post(f"{plane.url}/api/v1/requests", content=json.dumps(body), timeout=30,
                        headers={"Authorization": f"Bearer {plane.admin_token}",
                                 "Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["type"] == "InvalidInput" and error["hint"]
    assert error["message"].startswith(message), error["message"]


@pytest.fixture(scope="module")
def routes() -> Iterator[list[APIRoute]]:
    engine = make_engine("sqlite://")
    try:
        app = make_app(engine=engine, settings=load_settings())
        found: list[APIRoute] = []
        for route in app.routes:  # the routers as included under API_PREFIX
            router = getattr(route, "original_router", None)
            inner = router.routes if router is not None else [route]
            found += [r for r in inner if isinstance(r, APIRoute)]
        yield found
    finally:
        engine.dispose()


def test_every_route_declares_a_model_and_keeps_the_keys_as_returned(
        routes: list[APIRoute]) -> None:
    assert len(routes) >= 46
    for route in routes:
        model = route.response_model
        assert isinstance(model, type) and issubclass(model, BaseModel), route.path
        # only the keys the service returned, not every field the model has (its defaults)
        assert route.response_model_exclude_unset, route.path


def test_the_models_declare_no_extra_policy_but_ignore() -> None:
    """A model that allowed extra keys would hide a missing field from the schema; one that
    forbade them would turn a new field into a 500. The test below is what keeps them
    complete."""
    assert ApiModel.model_config.get("extra") in (None, "ignore")


def _calls(plane: Plane) -> None:
    """A tour of the read API as a bureau-admin and a city-operator, on a synced plane."""
    admin = plane.admin
    assert admin.post("/sync", {"full": True})["ok"]
    admin.post("/health/probes")
    _, city = plane.principal("city-operator", city="shenzhen")
    for api in (admin, city):
        for path in ("/health", "/whoami", "/status", "/sync/status", "/servers", "/usage",
                     "/departments", "/requests", "/provisioning/policy", "/health/probes",
                     "/hosts", "/inventory", "/migrate/waves", "/audit", "/dr/posture"):
            api.get(path)
    servers = admin.get("/servers", limit=5)["servers"]
    assert servers, "the simulator has servers"
    one = servers[0]
    sites = [s["site"] for s in admin.get("/status")["sites"]]
    admin.get("/capacity", flavor=one["flavor"], what_if_lose=sites[0],
              fit=[one["flavor"], "no-such-flavor"])
    admin.get("/hypervisors")
    admin.get("/hosts/compute")
    if one["host"]:
        admin.get(f"/hypervisors/{one['site']}/{one['host']}/servers")
    admin.get(f"/servers/{one['site']}/{one['id']}")
    code = admin.get("/departments")["departments"][0]["code"]
    admin.get(f"/departments/{code}")
    admin.get("/tenants/plan", department=[code])
    admin.get("/principals")
    admin.get("/audit", newest_first=True, limit=3)
    admin.get("/audit/verify")


def test_models_keep_every_key_the_routes_return(plane: Plane,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    answers = Answers()
    answers.watch(monkeypatch)
    _calls(plane)
    assert not answers.changed, "\n\n".join(
        f"{route}: the model changed the answer\n  returned: {before}\n  answered: {after}"
        for route, before, after in answers.changed)
    assert len(answers.seen) >= 25, sorted(answers.seen)


def test_the_client_parses_answers_into_the_models_and_back(plane: Plane) -> None:
    """``ApiClient``'s typed calls give the models, and ``as_json`` gives back the answer
    exactly as the server sent it (what ``--json`` prints)."""
    admin = plane.admin
    admin.post("/sync", {"full": True})
    _, city = plane.principal("city-operator", city="shenzhen")
    for api in (admin, city):
        typed: list[tuple[Any, str, dict[str, Any]]] = [
            (api.whoami(), "/whoami", {}), (api.status(), "/status", {}),
            (api.sync_status(), "/sync/status", {}),
            (api.servers(limit=3), "/servers", {"limit": 3}), (api.usage(), "/usage", {}),
            (api.departments(), "/departments", {}), (api.requests(), "/requests", {}),
            (api.waves(), "/migrate/waves", {}), (api.hosts(), "/hosts", {}),
            (api.probes(), "/health/probes", {}), (api.dr_posture(), "/dr/posture", {})]
        for answer, path, params in typed:
            assert isinstance(answer, ApiModel), path
            sent = api.get(path, **params)  # again: times and ages move between two calls
            parsed = type(answer).model_validate(sent)
            assert json.dumps(as_json(parsed), ensure_ascii=False) == json.dumps(
                sent, ensure_ascii=False), path
    status = admin.status()
    assert status.sites and status.sites[0].vcpus is not None  # the whole cloud's figures
    assert city.status().sites[0].vcpus is None  # not for a city's operator
    capacity = admin.capacity(fit=["no-such-flavor"])
    assert capacity.flavor_fits == {} and capacity.what_if is None
    assert "what_if" not in as_json(capacity)
